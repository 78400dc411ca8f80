/*
 * lane.c - the consumer side of a queue with groups (docs/groups.md): a reliable
 * group's claim through its lane, a lossy group's checked copy, the producers' gate
 * on the reliable lanes, and the waiters' re-checks for both.
 *
 * The main slot word is the producers': consumers of groups only read it. A
 * reliable group's lane word for slot j is its own control word for that slot, in
 * the main ring's encoding; a lossy group has only a cursor.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

static inline uint32_t lap_at(const struct pmq *q, uint64_t t) { return (uint32_t)(t >> q->slot_shift); }

bool lane_settled(const struct pmq *q, uint64_t masks, uint32_t j, uint32_t lap, memory_order mo)
{
	uint32_t rel = (uint32_t)masks;
	while (rel) {
		uint32_t g = (uint32_t)__builtin_ctz(rel);
		rel &= rel - 1;
		if (g >= q->max_groups)
			return false; /* a mask bit past the table: damage; refuse rather than overwrite */
		/* G4: acquire (or the caller's seq_cst): pairs with the group's ack (seq_cst CAS):
		 * its consumer's reads of this slot happen before our writes into it */
		uint64_t w = atomic_load_explicit(&group_lane(q, g)[j], mo);
		if (ctl_state(w) != ST_FREE || lap_diff(ctl_lap(w), lap) < 0)
			return false;
	}
	return true;
}

/* Lane g := FREE(lap of the first ticket >= s at each slot): tickets below s read settled,
 * from s on not. relaxed stores: used where nobody consumes through the lane yet (a group
 * being created: its state's release publishes them; a standby's mirror: one writer), and
 * a producer that reads a lower value than the new one only waits longer */
void lane_start_at(struct pmq *q, uint32_t g, uint64_t s)
{
	_Atomic uint64_t *lane = group_lane(q, g);
	for (uint64_t j = 0; j < q->slot_count; j++) {
		uint64_t t = (s & ~q->slot_mask) + j;
		if (t < s)
			t += q->slot_count;
		atomic_store_explicit(&lane[j], ctl_free(lap_at(q, t)), memory_order_relaxed);
	}
}

/* The producer's gate for ticket t and the tickets after it that share t's lane lines:
 * how many in a row had their slot's previous lap settled by every reliable group. A
 * lane line holds eight slots, so one read per group serves up to eight sends (reading
 * it on every send put a line the consumer had just written on each send's path). */
/* How many tickets from t on, up to the end of t's lane line, had their slot's previous
 * lap settled by every reliable group of masks (one read of each group's line). */
static uint64_t settled_in_line(const struct pmq *q, uint64_t masks, uint64_t t)
{
	uint32_t j = (uint32_t)(t & q->slot_mask);
	uint32_t end = (j | 7u) + 1u;
	if (end > q->slot_count)
		end = q->slot_count;
	uint64_t n = 0;
	for (uint32_t k = j; k < end; k++, n++)
		if (!lane_settled(q, masks, k, lap_at(q, t + n), memory_order_acquire)) /* G4 */
			break;
	return n;
}

/* The lowest settled floor of the reliable groups in rel (UINT64_MAX: none), 0 if a bit
 * lies past the table (damage: the lanes then refuse too). */
static uint64_t floor_of_groups(const struct pmq *q, uint32_t rel)
{
	uint64_t f = UINT64_MAX;
	while (rel) {
		uint32_t g = (uint32_t)__builtin_ctz(rel);
		rel &= rel - 1;
		if (g >= q->max_groups)
			return 0;
		/* G5: acquire; pairs with the floor's release CAS (lane_floor_advance), which came
		 * after the walker's acquire loads of the settled lane words: every settling
		 * consumer's reads of those slots happen before our writes into them */
		uint64_t v = atomic_load_explicit(&group_rec(q, g)->settled, memory_order_acquire);
		if (v < f)
			f = v;
	}
	return f;
}

