/*
 * pmq_admin.h - libpmq's supervision and replication interface: what pmqd's
 * supervisor (attachment table, lease requeue), its replicator and standby
 * receiver, pmqctl and operator tools use. Applications need none of it
 * (pmq.h is theirs).
 *
 * Stability: documented here and in docs/pmqd.md / docs/failover.md, and
 * exported by the same libpmq.so.1 (src/libpmq.map marks these symbols
 * "admin"), but it MAY CHANGE with the library's minor version: a tool built
 * against it should check pmq_version() and be rebuilt with each minor
 * release. pmq.h's application calls do not change within the soname.
 */
#ifndef PMQ_ADMIN_H
#define PMQ_ADMIN_H

#include "pmq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- supervision (attachments and leases) -------------------------------- */

struct pmq_attach_info {
	uint32_t index;        /* entry in the attachment table */
	uint32_t role;         /* PMQ_PRODUCER | PMQ_CONSUMER */
	uint32_t incarnation;  /* bumped at each reuse of the entry */
	int32_t pid;           /* as seen by the attacher (its PID namespace) */
	uint64_t start_time;   /* process start time, clock ticks since boot */
	uint64_t heartbeat;    /* bumped by each recv */
	uint32_t in_flight;    /* messages held */
	uint32_t alive;        /* 1: token held (alive), 0: token free (dead) */
};

/* Fill up to n entries with the attached handles; returns how many exist. */
int pmq_attachments(pmq_t *q, struct pmq_attach_info *out, unsigned n);
#define PMQ_ATTACH_NO_PROBE 0x1u /* skip the token probe (3 syscalls per entry); `alive` is then 1 */
int pmq_attachments_ex(pmq_t *q, struct pmq_attach_info *out, unsigned n, unsigned flags);

/*
 * Lease expiry: redeliver every message held by attachment `index` (if it
 * is still incarnation `incarnation`) while the holder may be alive. Its
 * slots stay pinned until it acks (-ESTALE) or dies. Returns how many.
 */
int pmq_requeue_holder(pmq_t *q, uint32_t index, uint32_t incarnation);

/*
 * Leases per consumer group (1.1, docs/groups.md). pmq_attach_lease: the lease that
 * applies to attachment `index` while it is incarnation `incarnation`: its group's
 * own lease for a member of a reliable group that has one, else the queue's
 * (lease_ns of its config; 0: none). A group's stored lease is bounded to
 * PMQ_GROUP_LEASE_MIN_NS..MAX_NS. -EINVAL for an index out of the table, -ESTALE
 * if the entry is no longer that incarnation.
 * pmq_lease_min: the shortest lease any holder of the queue can have now: the
 * least of the queue's and every reliable group's own (0: none has one), for a
 * supervisor's probe interval.
 */
int pmq_attach_lease(pmq_t *q, uint32_t index, uint32_t incarnation, uint64_t *lease_ns);
int pmq_lease_min(pmq_t *q, uint64_t *lease_ns);

/* --- replication ------------------------------------------------------------
 * What pmqd's replicator (on the primary) and standby receiver use; see
 * docs/failover.md and docs/failover.md. Applications need none of it:
 * they only pass PMQ_REPLICATED to pmq_send. Open the queue with flags 0
 * (an observer handle) for these calls. */

#define PMQ_REPL_ON 0x1u       /* a standby is in sync: slot reuse waits for its confirmation */
#define PMQ_REPL_DEGRADED 0x2u /* standby out of sync: PMQ_REPLICATED sends fail with -ENOLINK */

#define PMQ_ROLE_PRIMARY 0u
#define PMQ_ROLE_STANDBY 1u

/* pmq_repl_entry.flags */
#define PMQ_REPL_E_HOLE 0x1u   /* ticket carries no message (aborted, or acked and reused) */
#define PMQ_REPL_E_ACKED 0x2u  /* with HOLE: it was a message, acknowledged already */

/* One committed main-ring entry, as shipped to a standby. */
struct pmq_repl_entry {
	uint64_t ticket;      /* main-ring ticket */
	uint64_t origin;      /* origin ticket */
	uint64_t ts_ns;       /* enqueue time */
	uint32_t len;         /* payload bytes */
	uint32_t deliveries;  /* failed delivery attempts so far */
	uint32_t epoch;       /* epoch of the origin ticket */
	uint32_t flags;       /* PMQ_REPL_E_* */
};

struct pmq_repl_info {
	uint64_t tail;        /* next ticket producers claim */
	uint64_t head;        /* next ticket consumers take */
	uint64_t replicated;  /* every ticket below is confirmed by the standby */
	uint64_t ack_floor;   /* every ticket below is acknowledged (as last computed) */
	uint64_t epoch;
	uint64_t oldest_unconfirmed_ns; /* enqueue time of ticket `replicated` if committed, else 0 */
	uint32_t role;        /* PMQ_ROLE_* */
	uint32_t fenced;      /* 1: producers get -ESHUTDOWN */
	uint32_t repl_flags;  /* PMQ_REPL_* */
	uint32_t slot_count;
	uint32_t max_payload;
	uint32_t side_count;
};

