/*
 * log.c - one line per event on stderr.
 *
 * Under systemd (JOURNAL_STREAM names our stderr) each line starts with the
 * "<N>" priority prefix that journald understands; in a terminal it starts
 * with a wall-clock time instead. Lines are written with one write(2) so that
 * the two threads never interleave within a line.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_level = LOG_INFO;
static int log_journal;
static const char *log_name = "pmqd";

void log_set_name(const char *name)
{
	log_name = name;
}

void log_init(int level)
{
	const char *js = getenv("JOURNAL_STREAM");
	struct stat st;
	unsigned long dev, ino;

	log_level = level;
	if (js && sscanf(js, "%lu:%lu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	    st.st_dev == dev && st.st_ino == ino)
		log_journal = 1;
}

void log_set_level(int level)
{
	log_level = level;
}

void log_msg(int prio, const char *fmt, ...)
{
	char line[1024];
	int n;
	va_list ap;

	if (prio > log_level)
		return;
	if (log_journal) {
		n = snprintf(line, sizeof(line), "<%d>", prio);
	} else {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ld %s[%d]: ", ts.tv_nsec / 1000000,
			      log_name, (int)getpid());
	}
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}