/* The end of the window the groups' settled floors open for a producer at ticket t:
 * ticket v may overwrite its slot's previous lap when v - N is below every floor, so
 * every ticket below min(floor) + N may (one read of each group's floor line serves up to
 * a lap of sends). The floor is clamped to t: a window never reaches past one lap. */
static uint64_t floor_window_end(const struct pmq *q, uint32_t rel, uint64_t t)
{
	uint64_t f = floor_of_groups(q, rel);
	return (f > t ? t : f) + q->slot_count;
}

static bool floor_gate(struct pmq *q, uint64_t masks, uint64_t t)
{
	uint64_t end = floor_window_end(q, (uint32_t)masks, t);
	if (t >= end)
		return false;
	q->gate_until = end;
	q->gate_masks = (uint32_t)masks;
	return true;
}

bool lane_gate_refresh(struct pmq *q, uint64_t masks, uint64_t t)
{
	if (floor_gate(q, masks, t))
		return true;
	uint64_t n = settled_in_line(q, masks, t);
	if (!n)
		return false;
	q->gate_until = t + n;
	q->gate_masks = (uint32_t)masks;
	return true;
}

/* Refresh ahead (the gate above, read before it closes): GATE_PREFETCH_AT tickets before
 * gate_until ask for the next window's lane lines, GATE_READ_AT tickets before it read
 * them (they have arrived by then) and extend the window. The read at gate_until itself
 * put a remote line (the consumer wrote it last) on that send's path, and the
 * consumer's claim right after it had to take the line back from us on its own path;
 * now the read comes while the consumer is still on the line before, and the consumer
 * takes the line back ahead of its claim (prefetch_write). Only for the groups of
 * the current window (gate_masks; the caller checked that they are still the queue's). */
void lane_gate_ahead(struct pmq *q, uint64_t t)
{
	uint64_t u = q->gate_until;
	uint32_t rel = q->gate_masks;
	if (u - t == GATE_PREFETCH_AT) {
		while (rel) {
			uint32_t g = (uint32_t)__builtin_ctz(rel);
			rel &= rel - 1;
			if (g < q->max_groups) /* bounded: the address must lie in the table */
				__builtin_prefetch(&group_rec(q, g)->settled, 0, 3); /* a hint: nothing is read */
		}
		return;
	}
	/* settles are never undone: [t, gate_until) stays open as it grows. The floors first
	 * (they usually open most of a lap); the lane lines of u only when the floors have not
	 * moved past u - N (a group whose consumers' walk lags, or a gap a walk stopped at) */
	uint64_t end = floor_window_end(q, rel, t);
	q->gate_until = end > u ? end : u + settled_in_line(q, rel, u);
}

/* After our group settled ticket (lap, j) with an ack: raise the group's settled floor
 * past the tickets whose lane words read settled, from the floor on (or from one lap
 * below the ticket, when the floor lags further: producers never use what lies below
 * that, docs/groups.md "The settled floor"), at most FLOOR_WALK_MAX words. Called at the
 * end of each lane line and of each batch, so the floor line is written about once per
 * eight acks and stays in our cache between the producer's rare reads. */
void lane_floor_advance(struct pmq *q, uint32_t lap, uint32_t j)
{
	_Atomic uint64_t *fw = &q->grec->settled;
	/* relaxed: the CAS below decides; a stale value only starts the walk lower */
	uint64_t f = atomic_load_explicit(fw, memory_order_relaxed);
	int32_t d = lap_diff(lap, lap_at(q, f));
	if (d < 0)
		return; /* our ticket is below the floor: others walked past it */
	/* the ticket, from the floor's lap and ours (laps are 32 bits, tickets 64) */
	uint64_t t = (((f >> q->slot_shift) + (uint32_t)d) << q->slot_shift) | j;
	if (t + 1 <= f)
		return; /* (or a floor so damaged that the ticket wrapped: leave it) */
	uint64_t u = t + 1 > q->slot_count && t + 1 - q->slot_count > f ? t + 1 - q->slot_count : f;
	for (uint32_t k = 0; k < FLOOR_WALK_MAX; k++, u++) {
		/* acquire: pairs with the settling ack's seq_cst CAS (A1g), so that our release
		 * below passes its consumer's reads on to the producer (G5) */
		uint64_t w = atomic_load_explicit(&q->lane[u & q->slot_mask], memory_order_acquire);
		if (lap_diff(ctl_lap(w), lap_at(q, u)) < 1)
			break; /* not settled: the floor stops here */
	}
	if (u == f)
		return; /* nothing settled past the floor */
	/* release: the walk's acquires before it (G5); a lost CAS means another consumer
	 * raised it meanwhile, and a lower value would only make producers read the lanes */
	atomic_compare_exchange_strong_explicit(fw, &f, u, memory_order_release, memory_order_relaxed);
}

