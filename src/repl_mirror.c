/*
 * repl_mirror.c - the library's side of replication, standby half (docs/failover.md,
 * docs/failover.md): pmqd's standby thread writes shipped entries into the
 * mirror's slots (apply, skip), applies the primary's ack floor, and turns a
 * mirror into a primary (promote) or a node into a fenced one; persistence of
 * the whole mapping before acknowledging.
 */
#include <errno.h>
#include <string.h>

#include "repl_internal.h"

/* ---- standby ------------------------------------------------------------------ */

PMQ_EXPORT int pmq_repl_apply(pmq_t *q, const struct pmq_repl_entry *e, const void *payload)
{
	int rc = repl_check(q);
	if (rc)
		return rc;
	if (!e || (e->len && !payload))
		return pmq_fail(-EINVAL, "pmq_repl_apply: NULL entry or payload");
	if (e->len > q->max_payload)
		return pmq_fail(-EINVAL, "queue \"%s\": entry %llu of %u bytes exceeds max_payload %u", q->name,
				(unsigned long long)e->ticket, e->len, q->max_payload);
	struct pmq_slot *s = main_slot(q, e->ticket & q->slot_mask);
	uint32_t lap = rlap(q, e->ticket);
	/* relaxed: the standby thread is the only writer of mirror slots */
	uint64_t c = atomic_load_explicit(&s->ctl, memory_order_relaxed);
	if (lap_diff(ctl_lap(c), lap) > 0)
		return pmq_fail(-EINVAL, "queue \"%s\": mirror slot of ticket %llu already holds lap %u", q->name,
				(unsigned long long)e->ticket, ctl_lap(c));
	/* relaxed: the standby thread is the only writer of a mirror's cursors */
	bool below_floor = e->ticket < atomic_load_explicit(&q->hdr->head, memory_order_relaxed);
	if ((e->flags & PMQ_REPL_E_HOLE) || below_floor) {
		/* an entry the floor already passed (it arrived after a skip or floor frame) is
		 * consumed: keep no READY copy below head, or that slot would stay pinned */
		uint64_t fl = ((e->flags & PMQ_REPL_E_ACKED) || below_floor) ? 0 : CTL_F_ABORTED;
		/* release: an observer that sees the new lap sees nothing else to read */
		atomic_store_explicit(&s->ctl, ctl_make(lap + 1, ST_FREE, PMQ_NO_OWNER, 0, fl), memory_order_release);
	} else {
		/* hold the slot in WRITING while its bytes change, so a reader (stat, a
		 * consumer opened by mistake) never takes a half-written message */
		atomic_store_explicit(&s->ctl, ctl_make(lap, ST_WRITING, PMQ_NO_OWNER, 0, 0), memory_order_relaxed);
		atomic_thread_fence(memory_order_release);
		s->ticket = e->ticket;
		s->origin = e->origin;
		s->ts_ns = e->ts_ns;
		atomic_store_explicit(&s->src, 0, memory_order_relaxed); /* main slots carry no source */
		s->len = e->len;
		s->deliveries = e->deliveries;
		s->hflags = SLOT_HF_CRC;
		s->reason = DR_NONE;
		s->replay_base = 0;
		s->epoch = e->epoch;
		if (e->len)
			memcpy(slot_payload(s), payload, e->len);
		s->crc = slot_crc(s, slot_payload(s), e->len);
		/* D: header and payload reach the media before READY (power durability) */
		durable_persist(q, &s->ticket, PMQ_SLOT_HDR_SIZE - sizeof(s->ctl) + e->len);
		/* release: pairs with any acquire of the slot word (C1, R2): bytes before READY */
		atomic_store_explicit(&s->ctl, ctl_make(lap, ST_READY, PMQ_NO_OWNER, 0, 0), memory_order_release);
	}
	durable_persist(q, &s->ctl, sizeof(s->ctl));
	/* relaxed: only this thread moves a mirror's tail; promotion reads it in this thread */
	if (atomic_load_explicit(&q->hdr->tail, memory_order_relaxed) < e->ticket + 1)
		atomic_store_explicit(&q->hdr->tail, e->ticket + 1, memory_order_relaxed);
	return 0;
}

