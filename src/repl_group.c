/*
 * repl_group.c - the library's side of replicating consumer groups (docs/failover.md,
 * "Consumer groups"): the primary's replicator reads each entry of the group table
 * with its reliable floor or lossy cursor; the standby writes them into the mirror's
 * table and lanes. Promotion's part (leftover tagged side entries, the groups' heads)
 * is in repl_mirror.c with the rest of promotion.
 *
 * In a queue with groups a main slot stays READY after every group settled it; a
 * group's progress is its lane (docs/groups.md). A reliable group is shipped as its
 * floor, the lowest ticket it has not settled: on the mirror every lane word of a
 * ticket below the floor reads settled (FREE(L+1)), every one at or after it unsettled
 * (FREE(L)), so a promoted standby delivers the group every message from its floor
 * on. Messages it settled above the floor out of order come again (at least once);
 * the mirror counts them in the group's `redelivered` (pmq_repl_group_apply).
 */
#include <errno.h>
#include <string.h>

#include "repl_internal.h"

static int group_repl_check(const struct pmq *q, uint32_t index, const char *call)
{
	int rc = repl_check(q);
	if (rc)
		return rc;
	if (!q->max_groups)
		return pmq_fail(-EOPNOTSUPP, "%s: queue \"%s\" was created without groups (max_groups 0)", call, q->name);
	if (index >= q->max_groups)
		return pmq_fail(-EINVAL, "%s: queue \"%s\": group entry %u out of the table (%u entries)", call,
				q->name, index, q->max_groups);
	return 0;
}

/* The lowest ticket in [from, tail) that reliable group g has not settled (tail if
 * all), walking at most slot_count lane words, each read once. */
static uint64_t lane_floor(const struct pmq *q, uint32_t g, uint64_t start, uint64_t from, uint64_t tail)
{
	uint64_t f = from > tail ? 0 : from; /* a caller's floor from another file: start afresh */
	if (f < start)
		f = start;
	if (tail > q->slot_count && f < tail - q->slot_count)
		f = tail - q->slot_count; /* a producer claimed t + N only once the group settled t */
	const _Atomic uint64_t *lane = group_lane(q, g);
	for (; f < tail; f++) {
		/* acquire: pairs with the seq_cst CAS that settled the word (an ack, or the free
		 * of a moved source after RP5's bump of side_seq): a ticket read settled here has
		 * its side copy seen by the side scan that follows (docs/failover.md) */
		uint64_t w = atomic_load_explicit(&lane[f & q->slot_mask], memory_order_acquire);
		if (lap_diff(ctl_lap(w), rlap(q, f)) <= 0)
			break; /* not settled (taken, moved, or not reached) */
	}
	return f;
}

PMQ_EXPORT int pmq_repl_group_read(pmq_t *q, uint32_t index, uint64_t from, struct pmq_repl_group *g)
{
	int rc = group_repl_check(q, index, "pmq_repl_group_read");
	if (rc)
		return rc;
	if (!g)
		return pmq_fail(-EINVAL, "pmq_repl_group_read: NULL output");
	struct pmq_group_rec *r = group_rec(q, index);
	for (int tries = 0; tries < 16; tries++) {
		memset(g, 0, sizeof(*g));
		g->index = index;
		/* acquire: pairs with the creator's release of ACTIVE (G3): name, start and lanes
		 * are the group's */
		uint64_t w1 = atomic_load_explicit(&r->word, memory_order_acquire);
		g->incarnation = gw_inc(w1);
		if (gw_state(w1) != GS_ACTIVE)
			return PMQ_REPL_GROUP_NONE; /* INIT is shipped once ACTIVE; DELETING as gone */
		g->state = PMQ_REPL_GROUP_ACTIVE;
		bool lossy = (gw_flags(w1) & GROUP_F_LOSSY) != 0;
		g->flags = lossy ? PMQ_GROUP_LOSSY : 0;
		memcpy(g->name, r->name, sizeof(g->name)); /* once; shared memory */
		g->name[sizeof(g->name) - 1] = 0;
		g->created_ns = r->created_ns;
		/* relaxed: start is written before the release of ACTIVE, acquired above */
		uint64_t start = atomic_load_explicit(&r->start, memory_order_relaxed);
		/* acquire: a lane word settled before the tail we read is seen settled (bounds the walk) */
		uint64_t tail = atomic_load_explicit(&q->hdr->tail, memory_order_acquire);
		if (start > tail)
			start = tail; /* damage: a group cannot start past the tail */
		g->start = start;
		/* relaxed: the head is a hint (reliable) or a cursor only compared here (lossy) */
		uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
		if (head > tail)
			head = tail;
		if (lossy) {
			g->floor = head < start ? start : head;
			g->head = g->floor;
		} else {
			g->floor = lane_floor(q, index, start, from, tail);
			g->head = head > g->floor ? head : g->floor;
		}
		/* relaxed: statistics */
		g->redelivered = atomic_load_explicit(&r->redelivered, memory_order_relaxed);
		g->dead_lettered = atomic_load_explicit(&r->dead_lettered, memory_order_relaxed);
		g->lost = atomic_load_explicit(&r->lost, memory_order_relaxed);
		g->lease_ns = group_lease_of(q, index, w1); /* bounded; 0 for a lossy group */
		/* acquire fence, then the word again: a record deleted (and maybe reused) while we
		 * read it reads a different word; try again */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&r->word, memory_order_relaxed) == w1)
			return PMQ_REPL_GROUP_ACTIVE;
	}
	return -EAGAIN;
}

