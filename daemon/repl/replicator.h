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
	/* consumer groups (queues with max_groups > 0): see group_read and group_ship */
	uint32_t max_groups;   /* the queue's (0: none), once described_groups */
	bool described_groups;
	struct pmq_repl_group *group_sent; /* per table entry: what the standby was last sent */
	uint64_t group_from[PMQ_GROUPS_MAX]; /* per entry: the floor read last (the walk's start) */
	bool groups_synced;    /* group_sent valid for this session */
	uint64_t group_scan_ns;
};

struct link {
	char addr[256];
	pthread_t th;
	pthread_mutex_t mu;  /* guards the status fields and rq[] against repl-stat */
	bool connected;
	uint64_t peer_epoch;
	uint64_t connected_since, disconnected_since;
	uint64_t sent_entries, sent_bytes;
	uint64_t sent_group_frames; /* RP_GROUPS frames (docs/failover.md, "Consumer groups") */
	struct rqueue rq[REPL_MAX_QUEUES];
	int n;
	uint8_t buf[(1u << 20) + 64];
	uint64_t side_snap[RP_SIDE_MAX_INDEX + 1]; /* side_sync's pass-A snapshot */
};


/* One queue's QUEUE frame (its geometry) at the start of a session. 0 or -errno. */
int replicator_describe(struct link *l, struct rp_conn *c, struct rqueue *r, uint64_t epoch, unsigned qid);
/* One round for one queue: side-area changes, then committed entries from
 * r->next_send (a batch), then the ack floor. Returns entries sent or -errno. */
int replicator_ship(struct link *l, struct rp_conn *c, struct rqueue *r, uint64_t epoch, unsigned qid);

#endif
