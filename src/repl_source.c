/*
 * repl_source.c - the library's side of replication (DESIGN §6): what producers
 * wait for, and (for pmqd's replicator and standby) reading committed
 * entries in ticket order and confirming them.
 *
 * The primary's replicator ships committed entries and stores the standby's
 * highest contiguous persisted ticket in `replicated`; producers gate slot
 * reuse on it (ring.c, repl_may_reuse) and PMQ_REPLICATED sends wait for it.
 */
#include <errno.h>

#include "internal.h"

int repl_wait_confirmed(struct pmq *q, uint64_t ticket)
{
	struct pmq_header *h = q->hdr;
	uint64_t start = 0;
	for (;;) {
		/* acquire: pairs with the replicator's release when it changes the flags */
		uint32_t f = atomic_load_explicit(&h->repl_flags, memory_order_acquire);
		if (!(f & HDR_REPL_ON))
			return pmq_fail(-ENOTSUP, "queue \"%s\": no standby configured for replication; message %llu "
						  "is committed locally only",
					q->name, (unsigned long long)ticket);
		if (f & HDR_REPL_DEGRADED)
			return pmq_fail(-ENOLINK, "queue \"%s\": standby out of sync; message %llu is committed "
						  "locally but not replicated",
					q->name, (unsigned long long)ticket);
		if (atomic_load_explicit(&h->fenced, memory_order_relaxed))
			return pmq_fail(-ESHUTDOWN, "queue \"%s\" is fenced (a newer primary exists)", q->name);
		/* acquire: taken before the check, so a confirmation after it changes the word */
		uint32_t seq = atomic_load_explicit(&h->repl_seq, memory_order_acquire);
		/* acquire: pairs with the replicator's release store of `replicated` */
		if (atomic_load_explicit(&h->replicated, memory_order_acquire) > ticket)
			return 0;
		uint64_t now = now_mono_ns();
		if (!start)
			start = now;
		if (now - start < q->spin_ns)
			cpu_relax();
		else
			futex_sleep(&h->repl_seq, seq, 1000000ull); /* the network round trip dominates anyway */
	}
}

/* ==== pmqd's side: shipping (primary) and mirroring (standby) ===================
 *
 * Ownership of the words touched below:
 *  - `replicated`, `ack_floor`, `repl_flags`, `epoch`, `role`, `fenced`: written only
 *    by pmqd's replicator / standby thread (CAS-max where two replicators could race).
 *  - mirror slots on a standby: written only by the standby thread. Nobody produces
 *    into a mirror (it is fenced) and nobody should consume from it (docs/failover.md).
 */
#include <string.h>

/* hflags bit of a mirror slot: its delivery was already counted at a floor frame
 * (the old primary may have delivered it; promotion redelivers it as such). */
#define SLOT_HF_REPL_COUNTED 0x4u

static inline uint32_t rlap(const struct pmq *q, uint64_t t) { return (uint32_t)(t >> q->slot_shift); }

static int repl_check(const struct pmq *q)
{
	if (!q)
		return pmq_fail(-EINVAL, "NULL queue handle");
	if (q->forked)
		return pmq_fail(-EBADFD, "queue \"%s\": handle inherited across fork", q->name);
	return 0;
}

PMQ_EXPORT int pmq_repl_info(pmq_t *q, struct pmq_repl_info *o)
{
	int rc = repl_check(q);
	if (rc)
		return rc;
	if (!o)
		return pmq_fail(-EINVAL, "pmq_repl_info: NULL output");
	struct pmq_header *h = q->hdr;
	memset(o, 0, sizeof(*o));
	/* relaxed: a snapshot for stat and for the replicator's loop; each word read once */
	o->tail = atomic_load_explicit(&h->tail, memory_order_relaxed);
	o->head = atomic_load_explicit(&h->head, memory_order_relaxed);
	o->replicated = atomic_load_explicit(&h->replicated, memory_order_relaxed);
	o->ack_floor = atomic_load_explicit(&h->ack_floor, memory_order_relaxed);
	o->epoch = atomic_load_explicit(&h->epoch, memory_order_relaxed);
	o->role = atomic_load_explicit(&h->role, memory_order_relaxed);
	o->fenced = atomic_load_explicit(&h->fenced, memory_order_relaxed);
	o->repl_flags = atomic_load_explicit(&h->repl_flags, memory_order_relaxed);
	o->slot_count = q->slot_count;
	o->max_payload = q->max_payload;
	o->side_count = q->side_count;
	if (o->replicated < o->tail) {
		struct pmq_slot *s = main_slot(q, o->replicated & q->slot_mask);
		/* acquire: pairs with P2; ts_ns is read only if the slot holds that ticket */
		uint64_t c = atomic_load_explicit(&s->ctl, memory_order_acquire);
		unsigned st = ctl_state(c);
		if (ctl_lap(c) == rlap(q, o->replicated) && (st == ST_READY || st == ST_CLAIMED || st == ST_MOVED))
			o->oldest_unconfirmed_ns = s->ts_ns; /* may race a reuse: a figure for humans only */
	}
	return 0;
}

