/*
 * internal.h - the handle and the functions the src/ files share.
 * Nothing here is exported (libpmq.map lists the public symbols).
 */
#ifndef PMQ_INTERNAL_H
#define PMQ_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "layout.h"
#include "pmq_admin.h" /* the library implements both headers */

#define PMQ_EXPORT __attribute__((visibility("default")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* clock.c: the send timestamp (CLOCK_REALTIME ns) from the TSC where it is invariant.
 * Per handle, process-local: a handle is used by one thread at a time. */
#if defined(__x86_64__) || defined(__i386__)
#define PMQ_HAVE_TSC 1
static inline uint64_t send_clock_tsc(void) { return __builtin_ia32_rdtsc(); } /* not serialising: a stamp */
#else
#define PMQ_HAVE_TSC 0
static inline uint64_t send_clock_tsc(void) { return 0; }
#endif
enum send_clock_mode { SEND_CLOCK_REALTIME = 0, SEND_CLOCK_WARMING = 1, SEND_CLOCK_TSC = 2 };
struct send_clock {
	uint64_t base_tsc;  /* the line's anchor: ticks ... */
	uint64_t base_ns;   /* ... and CLOCK_REALTIME ns read with them */
	uint64_t mult;      /* ns per tick, times 2^32 */
	uint64_t span;      /* ticks after the anchor the line is used for (100 ms) */
	unsigned mode;      /* enum send_clock_mode */
};
void send_clock_init(struct send_clock *c);   /* at open: CPUID, PMQ_TSC=0 */
uint64_t send_clock_slow(struct send_clock *c); /* reads the clock: warm-up, re-anchor, fallback */
static inline uint64_t send_clock_now(struct send_clock *c)
{
	if (likely(c->mode == SEND_CLOCK_TSC)) {
		uint64_t d = send_clock_tsc() - c->base_tsc; /* ticks behind the anchor wrap huge: slow path */
		if (likely(d < c->span))
			return c->base_ns + (uint64_t)(((unsigned __int128)d * c->mult) >> 32);
	}
	return send_clock_slow(c);
}

