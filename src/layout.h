/*
 * layout.h - the queue file's layout: header, attachment table, main ring,
 * side area, and the 64-bit control word that every slot carries.
 *
 * Everything here is shared memory, addressed by offsets from the start of
 * the mapping. The structs are the file format: their sizes and offsets are
 * pinned by _Static_assert, and any change bumps PMQ_FORMAT_VERSION.
 * See docs/format.md for the picture.
 */
#ifndef PMQ_LAYOUT_H
#define PMQ_LAYOUT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PMQ_MAGIC "PMQUEUE1"
#define PMQ_FORMAT_VERSION 2u /* 2: producers claim by tail + attachment record; the held area (issue 16) */
#define PMQ_HDR_SIZE 4096u
#define PMQ_CACHELINE 64u
#define PMQ_SLOT_HDR_SIZE 64u
#define PMQ_MAX_ATTACH 250u          /* owner field is 8 bits, 0xff = nobody */
#define PMQ_MAX_SIDE 65535u          /* side index field is 16 bits */
#define PMQ_MAX_SLOTS (1u << 30)
#define PMQ_MAX_PAYLOAD (1u << 20)
#define PMQ_NO_OWNER 0xffu
#define PMQ_FEAT_GROUPS 0x2u         /* features: the file has a group area (docs/groups.md) */

/* Byte offsets of the OFD locks (far beyond any file's end: locks need no data). */
#define PMQ_LOCK_PRESENCE ((off_t)1 << 40)
#define PMQ_LOCK_TOKEN(i) (PMQ_LOCK_PRESENCE + 64 + (off_t)(i))

/* ---- the control word -------------------------------------------------------
 * bits  0..31 lap (main ring: ticket / slot_count; side: reuse generation)
 * bits 32..34 state
 * bit  35     ABORTED  (on FREE(L+1): ticket L*n+i was abandoned, never delivered)
 * bit  36     DLQ      (on CLAIMED: taken from the dead letters by a .dlq handle)
 * bits 40..47 owner attachment index (0xff: none)
 * bits 48..63 side entry index (MOVED: where the copy went)
 *
 * Main ring, format 2: a producer never writes WRITING. It claims ticket t by
 * recording t + 1 in its attachment's `claim` and moving `tail` past t; the slot
 * stays FREE(L) until the one publish CAS FREE(L) -> READY(L). So a slot reading
 * FREE(L) with tail > t is claimed-unpublished, and FREE(L) -> FREE(L+1)|ABORTED
 * (recovery of a dead claimant, pmq_abort) races that publish with one winner.
 * WRITING on the main ring is left to a standby's mirror copy (repl_mirror.c).
 */
enum slot_state {
	ST_FREE = 0,
	ST_WRITING = 1,
	ST_READY = 2,
	ST_CLAIMED = 3,
	ST_MOVED = 4,
	ST_DEAD = 5,
};

#define CTL_F_ABORTED (1ull << 35)
#define CTL_F_DLQ (1ull << 36)

static inline uint32_t ctl_lap(uint64_t c) { return (uint32_t)c; }
static inline unsigned ctl_state(uint64_t c) { return (unsigned)(c >> 32) & 7u; }
static inline unsigned ctl_owner(uint64_t c) { return (unsigned)(c >> 40) & 0xffu; }
static inline unsigned ctl_side(uint64_t c) { return (unsigned)(c >> 48); }

static inline uint64_t ctl_make(uint32_t lap, unsigned state, unsigned owner, unsigned side, uint64_t flags)
{
	return (uint64_t)lap | ((uint64_t)state << 32) | flags | ((uint64_t)(owner & 0xffu) << 40) |
	       ((uint64_t)(side & 0xffffu) << 48);
}

static inline uint64_t ctl_free(uint32_t lap) { return ctl_make(lap, ST_FREE, PMQ_NO_OWNER, 0, 0); }

/* FREE for lap L, aborted flag or not (a slot whose previous ticket was aborted reads
 * FREE(L)|ABORTED until its next publish) */
