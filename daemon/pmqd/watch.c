/*
 * watch.c - how pmqd knows that one attached process is the one it watches.
 *
 * A pid alone proves nothing: it may have been reused, or belong to another
 * PID namespace. We open a pidfd first (it pins the process it names), then
 * read that pid's start time, then check that the pidfd has not exited: if
 * it has not, the process we read was the pidfd's process, so equal start
 * times prove identity. Anything else is left to the token probe.
 *
 * Where the process comes from matters more than how it is checked: pmqd
 * opens a pidfd only on a process that spoke to it (its hello, whose
 * sender the kernel names: SO_PEERPIDFD, else SO_PEERCRED's pid), never on
 * a pid read from a queue's attachment table, which its owner can write
 * (issue 9 item 1). And it signals such a process only if every uid of it
 * is the queue file's owner (watch_may_signal).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

int watch_peer_pidfd(int sock, pid_t peer_pid, uint64_t *start_time)
{
	/* The kernel's own pidfd for the connecting process (Linux 6.5+): no pid to reuse. */
	int fd = -1;
	socklen_t len = sizeof(fd);
	if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) < 0 || fd < 0) {
		/* older kernel: open one on SO_PEERCRED's pid; the start-time check in
		 * watch_open_pidfd closes the reuse window */
		uint64_t st = proc_start_time(peer_pid);
		fd = st ? watch_open_pidfd(peer_pid, st) : -ESRCH;
		if (fd < 0)
			return fd;
		*start_time = st;
		return fd;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	uint64_t st = proc_start_time(peer_pid);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	/* the pidfd pins the process: if it has not exited, peer_pid was still it when we read */
	if (st == 0 || poll(&p, 1, 0) != 0) {
		close(fd);
		return -ESRCH;
	}
	*start_time = st;
	return fd;
}

int watch_may_signal(pid_t pid, int pidfd, uid_t owner, char *why, size_t cap)
{
	char path[64], line[256];
	long uid[4] = { -1, -1, -1, -1 };
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "Uid:", 4) &&
		    sscanf(line + 4, "%ld %ld %ld %ld", &uid[0], &uid[1], &uid[2], &uid[3]) == 4)
			break;
	if (f)
		fclose(f);
	/* read first, then prove the pidfd's process is still alive: then /proc/<pid> was it */
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	if (poll(&p, 1, 0) != 0) {
		snprintf(why, cap, "it has exited");
		return -ESRCH;
	}
	for (int i = 0; i < 4; i++) {
		if (uid[i] < 0 || (uid_t)uid[i] != owner) {
			snprintf(why, cap, "its uids (real %ld, effective %ld, saved %ld, fs %ld) are not all the queue "
				 "owner's (%u)", uid[0], uid[1], uid[2], uid[3], (unsigned)owner);
			return -EPERM;
		}
	}
	return 0;
}
