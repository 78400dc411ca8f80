/*
 * pmq.h - the public contract of libpmq, a same-host message queue whose
 * lock-free rings live in persistent-memory-mapped files.
 *
 * Every function returns 0 (or a count, where documented) on success and a
 * negative errno on failure; pmq_strerror() turns it into text and
 * pmq_errmsg() gives the calling thread's detail for its last failure.
 * The library never prints and allocates nothing on the data path
 * (send, reserve/commit, recv, ack, nack and their batch forms).
 *
 * Thread safety: a pmq_t may be used by one thread at a time. Open one
 * handle per thread that sends or receives concurrently (each handle is an
 * attachment of its own, with its own liveness token).
 */
#ifndef PMQ_H
#define PMQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PMQ_VERSION_MAJOR 1
#define PMQ_VERSION_MINOR 0
#define PMQ_VERSION_PATCH 0

/* Longest queue name (one path component, no '/', no leading '.'). */
#define PMQ_NAME_MAX 200

typedef struct pmq pmq_t;

/* --- durability and waiting ---------------------------------------------- */

enum pmq_durability {
	PMQ_DURABLE_PROCESS = 0, /* survives any process crash (default) */
	PMQ_DURABLE_POWER = 1,   /* survives power loss: persist on the data path */
};

enum pmq_wait {
	PMQ_WAIT_SPIN_FUTEX = 0, /* spin a while, then sleep on a futex (default) */
	PMQ_WAIT_SPIN = 1,       /* busy-spin only: lowest latency, burns a core */
	PMQ_WAIT_FUTEX = 2,      /* sleep at once */
};

/* Queue creation flags (struct pmq_config.flags). */
/* The caller guarantees at most one producer (SP) or consumer (SC) handle at a time;
 * a second one would race the plain stores (as with DPDK's RING_F_SP_ENQ/SC_DEQ). */
#define PMQ_F_SP 0x1u /* single producer: the producer claim is a plain store */
#define PMQ_F_SC 0x2u /* single consumer: the consumer claim is a plain store */

/* What a crash or an expired lease counts as (struct pmq_config.flags). */
#define PMQ_F_CRASH_NOT_DELIVERY 0x4u /* a requeue after a holder's death does not count */

/*
 * Queue configuration. Always initialise with pmq_config_init(): it sets
 * .size, so fields can be added in later versions without breaking callers.
 */
struct pmq_config {
	uint32_t size;            /* sizeof(struct pmq_config), set by init */
	uint32_t flags;           /* PMQ_F_* */
	uint32_t slot_count;      /* main ring slots, power of two (default 1024) */
	uint32_t max_payload;     /* largest message in bytes (default 1024) */
	uint32_t max_attach;      /* attachment table entries (default 16, max 250) */
	uint32_t consumer_quota;  /* messages one consumer may hold (default 32; clamped to slot_count) */
	uint32_t max_deliveries;  /* attempts before dead-lettering (default 5) */
	uint32_t dlq_capacity;    /* dead letters kept in the side area (default 64) */
	uint32_t side_slots;      /* side-area entries; 0 = the safe formula (docs/format.md) */
	uint32_t durability;      /* enum pmq_durability */
	uint64_t lease_ns;        /* consumer lease for pmqd (default 30 s; 0 = none) */
	uint32_t lease_action;    /* 0 requeue, 1 kill, 2 alarm (pmqd's business) */
	uint32_t mode;            /* file mode bits (default 0600) */
	const char *dir;          /* directory; NULL = $PMQ_DIR or /dev/shm/pmq */
};

void pmq_config_init(struct pmq_config *cfg);

/* --- lifecycle ----------------------------------------------------------- */

/* pmq_open() flags. */
#define PMQ_PRODUCER 0x1u
#define PMQ_CONSUMER 0x2u
#define PMQ_NONBLOCK_OPEN 0x4u /* fail with -EWOULDBLOCK instead of waiting for an exclusive recoverer */

/* Options of pmq_open_ex() (size-prefixed, init with pmq_open_opts_init). */
struct pmq_open_opts {
	uint32_t size;
	uint32_t wait;        /* enum pmq_wait for this handle */
	uint32_t spin_ns;     /* spin budget before sleeping (default 50 us) */
	uint32_t owner_uid;   /* also accept a queue file owned by this uid (0: only the caller's and
	                       * root's); PMQ_OWNER_ANY: any owner (a supervisor that checks owners itself) */
	const char *dir;      /* NULL = $PMQ_DIR or /dev/shm/pmq */
};