static inline bool ctl_free_at(uint64_t c, uint32_t lap) { return ((c >> 32) & 7u) == ST_FREE && (uint32_t)c == lap; }

/* Laps wrap modulo 2^32: compare by signed difference. */
static inline int32_t lap_diff(uint32_t a, uint32_t b) { return (int32_t)(a - b); }

/* ---- slot header (main ring and side area alike) ---------------------------- */

#define SLOT_HF_CRC 0x1u      /* crc is valid over header fields + payload */
#define SLOT_HF_REPLAYED 0x2u /* came back from the dead letters */
/* side entries of a queue with groups: bits 8..15 = group index + 1 (0: no group) */
#define SLOT_HF_GROUP_SHIFT 8
#define SLOT_HF_GROUP_MASK 0xff00u
static inline unsigned hf_group(uint16_t hf) { return (hf & SLOT_HF_GROUP_MASK) >> SLOT_HF_GROUP_SHIFT; }
static inline uint16_t hf_with_group(uint16_t hf, unsigned tag)
{
	return (uint16_t)((hf & ~SLOT_HF_GROUP_MASK) | ((tag << SLOT_HF_GROUP_SHIFT) & SLOT_HF_GROUP_MASK));
}

/* Side entry source word: bit 63 set when valid, bit 62 side (else main),
 * bits 32..61 index, bits 0..31 lap of the source. In a queue with groups a main
 * source of an entry tagged with group g (hflags) is g's lane word at that index. */
#define SRC_VALID (1ull << 63)
#define SRC_SIDE (1ull << 62)

static inline uint64_t src_make(int side, uint32_t index, uint32_t lap)
{
	return SRC_VALID | (side ? SRC_SIDE : 0) | ((uint64_t)(index & 0x3fffffffu) << 32) | lap;
}

/* Queues with groups: a main source names its group too (bits 56..61 = group index + 1,
 * the index then in bits 32..55: such queues have at most 2^24 slots). Every group's
 * lane word for slot j at lap L has the same (j, L): without the tag a copy made for
 * one group could be taken for another's (tests/model, bug E). */
#define PMQ_GROUPS_MAX_SLOTS (1u << 24)
#define SRC_TAG_SHIFT 56
static inline uint64_t src_make_tagged(int side, uint32_t index, uint32_t lap, unsigned tag)
{
	if (!tag)
		return src_make(side, index, lap);
	return SRC_VALID | ((uint64_t)(tag & 0x3fu) << SRC_TAG_SHIFT) | ((uint64_t)(index & 0xffffffu) << 32) | lap;
}
/* index and tag of a source word in a queue with (groups) or without groups */
static inline uint32_t src_index(uint64_t v, bool groups)
{
	return (uint32_t)(v >> 32) & (groups ? 0xffffffu : 0x3fffffffu);
}
static inline unsigned src_tag(uint64_t v, bool groups)
{
	return groups && !(v & SRC_SIDE) ? (unsigned)(v >> SRC_TAG_SHIFT) & 0x3fu : 0;
}

enum dead_reason {
	DR_NONE = 0,
	DR_MAX_DELIVERIES = 1, /* nacked or crashed max_deliveries times */
	DR_REJECTED = 2,       /* nack with PMQ_NACK_DEADLETTER */
	DR_CORRUPT = 3,        /* failed the ticket or CRC check in recovery */
};

struct pmq_slot {
	_Atomic uint64_t ctl;   /* the state machine word */
	uint64_t ticket;        /* ticket of the main slot it was sent in */
	uint64_t origin;        /* origin ticket (kept across moves) */
	uint64_t ts_ns;         /* enqueue time, CLOCK_REALTIME */
	_Atomic uint64_t src;   /* side entries: where the copy came from (SRC_*) */
	uint32_t len;           /* payload bytes */
	uint32_t deliveries;    /* delivery attempts that failed so far */
	uint32_t crc;           /* CRC32C of the header fields and payload, if SLOT_HF_CRC */
	uint16_t hflags;        /* SLOT_HF_* */
	uint16_t reason;        /* side entries: enum dead_reason, decided before publish */
	uint32_t replay_base;   /* deliveries at the last DLQ replay */
	uint32_t epoch;         /* replication epoch of the origin ticket */
	/* payload follows, max_payload bytes, padded to a cache line */
};
_Static_assert(sizeof(struct pmq_slot) == PMQ_SLOT_HDR_SIZE, "slot header is one cache line");

