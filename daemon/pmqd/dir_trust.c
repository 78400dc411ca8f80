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
#include <limits.h>
#include <stdlib.h>
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

/* One ancestor of the directory: whoever may rename entries in it could swap the
 * directory (or a path component) for one of theirs between two of pmqd's path
 * lookups. Root's or pmqd's own, and sticky if group- or world-writable (/tmp). */
static int ancestor_trust_check(const char *path, char *err, size_t cap)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		snprintf(err, cap, "has an ancestor %s that cannot be examined: %s", path, strerror(errno));
		return -errno;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, cap, "lies under %s, owned by uid %u (neither root nor pmqd's user %u): refused, since "
			 "that user could move the directory away and put one of theirs in its place --> use a "
			 "directory whose every parent is root's (e.g. /dev/shm/pmq or /var/lib/pmq)",
			 path, (unsigned)st.st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		snprintf(err, cap, "lies under %s, group- or world-writable (mode %04o) without the sticky bit: "
			 "refused, since anyone could move the directory away --> chmod +t or go-w %s",
			 path, (unsigned)(st.st_mode & 07777), path);
		return -EPERM;
	}
	return 0;
}

/* Every proper ancestor of `path` (absolute), as written and as resolved. */
static int ancestors_trust_check(const char *path, char *err, size_t cap)
{
	char buf[PATH_MAX];
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 0) {
			if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
				return snprintf(err, cap, "is a path too long"), -ENAMETOOLONG;
		} else if (!realpath(path, buf)) {
			snprintf(err, cap, "cannot be resolved: %s", strerror(errno));
			return -errno;
		}
		/* cut at each '/' after the first: "/a/b/c" checks "/", "/a", "/a/b" */
		size_t n = strlen(buf);
		while (n > 1 && buf[n - 1] == '/')
			buf[--n] = '\0';
		int r = ancestor_trust_check("/", err, cap);
		for (size_t i = 1; r == 0 && i < n; i++) {
			if (buf[i] != '/')
				continue;
			buf[i] = '\0';
			r = ancestor_trust_check(buf, err, cap);
			buf[i] = '/';
		}
		if (r)
			return r;
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
	r = dir_trust_check(&st, err, cap);
	if (r)
		return r;
	char abs[PATH_MAX];
	if (dir[0] == '/') {
		snprintf(abs, sizeof(abs), "%s", dir);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)) || snprintf(abs, sizeof(abs), "%s/%s", cwd, dir) >= (int)sizeof(abs)) {
			snprintf(err, cap, "cannot be made absolute (working directory unknown or path too long)");
			return -ENAMETOOLONG;
		}
	}
	return ancestors_trust_check(abs, err, cap);
}
