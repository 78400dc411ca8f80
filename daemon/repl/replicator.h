/*
 * replicator.h - what the primary's replicator files share (daemon/repl
 * only): one standby link per thread (struct link) and its view of each
 * queue (struct rqueue). replicator.c runs the link; replicator_ship.c builds
 * what one queue sends in a round.
 */
#ifndef PMQD_REPLICATOR_H
#define PMQD_REPLICATOR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "repl_node.h"

struct rqueue {
	char name[PMQ_NAME_MAX + 1];
	pmq_t *q;
	int policy;
	bool described;      /* QUEUE sent this session */
	/* known, broken and degraded are written by the link's thread without l->mu and read
	 * by repl-stat and the handover check under it: atomic (seq_cst by default; a flag
	 * read a moment stale only delays a status line or a handover check's next pass) */
	_Atomic bool known;  /* QSTATE received: next_send is the standby's */
	_Atomic bool broken; /* diverged or refused: not streamed this session */
	uint64_t next_send;
	uint64_t acked;      /* standby's next expected (all below persisted) */
	uint64_t floor_sent, head_sent;
	uint64_t progress_ns; /* last time acked moved or the standby was caught up */
	uint64_t lag_entries, lag_us;
	_Atomic bool degraded;
	bool caught_up;       /* at the last check_policy: nothing committed is unconfirmed */
	bool seen;
	/* the side area (redeliveries, dead letters): see side_sync */
	uint64_t *side_shadow; /* per entry: sh_key last shipped, SH_NONE, or SH_UNKNOWN */
	uint32_t side_count;
	bool side_synced;      /* shadow valid for this session */
	bool side_again;       /* an entry changed under the last scan: scan again */
	uint64_t side_seq_seen; /* pmq_repl_side_seq read before the last scan */
	uint64_t side_scan_ns;
};

struct link {
	char addr[256];
	pthread_t th;
	pthread_mutex_t mu;  /* guards the status fields and rq[] against repl-stat */
	bool connected;
	uint64_t peer_epoch;
	uint64_t connected_since, disconnected_since;
	uint64_t sent_entries, sent_bytes;
	struct rqueue rq[REPL_MAX_QUEUES];
	int n;
	uint8_t buf[(1u << 20) + 64];
	uint64_t side_snap[RP_SIDE_MAX_INDEX + 1]; /* side_sync's pass-A snapshot */
};


/* replicator_skip.c: queues not shipped (consumer groups), each logged once.
 * skipped: this very file was refused before (no need to open it again).
 * skip_groups: q's queue has groups: remembered (q kept open for that, or closed),
 * logged the first time, true; false: no groups, q is still the caller's. */
bool replicator_skipped(const char *name);
bool replicator_skip_groups(const char *name, pmq_t *q);
/* Forget (and close) the refused queues no longer among names (the directory's list;
 * n 0: all of them). */
void replicator_skip_prune(char (*names)[PMQ_NAME_MAX + 1], int n);

/* One queue's QUEUE frame (its geometry) at the start of a session. 0 or -errno. */
int replicator_describe(struct link *l, struct rp_conn *c, struct rqueue *r, uint64_t epoch, unsigned qid);
/* One round for one queue: side-area changes, then committed entries from
 * r->next_send (a batch), then the ack floor. Returns entries sent or -errno. */
int replicator_ship(struct link *l, struct rp_conn *c, struct rqueue *r, uint64_t epoch, unsigned qid);

#endif