/* ---- attachment table ---------------------------------------------------- */

enum attach_state { AT_FREE = 0, AT_ATTACHED = 1 };

/* state word: bits 0..7 state, 8..15 role (PMQ_PRODUCER|PMQ_CONSUMER|dlq), 32..63 incarnation */
#define AT_ROLE_DLQ 0x80u
static inline unsigned at_state(uint64_t w) { return (unsigned)w & 0xffu; }
static inline unsigned at_role(uint64_t w) { return (unsigned)(w >> 8) & 0xffu; }
static inline uint32_t at_inc(uint64_t w) { return (uint32_t)(w >> 32); }
static inline uint64_t at_make(unsigned state, unsigned role, uint32_t inc)
{
	return (uint64_t)(state & 0xffu) | ((uint64_t)(role & 0xffu) << 8) | ((uint64_t)inc << 32);
}


struct pmq_attach {
	_Atomic uint64_t word;        /* at_make(state, role, incarnation) */
	_Atomic int32_t pid;          /* in the attacher's PID namespace */
	_Atomic uint32_t group_inc;   /* groups: the incarnation of the group it joined (owner-written at join) */
	_Atomic uint64_t start_time;  /* /proc/<pid>/stat field 22 */
	_Atomic uint64_t heartbeat;   /* bumped by each recv: only the owner writes */
	_Atomic uint32_t in_flight;   /* held messages: only the owner (or its recoverer) writes */
	_Atomic uint32_t group;       /* groups: group index + 1 of a consumer (0: none); owner-written at join */
	_Atomic uint64_t sent;        /* counters, owner-written */
	_Atomic uint64_t received;
	/* producers: ticket + 1 of the latest ticket this attachment tried to claim (0: none),
	 * stored before the tail CAS; only the owner writes it (and its recoverer clears it).
	 * A main slot that still reads FREE(L) while tail is past its ticket is claimed and
	 * not yet published: the claimant names the ticket here (docs/format.md, "Claims") */
	_Atomic uint64_t claim;
};
_Static_assert(sizeof(struct pmq_attach) == 64, "attachment entry is one cache line");

/* ---- held area: what each attachment may hold, for targeted recovery ---------
 * One block per attachment, right after the attachment table (offset derived from
 * the geometry, docs/format.md). Only its owner writes it: before any CAS that makes
 * a control word name the owner it stores a record src_make(side, index, lap) in an
 * entry whose earlier record no longer names it; when none is free it sets
 * HELD_OVERFLOW and recovery falls back to the full walk. A recoverer reads each
 * word once, bounds the index, and settles only words that still name the owner. */
#define PMQ_HELD_SLACK 8u    /* reservations, DLQ claims and uncounted holds above the quota */
#define PMQ_HELD_MAX 1024u   /* entries per block at most: a larger quota may overflow */
#define HELD_OVERFLOW 0x1ull

struct pmq_held {
	_Atomic uint64_t flags;  /* HELD_OVERFLOW: records are incomplete, walk everything */
	uint64_t reserved[7];
	_Atomic uint64_t ent[];  /* held_cap records, 0 = empty */
};
_Static_assert(sizeof(struct pmq_held) == 64, "held block header is one cache line");

/* ---- header ---------------------------------------------------------------- */

/* repl_flags */
#define HDR_REPL_ON 0x1u       /* a standby is configured: slot reuse waits for `replicated` */
#define HDR_REPL_DEGRADED 0x2u /* the standby is out of sync: replicated sends fail fast, reuse is not gated */

