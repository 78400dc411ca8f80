/*
 * group_repair.c - whole-file repair of a queue file with consumer groups
 * (docs/groups.md, "Recovery"): is the group table, the ring and the lanes a state
 * crashes alone could leave, and if not (or after a reboot), the repair of the table,
 * the main ring, every reliable lane and the groups' cursors. recover.c calls it under
 * the exclusive presence lock only: nobody else is attached, so relaxed loads and
 * stores suffice, but the file itself may be damaged or hostile. Every word is read
 * once into a local, bounded, and only the local is used; every walk is bounded by
 * the geometry of the handle's validated header copy.
 *
 * In a queue with groups the main word of a settled message stays READY: whether a
 * message is still needed is asked of each ACTIVE reliable group's lane word for its
 * slot (FREE(L): not taken yet, CLAIMED(L,c): held, FREE(L+1): settled). The ring is
 * then judged per position against the rebuilt tail T: the position of ticket t in
 * [T - n, T) (the window) holds t's message (READY(lap t)) or is free past it.
 */
#include <string.h>

#include "internal.h"

static inline uint32_t lap_at(const struct pmq *q, uint64_t t) { return (uint32_t)(t >> q->slot_shift); }

/* The reliable groups' bits of a group_masks value, bounded by the table's size. */
static inline uint32_t reliable_of(const struct pmq *q, uint64_t masks)
{
	uint32_t all = q->max_groups >= 32 ? ~0u : (1u << q->max_groups) - 1u;
	return (uint32_t)masks & all;
}

/* A stored name: NUL-terminated within the field, 1..PMQ_GROUP_NAME_MAX characters of
 * [A-Za-z0-9_.-], not starting with '.' (group_check_name's rule; damage, not input:
 * no error message) */