/* Step the group's head hint past hd (relaxed: a hint; the lane words decide). */
static inline void head_past(struct pmq *q, uint64_t hd)
{
	atomic_compare_exchange_strong_explicit(&q->grec->head, &hd, hd + 1, memory_order_relaxed,
						memory_order_relaxed);
}

int lane_try_consume(struct pmq *q, struct pmq_msg *msg, uint64_t *writer)
{
	uint32_t far = 0;
	for (;;) {
		/* relaxed: the head is a hint; the lane word decides */
		uint64_t hd = atomic_load_explicit(&q->grec->head, memory_order_relaxed);
		uint32_t lap = lap_at(q, hd);
		uint32_t j = (uint32_t)(hd & q->slot_mask);
		struct pmq_slot *s = main_slot(q, j);
		_Atomic uint64_t *lw = &q->lane[j];
		/* relaxed: compared, then CASed; the main word's acquire orders the payload */
		uint64_t l = atomic_load_explicit(lw, memory_order_relaxed);
		int32_t ld = lap_diff(ctl_lap(l), lap);
		if (ld > 0 || (ld == 0 && ctl_state(l) != ST_FREE)) {
			/* settled or taken by a peer in the group: help the hint along */
			if (ld > 1 && ++far > q->slot_count)
				return pmq_fail(-EPROTO, "queue \"%s\": group head is damaged; close every handle "
							 "and reopen", q->name);
			head_past(q, hd);
			continue;
		}
		if (ld < 0)
			return -EAGAIN; /* a hint ahead of a lap the group has not reached: wait */
		/* C1 (groups): acquire; pairs with P2: header and payload are visible once READY is */
		uint64_t c = atomic_load_explicit(&s->ctl, memory_order_acquire);
		int32_t d = lap_diff(ctl_lap(c), lap);
		if (d == 0 && ctl_state(c) == ST_READY) {
			uint64_t claimed = ctl_make(lap, ST_CLAIMED, q->index, 0, 0);
			held_record(q, 0, j, lap); /* before the claim names us: a main record is our lane's */
			/* C2 (groups): the claim names us; acquire as C1 */
			if (!atomic_compare_exchange_strong_explicit(lw, &l, claimed, memory_order_acquire,
								     memory_order_relaxed))
				continue;
			PMQ_FAULT("recv.after_claim");
			head_past(q, hd);
			/* in lock step the producer read the next line at offset 8 - GATE_READ_AT of
			 * ours, before it sent this ticket; asking for the line before that read
			 * would only take it from under the read */
			_Static_assert(8 - GATE_READ_AT < 6, "the write prefetch must follow the read ahead");
			if ((j & 7u) == 6u)
				prefetch_write(&q->lane[((j | 7u) + 1u) & q->slot_mask]); /* the next line, asked for writable */
			slot_fill_msg(q, msg, s, claimed, 0, j);
			msg->cookie[0] |= COOKIE_LANE;
			slot_prefetch_rest(s, msg->len);
			/* relaxed: a group redelivery carries its own count; a main slot's is shared */
			return 0;
		}
		if (d > 0) {
			/* the ticket was aborted (FREE(L+1)|ABT), or a rebuild reset the slot: the group
			 * has nothing to take there; settle its lane (seq_cst: frees the slot for
			 * producers, as an ack) */
			uint64_t next = ctl_free(lap + 1);
			if (atomic_compare_exchange_strong_explicit(lw, &l, next, memory_order_seq_cst,
								    memory_order_relaxed)) {
				durable_persist(q, lw, sizeof(*lw));
				wait_wake_space(q);
			}
			head_past(q, hd);
			continue;
		}
		/* nothing published there yet: FREE(L) or WRITING(L) or the previous lap's READY.
		 * Ask for the payload's first line meanwhile (as ring.c: its transfer overlaps
		 * the word's when the publish comes; a hint, nothing is read into a local).
		 * The heal looks for a dead claimant of FREE(L) words: give it that shape */
		__builtin_prefetch(slot_payload(s), 0, 3);
		*writer = ctl_state(c) == ST_WRITING ? c : ctl_free(lap);
		return -EAGAIN;
	}
}