#define HDR_ROLE_PRIMARY 0u
#define HDR_ROLE_STANDBY 1u

struct pmq_header {
	/* identity and geometry: written once at create, covered by id_crc */
	char magic[8];
	uint32_t version;
	uint32_t hdr_size;
	uint32_t features;        /* required features (none defined in version 1) */
	uint32_t flags;           /* PMQ_F_* of the config */
	uint32_t slot_count;
	uint32_t slot_shift;      /* log2(slot_count) */
	uint32_t slot_size;       /* 64 + max_payload rounded up to 64 */
	uint32_t max_payload;
	uint32_t side_count;
	uint32_t max_attach;
	uint32_t consumer_quota;
	uint32_t max_deliveries;
	uint32_t dlq_capacity;
	uint32_t durability;
	uint64_t lease_ns;
	uint32_t lease_action;
	uint32_t max_groups;      /* 0: no groups (format-2 files before groups: 0) */
	uint64_t attach_off;
	uint64_t ring_off;
	uint64_t side_off;
	uint64_t file_size;
	uint8_t uuid[16];
	uint64_t created_ns;
	uint32_t id_crc;          /* CRC32C of everything above */
	uint32_t reserved1;

	/* recovery and replication: rare writes */
	_Alignas(64) char boot_id[40];  /* machine that last ran whole-file recovery */
	_Atomic uint64_t epoch;
	_Atomic uint32_t role;          /* HDR_ROLE_* */
	_Atomic uint32_t fenced;        /* 1: producers refused (ESHUTDOWN) */
	uint32_t boot_crc;              /* CRC32C of uuid + boot_id: a record failing it is damage, not a
	                                 * reboot (zero, hence failing, in files made before it existed) */

	/* hot words, each on its own cache line */
	_Alignas(64) _Atomic uint64_t tail;       /* next ticket for producers */
	_Atomic uint32_t repl_flags;              /* HDR_REPL_*: on the tail line, which producers touch anyway */
	uint32_t reserved4;
	_Alignas(64) _Atomic uint64_t head;       /* next ticket for consumers */
	_Alignas(64) _Atomic uint64_t side_hint;  /* READY side entries, maybe too high */
	_Atomic uint32_t side_last;               /* 1 + the entry last made READY (0: none): where a
	                                           * claim looks first; a hint on the hint's line */
	uint32_t reserved6;
	_Alignas(64) _Atomic uint64_t replicated; /* replicated-up-to ticket: all tickets below are on the standby */
	_Atomic uint32_t repl_seq;                /* futex: bumped by the replicator at each advance */
	uint32_t reserved5;
	_Alignas(64) _Atomic uint64_t ack_floor;  /* cumulative-ack floor */
	/* waiter bitmaps: bit i = attachment i may sleep; one RMW sets or clears it,
	 * so a waiter that dies leaves exactly its own bit, which recovery clears */
	_Alignas(64) _Atomic uint32_t data_seq;   /* futex: data available */
	uint32_t reserved2;
	_Atomic uint64_t data_waiters[4];
	_Alignas(64) _Atomic uint32_t space_seq;  /* futex: space available */
	uint32_t reserved3;
	_Atomic uint64_t space_waiters[4];

	/* counters: only on rare paths */
	_Alignas(64) _Atomic uint64_t redelivered;
	_Atomic uint64_t dead_lettered;
	_Atomic uint64_t aborted;
	_Atomic uint64_t dlq_count;     /* DEAD entries now (dead-letter credits used) */
	_Atomic uint64_t recoveries;
	/* bumped (seq_cst RMW: release for the standby, and the futex waiter's side_seq staleness check pairs with it) at every side-area change a standby must learn about: a
	 * publish, an in-place requeue or replay, a free, and before a moved source is freed.
	 * Monotonic: pmqd's replicator rescans the side area when it differs from the value
	 * it saw at its last scan (docs/failover.md). Zero in files made before it existed. */
	_Atomic uint64_t side_seq;

