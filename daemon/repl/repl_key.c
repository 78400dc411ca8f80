/*
 * repl_key.c - reading the replication pre-shared key (rp_load_key,
 * repl_proto.h). Apart from the framing code so that the fuzz target and the
 * protocol need no file access.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "repl_proto.h"
#include "safe_file.h"

/* The key file is a secret read at start-up: a regular file (not a FIFO that
 * would block pmqd before it handles signals), owned by us, mode 0600 or
 * stricter, at most RP_KEY_MAX bytes plus a line end (safe_file.c). */
int rp_load_key(const char *path, uint8_t *key, size_t *keylen, const char **why)
{
	static _Thread_local char reason[300];
	char buf[RP_KEY_MAX + 3];
	size_t n;
	int r = safe_file_read(path, SAFE_FILE_SECRET, buf, sizeof(buf), &n, reason, sizeof(reason));
	if (r) {
		*why = reason;
		return r;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n > RP_KEY_MAX) {
		*why = "key file longer than 1024 bytes";
		return -EINVAL;
	}
	if (n < RP_KEY_MIN) {
		*why = "key shorter than 16 bytes (use: head -c 32 /dev/urandom | base64 > KEYFILE; chmod 600 KEYFILE)";
		return -EINVAL;
	}
	memcpy(key, buf, n);
	*keylen = n;
	return 0;
}
