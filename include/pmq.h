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
 *
 * This header is what an application needs; it is stable for the soname
 * (libpmq.so.1). The supervision and replication interface used by pmqd,
 * pmqctl and tools is in pmq_admin.h (same library, weaker promise).
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
#define PMQ_VERSION_MINOR 1 /* 1.1: consumer groups (fan-out), ABI additions only */
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
	/* 1.1: consumer groups (docs/groups.md). Read only when .size covers them. */
	uint32_t max_groups;      /* 0: no groups, consumers compete (the 1.0 queue); 1..PMQ_GROUPS_MAX */
	uint32_t reserved_cfg;    /* 0 */
	const char *groups;       /* groups made with the queue: "name[:lossy][:lease=MS][,...]" (NULL: none) */
};

/* Sized initialisers (1.1): each writes only the `size` bytes its caller's struct has,
 * so a program built against 1.0 (whose structs are shorter) keeps working: the 1.0
 * symbols fill the 1.0 fields only, and the macros below make a 1.1 build pass its size. */
void pmq_config_init(struct pmq_config *cfg);
void pmq_config_init_sized(struct pmq_config *cfg, size_t size);
#define pmq_config_init(cfg) pmq_config_init_sized((cfg), sizeof(*(cfg)))

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
	/* 1.1 (read only when .size covers it): the consumer group to join. Required for a
	 * consumer of a queue made with groups, refused (-EOPNOTSUPP) on one made without */
	const char *group;
};

#define PMQ_OWNER_ANY 0xffffffffu

void pmq_open_opts_init(struct pmq_open_opts *o);
void pmq_open_opts_init_sized(struct pmq_open_opts *o, size_t size);
#define pmq_open_opts_init(o) pmq_open_opts_init_sized((o), sizeof(*(o)))

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
 * handle is not a producer, -ESHUTDOWN if the queue is fenced, -EPROTO if
 * the queue's tail cursor is damaged (close every handle and reopen).
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
 * its quota; -EPERM if not a consumer; -EPROTO if the queue's head cursor is
 * damaged (close every handle and reopen).
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

/* --- inspection ------------------------------------------------------------ */

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

/* The queue's configuration as stored in its file. */
int pmq_get_config(pmq_t *q, struct pmq_config *cfg);
int pmq_get_config_sized(pmq_t *q, struct pmq_config *cfg, size_t size); /* 1.1: fills `size` bytes */
#define pmq_get_config(q, cfg) pmq_get_config_sized((q), (cfg), sizeof(*(cfg)))

/* Supervision (attachments, lease requeue) and replication calls are in
 * pmq_admin.h: they are pmqd's and pmqctl's interface, not an application's. */

/* --- consumer groups (fan-out, 1.1; docs/groups.md) -------------------------
 * A group is a named, durable cursor with its own delivery state. Within a group
 * consumers compete; every group sees every message sent after it was created.
 * A reliable group holds producers back (a slot is reused only once every reliable
 * group settled it); a lossy group (PMQ_GROUP_LOSSY) never does: when it falls a lap
 * behind, its next receive reports how many messages it skipped. Only a queue
 * created with max_groups > 0 has groups. */

#define PMQ_GROUPS_MAX 32
#define PMQ_GROUP_NAME_MAX 31 /* [A-Za-z0-9_.-], not starting with '.' */
#define PMQ_GROUP_LOSSY 0x1u  /* at-most-once: no ack, no redelivery, never blocks producers */

/* A group's own lease (pmqd's lease check for its holders; 0: the queue's lease_ns) must
 * lie in this range. The lease action stays the queue's. */
#define PMQ_GROUP_LEASE_MIN_NS 1000000ull             /* 1 ms */
#define PMQ_GROUP_LEASE_MAX_NS (7ull * 86400000000000ull) /* 7 days */

/* Create a group starting at the queue's tail (it sees messages sent from now on).
 * -EEXIST, -ENOSPC (max_groups reached), -EINVAL (bad name or flags),
 * -EOPNOTSUPP (queue made without groups). Any handle of the queue may call it. */
int pmq_group_create(pmq_t *q, const char *group, unsigned flags);

/* Options of pmq_group_create_ex() (size-prefixed, init with pmq_group_opts_init). */
struct pmq_group_opts {
	uint32_t size;
	uint32_t flags;    /* PMQ_GROUP_LOSSY */
	uint64_t lease_ns; /* the group's own lease, PMQ_GROUP_LEASE_MIN_NS..MAX_NS; 0: the queue's.
	                    * A lossy group holds nothing: a lease on one is -EINVAL */
};
void pmq_group_opts_init_sized(struct pmq_group_opts *o, size_t size);
#define pmq_group_opts_init(o) pmq_group_opts_init_sized((o), sizeof(*(o)))

/* pmq_group_create with options (NULL: as flags 0). Errors as pmq_group_create, and
 * -EINVAL for a size below the 1.1 struct's, a lease out of range or on a lossy group. */
int pmq_group_create_ex(pmq_t *q, const char *group, const struct pmq_group_opts *o);

/* Delete a group: producers stop waiting for it, its redeliveries and dead letters are
 * freed, its attached consumers get -EIDRM. -ENOENT if there is no such group. */
int pmq_group_delete(pmq_t *q, const char *group);

struct pmq_group_info {
	char name[PMQ_GROUP_NAME_MAX + 1];
	uint32_t flags;         /* PMQ_GROUP_LOSSY */
	uint32_t index;         /* entry in the queue's group table */
	uint64_t head;          /* next ticket the group takes */
	uint64_t lag;           /* sent - head: messages the group has not taken yet */
	uint64_t in_flight;     /* held by its consumers now (reliable groups) */
	uint64_t side_ready;    /* its redeliveries waiting */
	uint64_t dead_letters;  /* its dead letters now */
	uint64_t redelivered;   /* requeued in this group so far */
	uint64_t dead_lettered; /* dead-lettered in this group so far */
	uint64_t lost;          /* lossy: messages skipped after falling a lap behind, so far */
	uint32_t consumers;     /* attached consumers of the group */
	uint32_t lease_ms;      /* the group's own lease in ms, rounded up (0: the queue's applies) */
};

/* Fill up to n entries; returns how many groups exist (may exceed n). */
int pmq_group_list(pmq_t *q, struct pmq_group_info *out, unsigned n);
/* One group by name; -ENOENT if there is none. */
int pmq_group_stats(pmq_t *q, const char *group, struct pmq_group_info *out);

/* Receive from a lossy group: as pmq_recv, and *lost (if not NULL) is the number of
 * tickets the group skipped right before this message (0: none). A call that skipped
 * tickets and then found nothing (-EAGAIN, -ETIMEDOUT, ...) still sets *lost to them:
 * add it to your count on every return, not only on 0. msg->data points to
 * a copy owned by the handle, valid until its next receive; ack is not needed (a
 * no-op), nack is refused. pmq_recv on a lossy handle works too, without the count
 * (the group's `lost` statistic still has it). */
int pmq_recv_lossy(pmq_t *q, struct pmq_msg *msg, unsigned flags, uint64_t *lost);

/* --- errors and version --------------------------------------------------- */

const char *pmq_strerror(int err);
/* Detail of the calling thread's last failure ("" if none). */
const char *pmq_errmsg(void);
const char *pmq_version(void);

#ifdef __cplusplus
}
#endif
#endif /* PMQ_H */