PMQ_EXPORT int pmq_repl_set(pmq_t *q, unsigned flags)
{
	int rc = repl_check(q);
	if (rc)
		return rc;
	if (flags & ~(PMQ_REPL_ON | PMQ_REPL_DEGRADED))
		return pmq_fail(-EINVAL, "pmq_repl_set: unknown flags 0x%x", flags);
	/* RP1: seq_cst store: producers read it relaxed at their next claim (a stale view
	 * costs at most one gated or ungated reuse, see docs/failover.md) and senders
	 * waiting in repl_wait_confirmed acquire it; the wakes below make them look. */
	atomic_store_explicit(&q->hdr->repl_flags, flags, memory_order_seq_cst);
	atomic_fetch_add_explicit(&q->hdr->repl_seq, 1, memory_order_seq_cst);
	futex_wake_all(&q->hdr->repl_seq);
	atomic_fetch_add_explicit(&q->hdr->space_seq, 1, memory_order_seq_cst);
	futex_wake_all(&q->hdr->space_seq);
	return 0;
}

PMQ_EXPORT int pmq_repl_read(pmq_t *q, uint64_t t, struct pmq_repl_entry *e, void *buf, size_t cap)
{
	int rc = repl_check(q);
	if (rc)
		return rc;
	if (!e || (!buf && cap))
		return pmq_fail(-EINVAL, "pmq_repl_read: NULL output");
	struct pmq_slot *s = main_slot(q, t & q->slot_mask);
	uint32_t lap = rlap(q, t);
	memset(e, 0, sizeof(*e));
	e->ticket = t;
	/* RP2: acquire; pairs with P2 (commit): header and payload written before READY are
	 * visible. The copy below is validated again by R3 (a seqlock read). */
	uint64_t c1 = atomic_load_explicit(&s->ctl, memory_order_acquire);
	int32_t d = lap_diff(ctl_lap(c1), lap);
	unsigned st = ctl_state(c1);
	if (d < 0 || (d == 0 && (st == ST_FREE || st == ST_WRITING)))
		return -EAGAIN;
	if (d == 1 && st == ST_FREE && (c1 & CTL_F_ABORTED)) {
		e->flags = PMQ_REPL_E_HOLE;
		return 0;
	}
	if (d != 0) {
		/* acknowledged (FREE at the next lap) or already reused, which needs that: no
		 * consumer needs it any more; a moved message's copy lives in the side area */
		e->flags = PMQ_REPL_E_HOLE | PMQ_REPL_E_ACKED;
		return 0;
	}
	/* READY, CLAIMED or MOVED at our lap: the bytes are the committed message and stay
	 * so until a producer claims the slot for the next lap, which R3 detects */
	uint32_t len = s->len;
	if (len > q->max_payload)
		len = q->max_payload;
	if (len > cap)
		return pmq_fail(-EMSGSIZE, "queue \"%s\": ticket %llu has %u bytes, buffer %zu", q->name,
				(unsigned long long)t, len, cap);
	e->origin = s->origin;
	e->ts_ns = s->ts_ns;
	e->len = len;
	e->deliveries = s->deliveries;
	e->epoch = s->epoch;
	uint64_t tk = s->ticket;
	if (len)
		memcpy(buf, slot_payload(s), len);
	/* RP3: acquire fence, then re-read the word: if no producer claimed the slot for a
	 * later lap, the bytes copied above were not being rewritten */
	atomic_thread_fence(memory_order_acquire);
	uint64_t c2 = atomic_load_explicit(&s->ctl, memory_order_relaxed);
	int32_t d2 = lap_diff(ctl_lap(c2), lap);
	if (!(d2 == 0 || (d2 == 1 && ctl_state(c2) == ST_FREE))) {
		memset(e, 0, sizeof(*e));
		e->ticket = t;
		e->flags = PMQ_REPL_E_HOLE | PMQ_REPL_E_ACKED; /* reused meanwhile: it was settled */
		return 0;
	}
	if (tk != t)
		return pmq_fail(-EPROTO, "queue \"%s\": slot of ticket %llu names ticket %llu", q->name,
				(unsigned long long)t, (unsigned long long)tk);
	return 0;
}