	/* groups (docs/groups.md), zero without them: read by every producer of a queue
	 * with groups, written only when a group is created or deleted */
	_Alignas(64) _Atomic uint64_t group_masks; /* bits 0..31 reliable groups, 32..63 lossy */
};
_Static_assert(offsetof(struct pmq_header, id_crc) < 192, "identity fits before boot_id");
_Static_assert(offsetof(struct pmq_header, boot_crc) == 248, "boot_crc in the padding before tail");
_Static_assert(offsetof(struct pmq_header, tail) % 64 == 0, "tail on its own line");
_Static_assert(offsetof(struct pmq_header, head) - offsetof(struct pmq_header, tail) == 64, "head apart");
_Static_assert(sizeof(struct pmq_header) <= PMQ_HDR_SIZE, "header fits its page");

/* ---- groups (docs/groups.md) -------------------------------------------------
 * After the side area: max_groups records of 256 B, then one lane per group
 * (slot_count words, each lane page aligned). A lane word is the group's control
 * word for a main slot, in the main ring's encoding (FREE(L), CLAIMED(L,c),
 * MOVED(L,c,e)); FREE(L+1) means the group settled lap L there. */
enum group_state { GS_FREE = 0, GS_INIT = 1, GS_ACTIVE = 2, GS_DELETING = 3 };
#define GROUP_F_LOSSY 0x1u
/* word: bits 0..7 state, 8..15 flags, 32..63 incarnation */
static inline unsigned gw_state(uint64_t w) { return (unsigned)w & 0xffu; }
static inline unsigned gw_flags(uint64_t w) { return (unsigned)(w >> 8) & 0xffu; }
static inline uint32_t gw_inc(uint64_t w) { return (uint32_t)(w >> 32); }
static inline uint64_t gw_make(unsigned state, unsigned flags, uint32_t inc)
{
	return (uint64_t)(state & 0xffu) | ((uint64_t)(flags & 0xffu) << 8) | ((uint64_t)inc << 32);
}
#define PMQ_GROUP_REC_SIZE 256u
struct pmq_group_rec {
	_Atomic uint64_t word;       /* gw_make(state, flags, incarnation) */
	char name[32];               /* NUL-terminated, written while INIT */
	_Atomic uint64_t start;      /* first ticket the group takes */
	uint64_t created_ns;
	/* the group's own lease for pmqd, ns (0: the queue's; was reserved0, so files made
	 * before it read 0). Written while INIT; readers bound it (group_lease_of) */
	_Atomic uint64_t lease_ns;
	_Alignas(64) _Atomic uint64_t head; /* reliable: a hint; lossy: the cursor (CAS) */
	_Alignas(64) _Atomic uint64_t redelivered;
	_Atomic uint64_t dead_lettered;
	_Atomic uint64_t lost;
	/* reliable: every ticket below it that a producer may still claim over was settled by
	 * the group (a hint the producers' gate reads instead of the lanes; consumers raise it
	 * by CAS after walking settled lane words; 0 in files made before it: was reserved).
	 * Line 3: written about once per eight acks, read by producers about once a lap */
	_Alignas(64) _Atomic uint64_t settled;
	/* the group's READY side entries, maybe too high (as the header's side_hint, which
	 * counts every group's): its consumers scan the side area only while it is non-zero.
	 * On line 3 too: read on each receive by the members, written per redelivery */
	_Atomic uint64_t side_ready;
	/* a standby's mirror only: the primary's head as last replicated (its consumers took
	 * every ticket below it), so a promotion can tell [floor, head) was delivered once */
	_Atomic uint64_t repl_head;
	uint64_t reserved[5];
};
_Static_assert(sizeof(struct pmq_group_rec) == PMQ_GROUP_REC_SIZE, "group record is four lines");
_Static_assert(offsetof(struct pmq_group_rec, settled) == 192, "the settled floor is line 3, formerly reserved");
_Static_assert(offsetof(struct pmq_group_rec, lease_ns) == 56, "the lease is the former reserved0");

#endif /* PMQ_LAYOUT_H */
