/*
 * standby.h - what the standby's two files share (daemon/repl only):
 * standby.c runs the session and the mirrors, standby_accept.c the
 * connections still in their handshake.
 */
#ifndef PMQD_STANDBY_H
#define PMQD_STANDBY_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "repl_proto.h"

#define SB_PENDING 4 /* connections in their handshake at once */

/* A primary that authenticated: its connection (secured, session-sized buffers). */
struct sb_auth {
	struct rp_conn c;
	uint64_t peer_epoch;
	bool encrypt;
};

/* standby_accept.c */
void sb_accept(int listen_fd);                  /* accept one connection, send the challenge */
int sb_pending_fds(struct pollfd *p, int *map);  /* the handshakes' fds (map: slot), how many */
/* Advance slot i (something to read, or its deadline passed): 1 when it authenticated
 * (*out filled, the connection is the caller's now), else 0. */
int sb_pending_step(int i, bool readable, uint64_t now, struct sb_auth *out);
void sb_pending_drop_all(void);

/* standby.c: one refusal log line and the count repl-stat shows */
void standby_refuse(const char *peer, const char *what, const struct rp_frame *f);

#endif