struct pmq {
	struct pmq_header *hdr;     /* start of the mapping */
	uint8_t *ring;              /* main ring slots */
	uint8_t *side;              /* side area entries */
	struct pmq_attach *attach;  /* attachment table */
	struct pmq_attach *me;      /* our entry */
	size_t map_len;
	uint64_t slot_mask;
	uint32_t slot_shift;
	uint32_t slot_size;
	uint32_t slot_count;
	uint32_t side_count;
	uint32_t max_payload;
	uint32_t max_attach;
	uint32_t quota;
	uint32_t max_deliveries;
	uint32_t dlq_capacity;      /* these three: from the validated header copy, for pmq_get_config */
	uint32_t lease_action;
	uint64_t lease_ns;
	uint32_t qflags;            /* PMQ_F_* */
	uint32_t index;             /* our attachment index */
	uint32_t incarnation;
	unsigned role;              /* PMQ_PRODUCER | PMQ_CONSUMER | AT_ROLE_DLQ */
	int fd;                     /* our own open file description: token + presence locks */
	int probe_fd;               /* a lock-free description for liveness probes (-1 until needed) */
	int token_fd;               /* a description for taking dead owners' tokens (-1 until needed) */
	atomic_bool token_busy;     /* a thread of ours is using token_fd (attach.c) */
	bool power;                 /* durability power: persist on the data path */
	bool is_pmem;               /* pmem_persist is enough (else pmem_msync) */
	bool forked;                /* inherited across fork: unusable */
	uint32_t wait;              /* enum pmq_wait */
	uint64_t spin_ns;
	uint32_t side_scan;         /* rotating start of the side scan */
	/* the open reservation (zero-copy send) */
	struct pmq_slot *resv;
	uint64_t resv_ctl;
	uint32_t resv_len;
	uint64_t resv_ticket;
	uint64_t side_skip_until;   /* after a fruitless side scan: next scan not before (ns) */
	uint64_t repl_mark;         /* standby: tickets below had their possible delivery counted */
	uint64_t side_seq_stale;    /* side_seq + 1 when two side scans found nothing (0: none): sleep only while unchanged */
	struct send_clock clock;    /* send timestamps (clock.c) */
	uint64_t last_send_ns;      /* the previous single send's stamp (pmq_send, pmq_commit): streaming or not (ring.c) */
	char name[PMQ_NAME_MAX + 1];
	char dir[4096];
	struct pmq *next_open;      /* list of open handles, for the fork handler */
	/* the held area (held.c): our block, and a private copy of what we recorded in it
	 * (the owner never reads its shared block back: a peer may have scribbled on it) */
	uint8_t *held;              /* start of the held area */
	uint32_t held_stride;
	uint32_t held_cap;
	uint32_t held_next;         /* where the next record search starts */
	bool held_overflow;         /* we set HELD_OVERFLOW in our block */
	uint64_t held_mine[PMQ_HELD_MAX];
	/* groups (group.c, docs/groups.md): from the validated header copy */
	uint32_t max_groups;        /* 0: a queue without groups */
	uint32_t group;             /* our group's index + 1 (0: none: a producer, or no groups) */
	uint32_t group_inc;         /* its incarnation when we joined */
	bool group_lossy;
	uint8_t *groups;            /* the group table */
	uint8_t *lanes;             /* lane of group g at lanes + g * lane_stride */
	uint64_t lane_stride;
	_Atomic uint64_t *lane;     /* our group's lane (reliable) */
	struct pmq_group_rec *grec; /* our group's record */
	uint8_t *lossy_buf;         /* lossy: the copy a receive hands out (max_payload bytes) */
	/* producers with groups: tickets below gate_until had their slot's previous lap settled
	 * by every reliable group of gate_masks when we last read the lanes (one lane line
	 * per group per eight tickets, lane.c lane_gate_refresh; read ahead, lane_gate_ahead) */
	uint64_t gate_until;
	uint32_t gate_masks;
};

/* group.c */
struct pmq_geometry;
static inline struct pmq_group_rec *group_rec(const struct pmq *q, uint32_t g)
{
	return (struct pmq_group_rec *)(q->groups + (size_t)g * PMQ_GROUP_REC_SIZE);
}
static inline _Atomic uint64_t *group_lane(const struct pmq *q, uint32_t g)
{
	return (_Atomic uint64_t *)(q->lanes + (size_t)g * q->lane_stride);
}
/* The word that decides main slot j for group tag `tag` (index + 1): its lane word,
 * or (tag 0) the slot's own control word. tag is bounded by the caller. */
static inline _Atomic uint64_t *main_word(const struct pmq *q, unsigned tag, uint32_t j);
int group_check_name(const char *name);
/* one item of a config's groups list: its index, name, PMQ_GROUP_* flags and lease (0: the queue's) */
typedef void group_item_fn(void *arg, uint32_t i, const char *name, unsigned flags, uint64_t lease_ns);
int group_parse_list(const char *spec, uint32_t max_groups, group_item_fn *fn, void *arg);
void group_init_area(uint8_t *base, const struct pmq_config *cfg, const struct pmq_geometry *g);
void group_handle_geometry(struct pmq *q, const struct pmq_header *h);
int group_join(struct pmq *q, const char *name);    /* at open: the group named in the options */
void group_mark_attachment(struct pmq *q);          /* after the join: our entry names our group */
uint64_t group_lease_of(const struct pmq *q, uint32_t g, uint64_t w); /* group g's own lease (word w), bounded */
uint64_t group_oldest_head(struct pmq *q, uint64_t tail); /* stats: the reliable groups' oldest head */
/* our group was deleted (or replaced). relaxed: a delete is noticed at the next call */
static inline bool group_gone(const struct pmq *q)
{
	uint64_t w = atomic_load_explicit(&q->grec->word, memory_order_relaxed);
	return gw_state(w) != GS_ACTIVE || gw_inc(w) != q->group_inc;
}
/* a recoverer's view of attachment idx's group: tag (index + 1) or 0. relaxed: the owner
 * wrote it at join, and a recoverer reads it under the dead owner's token. Bounded
 * (shared memory): a wrong tag only makes recovery look at words that do not name the
 * owner, and the words decide */
