/*
 * safe_file.c - safe_file_read (safe_file.h). The checks run on the opened
 * descriptor (fstat), so the file checked is the file read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safe_file.h"

static const char *kind_of(mode_t m)
{
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a regular file";
}

static int check_stat(const struct stat *st, unsigned flags, size_t cap, char *why, size_t whylen)
{
	if (!S_ISREG(st->st_mode)) {
		snprintf(why, whylen, "is %s, not a regular file --> name a regular file", kind_of(st->st_mode));
		return -EINVAL;
	}
	if ((uint64_t)st->st_size > cap - 1) {
		snprintf(why, whylen, "is %lld bytes, more than the %zu allowed --> is this the right file?",
			 (long long)st->st_size, cap - 1);
		return -EFBIG;
	}
	if ((flags & (SAFE_FILE_SECRET | SAFE_FILE_OWNED)) && st->st_uid != geteuid()) {
		snprintf(why, whylen, "is owned by uid %u, not by this process's uid %u --> chown %u it (or remove it "
			 "if you did not put it there)", (unsigned)st->st_uid, (unsigned)geteuid(), (unsigned)geteuid());
		return -EPERM;
	}
	if ((flags & SAFE_FILE_OWNED) && (st->st_mode & 022)) {
		snprintf(why, whylen, "has mode %04o: group or others may write it --> chmod go-w it",
			 (unsigned)(st->st_mode & 07777));
		return -EPERM;
	}
	if (flags & SAFE_FILE_SECRET) {
		if (st->st_uid != geteuid()) {
			snprintf(why, whylen, "is owned by uid %u, not by this process's uid %u --> chown %u it",
				 (unsigned)st->st_uid, (unsigned)geteuid(), (unsigned)geteuid());
			return -EPERM;
		}
		if (st->st_mode & 077) {
			snprintf(why, whylen, "has mode %04o: group or others may read a secret --> chmod 600 it",
				 (unsigned)(st->st_mode & 07777));
			return -EPERM;
		}
	}
	return 0;
}

int safe_file_read(const char *path, unsigned flags, char *buf, size_t cap, size_t *len, char *why, size_t whylen)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP)
			snprintf(why, whylen, "is a symbolic link --> name the file itself");
		else
			snprintf(why, whylen, "cannot be opened: %s", strerror(e));
		return -e;
	}
	struct stat st;
	int r;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(why, whylen, "cannot be examined: %s", strerror(-r));
	} else {
		r = check_stat(&st, flags, cap, why, whylen);
	}
	size_t n = 0;
	while (r == 0 && n < cap - 1) {
		ssize_t k = read(fd, buf + n, cap - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			snprintf(why, whylen, "cannot be read: %s", strerror(errno));
		} else if (k == 0) {
			break;
		} else {
			n += (size_t)k;
		}
	}
	close(fd);
	if (r)
		return r;
	if (n == cap - 1 && (uint64_t)st.st_size < n) {
		/* it grew while we read it: the cap is what matters */
		snprintf(why, whylen, "grew past %zu bytes while being read --> is this the right file?", cap - 1);
		return -EFBIG;
	}
	buf[n] = '\0';
	if (flags & SAFE_FILE_TEXT) {
		const char *nul = memchr(buf, '\0', n);
		if (nul) {
			snprintf(why, whylen, "contains a NUL byte at offset %zu: not a text file --> name the text "
				 "settings file", (size_t)(nul - buf));
			return -EINVAL;
		}
	}
	*len = n;
	return 0;
}