/* Snapshot of the replication words of the header. */
int pmq_repl_info(pmq_t *q, struct pmq_repl_info *out);

/* Set the queue's replication flags (PMQ_REPL_ON, PMQ_REPL_DEGRADED) and wake
 * every producer waiting on them. -EINVAL on unknown flags. */
int pmq_repl_set(pmq_t *q, unsigned flags);

/*
 * Primary: the entry at `ticket`. Returns 0 with *e and up to `cap` payload
 * bytes in buf (a message longer than cap is -EMSGSIZE); 0 with
 * PMQ_REPL_E_HOLE for an aborted ticket or one acknowledged and reused;
 * -EAGAIN if the ticket is not committed yet (being written, or ahead of the
 * producers). Never blocks; safe against concurrent producers and consumers
 * (the copy is re-validated against the slot word after it is taken).
 */
int pmq_repl_read(pmq_t *q, uint64_t ticket, struct pmq_repl_entry *e, void *buf, size_t cap);

/* Primary: every ticket below `ticket` is persisted on the standby. Stores
 * the replicated-up-to word (never backwards) and wakes waiting senders. */
int pmq_repl_confirm(pmq_t *q, uint64_t ticket);

/* Primary: advance and return the cumulative-ack floor: the lowest ticket not
 * yet acknowledged (moved messages count as not acknowledged). */
int pmq_repl_floor(pmq_t *q, uint64_t *floor);

/*
 * Standby: write one entry (or a hole) into the mirror slot of e->ticket and
 * move the tail past it. -EINVAL if the entry does not fit the queue
 * (len > max_payload) or the slot already holds a newer lap.
 * Persists the slot in power durability.
 */
int pmq_repl_apply(pmq_t *q, const struct pmq_repl_entry *e, const void *payload);

/* Standby: mark tickets [first, first + count) as acknowledged holes and move
 * tail and head past them (catch-up over a range the primary no longer needs). */
int pmq_repl_skip(pmq_t *q, uint64_t first, uint64_t count);

/* Standby: apply the primary's ack floor (clamped to the mirror's tail):
 * slots below it are freed at their next lap and head moves to it.
 * `delivered` is the primary's head: tickets in [floor, delivered) may have
 * been delivered there (counted at promotion). */
int pmq_repl_apply_floor(pmq_t *q, uint64_t floor, uint64_t delivered);

/* Standby: become (or stay) a mirror: role standby, producers refused, epoch set. */
int pmq_repl_make_standby(pmq_t *q, uint64_t epoch);

/*
 * Promote a mirror: role primary at `epoch`, replication flags cleared,
 * producers allowed. Messages in [ack floor, tail) are deliverable; those
 * the old primary may already have delivered count one delivery more.
 * Returns how many messages are deliverable.
 */
int pmq_repl_promote(pmq_t *q, uint64_t epoch);

/* Fence (on = 1: producers get -ESHUTDOWN, blocked ones wake) or unfence. */
int pmq_repl_fence(pmq_t *q, int on);

/* Set the epoch stamped on new messages (primary, at replicator start). */
int pmq_repl_set_epoch(pmq_t *q, uint64_t epoch);

/* Persist the whole mapping (standby, before acknowledging a batch). */
int pmq_repl_persist(pmq_t *q);

/* ---- the side area (redeliveries and dead letters) ----
 * The replicator mirrors each side entry that holds a message (deliverable,
 * held by a consumer, or dead) into the same index of the standby's side
 * area, and frees it there once it is freed here. */

/* pmq_repl_side_read's result and pmq_repl_side.state */
#define PMQ_REPL_SIDE_NONE 0  /* free, or being written: holds no message */
#define PMQ_REPL_SIDE_READY 1 /* a redelivery (waiting, or held by a consumer) */
#define PMQ_REPL_SIDE_DEAD 2  /* a dead letter (waiting, or taken by a .dlq reader) */

/* pmq_repl_side.flags */
#define PMQ_REPL_SIDE_HELD 0x1u     /* held by a consumer now: deliveries counts that delivery */
#define PMQ_REPL_SIDE_REPLAYED 0x2u /* came back from the dead letters */

struct pmq_repl_side {
	uint32_t index;       /* side-area entry */
	uint32_t gen;         /* its reuse generation (lap of the control word) */
	uint32_t state;       /* PMQ_REPL_SIDE_READY or _DEAD (apply); what read saw */
	uint32_t flags;       /* PMQ_REPL_SIDE_* */
	uint64_t ticket;      /* main-ring ticket the message was sent in */
	uint64_t origin;      /* origin ticket */
	uint64_t ts_ns;       /* enqueue time */
	uint32_t len;         /* payload bytes */
	uint32_t deliveries;  /* failed delivery attempts (+1 if HELD) */
	uint32_t replay_base; /* deliveries at the last dead-letter replay */
	uint32_t epoch;       /* epoch of the origin ticket */
	uint32_t reason;      /* dead letters: why (1 max deliveries, 2 rejected, 3 corrupt) */
	uint32_t group;       /* queues with groups: the owning group's index + 1 (0: none); 1.1 */
};