PMQ_EXPORT int pmq_repl_skip(pmq_t *q, uint64_t first, uint64_t count)
{
	int rc = repl_check(q);
	if (rc)
		return rc;
	if (count == 0)
		return 0;
	if (first + count < first)
		return pmq_fail(-EINVAL, "pmq_repl_skip: range overflows");
	uint64_t end = first + count;
	uint64_t from = count > q->slot_count ? end - q->slot_count : first; /* only the last lap matters */
	for (uint64_t t = from; t < end; t++) {
		struct pmq_slot *s = main_slot(q, t & q->slot_mask);
		/* relaxed: single writer (the standby thread); release below for observers */
		uint64_t c = atomic_load_explicit(&s->ctl, memory_order_relaxed);
		if (lap_diff(ctl_lap(c), rlap(q, t)) > 0)
			continue;
		atomic_store_explicit(&s->ctl, ctl_free(rlap(q, t) + 1), memory_order_release);
	}
	if (q->power)
		durable_persist_all(q);
	struct pmq_header *h = q->hdr;
	/* relaxed: the standby thread is the only writer of a mirror's cursors */
	if (atomic_load_explicit(&h->tail, memory_order_relaxed) < end)
		atomic_store_explicit(&h->tail, end, memory_order_relaxed);
	if (atomic_load_explicit(&h->head, memory_order_relaxed) < end)
		atomic_store_explicit(&h->head, end, memory_order_relaxed);
	if (atomic_load_explicit(&h->ack_floor, memory_order_relaxed) < end)
		atomic_store_explicit(&h->ack_floor, end, memory_order_relaxed);
	if (q->repl_mark < end)
		q->repl_mark = end;
	return 0;
}