PMQ_EXPORT int pmq_repl_confirm(pmq_t *q, uint64_t ticket)
{
	int rc = repl_check(q);
	if (rc)
		return rc;
	struct pmq_header *h = q->hdr;
	/* relaxed: the CAS below decides */
	uint64_t cur = atomic_load_explicit(&h->replicated, memory_order_relaxed);
	while (cur < ticket) {
		/* RP4: seq_cst CAS: release for producers' and senders' acquire loads of
		 * `replicated`, and W2's half of the Dekker pair with a sleeping producer */
		if (atomic_compare_exchange_weak_explicit(&h->replicated, &cur, ticket, memory_order_seq_cst,
							  memory_order_relaxed)) {
			atomic_fetch_add_explicit(&h->repl_seq, 1, memory_order_seq_cst);
			futex_wake_all(&h->repl_seq); /* senders in repl_wait_confirmed register no flag */
			wait_wake_space(q);
			break;
		}
	}
	return 0;
}

PMQ_EXPORT int pmq_repl_floor(pmq_t *q, uint64_t *floor)
{
	int rc = repl_check(q);
	if (rc)
		return rc;
	struct pmq_header *h = q->hdr;
	/* relaxed: only replicators write ack_floor (CAS-max below); tail bounds the walk */
	uint64_t f = atomic_load_explicit(&h->ack_floor, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&h->tail, memory_order_relaxed);
	uint64_t start = f;
	if (tail > f + q->slot_count)
		f = tail - q->slot_count; /* older tickets have all been reused, hence settled */
	while (f < tail) {
		/* acquire: pairs with A1 (the ack's release): a settled ticket reads as such */
		uint64_t c = atomic_load_explicit(&main_slot(q, f & q->slot_mask)->ctl, memory_order_acquire);
		if (lap_diff(ctl_lap(c), rlap(q, f)) <= 0)
			break; /* not yet settled (or not yet written) */
		f++;
	}
	uint64_t cur = start;
	while (cur < f && !atomic_compare_exchange_weak_explicit(&h->ack_floor, &cur, f, memory_order_relaxed,
								 memory_order_relaxed))
		; /* relaxed: a figure for stat; the floor frame carries the value itself */
	*floor = f > cur ? f : cur;
	return 0;
}

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
	atomic_store_explicit(&h->dlq_count, dead, memory_order_relaxed);
	n += (int)ready;
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
	if (q->power)
		durable_persist_all(q);
	return 0;
}

/* ---- the side area ---------------------------------------------------------------
 * Primary: the replicator reads side entries (pmq_repl_side_read) whenever the change
 * counter side_seq moved, and ships each READY/DEAD entry (CLAIMED and MOVED ones as
 * READY: if this host dies they must be delivered again) and a free for each entry it
 * had shipped that no longer holds a message. Standby: the standby thread is the only
 * writer of a mirror's side area. */

static unsigned side_class(uint64_t c)
{
	switch (ctl_state(c)) {
	case ST_READY:
	case ST_MOVED:
		return PMQ_REPL_SIDE_READY;
	case ST_CLAIMED:
		return (c & CTL_F_DLQ) ? PMQ_REPL_SIDE_DEAD : PMQ_REPL_SIDE_READY;
	case ST_DEAD:
		return PMQ_REPL_SIDE_DEAD;
	default:
		return PMQ_REPL_SIDE_NONE;
	}
}

