/*
 * safe_file.h - read a small settings file (pmqd's config, replication's key
 * file) without the ways a path can hurt a daemon that reads it at start-up:
 * a FIFO or a device that blocks or never ends, a symlink, a huge file, NUL
 * bytes, a secret readable by others (safe_file.c).
 */
#ifndef PMQ_DAEMON_SAFE_FILE_H
#define PMQ_DAEMON_SAFE_FILE_H

#include <stddef.h>

#define SAFE_FILE_SECRET 0x1u   /* owned by the effective uid, no group/other permission bits */
#define SAFE_FILE_TEXT 0x2u     /* no NUL bytes */
#define SAFE_FILE_OWNED 0x4u    /* owned by the effective uid, no group/other write bit (state it acts on) */

/*
 * Read `path` (a regular file, not a symlink, opened O_NONBLOCK so a FIFO
 * cannot block, then fstat-checked) into buf; at most cap - 1 bytes, and a
 * bigger file is refused. buf is NUL-terminated; *len is the byte count.
 * Returns 0 or -errno, and then why[] says what is wrong and what to do.
 */
int safe_file_read(const char *path, unsigned flags, char *buf, size_t cap, size_t *len, char *why, size_t whylen);

#endif