#define PMQ_OWNER_ANY 0xffffffffu

void pmq_open_opts_init(struct pmq_open_opts *o);

/*
 * Create queue `name` and attach to it as producer and consumer.
 * -EEXIST if it exists, -EINVAL on a bad name or config (pmq_errmsg says
 * which field), -ENOMEM/-ENOSPC/-EACCES from the file system.
 */
int pmq_create(const char *name, const struct pmq_config *cfg, pmq_t **out);

/*
 * Open queue `name` (or "name.dlq" for its dead letters, consumer only)
 * with PMQ_PRODUCER and/or PMQ_CONSUMER. Runs crash recovery first when
 * nobody else is attached and the last user did not close cleanly.
 * -ENOENT, -EPROTO (corrupt, truncated or foreign file), -EINVAL (bad
 * name or flags), -EUSERS (attachment table full), -EACCES, -ELOOP.
 */
int pmq_open(const char *name, unsigned flags, pmq_t **out);
int pmq_open_ex(const char *name, unsigned flags, const struct pmq_open_opts *o, pmq_t **out);

/*
 * Detach: abort this handle's unfinished reservations, requeue the
 * messages it still holds (nack), free its attachment and unmap.
 * Always frees the handle; returns -ENOSPC if some held message could not
 * be requeued (it is then left for recovery, nothing is lost).
 */
int pmq_close(pmq_t *q);

/* Remove the queue's file. Attached handles keep working until closed. */
int pmq_unlink(const char *name, const char *dir);

/* --- sending -------------------------------------------------------------- */

/* Flags for pmq_send / pmq_reserve / pmq_recv. */
#define PMQ_NONBLOCK 0x1u   /* -EAGAIN instead of waiting */
#define PMQ_REPLICATED 0x2u /* return only once a standby persisted it (needs pmqd replication) */

/*
 * Copy `len` bytes in as one message. Blocks while the ring is full unless
 * PMQ_NONBLOCK (-EAGAIN). -EMSGSIZE if len > max_payload, -EPERM if the
 * handle is not a producer, -ESHUTDOWN if the queue is fenced.
 */
int pmq_send(pmq_t *q, const void *buf, size_t len, unsigned flags);

/*
 * Zero-copy send: reserve room for up to `len` bytes in the next slot,
 * write them through *buf, then pmq_commit() with the final length
 * (<= the reserved one). One reservation at a time per handle.
 */
int pmq_reserve(pmq_t *q, size_t len, void **buf, unsigned flags);
int pmq_commit(pmq_t *q, void *buf, size_t len);
/* Give a reservation back unsent (consumers skip the ticket). */
int pmq_abort(pmq_t *q, void *buf);

/* Send up to n messages; returns how many were sent (>= 1) or -errno. */
int pmq_send_batch(pmq_t *q, const struct iovec *msgs, unsigned n, unsigned flags);

/* --- receiving ------------------------------------------------------------ */

/* A received message. `data` points into the queue's mapping (zero copy):
 * valid until pmq_ack/pmq_nack of this message or pmq_close. */
struct pmq_msg {
	const void *data;
	uint32_t len;
	uint32_t delivery_count; /* 1 on first delivery, > 1 on redelivery */
	uint64_t ticket;         /* origin ticket: unique per queue and epoch */
	uint64_t epoch;          /* replication epoch the ticket belongs to */
	uint64_t timestamp_ns;   /* enqueue time, CLOCK_REALTIME */
	uint64_t cookie[2];      /* the library's: where the message sits */
};

/*
 * Take the next message (redeliveries first). Blocks until one arrives
 * unless PMQ_NONBLOCK (-EAGAIN). -EBUSY when this consumer already holds
 * its quota; -EPERM if not a consumer.
 */
int pmq_recv(pmq_t *q, struct pmq_msg *msg, unsigned flags);
/* As pmq_recv, waiting at most timeout_ns (-ETIMEDOUT). */
int pmq_recv_timeout(pmq_t *q, struct pmq_msg *msg, uint64_t timeout_ns);
/* Receive up to n; returns how many (>= 1) or -errno (blocks for the first only). */
int pmq_recv_batch(pmq_t *q, struct pmq_msg *msgs, unsigned n, unsigned flags);