static inline unsigned group_tag_of(const struct pmq *q, uint32_t idx)
{
	uint32_t g = atomic_load_explicit(&q->attach[idx].group, memory_order_relaxed);
	return g <= q->max_groups ? g : 0;
}

/* lane.c: consumers of groups, and the producers' gate on the reliable lanes */
#define COOKIE_LANE (1ull << 62)  /* cookie[0]: a main slot held through our group's lane */
#define COOKIE_LOSSY (1ull << 61) /* cookie[0]: a lossy copy, nothing held */
bool lane_settled(const struct pmq *q, uint64_t masks, uint32_t j, uint32_t lap, memory_order mo);
/* Unpublished for lap L in a queue with groups: the previous lap's READY, FREE(L) (fresh
 * or after an abort), or a lossy mark WRITING(L) */
static inline bool lane_main_unpublished(uint64_t c, uint32_t lap)
{
	unsigned st = ctl_state(c);
	if (st == ST_FREE || st == ST_WRITING)
		return ctl_lap(c) == lap;
	return st == ST_READY && lap_diff(ctl_lap(c), lap) == -1;
}
int lane_try_consume(struct pmq *q, struct pmq_msg *msg, uint64_t *writer);
int lossy_try_consume(struct pmq *q, struct pmq_msg *msg, uint64_t *lost, uint64_t *writer);
bool lane_gate_refresh(struct pmq *q, uint64_t masks, uint64_t t);
#define GATE_PREFETCH_AT 6 /* lane.c lane_gate_ahead: tickets before gate_until */
#define GATE_READ_AT 3
void lane_gate_ahead(struct pmq *q, uint64_t t);
#define FLOOR_WALK_MAX 64 /* lane.c lane_floor_advance: lane words per walk */
void lane_floor_advance(struct pmq *q, uint32_t lap, uint32_t j);
void lane_start_at(struct pmq *q, uint32_t g, uint64_t s); /* lanes from ticket s on unsettled */
bool lane_peek_data(struct pmq *q);
bool lane_peek_space(struct pmq *q, uint64_t t, uint64_t c);
void lane_rewind_heads(struct pmq *q); /* whole-file recovery: reliable heads to the first unsettled ticket */

/* group_repair.c: whole-file repair of a file with groups (exclusive, docs/groups.md) */
bool group_repair_plausible(struct pmq *q);  /* table, ring, lanes and side tags: a crash's state? */
uint64_t group_repair_table(struct pmq *q);  /* bad records FREE, group_masks recomputed (returned) */
void group_repair_ring(struct pmq *q, uint64_t masks, bool rebooted); /* ring, lanes, tail, cursors */
void group_repair_side(struct pmq *q, uint64_t masks); /* free entries no ACTIVE reliable group owns */

/* held.c: claim records for targeted recovery (layout.h, docs/format.md) */
static inline struct pmq_held *held_block(const struct pmq *q, uint32_t idx)
{
	return (struct pmq_held *)(q->held + (size_t)idx * q->held_stride);
}
void held_reset(struct pmq *q, uint32_t idx);                     /* at join, token held: an empty block */
void held_record(struct pmq *q, int side, uint32_t idx, uint32_t lap); /* before the CAS naming us */

/* slot addressing (indices are bounds-checked by the callers that read them from memory) */
static inline struct pmq_slot *main_slot(const struct pmq *q, uint64_t idx)
{
	return (struct pmq_slot *)(q->ring + (size_t)idx * q->slot_size);
}
static inline _Atomic uint64_t *main_word(const struct pmq *q, unsigned tag, uint32_t j)
{
	return tag ? &group_lane(q, tag - 1)[j] : &main_slot(q, j)->ctl;
}
static inline struct pmq_slot *side_slot(const struct pmq *q, uint32_t idx)
{
	return (struct pmq_slot *)(q->side + (size_t)idx * q->slot_size);
}
static inline uint8_t *slot_payload(struct pmq_slot *s) { return (uint8_t *)s + PMQ_SLOT_HDR_SIZE; }
/* after a claim: ask for the payload's further lines (up to 16; the first was asked for
 * while polling). Hints: nothing is read into a local, nothing decided */