/* ---- standby: the mirror's table and lanes. The standby thread is their only writer;
 * nobody produces into or consumes from a mirror (fenced), so relaxed stores suffice for
 * the lanes, and the record word is released for observers (pmqctl group list). */

/* Lane := FREE(lap of the first ticket >= f at each slot): below f settled, from f on not. */
static void lane_set_all(struct pmq *q, uint32_t g, uint64_t f)
{
	lane_start_at(q, g, f);
	durable_persist(q, group_lane(q, g), (size_t)q->slot_count * sizeof(uint64_t));
}

/* Tickets [from, to) settled (to - from < slot_count): each one's word to its next lap. */
static void lane_settle_range(struct pmq *q, uint32_t g, uint64_t from, uint64_t to)
{
	_Atomic uint64_t *lane = group_lane(q, g);
	for (uint64_t t = from; t < to; t++) {
		atomic_store_explicit(&lane[t & q->slot_mask], ctl_free(rlap(q, t) + 1), memory_order_relaxed);
		durable_persist(q, &lane[t & q->slot_mask], sizeof(uint64_t));
	}
}

static uint64_t mask_bit(uint32_t g, bool lossy) { return lossy ? 1ull << (32 + g) : 1ull << g; }

PMQ_EXPORT int pmq_repl_group_apply(pmq_t *q, const struct pmq_repl_group *g)
{
	int rc = group_repl_check(q, g ? g->index : 0, "pmq_repl_group_apply");
	if (rc)
		return rc;
	if (!g)
		return pmq_fail(-EINVAL, "pmq_repl_group_apply: NULL group");
	if (g->state != PMQ_REPL_GROUP_NONE && g->state != PMQ_REPL_GROUP_ACTIVE)
		return pmq_fail(-EINVAL, "queue \"%s\": group entry %u: state %u is neither none nor active", q->name,
				g->index, g->state);
	if (g->flags & ~(PMQ_GROUP_LOSSY | PMQ_REPL_GROUP_RESYNC))
		return pmq_fail(-EINVAL, "queue \"%s\": group entry %u: unknown flags 0x%x", q->name, g->index,
				g->flags & ~(PMQ_GROUP_LOSSY | PMQ_REPL_GROUP_RESYNC));
	struct pmq_header *h = q->hdr;
	struct pmq_group_rec *r = group_rec(q, g->index);
	uint32_t gi = g->index;
	/* relaxed: the standby thread is the only writer of a mirror's table */
	uint64_t w = atomic_load_explicit(&r->word, memory_order_relaxed);
	bool was = gw_state(w) != GS_FREE;
	bool was_lossy = (gw_flags(w) & GROUP_F_LOSSY) != 0;
	if (g->state == PMQ_REPL_GROUP_NONE) {
		if (!was)
			return 0;
		/* seq_cst as a delete: the mask no longer names the group */
		atomic_fetch_and_explicit(&h->group_masks, ~mask_bit(gi, was_lossy), memory_order_seq_cst);
		/* release: observers that see FREE see nothing more of the group. Its tagged side
		 * entries are freed by the side frames that follow the primary's delete (and any
		 * left over at promotion) */
		atomic_store_explicit(&r->word, gw_make(GS_FREE, 0, gw_inc(w)), memory_order_release);
		durable_persist(q, r, sizeof(*r));
		durable_persist(q, &h->group_masks, sizeof(h->group_masks));
		return 0;
	}
	char name[sizeof(g->name)];
	memcpy(name, g->name, sizeof(name));
	if (memchr(name, 0, sizeof(name)) == NULL)
		return pmq_fail(-EINVAL, "queue \"%s\": group entry %u: name not terminated", q->name, gi);
	rc = group_check_name(name);
	if (rc)
		return rc;
	bool lossy = (g->flags & PMQ_GROUP_LOSSY) != 0;
	if (g->lease_ns && (lossy || g->lease_ns < PMQ_GROUP_LEASE_MIN_NS || g->lease_ns > PMQ_GROUP_LEASE_MAX_NS))
		return pmq_fail(-EINVAL, "queue \"%s\": group entry %u: lease %llu ns %s", q->name, gi,
				(unsigned long long)g->lease_ns, lossy ? "on a lossy group" : "out of 1 ms..7 days");
	unsigned gf = lossy ? GROUP_F_LOSSY : 0;
	bool fresh = gw_state(w) != GS_ACTIVE || gw_inc(w) != g->incarnation || was_lossy != lossy;
	/* relaxed: only this thread moves a mirror's tail */
	uint64_t tail = atomic_load_explicit(&h->tail, memory_order_relaxed);
	uint64_t start = g->start > tail ? tail : g->start;
	uint64_t floor = g->floor > tail ? tail : g->floor; /* never past what the mirror holds */
	if (floor < start)
		floor = start;
	uint64_t head = g->head > tail ? tail : g->head;
	if (head < floor)
		head = floor;
	if (fresh) {
		if (was) /* another incarnation held the entry: it is gone */
			atomic_fetch_and_explicit(&h->group_masks, ~mask_bit(gi, was_lossy), memory_order_seq_cst);
		/* relaxed: not ACTIVE, so nobody reads the fields until the release below */
		atomic_store_explicit(&r->word, gw_make(GS_INIT, gf, g->incarnation), memory_order_relaxed);
		memset(r->name, 0, sizeof(r->name));
		memcpy(r->name, name, strlen(name));
		r->created_ns = g->created_ns;
		if (!lossy)
			lane_set_all(q, gi, floor);
	} else if (!lossy) {
		/* relaxed: on a mirror the reliable head is the floor last applied (our own word) */
		uint64_t old = atomic_load_explicit(&r->head, memory_order_relaxed);
		if ((g->flags & PMQ_REPL_GROUP_RESYNC) || floor < old || floor - old >= q->slot_count)
			lane_set_all(q, gi, floor); /* a session's first, a rewound primary, or a lap at once */
		else
			lane_settle_range(q, gi, old, floor);
	}
	/* the mirror's head is where a promoted standby's consumers start: the floor (reliable)
	 * or the cursor (lossy). relaxed: our words, published by the release below or read by
	 * promotion in this thread or after the standby thread stopped */
	atomic_store_explicit(&r->head, floor, memory_order_relaxed);
	if (!lossy) { /* the settled floor is the same (it may go down: a rewound primary) */
		atomic_store_explicit(&r->settled, floor, memory_order_relaxed);
		/* what the primary had handed out: promotion counts that delivery per group */
		atomic_store_explicit(&r->repl_head, head, memory_order_relaxed);
	}
	/* the start too: one clamped to a mirror tail behind the primary's rises with it */
	atomic_store_explicit(&r->start, start, memory_order_relaxed);
	/* counters: the primary's, and for a reliable group the messages its consumers had
	 * taken above the floor, which a promotion delivers again (counted here, so the
	 * mirror's figure is already the promoted one) */
	atomic_store_explicit(&r->redelivered, g->redelivered + (lossy ? 0 : head - floor), memory_order_relaxed);
	atomic_store_explicit(&r->dead_lettered, g->dead_lettered, memory_order_relaxed);
	atomic_store_explicit(&r->lost, g->lost, memory_order_relaxed);
	/* relaxed: fixed for an incarnation, written with the other fields (fresh: while INIT, before
	 * the release below; otherwise the same value again, or 0 from a primary before group leases) */
	atomic_store_explicit(&r->lease_ns, g->lease_ns, memory_order_relaxed);
	if (fresh) {
		/* seq_cst as a create (G2): the mask names the group before it is ACTIVE */
		atomic_fetch_or_explicit(&h->group_masks, mask_bit(gi, lossy), memory_order_seq_cst);
		/* release (G3): name, start, head and lanes before the state */
		atomic_store_explicit(&r->word, gw_make(GS_ACTIVE, gf, g->incarnation), memory_order_release);
		durable_persist(q, &h->group_masks, sizeof(h->group_masks));
	}
	durable_persist(q, r, sizeof(*r));
	return 0;
}
