/*
 * repl_source.c - the library's side of replication, primary half (docs/failover.md):
 * what producers wait for, and (for pmqd's replicator) reading committed
 * entries in ticket order, confirming them, the ack floor, the replication
 * flags. The standby's half is repl_mirror.c, the side area's repl_side.c.
 *
 * The primary's replicator ships committed entries and stores the standby's
 * highest contiguous persisted ticket in `replicated`; producers gate slot
 * reuse on it (ring.c, repl_may_reuse) and PMQ_REPLICATED sends wait for it.
 */
#include <errno.h>

#include <sched.h>
#include <string.h>

#include "repl_internal.h"

/* a replicated sender spins (no system call) this long before it yields */
#define REPL_WAIT_SPIN_NS 5000ull

int repl_wait_confirmed(struct pmq *q, uint64_t ticket)
{
	struct pmq_header *h = q->hdr;
	uint64_t start = 0;
	PMQ_FAULT("repl.wait");
	for (;;) {
		/* acquire: taken before the checks, so a confirmation or a flag change after
		 * them changes the word the sleep below waits on */
		uint32_t seq = atomic_load_explicit(&h->repl_seq, memory_order_acquire);
		/* A confirmed message is replicated whatever happened since: the node fenced
		 * (a clean stop's handover fences, then waits for exactly this confirmation)
		 * or the link degraded. Looked at first, so the sender is told the truth.
		 * acquire: pairs with the replicator's release store of `replicated` */
		if (atomic_load_explicit(&h->replicated, memory_order_acquire) > ticket)
			return 0;
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
		uint64_t now = now_mono_ns();
		if (!start)
			start = now;
		/* The confirmation is a network round trip away (tens of microseconds). Spin
		 * briefly, then yield the CPU while looking (a sender spinning on the CPU that the
		 * replicator or, on one host, the standby needs would delay its own confirmation;
		 * a futex sleep adds a wake-up to every send), then sleep. spin_ns = 0 sleeps at
		 * once. This is the replication wait, not the spinning data path: the message
		 * went to the network, so a system call here costs nothing the wire does not. */
		uint64_t waited = now - start;
		if (waited < (q->spin_ns < REPL_WAIT_SPIN_NS ? q->spin_ns : REPL_WAIT_SPIN_NS))
			cpu_relax();
		else if (waited < 2 * q->spin_ns)
			sched_yield();
		else
			futex_sleep(&h->repl_seq, seq, 1000000ull); /* woken by pmq_repl_confirm */
	}
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