static inline void slot_prefetch_rest(struct pmq_slot *s, uint32_t len)
{
	const uint8_t *p = slot_payload(s);
	uint32_t lines = len > 16u * PMQ_CACHELINE ? 16u : (len + PMQ_CACHELINE - 1) / PMQ_CACHELINE;
	for (uint32_t i = 1; i < lines; i++)
		__builtin_prefetch(p + (size_t)i * PMQ_CACHELINE, 0, 3);
}

/* A write hint (PREFETCHW; a no-op on x86 processors without it): asks for the line
 * exclusive, so a later store or CAS finds it ours. Reads and writes nothing. */
static inline void prefetch_write(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ volatile("prefetchw %0" : : "m"(*(const volatile char *)p));
#else
	__builtin_prefetch(p, 1, 3);
#endif
}

/* One load of a plain shared field into a local: volatile, so the compiler cannot read
 * it again later (another, possibly hostile, process may change it in between). */
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))

/* errors.c */
int pmq_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What every exported call on a handle checks first: NULL, or inherited across fork
 * (the child's copy must never act under the parent's attachment index). */
static inline int handle_check(const struct pmq *q)
{
	if (__builtin_expect(!q, 0))
		return pmq_fail(-EINVAL, "NULL queue handle");
	if (__builtin_expect(q->forked, 0))
		return pmq_fail(-EBADFD, "queue \"%s\": handle inherited across fork; open a new one in the child",
				q->name);
	return 0;
}

/* crc32c.c */
uint32_t pmq_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t slot_crc(const struct pmq_slot *s, const uint8_t *payload, uint32_t len);

/* format.c */
struct pmq_geometry {
	uint64_t attach_off, held_off, ring_off, side_off, file_size;
	uint32_t slot_size, slot_shift, side_count, held_stride, held_cap;
	uint64_t group_off, lane_off, lane_stride; /* 0 without groups */
	uint32_t max_groups;
};
/* the 1.0 structs end where the 1.1 fields begin */
#define PMQ_CONFIG_SIZE_1_0 offsetof(struct pmq_config, max_groups)
#define PMQ_OPEN_OPTS_SIZE_1_0 offsetof(struct pmq_open_opts, group)
/* the 1.1 config fields, read only when the caller's struct has them */
static inline uint32_t cfg_max_groups(const struct pmq_config *c)
{
	return c->size >= offsetof(struct pmq_config, max_groups) + sizeof(c->max_groups) ? c->max_groups : 0;
}
static inline const char *cfg_groups(const struct pmq_config *c)
{
	return c->size >= offsetof(struct pmq_config, groups) + sizeof(c->groups) ? c->groups : NULL;
}
void format_held_geometry(uint64_t attach_off, uint32_t max_attach, uint32_t quota, uint64_t *off,
			  uint32_t *stride, uint32_t *cap);
int format_geometry(const struct pmq_config *cfg, struct pmq_geometry *g);
int format_validate_config(const struct pmq_config *cfg);
void format_init_header(struct pmq_header *h, const struct pmq_config *cfg, const struct pmq_geometry *g);
int format_validate_header(const struct pmq_header *h, uint64_t file_size, const char *name);
/* the config fields a header stores (h: a private copy), for re-deriving its geometry */
void format_config_of(const struct pmq_header *h, struct pmq_config *c);
uint32_t format_id_crc(const struct pmq_header *h);
int format_read_boot_id(char out[40]);
/* the boot record (boot_id + boot_crc): whose boot last ran whole-file recovery */
enum boot_match {
	BOOT_SAME = 0,    /* recorded by this boot */
	BOOT_OTHER = 1,   /* a valid record of another boot: the machine rebooted */
	BOOT_DAMAGED = 2, /* fails its checksum: damage, never taken for a reboot */
};
enum boot_match format_check_boot_record(const struct pmq_header *h, const char *current);
void format_write_boot_record(struct pmq_header *h, const char *id);