/*
 * Settle a received message. pmq_ack frees it. -ESTALE if it was taken
 * away meanwhile (lease expired, or recovered as if this process were
 * dead): it has been or will be delivered again.
 */
int pmq_ack(pmq_t *q, const struct pmq_msg *msg);

/* Ack n messages; returns the first error (all are attempted). */
int pmq_ack_batch(pmq_t *q, const struct pmq_msg *msgs, unsigned n);

#define PMQ_NACK_REQUEUE 0x0u    /* deliver again (counts an attempt) */
#define PMQ_NACK_DEADLETTER 0x1u /* move straight to the dead letters */
/* Give it back. -ENOSPC if there is no side-area room (the message stays held). */
int pmq_nack(pmq_t *q, const struct pmq_msg *msg, unsigned flags);

/* --- dead letters ---------------------------------------------------------- */

/* Make up to `max` dead letters deliverable again; returns how many. */
int pmq_dlq_replay(pmq_t *q, unsigned max);
/* Drop up to `max` dead letters; returns how many. */
int pmq_dlq_purge(pmq_t *q, unsigned max);

/* --- operations ------------------------------------------------------------ */

struct pmq_stats {
	uint64_t depth;           /* committed messages not yet claimed (main ring) */
	uint64_t in_flight;       /* claimed, not yet settled */
	uint64_t side_ready;      /* redeliveries waiting */
	uint64_t dead_letters;    /* messages in the dead-letter area now */
	uint64_t sent;            /* tail ticket: messages ever claimed by producers */
	uint64_t received;        /* head ticket */
	uint64_t redelivered;     /* messages requeued (nack, death, lease) so far */
	uint64_t dead_lettered;   /* messages ever dead-lettered */
	uint64_t aborted;         /* tickets abandoned by dead producers or aborts */
	uint32_t attachments;     /* attached handles */
	uint32_t slot_count;
	uint32_t max_payload;
	uint32_t side_slots;
	uint32_t durability;
	uint32_t is_pmem;
};

int pmq_stats(pmq_t *q, struct pmq_stats *st);

/*
 * Run crash recovery now: for every attachment whose process is dead
 * (proven by its liveness token), abort its unfinished sends, requeue the
 * messages it held (dead-lettering those over max_deliveries) and free the
 * entry. Returns the number of dead attachments recovered, or -errno.
 */
int pmq_recover(pmq_t *q);

/* --- supervision (what pmqd and pmqctl use) ------------------------------- */

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
 * Copy out, without claiming, the next committed message at or after *pos:
 * a main-ring ticket (it starts at the consumers' head if *pos is older),
 * or with PMQ_PEEK_DLQ a side-area index of a dead letter. Copies at most
 * cap bytes into buf and fills info (info->cookie is not usable for ack).
 * Sets *pos past the message. Returns its full length, or -ENOENT when
 * there is none (yet).
 */
#define PMQ_PEEK_DLQ 0x1u
int pmq_peek(pmq_t *q, uint64_t *pos, void *buf, size_t cap, struct pmq_msg *info, unsigned flags);

/*
 * Lease expiry: redeliver every message held by attachment `index` (if it
 * is still incarnation `incarnation`) while the holder may be alive. Its
 * slots stay pinned until it acks (-ESTALE) or dies. Returns how many.
 */
int pmq_requeue_holder(pmq_t *q, uint32_t index, uint32_t incarnation);

/* The queue's configuration as stored in its file. */
int pmq_get_config(pmq_t *q, struct pmq_config *cfg);

/* --- replication (pmqd) ----------------------------------------------------
 * What pmqd's replicator (on the primary) and standby receiver use; see
 * DESIGN.md section 6 and docs/failover.md. Applications need none of it:
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
	uint32_t reserved;
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

/* --- errors and version --------------------------------------------------- */

const char *pmq_strerror(int err);
/* Detail of the calling thread's last failure ("" if none). */
const char *pmq_errmsg(void);
const char *pmq_version(void);

#ifdef __cplusplus
}
#endif
#endif /* PMQ_H */