PMQ_EXPORT int pmq_repl_side_seq(pmq_t *q, uint64_t *seq)
{
	int rc = repl_check(q);
	if (rc)
		return rc;
	if (!seq)
		return pmq_fail(-EINVAL, "pmq_repl_side_seq: NULL output");
	/* acquire: pairs with the release RMWs of side_seq_bump: whatever side-area write
	 * preceded a bump we read (or any bump before it, a release sequence) is visible */
	*seq = atomic_load_explicit(&q->hdr->side_seq, memory_order_acquire);
	return 0;
}

PMQ_EXPORT int pmq_repl_settled(pmq_t *q, uint64_t ticket)
{
	int rc = repl_check(q);
	if (rc)
		return rc;
	/* acquire: pairs with the seq_cst CAS that freed the slot (A1, slot_free_moved), so
	 * the RP5 bump of side_seq sequenced before a moved source's free is visible to the
	 * caller's next pmq_repl_side_seq */
	uint64_t c = atomic_load_explicit(&main_slot(q, ticket & q->slot_mask)->ctl, memory_order_acquire);
	return lap_diff(ctl_lap(c), rlap(q, ticket)) > 0;
}

PMQ_EXPORT int pmq_repl_side_read(pmq_t *q, uint32_t index, struct pmq_repl_side *s, void *buf, size_t cap)
{
	int rc = repl_check(q);
	if (rc)
		return rc;
	if (!s || (!buf && cap))
		return pmq_fail(-EINVAL, "pmq_repl_side_read: NULL output");
	if (index >= q->side_count)
		return pmq_fail(-EINVAL, "queue \"%s\": side entry %u out of the side area (%u entries)", q->name, index,
				q->side_count);
	struct pmq_slot *e = side_slot(q, index);
	for (int tries = 0; tries < 16; tries++) {
		memset(s, 0, sizeof(*s));
		s->index = index;
		/* RP6: acquire; pairs with S2/S3 (publish, requeue in place, replay: seq_cst) so the
		 * header and payload written before the entry's word are visible */
		uint64_t c1 = atomic_load_explicit(&e->ctl, memory_order_acquire);
		unsigned cls = side_class(c1);
		unsigned st = ctl_state(c1);
		s->gen = ctl_lap(c1);
		s->state = cls;
		bool held = cls == PMQ_REPL_SIDE_READY && (st == ST_CLAIMED || st == ST_MOVED);
		if (held)
			s->flags |= PMQ_REPL_SIDE_HELD;
		if (cls == PMQ_REPL_SIDE_NONE || !buf)
			return (int)cls;
		uint32_t len = e->len;
		if (len > q->max_payload)
			len = q->max_payload; /* clamp: shared memory */
		if (len > cap)
			return pmq_fail(-EMSGSIZE, "queue \"%s\": side entry %u has %u bytes, buffer %zu", q->name, index,
					len, cap);
		s->ticket = e->ticket;
		s->origin = e->origin;
		s->ts_ns = e->ts_ns;
		s->len = len;
		s->deliveries = e->deliveries + (held ? 1u : 0u);
		s->replay_base = e->replay_base;
		s->epoch = e->epoch;
		s->reason = cls == PMQ_REPL_SIDE_DEAD ? e->reason : DR_NONE;
		if (e->hflags & SLOT_HF_REPLAYED)
			s->flags |= PMQ_REPL_SIDE_REPLAYED;
		if (len)
			memcpy(buf, slot_payload(e), len);
		/* RP7: acquire fence, then re-read the word. A side entry's payload is written only
		 * while it is WRITING, which takes a free first, and every free raises the
		 * generation: the same generation, still holding a message, means the bytes
		 * copied above are the published ones. (Header counters rewritten in place by a
		 * requeue or replay may be seen half-new; the new generation is shipped next.) */
		atomic_thread_fence(memory_order_acquire);
		uint64_t c2 = atomic_load_explicit(&e->ctl, memory_order_relaxed);
		if (ctl_lap(c2) == ctl_lap(c1) && side_class(c2) != PMQ_REPL_SIDE_NONE)
			return (int)cls;
	}
	return -EAGAIN;
}

