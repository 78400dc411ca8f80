/*
 * watch.c - how pmqd knows that one attached process is the one it watches.
 *
 * A pid alone proves nothing: it may have been reused, or belong to another
 * PID namespace. We open a pidfd first (it pins the process it names), then
 * read that pid's start time, then check that the pidfd has not exited: if
 * it has not, the process we read was the pidfd's process, so equal start
 * times prove identity. Anything else is left to the token probe.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pmqd.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

uint64_t proc_start_time(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may contain spaces and ')': fields restart after the LAST ')' */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	/* after ')' comes field 3 (state); start time is field 22 */
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return 0;
	}
	return strtoull(p + 1, NULL, 10);
}

int watch_open_pidfd(pid_t pid, uint64_t start_time)
{
	if (pid <= 0)
		return -ESRCH;
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return -errno;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	uint64_t st = proc_start_time(pid);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int exited = poll(&p, 1, 0);
	if (st == 0 || st != start_time || exited != 0) {
		close(fd);
		return -ESRCH;
	}
	return fd;
}