static bool stored_name_ok(const char nm[32])
{
	size_t n = strnlen(nm, 32);
	if (n == 0 || n > PMQ_GROUP_NAME_MAX || nm[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = nm[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* The table's verdict: the masks its ACTIVE, well-formed records give (reliable bits
 * 0..31, lossy 32..63), whether every record was such a record or FREE, and (*bad_out)
 * the others. A second ACTIVE record with the same name is not well-formed (a join
 * finds the first). */
static uint64_t table_masks(const struct pmq *q, bool *clean, uint64_t *bad_out)
{
	char names[PMQ_GROUPS_MAX][32];
	uint32_t n = 0;
	uint64_t masks = 0, bad = 0;
	*clean = true;
	for (uint32_t g = 0; g < q->max_groups && g < PMQ_GROUPS_MAX; g++) {
		struct pmq_group_rec *r = group_rec(q, g);
		uint64_t w = atomic_load_explicit(&r->word, memory_order_relaxed); /* exclusive; once */
		if (gw_state(w) == GS_FREE)
			continue;
		char nm[32];
		memcpy(nm, r->name, sizeof(nm)); /* once */
		bool ok = gw_state(w) == GS_ACTIVE && !(gw_flags(w) & ~GROUP_F_LOSSY) && stored_name_ok(nm);
		for (uint32_t k = 0; ok && k < n; k++)
			ok = strncmp(names[k], nm, sizeof(nm)) != 0;
		if (!ok) {
			*clean = false; /* INIT or DELETING (a crash inside create or delete), or damage */
			bad |= 1ull << g;
			continue;
		}
		memcpy(names[n++], nm, sizeof(nm));
		masks |= (gw_flags(w) & GROUP_F_LOSSY) ? 1ull << (32 + g) : 1ull << g;
	}
	*bad_out = bad;
	return masks;
}

/* ---- is the file one that crashes alone could have left? ------------------------- */

/* Main slot j and its reliable lanes, against tail (nobody attached, dead owners
 * settled): the window's message READY(lap t) with lanes FREE(lap t) (not taken),
 * CLAIMED(lap t, c) (a holder whose settle found no room) or FREE(lap t + 1) (settled);
 * or a free position, FREE(lap t + 1) (t aborted, or never sent: lap 0), or FREE two
 * laps on for a ticket a dead producer claimed past a tail it never moved, with lanes
 * FREE at any lap from t's to the main word's. A group that lags behind aborted tickets
 * (a producer claims a FREE slot without the lane gate) reads as damage here and is
 * moved up by the repair: its consumer would otherwise wait at its rewound head. */
static bool position_plausible(const struct pmq *q, uint32_t j, uint64_t tail, uint32_t rel)
{
	struct pmq_slot *s = main_slot(q, j);
	uint64_t t_next = tail + ((j - tail) & q->slot_mask);
	uint32_t ln = lap_at(q, t_next);
	bool win = t_next >= q->slot_count;
	bool past_tail = t_next - tail < q->max_attach;
	uint64_t c = atomic_load_explicit(&s->ctl, memory_order_relaxed); /* exclusive: no race */
	uint32_t lap = ctl_lap(c);
	bool msg = ctl_state(c) == ST_READY;
	if (msg) {
		if (!win || lap != ln - 1)
			return false;
		/* each field read once */
		if (!slot_ticket_matches(q, READ_ONCE(s->ticket), j, lap) || READ_ONCE(s->len) > q->max_payload)
			return false;
	} else if (ctl_state(c) != ST_FREE || !(lap == ln || (past_tail && lap == ln + 1))) {
		return false; /* WRITING, CLAIMED, MOVED, DEAD: no holder or writer is left to finish it */
	}
	for (uint32_t m = rel; m; m &= m - 1) {
		uint64_t w = atomic_load_explicit(&group_lane(q, (uint32_t)__builtin_ctz(m))[j], memory_order_relaxed);
		bool ok;
		if (msg)
			ok = w == ctl_free(lap) || w == ctl_free(ln) ||
			     (ctl_state(w) == ST_CLAIMED && ctl_lap(w) == lap && ctl_owner(w) < q->max_attach);
		else
			ok = w == ctl_free(ln) || w == ctl_free(lap) || (win && w == ctl_free(ln - 1));
		if (!ok)
			return false;
	}
	return true;
}

bool group_repair_plausible(struct pmq *q)
{
	bool clean;
	uint64_t bad;
	uint64_t masks = table_masks(q, &clean, &bad);
	if (!clean || atomic_load_explicit(&q->hdr->group_masks, memory_order_relaxed) != masks)
		return false;
	uint64_t tail = atomic_load_explicit(&q->hdr->tail, memory_order_relaxed); /* exclusive */
	for (uint32_t g = 0; g < q->max_groups; g++) {
		if (!((masks >> g) & 1) && !((masks >> (32 + g)) & 1))
			continue;
		struct pmq_group_rec *r = group_rec(q, g);
		/* a group starts at a tail it read; a lossy cursor never passes the tail */
		if (atomic_load_explicit(&r->start, memory_order_relaxed) > tail)
			return false;
		if (((masks >> (32 + g)) & 1) && atomic_load_explicit(&r->head, memory_order_relaxed) > tail)
			return false;
	}
	uint32_t rel = reliable_of(q, masks);
	for (uint32_t j = 0; j < q->slot_count; j++)
		if (!position_plausible(q, j, tail, rel))
			return false;
	/* a redelivery or dead letter belongs to an ACTIVE reliable group: no consumer takes
	 * one of no group, of a lossy group, or of a deleted one */
	for (uint32_t e = 0; e < q->side_count; e++) {
		struct pmq_slot *d = side_slot(q, e);
		unsigned st = ctl_state(atomic_load_explicit(&d->ctl, memory_order_relaxed));
		unsigned tag = hf_group(READ_ONCE(d->hflags));
		if ((st == ST_READY || st == ST_DEAD) && (tag == 0 || tag > q->max_groups || !((rel >> (tag - 1)) & 1)))
			return false;
	}
	return true;
}

/* ---- repair ------------------------------------------------------------------------ */

static void lane_fill(struct pmq *q, uint32_t g, uint64_t w)
{
	_Atomic uint64_t *lane = group_lane(q, g);
	for (uint32_t j = 0; j < q->slot_count; j++)
		atomic_store_explicit(&lane[j], w, memory_order_relaxed); /* exclusive */
}

uint64_t group_repair_table(struct pmq *q)
{
	bool clean;
	uint64_t bad;
	uint64_t masks = table_masks(q, &clean, &bad);
	for (uint32_t g = 0; g < q->max_groups; g++) {
		struct pmq_group_rec *r = group_rec(q, g);
		if ((bad >> g) & 1) {
			/* a record no join may find (bad state, flags or name, a duplicate, or a create
			 * or delete that died half-way): FREE, its incarnation kept (a create bumps it) */
			uint64_t w = atomic_load_explicit(&r->word, memory_order_relaxed);
			atomic_store_explicit(&r->word, gw_make(GS_FREE, 0, gw_inc(w)), memory_order_relaxed);
		}
		/* lanes no reliable group owns are nobody's: cleared, so that no walk takes their
		 * words for holders (a create sets a lane before it is used) */
		if (!((masks >> g) & 1))
			lane_fill(q, g, ctl_free(0));
	}
	atomic_store_explicit(&q->hdr->group_masks, masks, memory_order_relaxed);
	return masks;
}

/* The rebuilt tail: past the newest message a slot holds (READY with its header's ticket
 * naming the position: its ticket was taken, so tickets never repeat), then past the
 * tickets right after it that were aborted (what producers would step over). With no
 * message, the earliest ticket a free slot waits for (as rebuild() in recover.c). */
static uint64_t rebuilt_tail(struct pmq *q, uint64_t ref)
{
	bool have = false;
	uint64_t max_t = 0, min_free = UINT64_MAX;
	for (uint32_t j = 0; j < q->slot_count; j++) {
		struct pmq_slot *s = main_slot(q, j);
		uint64_t c = atomic_load_explicit(&s->ctl, memory_order_relaxed); /* exclusive: no race */
		uint32_t lap = ctl_lap(c);
		uint64_t t = slot_ticket_near(q, lap, j, ref);
		if (ctl_state(c) == ST_READY && slot_ticket_matches(q, READ_ONCE(s->ticket), j, lap)) {
			if (!have || t > max_t)
				max_t = t;
			have = true;
		} else if (ctl_state(c) == ST_FREE && t < min_free) {
			min_free = t;
		}
	}
	if (!have)
		return min_free == UINT64_MAX ? ref : min_free;
	uint64_t tail = max_t + 1;
	for (uint32_t k = 0; k < q->slot_count; k++, tail++) {
		uint64_t c = atomic_load_explicit(&main_slot(q, tail & q->slot_mask)->ctl, memory_order_relaxed);
		if (!ctl_free_at(c, lap_at(q, tail) + 1))
			break;
	}
	return tail;
}

/* Each ACTIVE group's `start` at most the tail. A lossy cursor past the tail is pulled
 * back to it (what it read there is gone); one behind the ring stays: its next receive
 * skips to the ring and reports the gap (*lost and the group's `lost`, exactly); one so
 * far behind that laps would wrap (2^30 laps) is damage and moves to the oldest ticket
 * the ring holds, uncounted. Reliable heads are hints: recover.c rewinds them from the
 * lanes after the repair. */
static void clamp_cursors(struct pmq *q, uint64_t masks, uint64_t tail, uint64_t lo)
{
	for (uint32_t g = 0; g < q->max_groups; g++) {
		bool lossy = (masks >> (32 + g)) & 1;
		if (!lossy && !((masks >> g) & 1))
			continue;
		struct pmq_group_rec *r = group_rec(q, g);
		if (atomic_load_explicit(&r->start, memory_order_relaxed) > tail)
			atomic_store_explicit(&r->start, lo, memory_order_relaxed);
		if (!lossy)
			continue;
		uint64_t cur = atomic_load_explicit(&r->head, memory_order_relaxed); /* once */
		uint64_t to = cur;
		if (cur > tail)
			to = tail;
		else if (tail - cur > ((uint64_t)q->slot_count << 30))
			to = lo;
		if (to != cur)
			atomic_store_explicit(&r->head, to, memory_order_relaxed);
	}
}

/* Move the message at main slot j, lap `lap`, into group g's dead letters through g's
 * lane: FREE(lap) (the caller saw it) -> CLAIMED(lap, us) -> side_move, whose copy carries
 * g's tag and settles the lane. False when there was no room or credit: the lane is back
 * at FREE(lap), the message still g's to receive. */
static bool dead_letter_in_group(struct pmq *q, uint32_t g, uint32_t j, uint32_t lap)
{
	_Atomic uint64_t *lw = &group_lane(q, g)[j];
	uint64_t claimed = ctl_make(lap, ST_CLAIMED, q->index, 0, 0);
	held_record(q, 0, j, lap); /* before the claim names us */
	atomic_store_explicit(lw, claimed, memory_order_relaxed); /* exclusive: the word was FREE(lap) */
	struct move_req m = {.src = main_slot(q, j), .src_tag = g + 1, .src_is_side = 0, .src_idx = j,
			     .src_ctl = claimed, .actor = q->index, .free_source = true, .add_deliveries = 0,
			     .force_reason = DR_CORRUPT};
	if (side_move(q, &m) == 0)
		return true;
	atomic_store_explicit(lw, ctl_free(lap), memory_order_relaxed);
	return false;
}

/* The window's message at j (lap wl): which reliable groups still need it. A settled
 * lane (FREE(wl+1)) and a held one (CLAIMED(wl, c), an owner a settle found no room for)
 * stay; every other word becomes FREE(wl), needed: FREE(wl) itself, a lane lagging
 * behind aborted tickets, and damage (a lap the ring does not have, a bad state or
 * owner): when in doubt the group receives it again (at least once). */
static uint32_t lanes_needing(struct pmq *q, uint32_t rel, uint32_t j, uint32_t wl, uint32_t *held)
{
	uint32_t need = 0;
	*held = 0;
	for (uint32_t m = rel; m; m &= m - 1) {
		uint32_t g = (uint32_t)__builtin_ctz(m);
		_Atomic uint64_t *lw = &group_lane(q, g)[j];
		uint64_t w = atomic_load_explicit(lw, memory_order_relaxed); /* exclusive; once */
		if (w == ctl_free(wl + 1))
			continue;
		if (ctl_state(w) == ST_CLAIMED && ctl_lap(w) == wl && ctl_owner(w) < q->max_attach) {
			*held |= 1u << g;
			continue;
		}
		if (w != ctl_free(wl))
			atomic_store_explicit(lw, ctl_free(wl), memory_order_relaxed);
		need |= 1u << g;
	}
	return need;
}

/* A position without a message, its main word FREE(mlap) (mlap: t's lap + 1, or one
 * more for a ticket aborted past the tail): a lane FREE at t's lap, t's lap + 1 or mlap
 * stays (its consumer steps over), anything else becomes FREE(t's lap + 1). */
static void lanes_at_gap(struct pmq *q, uint32_t rel, uint32_t j, uint32_t ln, uint32_t mlap, bool win)
{
	for (uint32_t m = rel; m; m &= m - 1) {
		_Atomic uint64_t *lw = &group_lane(q, (uint32_t)__builtin_ctz(m))[j];
		uint64_t w = atomic_load_explicit(lw, memory_order_relaxed); /* exclusive; once */
		if (w != ctl_free(ln) && w != ctl_free(mlap) && !(win && w == ctl_free(ln - 1)))
			atomic_store_explicit(lw, ctl_free(ln), memory_order_relaxed);
	}
}

/* The window's message at j: a damaged one (ticket, length or CRC) goes to the dead
 * letters of every group that needs it (one entry per group: each group's dead letters
 * and .dlq consumers see it); once no group needs or holds it, its word becomes
 * FREE(wl+1), so a lossy reader counts it lost instead of copying damaged bytes. Without
 * room it stays deliverable to that group (as rebuild()). After a reboot a message some
 * group still needs counts one delivery more (claims are not persisted). */
static void window_message(struct pmq *q, struct pmq_slot *s, uint32_t j, uint32_t wl, uint32_t rel, bool rebooted)
{
	struct pmq_slot sh; /* the header, read once */
	uint32_t len;
	bool intact = slot_intact(q, s, &sh, &len) && slot_ticket_matches(q, sh.ticket, j, wl);
	uint32_t held;
	uint32_t need = lanes_needing(q, rel, j, wl, &held);
	if (!intact) {
		for (uint32_t m = need; m; m &= m - 1) {
			uint32_t g = (uint32_t)__builtin_ctz(m);
			if (dead_letter_in_group(q, g, j, wl))
				need &= ~(1u << g);
		}
		if (!need && !held)
			atomic_store_explicit(&s->ctl, ctl_free(wl + 1), memory_order_relaxed);
		return;
	}
	if ((need | held) && rebooted) {
		s->deliveries = sh.deliveries + 1; /* plain stores: exclusive */
		if (sh.hflags & SLOT_HF_CRC)
			s->crc = slot_crc(s, slot_payload(s), len); /* verified just above */
	}
}

/* An intact message a lap or more behind the window at j (lap `lap`) that a reliable
 * group still needs (its lane FREE(lap)): only damage leaves one (the producers' gate lets
 * no ticket pass a message a group needs). Each such group gets it as a dead letter;
 * where there is no room it is kept in the ring under the window's ticket of its
 * position, needed by those groups. True if it was kept. */
static bool save_stale(struct pmq *q, struct pmq_slot *s, uint32_t j, uint32_t lap, uint64_t t_next, uint32_t rel)
{
	uint32_t need = 0;
	for (uint32_t m = rel; m; m &= m - 1) {
		uint32_t g = (uint32_t)__builtin_ctz(m);
		if (atomic_load_explicit(&group_lane(q, g)[j], memory_order_relaxed) == ctl_free(lap) &&
		    !dead_letter_in_group(q, g, j, lap))
			need |= 1u << g;
	}
	if (!need)
		return false;
	uint64_t t = t_next - q->slot_count;
	slot_rehome(q, s, t);
	for (uint32_t m = rel; m; m &= m - 1) {
		uint32_t g = (uint32_t)__builtin_ctz(m);
		uint64_t w = ((need >> g) & 1) ? ctl_free(lap_at(q, t)) : ctl_free(lap_at(q, t) + 1);
		atomic_store_explicit(&group_lane(q, g)[j], w, memory_order_relaxed);
	}
	return true;
}

/* Position j against the rebuilt tail: t = its window ticket (t_next - n), ln = t's lap + 1. */
static void repair_position(struct pmq *q, uint32_t j, uint64_t tail, uint32_t rel, bool rebooted)
{
	struct pmq_slot *s = main_slot(q, j);
	uint64_t t_next = tail + ((j - tail) & q->slot_mask);
	uint32_t ln = lap_at(q, t_next);
	bool win = t_next >= q->slot_count; /* the position holds a ticket of [tail - n, tail) */
	uint64_t c = atomic_load_explicit(&s->ctl, memory_order_relaxed); /* exclusive: no race */
	unsigned st = ctl_state(c);
	uint32_t lap = ctl_lap(c);
	if (st == ST_READY && win && lap == ln - 1) {
		window_message(q, s, j, lap, rel, rebooted);
		return;
	}
	if (st == ST_READY && win && lap_diff(lap, ln - 1) < 0) {
		struct pmq_slot sh;
		uint32_t len;
		if (slot_intact(q, s, &sh, &len) && slot_ticket_matches(q, sh.ticket, j, lap) &&
		    save_stale(q, s, j, lap, t_next, rel))
			return;
	}
	if (st == ST_FREE && (lap == ln || lap == ln + 1)) {
		lanes_at_gap(q, rel, j, ln, lap, win); /* free for its next ticket, or t_next aborted */
		return;
	}
	/* FREE one lap behind (a claimed ticket whose record was lost), WRITING (a producer's
	 * mark, the producer gone), a message no window holds, a state no groups ring has:
	 * the free state past it, the ticket counted aborted (t_next's for a mark of t_next) */
	uint32_t to = st == ST_WRITING && lap == ln ? ln + 1 : ln;
	atomic_store_explicit(&s->ctl, ctl_make(to, ST_FREE, PMQ_NO_OWNER, 0, CTL_F_ABORTED), memory_order_relaxed);
	atomic_fetch_add_explicit(&q->hdr->aborted, 1, memory_order_relaxed); /* statistics */
	lanes_at_gap(q, rel, j, ln, to, win);
}

void group_repair_ring(struct pmq *q, uint64_t masks, bool rebooted)
{
	struct pmq_header *h = q->hdr;
	uint64_t ref = atomic_load_explicit(&h->tail, memory_order_relaxed); /* exclusive */
	uint64_t tail = rebuilt_tail(q, ref);
	uint64_t lo = tail >= q->slot_count ? tail - q->slot_count : 0;
	clamp_cursors(q, masks, tail, lo);
	uint32_t rel = reliable_of(q, masks);
	for (uint32_t j = 0; j < q->slot_count; j++)
		repair_position(q, j, tail, rel, rebooted);
	atomic_store_explicit(&h->tail, tail, memory_order_relaxed);
}

void group_repair_side(struct pmq *q, uint64_t masks)
{
	uint32_t rel = reliable_of(q, masks);
	for (uint32_t e = 0; e < q->side_count; e++) {
		struct pmq_slot *d = side_slot(q, e);
		uint64_t c = atomic_load_explicit(&d->ctl, memory_order_relaxed); /* exclusive; once */
		unsigned st = ctl_state(c);
		unsigned tag = hf_group(READ_ONCE(d->hflags));
		if ((st != ST_READY && st != ST_DEAD) || (tag && tag <= q->max_groups && ((rel >> (tag - 1)) & 1)))
			continue;
		/* no consumer may take it (no group, a lossy or a deleted one): freed as a
		 * delete frees its group's entries; recount_side recounts hint and credits */
		side_free(q, d, c, ctl_lap(c));
	}
}
