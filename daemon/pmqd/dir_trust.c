/*
 * dir_trust.c - the queue directory pmqd supervises: made, or checked, before
 * anything in it is opened (issue 9 item 4).
 *
 * Layout for multi-user hosts (docs/pmqd.md "The queue directory"): one
 * directory, owned by root (or pmqd's own user), mode 01777 when pmqd makes
 * it, like /tmp and libpmq's default directory: anyone may create a queue,
 * nobody may rename or delete another user's file (the sticky bit), and the
 * library checks a file's owner when it opens it. A directory that is not
 * owned by root or pmqd's user, or that is group/world-writable without the
 * sticky bit, is refused: whoever could replace the files in it could hand
 * root's pmqd (and every user's producer) a queue of theirs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pmqd.h"

int dir_trust_check(const struct stat *st, char *err, size_t cap)
{
	if (!S_ISDIR(st->st_mode)) {
		snprintf(err, cap, "is not a directory");
		return -ENOTDIR;
	}
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(err, cap, "is owned by uid %u, neither root nor pmqd's user (%u): refused, since its owner "
			 "could replace any queue in it --> chown root it, or use another --dir",
			 (unsigned)st->st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX)) {
		snprintf(err, cap, "is group- or world-writable (mode %04o) without the sticky bit: refused, since "
			 "anyone could rename another user's queue away --> chmod +t (01777) or go-w it",
			 (unsigned)(st->st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

int dir_prepare(const char *dir, char *err, size_t cap)
{
	mode_t old = umask(0);
	int made = mkdir(dir, 01777) == 0;
	int e = errno;
	umask(old);
	if (!made && e != EEXIST) {
		snprintf(err, cap, "cannot create it: %s", strerror(e));
		return -e;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		snprintf(err, cap, "cannot open it: %s", strerror(e));
		return -e;
	}
	struct stat st;
	int r = fstat(fd, &st) ? -errno : 0;
	if (r == 0 && made && (st.st_mode & 07777) != 01777 && fchmod(fd, 01777) == 0)
		r = fstat(fd, &st) ? -errno : 0; /* a file system that ignored part of the mode */
	close(fd);
	if (r) {
		snprintf(err, cap, "cannot stat it: %s", strerror(-r));
		return r;
	}
	return dir_trust_check(&st, err, cap);
}