/* durable.c: persistence edges (D*) */
void durable_persist_power(const struct pmq *q, const void *addr, size_t len);
/* addr..addr+len to the media in power mode; nothing otherwise (inline: it sits on every
 * group ack, where a call only to return cost a measurable share) */
static inline void durable_persist(const struct pmq *q, const void *addr, size_t len)
{
	if (__builtin_expect(q->power, 0))
		durable_persist_power(q, addr, len);
}
void durable_persist_all(const struct pmq *q);

/* wait.c: the lowest layer with ring.c as its only user; it calls nothing above it.
 * What it needs from above comes in the wait_state: the re-check (W1) and the heal. */
void wait_wake_data(struct pmq *q);
void wait_wake_space(struct pmq *q);
typedef bool (*wait_peek_fn)(struct pmq *q); /* seq_cst loads: anything to do now? (W1's re-check) */
typedef int (*wait_heal_fn)(struct pmq *q);  /* an idle or stalled waiter recovers dead owners */
struct wait_state {
	wait_peek_fn peek;     /* ring_peek_data or ring_peek_space */
	wait_heal_fn heal;     /* recover_dead_owners (NULL: never heal) */
	uint64_t start_ns;
	uint64_t deadline_ns;  /* 0 = forever */
	uint32_t spins;
	uint64_t watch_ctl;    /* the WRITING word we are waiting behind, for the heal */
	uint64_t watch_since;
	uint64_t heal_at;      /* last idle recovery pass */
	uint64_t heal_gap;     /* wait behind a WRITING slot before probing its producer */
	uint64_t spin_heal_at; /* PMQ_WAIT_SPIN: when the cursors were last sampled (0: not yet) */
	uint64_t spin_head, spin_tail; /* the sample: unchanged for a whole period = no progress */
};
void wait_begin(const struct pmq *q, struct wait_state *w, uint64_t timeout_ns, bool forever, wait_peek_fn peek,
		wait_heal_fn heal);
/* returns 0 to retry, -ETIMEDOUT when the deadline passed */
int wait_for_data(struct pmq *q, struct wait_state *w, uint32_t seq_snapshot, bool have_writer);
int wait_for_space(struct pmq *q, struct wait_state *w, uint32_t seq_snapshot);
uint64_t now_mono_ns(void);
void futex_wake_all(_Atomic uint32_t *word);
void futex_sleep(_Atomic uint32_t *word, uint32_t expect, uint64_t ns);
uint64_t now_real_ns(void);

/* attach.c: tables, tokens, presence */
int attach_join(struct pmq *q, unsigned role);
void attach_leave(struct pmq *q, bool settled);
/* A dead owner's token held by us: through the handle's own description or a fresh one. */
struct token_hold {
	int fd;
	uint32_t idx;
	bool own;
};
int attach_take_token(struct pmq *q, uint32_t idx, struct token_hold *t); /* 0: held; -EAGAIN: alive */
int attach_probe_alive(struct pmq *q, uint32_t idx); /* 1 alive, 0 dead, <0 error */
int attach_reopen_fd(const struct pmq *q);
void attach_open_descriptions(struct pmq *q); /* probe_fd, token_fd: ready before a death */
void attach_register_handle(struct pmq *q);
/* A fork waits while any thread is between enter and leave (nests per thread): held
 * from a descriptor's creation until the fork handler can see it, or it is closed. */
void attach_fork_gate_enter(void);
void attach_fork_gate_leave(void);
void attach_drop_token(struct pmq *q, const struct token_hold *t); /* lets the token go */
void attach_unregister_handle(struct pmq *q);
uint64_t attach_read_start_time(pid_t pid);

