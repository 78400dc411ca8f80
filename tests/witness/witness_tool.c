/*
 * witness_tool.c - producers for the witness tests.
 *
 *   witness_tool send DIR QUEUE BASE LOG [wait]
 *       sends "seq=BASE+i" with PMQ_REPLICATED until killed or refused; each
 *       send that returned 0 is one line "SEQ REALTIME_NS" in LOG, written
 *       after pmq_send returned. -ENOENT/-ESHUTDOWN: with "wait", keep
 *       retrying every millisecond (a producer on the standby host waiting for
 *       promotion), else stop and print the errno. ENOLINK/ENOTSUP (committed
 *       here, not replicated) are logged as "SEQ NS local": accepted, not acked.
 *       WITNESS_SEND_GAP_US=N in the environment: a pause of N µs after each
 *       accepted send, so that a test whose queue must keep room (nothing consumes
 *       it) does not depend on how fast replicated sends are.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pmq.h"

static uint64_t real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pause_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	nanosleep(&ts, NULL);
}

static void nap(void) { pause_us(1000); }

int main(int argc, char **argv)
{
	if (argc < 6 || strcmp(argv[1], "send")) {
		fprintf(stderr, "usage: witness_tool send DIR QUEUE BASE LOG [wait]\n");
		return 2;
	}
	bool wait = argc > 6 && !strcmp(argv[6], "wait");
	const char *gap_env = getenv("WITNESS_SEND_GAP_US");
	long gap_us = gap_env ? atol(gap_env) : 0;
	long base = atol(argv[4]);
	int log = open(argv[5], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (log < 0) {
		perror(argv[5]);
		return 1;
	}
	setenv("PMQ_DIR", argv[2], 1);
	pmq_t *q = NULL;
	long i = 0, other = 0;
	int last = 0;
	for (;;) {
		if (!q) {
			int r = pmq_open(argv[3], PMQ_PRODUCER, &q);
			if (r) {
				q = NULL;
				if (!wait) {
					printf("open: %s\n", pmq_strerror(r));
					return 1;
				}
				nap();
				continue;
			}
		}
		char b[64];
		int l = snprintf(b, sizeof(b), "seq=%ld", base + i);
		int r = pmq_send(q, b, (size_t)l, PMQ_REPLICATED);
		if (r == 0) {
			char line[64];
			int ll = snprintf(line, sizeof(line), "%ld %" PRIu64 "\n", base + i, real_ns());
			if (write(log, line, (size_t)ll) != ll)
				return 1;
			i++;
			if (gap_us > 0)
				pause_us(gap_us);
			continue;
		}
		if (r == -ENOLINK || r == -ENOTSUP) {
			/* committed here but not (yet) on a standby: accepted, though not replicated-acked */
			char line[80];
			int ll = snprintf(line, sizeof(line), "%ld %" PRIu64 " local\n", base + i, real_ns());
			if (write(log, line, (size_t)ll) != ll)
				return 1;
			i++;
			continue;
		}
		i++; /* a refused seq is never reused: nothing with it may appear later */
		if (r == -ESHUTDOWN && !wait) {
			printf("refused: %s after %ld sends (%ld other failures)\n", pmq_strerror(r), i, other);
			return 0;
		}
		if (r != -ESHUTDOWN && r != last)
			fprintf(stderr, "witness_tool: send: %s (%s)\n", pmq_strerror(r), pmq_errmsg());
		last = r;
		if (r != -ESHUTDOWN)
			other++;
		nap();
	}
}