/* Primary: the side area's change counter. It moves at every publish, requeue,
 * replay and free of a side entry, and before a moved message's ring slot is
 * freed: a caller that read a ticket as settled (pmq_repl_settled, pmq_repl_floor)
 * and then reads an unchanged counter knows its last side scan saw that move. */
int pmq_repl_side_seq(pmq_t *q, uint64_t *seq);

/* Primary: 1 if the ring slot of `ticket` was settled (acked, moved and freed,
 * aborted or reused), 0 if not (yet). */
int pmq_repl_settled(pmq_t *q, uint64_t ticket);

/*
 * Primary: side entry `index`. Returns PMQ_REPL_SIDE_NONE, _READY or _DEAD with
 * s->index, s->gen and s->state filled; with buf, also the header fields and
 * up to cap payload bytes of a READY or DEAD entry (-EMSGSIZE if longer),
 * copied consistently (re-validated against the entry's word; -EAGAIN if the
 * entry kept changing). -EINVAL if index is out of the side area.
 */
int pmq_repl_side_read(pmq_t *q, uint32_t index, struct pmq_repl_side *s, void *buf, size_t cap);

/* Standby: write a READY or DEAD entry at s->index of the mirror's side area
 * with generation s->gen. -EINVAL on an index, state or length out of bounds. */
int pmq_repl_side_apply(pmq_t *q, const struct pmq_repl_side *s, const void *payload);

/* Standby: free side entry `index` unless it holds a generation newer than
 * `gen` (the primary's generation of the entry once freed). -EINVAL if index
 * is out of the side area. */
int pmq_repl_side_free(pmq_t *q, uint32_t index, uint32_t gen);

/* ---- consumer groups (1.1, docs/failover.md "Consumer groups") ----
 * In a queue with groups the main slot word stays READY after every group settled
 * it; each group's state is its record and lane (docs/groups.md). The replicator
 * reads each entry of the group table (pmq_repl_group_read) and the standby writes
 * it (pmq_repl_group_apply): a reliable group as its settled floor, a lossy group as
 * its cursor. Both return -EOPNOTSUPP on a queue without groups. */

/* pmq_repl_group.state */
#define PMQ_REPL_GROUP_NONE 0u   /* the table entry holds no group (free, being made or deleted) */
#define PMQ_REPL_GROUP_ACTIVE 1u /* a group consumers can join */
/* pmq_repl_group.flags for apply: rewrite the whole lane from the floor, whatever the
 * mirror's file held (the first record of a session: a rejoined old primary's lanes
 * may be ahead or behind anywhere) */
#define PMQ_REPL_GROUP_RESYNC 0x100u

struct pmq_repl_group {
	uint32_t index;       /* entry in the group table (0..max_groups-1) */
	uint32_t state;       /* PMQ_REPL_GROUP_* */
	uint32_t flags;       /* PMQ_GROUP_LOSSY, and for apply PMQ_REPL_GROUP_RESYNC */
	uint32_t incarnation; /* bumped each time the entry is reused */
	uint64_t start;       /* first ticket the group takes */
	uint64_t floor;       /* reliable: lowest ticket the group has not settled; lossy: its cursor */
	uint64_t head;        /* reliable: the consumers' head (tickets in [floor, head) may be out) */
	uint64_t created_ns;
	uint64_t redelivered, dead_lettered, lost; /* the group's counters */
	char name[32];        /* NUL-terminated, at most PMQ_GROUP_NAME_MAX characters */
	uint64_t lease_ns;    /* the group's own lease (0: the queue's; reliable groups only) */
};

/*
 * Primary: entry `index` of the group table. For a reliable group the floor is
 * found by walking its lane from `from` (the floor this caller read last, 0 at
 * first; never below the group's start or a lap behind the tail), at most
 * slot_count words, each read once. Returns the state (PMQ_REPL_GROUP_*) with *g
 * filled, -EINVAL for an index out of the table, -EAGAIN if the entry kept changing.
 */
int pmq_repl_group_read(pmq_t *q, uint32_t index, uint64_t from, struct pmq_repl_group *g);

/*
 * Standby: make entry g->index of the mirror's group table match *g: a group
 * created (its lanes set from the floor), its floor or cursor moved (clamped to
 * the mirror's tail: lane words of tickets below read settled, at or after it
 * unsettled), or deleted. A promoted mirror delivers each reliable group every
 * message from its floor on. -EINVAL on an index, state, flags or name out of bounds.
 */
int pmq_repl_group_apply(pmq_t *q, const struct pmq_repl_group *g);

#ifdef __cplusplus
}
#endif
#endif /* PMQ_ADMIN_H */