/* slot.c: one slot's operations that ring.c, side.c and recover.c share (below all three) */
/* copy a slot's header (all but ctl and src) once; returns its length bounded by max_payload */
uint32_t slot_snapshot(const struct pmq *q, const struct pmq_slot *s, struct pmq_slot *copy);
/* does the payload match the CRC of a header copy (true when it carries none)? */
bool slot_sealed(const struct pmq *q, const struct pmq_slot *copy, const uint8_t *payload, uint32_t len);
/* WRITING(L,p) -> FREE(L+1, aborted) of a main slot; -ESTALE if the word is no longer wr_ctl */
int slot_abort_writing(struct pmq *q, struct pmq_slot *s, uint64_t wr_ctl);
/* the same for ticket lap `lap` whatever the unpublished word shows (groups: the previous
 * lap's READY, or a lossy mark): -> FREE(lap+1, aborted) */
int slot_abort_at(struct pmq *q, struct pmq_slot *s, uint64_t word, uint32_t lap);
/* whole-file recovery (recover.c, group_repair.c), exclusive: is the message intact (its
 * header read once into *sh, *len its bounded length)? And give an intact message the
 * ticket t of its position, READY (resealed when it carries a CRC) */
bool slot_intact(const struct pmq *q, struct pmq_slot *s, struct pmq_slot *sh, uint32_t *len);
void slot_rehome(struct pmq *q, struct pmq_slot *s, uint64_t t);
/* the 64-bit ticket of lap L (32 bits) at slot j, taken nearest to a reference ticket */
static inline uint64_t slot_ticket_near(const struct pmq *q, uint32_t lap, uint32_t j, uint64_t ref)
{
	uint64_t ref_lap = ref >> q->slot_shift;
	uint64_t lap64 = ref_lap + (int64_t)lap_diff(lap, (uint32_t)ref_lap);
	return (lap64 << q->slot_shift) | j;
}
/* does a slot header's ticket name this position and lap (laps compare in 32 bits)? */
static inline bool slot_ticket_matches(const struct pmq *q, uint64_t ticket, uint32_t j, uint32_t lap)
{
	return (uint32_t)(ticket >> q->slot_shift) == lap && (ticket & q->slot_mask) == j;
}
/* a slot we claimed (main or side) becomes the caller's message; counts it as held */
void slot_fill_msg(struct pmq *q, struct pmq_msg *msg, struct pmq_slot *s, uint64_t claimed, int side,
		   uint32_t idx);

/* claim.c: producers' claim records (format 2) */
/* a dead (or, exclusive, any) attachment's claimed-unpublished ticket: aborted; 1 if it
 * aborted one, 0 if none, -EAGAIN if a live producer names the same ticket (retry) */
int claim_settle(struct pmq *q, uint32_t idx, bool exclusive);
/* the attachments whose record names ticket t (at most max); for the heal */
int claim_who(struct pmq *q, uint64_t t, uint32_t *out, uint32_t max);

/* side.c: the side area */
int side_reserve(struct pmq *q, unsigned actor, uint32_t *out_idx, uint64_t *out_ctl);
int side_unreserve(struct pmq *q, uint32_t idx, uint64_t writing_ctl);
int side_publish(struct pmq *q, uint32_t idx, uint64_t writing_ctl);
int side_help_publish(struct pmq *q, uint32_t e, int src_side, uint32_t src_idx, uint32_t src_lap, unsigned tag);
int side_free(struct pmq *q, struct pmq_slot *s, uint64_t expect, uint32_t gen);
int side_return_dead(struct pmq *q, uint32_t idx, uint64_t claimed_ctl);
/* move a held message (main or side source) into a new side entry */
struct move_req {
	struct pmq_slot *src;
	unsigned src_tag;       /* groups: a main source's group tag (index + 1): its lane word decides */
	int src_is_side;
	uint32_t src_idx;
	uint64_t src_ctl;       /* expected CLAIMED word of the source */
	unsigned actor;         /* attachment index doing the move */
	bool free_source;       /* holder is the actor or dead: free the source now */
	uint32_t add_deliveries;
	uint32_t force_reason;  /* DR_* to dead-letter regardless of count, 0 = decide */
};
int side_move(struct pmq *q, const struct move_req *m);
int side_requeue_in_place(struct pmq *q, uint32_t idx, uint64_t claimed_ctl, uint32_t add_deliveries,
			  uint32_t force_reason);
