/*
 * common.h - what pmqd and pmqctl share: protocol limits and names, and the
 * bounded JSON writer (json.c).
 */
#ifndef PMQ_DAEMON_COMMON_H
#define PMQ_DAEMON_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pmq.h"

/* pmqd's and pmqctl's version is the project's (pmq.h's PMQ_VERSION_*). */
#define PMQD_STR_(x) #x
#define PMQD_STR(x) PMQD_STR_(x)
#define PMQD_VERSION PMQD_STR(PMQ_VERSION_MAJOR) "." PMQD_STR(PMQ_VERSION_MINOR) "." PMQD_STR(PMQ_VERSION_PATCH)
#define PMQD_REQ_MAX 4096          /* largest control request, bytes */
#define PMQD_REPLY_MAX 65536       /* largest control reply, bytes */
#define PMQD_SOCK_NAME ".pmqd.sock" /* in the queue directory */
#define PMQD_LOCK_NAME ".pmqd.lock" /* single-instance lock, same place */
#define PMQD_MAX_ATTACH 256        /* pmq_config.max_attach is at most 250 */

/* --- json.c ------------------------------------------------------------------- */
struct jbuf {
	char *buf;
	size_t len, cap;
	bool overflow;
};
void jb_init(struct jbuf *b, char *buf, size_t cap);
void jb_raw(struct jbuf *b, const char *s);
void jb_printf(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jb_str(struct jbuf *b, const char *s);        /* quoted, escaped; invalid UTF-8 becomes U+FFFD */
void jb_strn(struct jbuf *b, const char *s, size_t n); /* the same for n bytes (a NUL as \u0000) */
void jb_b64(struct jbuf *b, const void *buf, size_t n); /* quoted standard base64 (RFC 4648, padded) */
bool utf8_valid(const void *buf, size_t n);

uint64_t mono_ns(void);
#endif