int lossy_try_consume(struct pmq *q, struct pmq_msg *msg, uint64_t *lost, uint64_t *writer)
{
	struct pmq_group_rec *r = q->grec;
	for (;;) {
		/* relaxed: the cursor's CAS below decides who takes the ticket */
		uint64_t cur = atomic_load_explicit(&r->head, memory_order_relaxed);
		uint32_t lap = lap_at(q, cur);
		struct pmq_slot *s = main_slot(q, cur & q->slot_mask);
		/* L1: acquire; pairs with P2: the copy below sees what the publish released */
		uint64_t c = atomic_load_explicit(&s->ctl, memory_order_acquire);
		int32_t d = lap_diff(ctl_lap(c), lap);
		unsigned st = ctl_state(c);
		if (d == 0 && st == ST_READY) {
			struct pmq_slot sh;
			uint32_t len = slot_snapshot(q, s, &sh);
			/* a seqlock read: the producer of the next lap marks the word WRITING before it
			 * writes (while a lossy group exists), so a copy that raced it fails the check */
			memcpy(q->lossy_buf, slot_payload(s), len);
			/* L2: acquire fence, then the word again (relaxed): any byte we copied that a
			 * later producer wrote is ordered before a word that differs from c */
			atomic_thread_fence(memory_order_acquire);
			if (atomic_load_explicit(&s->ctl, memory_order_relaxed) != c)
				continue; /* overwritten while we copied: look again */
			/* relaxed: the cursor only orders who delivers which ticket */
			if (!atomic_compare_exchange_strong_explicit(&r->head, &cur, cur + 1, memory_order_relaxed,
								     memory_order_relaxed))
				continue;
			durable_persist(q, &r->head, sizeof(r->head)); /* power mode: the cursor survives */
			msg->data = q->lossy_buf;
			msg->len = len;
			msg->delivery_count = 1;
			msg->ticket = sh.origin;
			msg->epoch = sh.epoch;
			msg->timestamp_ns = sh.ts_ns;
			msg->cookie[0] = COOKIE_LOSSY;
			msg->cookie[1] = 0;
			/* relaxed: owner-only counters */
			atomic_store_explicit(&q->me->received,
					      atomic_load_explicit(&q->me->received, memory_order_relaxed) + 1,
					      memory_order_relaxed);
			atomic_store_explicit(&q->me->heartbeat,
					      atomic_load_explicit(&q->me->heartbeat, memory_order_relaxed) + 1,
					      memory_order_relaxed);
			return 0;
		}
		if (d == 1 && st == ST_FREE && (c & CTL_F_ABORTED)) {
			/* our ticket was aborted: nothing to deliver, nothing lost */
			atomic_compare_exchange_strong_explicit(&r->head, &cur, cur + 1, memory_order_relaxed,
								memory_order_relaxed);
			continue;
		}
		if (d > 0) {
			/* overwritten: resume at the oldest ticket that may still be there. acquire:
			 * tail past t + N means ticket t's slot was claimed again */
			uint64_t tail = atomic_load_explicit(&q->hdr->tail, memory_order_acquire);
			uint64_t oldest = tail > q->slot_count ? tail - q->slot_count : 0;
			uint64_t next = oldest > cur + 1 ? oldest : cur + 1;
			if (!atomic_compare_exchange_strong_explicit(&r->head, &cur, next, memory_order_relaxed,
								     memory_order_relaxed))
				continue;
			*lost += next - cur;
			atomic_fetch_add_explicit(&r->lost, next - cur, memory_order_relaxed); /* statistics */
			continue;
		}
		*writer = st == ST_WRITING ? c : ctl_free(lap);
		return -EAGAIN;
	}
}

