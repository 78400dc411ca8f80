/*
 * claim.c - a producer's claim record and what recovery does with it (format 2,
 * docs/format.md "Claims").
 *
 * A producer claims ticket t without writing the slot: it stores t + 1 in its own
 * attachment's `claim` (its own line), then moves `tail` past t (a CAS; a single
 * producer stores it). The slot keeps reading FREE(L) until the producer's one
 * publish CAS FREE(L) -> READY(L). So "tail past t, slot t still FREE(L)" is a
 * claimed, unpublished ticket, and the claimant names it in its record.
 *
 * The record is written before the tail CAS, so a producer whose CAS lost names a
 * ticket it does not own until its next attempt rewrites the record. The owner of a
 * claimed-unpublished ticket always names it (it rewrites only after its publish or
 * abort), so: the ticket's owner is dead iff every attachment naming it is dead.
 * Recovery of a dead attachment whose record names such a ticket aborts it
 * (FREE(L) -> FREE(L+1)|ABORTED, the same CAS as pmq_abort: it and a late publish
 * have exactly one winner) unless another live attachment names it too; then it
 * reports the entry undecided and leaves it for a later pass (the live one either
 * publishes or moves on and rewrites its record). Proportional: one record, one
 * slot, one walk over the attachment table, never over the ring.
 */
#include <errno.h>

#include "internal.h"

/* Does attachment i (not `self`) name ticket rec - 1 and live? */
static bool other_live_claimant(struct pmq *q, uint32_t self, uint64_t rec)
{
	for (uint32_t i = 0; i < q->max_attach; i++) {
		if (i == self)
			continue;
		struct pmq_attach *a = &q->attach[i];
		/* relaxed: read once and compared; the tail acquire in the caller ordered the
		 * records written before every claim it covers */
		if (atomic_load_explicit(&a->claim, memory_order_relaxed) != rec)
			continue;
		/* acquire: pairs with the attach release (T1); an entry not ATTACHED holds no claim */
		if (at_state(atomic_load_explicit(&a->word, memory_order_acquire)) != AT_ATTACHED)
			continue;
		if (attach_probe_alive(q, i) != 0)
			return true; /* alive, or we cannot tell: never abort a ticket it may own */
	}
	return false;
}

int claim_settle(struct pmq *q, uint32_t idx, bool exclusive)
{
	struct pmq_attach *a = &q->attach[idx];
	/* relaxed: the dead owner's last store, read once (its process is gone: nothing newer comes) */
	uint64_t rec = atomic_load_explicit(&a->claim, memory_order_relaxed);
	if (rec == 0)
		return 0;
	uint64_t t = rec - 1;
	/* R5: acquire; pairs with the claimers' release on tail (P1): the records written
	 * before every claim up to the value read are visible to other_live_claimant */
	uint64_t tail = atomic_load_explicit(&q->hdr->tail, memory_order_acquire);
	int rc = 0;
	/* claimed (tail past t) and not settled a lap ago (tail within one lap of t) */
	if (t < tail && tail - t <= q->slot_count) {
		struct pmq_slot *s = main_slot(q, t & q->slot_mask);
		/* acquire: as P0; the word decides, the abort's CAS re-checks it */
		uint64_t unpublished = atomic_load_explicit(&s->ctl, memory_order_acquire);
		uint32_t lap = (uint32_t)(t >> q->slot_shift);
		/* groups: the word still shows the previous lap's READY, or our lossy mark
		 * (WRITING(L, idx): only idx writes its own mark) */
		bool open = q->max_groups ? lane_main_unpublished(unpublished, lap) &&
						    (ctl_state(unpublished) != ST_WRITING || ctl_owner(unpublished) == idx)
					  : ctl_free_at(unpublished, lap);
		if (open) {
			if (!exclusive && other_live_claimant(q, idx, rec))
				return -EAGAIN;
			PMQ_FAULT("recover.abort_claim");
			if (slot_abort_at(q, s, unpublished, lap) == 0)
				rc = 1;
		}
	}
	/* relaxed: the entry's release when it is freed (R2) publishes it */
	atomic_store_explicit(&a->claim, 0, memory_order_relaxed);
	return rc;
}

int claim_who(struct pmq *q, uint64_t t, uint32_t *out, uint32_t max)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < q->max_attach && n < max; i++)
		/* relaxed: a hint for the heal, which probes and then recovers under the token */
		if (atomic_load_explicit(&q->attach[i].claim, memory_order_relaxed) == t + 1)
			out[n++] = i;
	return (int)n;
}