PMQ_EXPORT int pmq_repl_side_apply(pmq_t *q, const struct pmq_repl_side *s, const void *payload)
{
	int rc = repl_check(q);
	if (rc)
		return rc;
	if (!s || (s->len && !payload))
		return pmq_fail(-EINVAL, "pmq_repl_side_apply: NULL entry or payload");
	if (s->index >= q->side_count)
		return pmq_fail(-EINVAL, "queue \"%s\": side entry %u out of the side area (%u entries)", q->name,
				s->index, q->side_count);
	if (s->state != PMQ_REPL_SIDE_READY && s->state != PMQ_REPL_SIDE_DEAD)
		return pmq_fail(-EINVAL, "queue \"%s\": side entry %u: state %u is neither ready nor dead", q->name,
				s->index, s->state);
	if (s->len > q->max_payload)
		return pmq_fail(-EINVAL, "queue \"%s\": side entry %u of %u bytes exceeds max_payload %u", q->name,
				s->index, s->len, q->max_payload);
	struct pmq_slot *e = side_slot(q, s->index);
	/* WRITING while the bytes change (as pmq_repl_apply): relaxed store, then a release
	 * fence so that an observer that reads any of the new bytes also sees WRITING */
	atomic_store_explicit(&e->ctl, ctl_make(s->gen, ST_WRITING, PMQ_NO_OWNER, 0, 0), memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&e->src, 0, memory_order_relaxed); /* a mirror entry has no source */
	e->ticket = s->ticket;
	e->origin = s->origin;
	e->ts_ns = s->ts_ns;
	e->len = s->len;
	e->deliveries = s->deliveries;
	e->replay_base = s->replay_base > s->deliveries ? s->deliveries : s->replay_base;
	e->epoch = s->epoch;
	e->hflags = SLOT_HF_CRC | ((s->flags & PMQ_REPL_SIDE_REPLAYED) ? SLOT_HF_REPLAYED : 0);
	if (s->state == PMQ_REPL_SIDE_DEAD)
		e->reason = (uint16_t)(s->reason >= DR_MAX_DELIVERIES && s->reason <= DR_CORRUPT ? s->reason
											       : DR_REJECTED);
	else
		e->reason = DR_NONE;
	if (s->len)
		memcpy(slot_payload(e), payload, s->len);
	e->crc = slot_crc(e, slot_payload(e), s->len);
	durable_persist(q, &e->ticket, PMQ_SLOT_HDR_SIZE - sizeof(e->ctl) + s->len);
	unsigned st = s->state == PMQ_REPL_SIDE_DEAD ? ST_DEAD : ST_READY;
	/* release: pairs with any acquire of the entry's word (C3, R6): bytes before the state */
	atomic_store_explicit(&e->ctl, ctl_make(s->gen, st, PMQ_NO_OWNER, 0, 0), memory_order_release);
	durable_persist(q, &e->ctl, sizeof(e->ctl));
	return 0;
}

PMQ_EXPORT int pmq_repl_side_free(pmq_t *q, uint32_t index, uint32_t gen)
{
	int rc = repl_check(q);
	if (rc)
		return rc;
	if (index >= q->side_count)
		return pmq_fail(-EINVAL, "queue \"%s\": side entry %u out of the side area (%u entries)", q->name, index,
				q->side_count);
	struct pmq_slot *e = side_slot(q, index);
	/* relaxed: the standby thread is the only writer of a mirror's side area */
	uint64_t c = atomic_load_explicit(&e->ctl, memory_order_relaxed);
	unsigned st = ctl_state(c);
	if ((st == ST_READY || st == ST_DEAD) && lap_diff(ctl_lap(c), gen) >= 0)
		return 0; /* holds that generation or a newer one: not the message that was freed */
	atomic_store_explicit(&e->src, 0, memory_order_relaxed);
	/* release: an observer that sees the free word sees nothing more to read */
	atomic_store_explicit(&e->ctl, ctl_free(gen), memory_order_release);
	durable_persist(q, &e->ctl, sizeof(e->ctl));
	return 0;
}