int side_try_claim(struct pmq *q, struct pmq_msg *msg, bool dead_letters);
/* a message we claimed and keep (no room to settle it): counted as held, so quota, close
 * and recovery know of it */
void held_uncounted(struct pmq *q);
bool dlq_credit_give(struct pmq *q); /* saturating: never below zero; false if it was zero */
/* free a MOVED source once its copy is published */
int slot_free_moved(struct pmq *q, struct pmq_slot *s, int is_side, uint32_t idx, uint64_t moved_ctl, unsigned tag);
/* groups: free every READY or DEAD side entry of group tag (a delete); count them */
void side_free_group(struct pmq *q, unsigned tag);
void side_count_group(struct pmq *q, unsigned tag, uint64_t *ready, uint64_t *dead);
void side_recount_groups(struct pmq *q); /* exclusive: each group's READY count, from the entries */
void side_write_single(struct pmq *q, struct pmq_slot *e, uint32_t gen, const struct pmq_slot *hdr,
		       const void *payload, uint32_t len, unsigned st); /* a mirror's copy into entry e */
void group_count_move(struct pmq *q, unsigned tag, bool dead); /* a group's redelivered / dead_lettered */

/* The READY hints: the queue's (side_hint) and, for an entry of a group (tag = index + 1),
 * the group's own (record line 3). Up before the entry is published, down after a claim
 * took it: never fewer than there are (relaxed: they only decide whether to scan; S2/S3
 * and side_seq's bump order them for waiters, see ring_peek_data). */
static inline void side_hint_add(struct pmq *q, unsigned tag, uint64_t delta)
{
	atomic_fetch_add_explicit(&q->hdr->side_hint, delta, memory_order_relaxed);
	if (tag && tag <= q->max_groups)
		atomic_fetch_add_explicit(&group_rec(q, tag - 1)->side_ready, delta, memory_order_relaxed);
}
#define side_hint_up(q, tag) side_hint_add((q), (tag), 1)
#define side_hint_down(q, tag) side_hint_add((q), (tag), UINT64_MAX) /* modular: minus one */

/* release (and more, W3): every side-area write before it is visible to whoever acquires the new value */
static inline void side_seq_bump(struct pmq *q)
{
	/* W3: seq_cst (an RMW: the same instruction as release on x86): every bump comes
	 * before the caller's wake (W2), so a waiter's seq_cst re-check of side_seq after
	 * its registration either sees the bump or is seen by the wake (ring_peek_data) */
	atomic_fetch_add_explicit(&q->hdr->side_seq, 1, memory_order_seq_cst);
}

/* ring.c */
bool ring_peek_data(struct pmq *q);  /* seq_cst: something for recv to do? */
bool ring_peek_space(struct pmq *q); /* seq_cst: something for send to do? */

/* repl_source.c */
int repl_wait_confirmed(struct pmq *q, uint64_t ticket);

/* recover.c */
int recover_owner(struct pmq *q, uint32_t idx);
int recover_dead_owners(struct pmq *q);
int recover_whole_file(struct pmq *q, bool rebooted);

/* fault injection: compiled only into the test library */
#ifdef PMQ_FAULT_INJECTION
void pmq_fault_point(const char *name);
/* tests: fn runs at every fault point in the passing thread (NULL: none) */
void pmq_fault_set_hook(void (*fn)(const char *name));
/* recovery's audit found a word still naming a settled owner: report and abort */
bool pmq_fault_audit_on(void);
void pmq_fault_audit_failed(const char *where, uint32_t idx, uint64_t ctl, unsigned owner);
#define PMQ_FAULT(name) pmq_fault_point(name)
#else
#define PMQ_FAULT(name) ((void)0)
#endif

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

#endif /* PMQ_INTERNAL_H */