/* W1's re-check for a group's waiter (seq_cst loads, see wait.c). */
bool lane_peek_data(struct pmq *q)
{
	if (group_gone(q))
		return true;
	uint64_t hd = atomic_load_explicit(&q->grec->head, memory_order_seq_cst);
	uint32_t lap = lap_at(q, hd);
	uint32_t j = (uint32_t)(hd & q->slot_mask);
	uint64_t c = atomic_load_explicit(&main_slot(q, j)->ctl, memory_order_seq_cst);
	int32_t d = lap_diff(ctl_lap(c), lap);
	if (d > 0 || (d == 0 && ctl_state(c) == ST_READY))
		return true;
	if (!q->group_lossy) {
		uint64_t l = atomic_load_explicit(&q->lane[j], memory_order_seq_cst);
		if (lap_diff(ctl_lap(l), lap) != 0 || ctl_state(l) != ST_FREE)
			return true; /* the hint is behind: work to do */
	}
	return false;
}

/* Can the next ticket be claimed now (seq_cst loads: W1 for producers of a queue with groups)? */
bool lane_peek_space(struct pmq *q, uint64_t t, uint64_t c)
{
	int32_t d = lap_diff(ctl_lap(c), lap_at(q, t));
	if (d == 0 && ctl_state(c) == ST_FREE)
		return true;
	if (d == -1 && ctl_state(c) == ST_READY) {
		uint64_t m = atomic_load_explicit(&q->hdr->group_masks, memory_order_seq_cst);
		return lane_settled(q, m, (uint32_t)(t & q->slot_mask), lap_at(q, t), memory_order_seq_cst);
	}
	return d > 0 || (d == 0 && ctl_state(c) != ST_FREE);
}

/* Exclusive open of a file with groups (whole-file recovery): each reliable group's head
 * hint may be stale by any amount (a power cut keeps only what was persisted: the lanes'
 * settles, not the hints), and a far-behind hint reads as damage. Put it at the group's
 * first unsettled ticket within the last lap, bounded by the ring. Nobody else is
 * attached: plain loads and stores suffice (relaxed atomics). */
void lane_rewind_heads(struct pmq *q)
{
	uint64_t tail = atomic_load_explicit(&q->hdr->tail, memory_order_relaxed);
	uint64_t lo = tail > q->slot_count ? tail - q->slot_count : 0;
	uint32_t rel = (uint32_t)atomic_load_explicit(&q->hdr->group_masks, memory_order_relaxed);
	for (uint32_t g = 0; g < q->max_groups; g++) {
		if (!(rel & (1u << g)))
			continue;
		struct pmq_group_rec *r = group_rec(q, g);
		uint64_t start = atomic_load_explicit(&r->start, memory_order_relaxed);
		uint64_t t = start > lo && start <= tail ? start : lo;
		for (; t < tail; t++) {
			uint64_t w = atomic_load_explicit(&group_lane(q, g)[t & q->slot_mask], memory_order_relaxed);
			if (lap_diff(ctl_lap(w), lap_at(q, t)) <= 0)
				break; /* the group has not settled t */
		}
		atomic_store_explicit(&r->head, t, memory_order_relaxed);
		/* the settled floor with it: a floor that reached the media ahead of the lane
		 * words it was walked from (power) or lanes the rebuild made unsettled again
		 * must not let producers overwrite what the group still needs */
		atomic_store_explicit(&r->settled, t, memory_order_relaxed);
	}
}