PMQ_EXPORT int pmq_repl_apply_floor(pmq_t *q, uint64_t floor, uint64_t delivered)
{
	int rc = repl_check(q);
	if (rc)
		return rc;
	struct pmq_header *h = q->hdr;
	/* relaxed: single writer of a mirror's cursors and slots (the standby thread) */
	uint64_t tail = atomic_load_explicit(&h->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
	if (floor > tail)
		floor = tail;
	if (delivered > tail)
		delivered = tail;
	uint64_t from = head;
	if (floor > from + q->slot_count)
		from = floor - q->slot_count;
	for (uint64_t t = from; t < floor; t++) {
		struct pmq_slot *s = main_slot(q, t & q->slot_mask);
		uint64_t c = atomic_load_explicit(&s->ctl, memory_order_relaxed);
		if (ctl_lap(c) == rlap(q, t) && ctl_state(c) == ST_READY)
			/* release: observers that see the free word see nothing more to read */
			atomic_store_explicit(&s->ctl, ctl_free(rlap(q, t) + 1), memory_order_release);
	}
	if (floor > head) {
		atomic_store_explicit(&h->head, floor, memory_order_relaxed);
		atomic_store_explicit(&h->ack_floor, floor, memory_order_relaxed);
	}
	/* messages the old primary handed out and nobody acked yet: count that delivery */
	uint64_t m = q->repl_mark > floor ? q->repl_mark : floor;
	for (uint64_t t = m; t < delivered; t++) {
		struct pmq_slot *s = main_slot(q, t & q->slot_mask);
		uint64_t c = atomic_load_explicit(&s->ctl, memory_order_relaxed);
		if (ctl_lap(c) != rlap(q, t) || ctl_state(c) != ST_READY || (s->hflags & SLOT_HF_REPL_COUNTED))
			continue;
		s->hflags |= SLOT_HF_REPL_COUNTED;
		s->deliveries++;
		s->crc = slot_crc(s, slot_payload(s), s->len > q->max_payload ? q->max_payload : s->len);
		durable_persist(q, &s->ticket, PMQ_SLOT_HDR_SIZE - sizeof(s->ctl));
	}
	if (delivered > q->repl_mark)
		q->repl_mark = delivered;
	if (q->power)
		durable_persist(q, h, PMQ_HDR_SIZE);
	return 0;
}

PMQ_EXPORT int pmq_repl_make_standby(pmq_t *q, uint64_t epoch)
{
	int rc = repl_check(q);
	if (rc)
		return rc;
	struct pmq_header *h = q->hdr;
	/* seq_cst: fence first, so no producer starts after the role says standby */
	atomic_store_explicit(&h->fenced, 1, memory_order_seq_cst);
	atomic_store_explicit(&h->role, HDR_ROLE_STANDBY, memory_order_seq_cst);
	atomic_store_explicit(&h->epoch, epoch, memory_order_seq_cst);
	atomic_store_explicit(&h->repl_flags, 0, memory_order_seq_cst);
	/* relaxed: the mirror's cursors are ours; repl_mark restarts from the floor */
	q->repl_mark = atomic_load_explicit(&h->ack_floor, memory_order_relaxed);
	durable_persist_all(q);
	return 0;
}

/* Promotion, groups (docs/failover.md, "Consumer groups"): the mirror's reliable lanes
 * and heads already say where each group resumes (pmq_repl_group_apply keeps the head at
 * the floor). What is left: side entries tagged with a group the mirror no longer has
 * (the primary deleted it and the frees had not come yet), which nobody would ever
 * claim, are freed. Single writer (see pmq_repl_promote): relaxed loads. */
static void promote_groups(struct pmq *q)
{
	if (!q->max_groups)
		return;
	for (uint32_t i = 0; i < q->side_count; i++) {
		struct pmq_slot *e = side_slot(q, i);
		uint64_t c = atomic_load_explicit(&e->ctl, memory_order_relaxed);
		unsigned st = ctl_state(c);
		unsigned tag = hf_group(e->hflags);
		if ((st != ST_READY && st != ST_DEAD) || !tag)
			continue;
		if (tag <= q->max_groups) {
			const struct pmq_group_rec *r = group_rec(q, tag - 1);
			if (gw_state(atomic_load_explicit(&r->word, memory_order_relaxed)) == GS_ACTIVE)
				continue;
		}
		atomic_store_explicit(&e->src, 0, memory_order_relaxed);
		/* release: published to consumers by the seq_cst store of `fenced` in the caller */
		atomic_store_explicit(&e->ctl, ctl_free(ctl_lap(c) + 1), memory_order_release);
		durable_persist(q, &e->ctl, sizeof(e->ctl));
	}
}

/* The next FREE side entry at or after *from (single writer: no reservation needed). */
static struct pmq_slot *free_entry(struct pmq *q, uint32_t *from)
{
	for (; *from < q->side_count; (*from)++) {
		struct pmq_slot *e = side_slot(q, *from);
		if (ctl_state(atomic_load_explicit(&e->ctl, memory_order_relaxed)) == ST_FREE)
			return e;
	}
	return NULL;
}

/* Promotion, per reliable group: the messages its consumers had taken above its floor
 * on the old primary ([floor, repl_head)) were delivered once in that group. Each becomes
 * a redelivery of that group in the side area with its delivery count raised by one for
 * the group alone (the ring slot's count is every group's), and its lane word settles,
 * so the group's next delivery of it says 2 and the other groups still read the ring.
 * Without a free side entry the rest stays on the ring (delivered again with the slot's
 * count; the group's `redelivered` counts it either way). Single writer (see
 * pmq_repl_promote): relaxed loads, release stores of the words (published to consumers
 * by the seq_cst store of `fenced` in the caller). Returns how many were moved. */
static uint32_t promote_group_taken(struct pmq *q, uint64_t tail)
{
	uint32_t moved = 0, from = 0;
	for (uint32_t g = 0; g < q->max_groups; g++) {
		struct pmq_group_rec *r = group_rec(q, g);
		uint64_t w = atomic_load_explicit(&r->word, memory_order_relaxed);
		if (gw_state(w) != GS_ACTIVE || (gw_flags(w) & GROUP_F_LOSSY))
			continue;
		/* each read once and bounded: the floor (the mirror's head) and the taken head
		 * within the mirror's tail, the walk within one lap */
		uint64_t f = atomic_load_explicit(&r->head, memory_order_relaxed);
		uint64_t taken = atomic_load_explicit(&r->repl_head, memory_order_relaxed);
		if (taken > tail)
			taken = tail;
		if (f >= taken)
			continue;
		if (taken - f > q->slot_count)
			f = taken - q->slot_count;
		_Atomic uint64_t *lane = group_lane(q, g);
		for (uint64_t t = f; t < taken; t++) {
			uint32_t j = (uint32_t)(t & q->slot_mask), lap = rlap(q, t);
			struct pmq_slot *s = main_slot(q, j);
			uint64_t c = atomic_load_explicit(&s->ctl, memory_order_relaxed);
			uint64_t l = atomic_load_explicit(&lane[j], memory_order_relaxed);
			if (ctl_lap(c) != lap || ctl_state(c) != ST_READY || l != ctl_free(lap))
				continue; /* not held here, or the group settled it */
			struct pmq_slot *e = free_entry(q, &from);
			if (!e)
				return moved;
			uint64_t ec = atomic_load_explicit(&e->ctl, memory_order_relaxed);
			struct pmq_slot sh; /* the slot's header read once; the copy is built from it */
			uint32_t len = slot_snapshot(q, s, &sh);
			sh.replay_base = sh.replay_base > sh.deliveries ? sh.deliveries : sh.replay_base;
			sh.deliveries++; /* the delivery on the old primary */
			sh.reason = DR_NONE;
			sh.hflags = hf_with_group(SLOT_HF_CRC | (sh.hflags & SLOT_HF_REPLAYED), g + 1);
			side_write_single(q, e, ctl_lap(ec), &sh, slot_payload(s), len, ST_READY);
			/* release: the group has it in the side area now; the lane says settled */
			atomic_store_explicit(&lane[j], ctl_free(lap + 1), memory_order_release);
			moved++;
		}
	}
	return moved;
}

PMQ_EXPORT int pmq_repl_promote(pmq_t *q, uint64_t epoch)
{
	int rc = repl_check(q);
	if (rc)
		return rc;
	struct pmq_header *h = q->hdr;
	/* relaxed: the standby thread stopped applying before promotion; this thread
	 * (the same one, or the control thread after it) is the only writer */
	uint64_t tail = atomic_load_explicit(&h->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
	if (head > tail)
		head = tail;
	if (tail - head > q->slot_count)
		head = tail - q->slot_count;
	/* a slot still holding a ticket below head (consumed on the old primary) would pin
	 * the ring for producers one lap later: free it */
	for (uint32_t j = 0; j < q->slot_count; j++) {
		struct pmq_slot *s = main_slot(q, j);
		uint64_t c = atomic_load_explicit(&s->ctl, memory_order_relaxed);
		int32_t dl = lap_diff(ctl_lap(c), rlap(q, head));
		bool below_head = dl < 0 || (dl == 0 && j < (head & q->slot_mask));
		if (ctl_state(c) != ST_FREE && below_head)
			atomic_store_explicit(&s->ctl, ctl_free(ctl_lap(c) + 1), memory_order_release);
	}
	int n = 0;
	for (uint64_t t = head; t < tail; t++) {
		struct pmq_slot *s = main_slot(q, t & q->slot_mask);
		uint64_t c = atomic_load_explicit(&s->ctl, memory_order_relaxed);
		uint32_t lap = rlap(q, t);
		if (ctl_lap(c) == lap && ctl_state(c) == ST_READY)
			n++;
		else if (lap_diff(ctl_lap(c), lap) <= 0)
			/* a ticket the mirror never received: abort it so nobody waits on it */
			atomic_store_explicit(&s->ctl, ctl_make(lap + 1, ST_FREE, PMQ_NO_OWNER, 0, CTL_F_ABORTED),
					      memory_order_release);
	}
	promote_groups(q);
	uint32_t moved = q->max_groups ? promote_group_taken(q, tail) : 0;
	/* the side area: what the replicator mirrored is READY or DEAD (nothing else is ever
	 * written there on a mirror); rebuild the hint and the dead-letter credits from it */
	uint64_t ready = 0, dead = 0;
	for (uint32_t i = 0; i < q->side_count; i++) {
		uint64_t c = atomic_load_explicit(&side_slot(q, i)->ctl, memory_order_relaxed);
		if (ctl_state(c) == ST_READY)
			ready++;
		else if (ctl_state(c) == ST_DEAD)
			dead++;
	}
	/* relaxed: published to consumers by the seq_cst store of `fenced` below */
	atomic_store_explicit(&h->side_hint, ready, memory_order_relaxed);
	side_recount_groups(q);
	atomic_store_explicit(&h->dlq_count, dead, memory_order_relaxed);
	n += (int)(ready - moved); /* a moved message is one message, counted on the ring */
	atomic_store_explicit(&h->head, head, memory_order_relaxed);
	atomic_store_explicit(&h->ack_floor, head, memory_order_relaxed);
	/* new tickets continue after the mirror's tail: everything below is (were) confirmed */
	atomic_store_explicit(&h->replicated, tail, memory_order_relaxed);
	atomic_store_explicit(&h->epoch, epoch, memory_order_seq_cst);
	atomic_store_explicit(&h->repl_flags, 0, memory_order_seq_cst);
	atomic_store_explicit(&h->role, HDR_ROLE_PRIMARY, memory_order_seq_cst);
	durable_persist_all(q);
	/* seq_cst: last, after every word above: producers may start now */
	atomic_store_explicit(&h->fenced, 0, memory_order_seq_cst);
	durable_persist(q, &h->fenced, sizeof(h->fenced));
	atomic_fetch_add_explicit(&h->data_seq, 1, memory_order_seq_cst);
	futex_wake_all(&h->data_seq);
	return n;
}

PMQ_EXPORT int pmq_repl_fence(pmq_t *q, int on)
{
	int rc = repl_check(q);
	if (rc)
		return rc;
	struct pmq_header *h = q->hdr;
	/* seq_cst, then wake: blocked producers re-check and see it (ring_peek_space) */
	atomic_store_explicit(&h->fenced, on ? 1u : 0u, memory_order_seq_cst);
	durable_persist(q, &h->fenced, sizeof(h->fenced));
	atomic_fetch_add_explicit(&h->space_seq, 1, memory_order_seq_cst);
	futex_wake_all(&h->space_seq);
	atomic_fetch_add_explicit(&h->repl_seq, 1, memory_order_seq_cst);
	futex_wake_all(&h->repl_seq);
	return 0;
}

PMQ_EXPORT int pmq_repl_set_epoch(pmq_t *q, uint64_t epoch)
{
	int rc = repl_check(q);
	if (rc)
		return rc;
	/* relaxed for producers (ring_write_header stamps it): a message sent while it
	 * changes carries either value, both true for a primary that owns both */
	atomic_store_explicit(&q->hdr->epoch, epoch, memory_order_relaxed);
	durable_persist(q, &q->hdr->epoch, sizeof(q->hdr->epoch));
	return 0;
}

PMQ_EXPORT int pmq_repl_persist(pmq_t *q)
{
	int rc = repl_check(q);
	if (rc)
		return rc;
	/* D: every mirror write already persisted what it touched (pmq_repl_apply, _skip,
	 * _apply_floor, the side area's apply and free): what is left before an ACK is the
	 * header's cursors (tail above all), not the whole mapping per batch */
	durable_persist(q, q->hdr, sizeof(*q->hdr));
	return 0;
}
