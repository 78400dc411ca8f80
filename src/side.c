/*
 * side.c - the side area: redeliveries and dead letters (docs/format.md).
 *
 *   FREE(g) --reserve--> WRITING(g,a) --publish--> READY(g) | DEAD(g)
 *   READY(g) --claim--> CLAIMED(g,c) --ack--> FREE(g+1)
 *   CLAIMED(g,c) --nack / c dead--> READY(g+1) | DEAD(g+1)    (in place)
 *   CLAIMED(g,c) --lease, c alive--> MOVED(g,c,e')             (a copy)
 *   DEAD(g) --replay--> READY(g+1);  DEAD(g) --dlq claim--> CLAIMED(g,c,DLQ)
 *
 * A move (main or side source) reserves its entry first, so it never starts
 * without room, then copies, then marks the source MOVED naming the copy,
 * then publishes the copy. The mark is the commit point: a crash before it
 * leaves the source CLAIMED, a crash after it leaves a WRITING copy that
 * anyone freeing the source (or recovering the actor) publishes.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

/* The CRC a header gets when its bytes were verified (or carry no CRC to verify),
 * and one that can never match when they failed: a corrupt message stays known
 * corrupt through every later move, requeue and rebuild. */
static uint32_t seal_crc(const struct pmq_slot *s, uint32_t len, bool corrupt)
{
	uint32_t crc = slot_crc(s, slot_payload((struct pmq_slot *)s), len);
	return corrupt ? ~crc : crc;
}

void held_uncounted(struct pmq *q)
{
	/* relaxed: in_flight is written only by its owner */
	atomic_store_explicit(&q->me->in_flight, atomic_load_explicit(&q->me->in_flight, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* Where the next claim looks first (side_scan_claim): the entry just made READY. H3:
 * relaxed: a hint only; the entry's own word (acquire) decides, and its seq_cst
 * publish comes right before this store on the hint's line the publisher wrote anyway */
static void side_note_ready(struct pmq *q, uint32_t idx)
{
	atomic_store_explicit(&q->hdr->side_last, idx + 1, memory_order_relaxed);
}

int side_reserve(struct pmq *q, unsigned actor, uint32_t *out_idx, uint64_t *out_ctl)
{
	uint32_t n = q->side_count;
	uint32_t start = q->side_scan;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t idx = (start + i) % n;
		struct pmq_slot *e = side_slot(q, idx);
		/* acquire: pairs with the release that freed it (its last reader is done) */
		uint64_t c = atomic_load_explicit(&e->ctl, memory_order_acquire);
		if (ctl_state(c) != ST_FREE)
			continue;
		uint64_t wr = ctl_make(ctl_lap(c), ST_WRITING, actor, 0, 0);
		if (actor == q->index)
			held_record(q, 1, idx, ctl_lap(c)); /* before the reservation names us */
		/* S1: the reservation names the actor, so recovery can settle it */
		if (atomic_compare_exchange_strong_explicit(&e->ctl, &c, wr, memory_order_acquire,
							    memory_order_relaxed)) {
			/* no dead-letter credit is held for this entry until its actor takes one
			 * and records it here (recovery gives it back if the move is aborted) */
			e->reason = DR_NONE;
			/* D4: the reservation is on the media before we write into the entry */
			durable_persist(q, &e->ctl, sizeof(e->ctl));
			*out_idx = idx;
			*out_ctl = wr;
			return 0;
		}
	}
	return -ENOSPC;
}

/* WRITING(g,a) -> FREE(g+1), source cleared first (a stale MOVED mark never matches). */
int side_unreserve(struct pmq *q, uint32_t idx, uint64_t wr)
{
	struct pmq_slot *e = side_slot(q, idx);
	/* A recoverer may call this with a word it loaded a while ago: the entry can have been
	 * published, freed and reserved again by a live actor since. Load src first, then
	 * check the word is still `wr`, then clear src only if it is unchanged: a new owner's
	 * src never equals ours (found by the spin model, tests/model, bug A). */
	uint64_t v = atomic_load_explicit(&e->src, memory_order_relaxed);
	if (atomic_load_explicit(&e->ctl, memory_order_acquire) != wr)
		return -ESTALE;
	atomic_compare_exchange_strong_explicit(&e->src, &v, 0, memory_order_relaxed, memory_order_relaxed);
	uint64_t freed = ctl_free(ctl_lap(wr) + 1);
	/* release: the cleared source is visible before the entry can be reserved again */
	if (!atomic_compare_exchange_strong_explicit(&e->ctl, &wr, freed, memory_order_release, memory_order_relaxed))
		return -ESTALE;
	durable_persist(q, &e->ctl, sizeof(e->ctl));
	return 0;
}

/* WRITING(g,a) -> READY(g) or DEAD(g) as decided in e->reason. Anyone may do it (helping rule). */
int side_publish(struct pmq *q, uint32_t idx, uint64_t wr)
{
	struct pmq_slot *e = side_slot(q, idx);
	unsigned st = e->reason != DR_NONE ? ST_DEAD : ST_READY;
	uint64_t pub = ctl_make(ctl_lap(wr), st, PMQ_NO_OWNER, 0, 0);
	/* S2: seq_cst: release of the copy (a consumer's acquire in side_try_claim sees it) and
	 * W2's half for waiting consumers */
	if (!atomic_compare_exchange_strong_explicit(&e->ctl, &wr, pub, memory_order_seq_cst, memory_order_relaxed)) {
		/* D6 (helped): someone published first and may not have persisted it yet; our
		 * caller may free the source next, so the copy's word goes to the media first */
		durable_persist(q, &e->ctl, sizeof(e->ctl));
		return -ESTALE;
	}
	PMQ_FAULT("publish.after_cas");
	if (st == ST_READY)
		side_note_ready(q, idx);
	/* D6: published state on the media before the source is freed */
	durable_persist(q, &e->ctl, sizeof(e->ctl));
	side_seq_bump(q); /* after the publish: a replicator that acquires the new value sees it */
	wait_wake_data(q);
	return 0;
}

int side_help_publish(struct pmq *q, uint32_t e, int src_side, uint32_t src_idx, uint32_t src_lap, unsigned tag)
{
	if (e >= q->side_count)
		return -EINVAL; /* bounds: the index came from shared memory */
	struct pmq_slot *d = side_slot(q, e);
	/* acquire: pairs with the actor's S1 and its writes of src and the copy */
	uint64_t c = atomic_load_explicit(&d->ctl, memory_order_acquire);
	if (ctl_state(c) != ST_WRITING ||
	    atomic_load_explicit(&d->src, memory_order_relaxed) !=
		    src_make_tagged(src_side, src_idx, src_lap, src_side ? 0 : tag)) {
		/* D6 (seen): the copy is published (or already consumed and the entry reused);
		 * whoever published it may not have persisted it yet, and our caller frees the
		 * source next: the word that says so reaches the media first (a rare path) */
		durable_persist(q, &d->ctl, sizeof(d->ctl));
		return 0;
	}
	return side_publish(q, e, c);
}

/* Free a side entry whose word is `expect` (CLAIMED, MOVED or DEAD). */
int side_free(struct pmq *q, struct pmq_slot *s, uint64_t expect, uint32_t gen)
{
	/* Clear the source first, but only while the entry is still `expect`: the CAS on src
	 * fails if the entry was freed and reserved again meanwhile (its src then differs). */
	uint64_t v = atomic_load_explicit(&s->src, memory_order_relaxed);
	if (atomic_load_explicit(&s->ctl, memory_order_acquire) != expect)
		return -ESTALE;
	atomic_compare_exchange_strong_explicit(&s->src, &v, 0, memory_order_relaxed, memory_order_relaxed);
	uint64_t freed = ctl_free(gen + 1);
	/* A3: release (seq_cst for uniformity with A1): the holder's reads are done before reuse */
	if (!atomic_compare_exchange_strong_explicit(&s->ctl, &expect, freed, memory_order_seq_cst,
						     memory_order_relaxed))
		return -ESTALE;
	durable_persist(q, &s->ctl, sizeof(s->ctl));
	side_seq_bump(q); /* the standby frees its copy at the replicator's next scan */
	return 0;
}

/* MOVED(L,c,e) -> FREE(L+1), after publishing e if its actor did not get to it. */
int slot_free_moved(struct pmq *q, struct pmq_slot *s, int is_side, uint32_t idx, uint64_t moved, unsigned tag)
{
	side_help_publish(q, ctl_side(moved), is_side, idx, ctl_lap(moved), tag);
	/* RP5: after the copy is published (by us, or seen published through the acquire in
	 * side_help_publish) and before the source is freed: a replicator that acquires the
	 * freed source word also sees this bump, so it rescans the side area (and finds the
	 * copy) before it tells the standby to drop the source (docs/failover.md) */
	side_seq_bump(q);
	PMQ_FAULT("move.before_free");
	if (is_side) {
		/* a moved redelivery whose reason is set holds a credit (its requeue died after
		 * recording it): give it back first, and take back only what we gave if the free
		 * loses (one process frees a MOVED word: its live holder, or the recoverer that
		 * holds its token) */
		bool gave = READ_ONCE(s->reason) != DR_NONE && dlq_credit_give(q);
		int rc = side_free(q, s, moved, ctl_lap(moved));
		if (rc && gave)
			atomic_fetch_add_explicit(&q->hdr->dlq_count, 1, memory_order_relaxed);
		return rc;
	}
	uint64_t freed = ctl_free(ctl_lap(moved) + 1);
	_Atomic uint64_t *w = main_word(q, tag, idx); /* groups: the holder's lane settles */
	/* A1 as in pmq_ack */
	if (!atomic_compare_exchange_strong_explicit(w, &moved, freed, memory_order_seq_cst, memory_order_relaxed))
		return -ESTALE;
	durable_persist(q, w, sizeof(*w));
	wait_wake_space(q);
	return 0;
}

/* Give a dead-letter credit back. Saturating at 0: a credit recorded by an entry but
 * never taken (its process died between the two) may come back, and the count must not
 * wrap (it would refuse every dead letter). relaxed: a counter, the entry words carry
 * the data; the loop ends when our CAS wins, and each loss means another give or take
 * went through. */
bool dlq_credit_give(struct pmq *q)
{
	uint64_t n = atomic_load_explicit(&q->hdr->dlq_count, memory_order_relaxed);
	while (n && !atomic_compare_exchange_weak_explicit(&q->hdr->dlq_count, &n, n - 1, memory_order_relaxed,
							   memory_order_relaxed))
		;
	return n != 0; /* a caller that undoes its give takes back only what it gave */
}

/* Take a dead-letter credit; -EDQUOT when none is left (the message then stays put). */
static int dlq_credit_take(struct pmq *q)
{
	struct pmq_header *h = q->hdr;
	/* relaxed: a counter; the entry words carry the data */
	uint32_t cap = READ_ONCE(h->dlq_capacity); /* once: the check and the message agree */
	uint64_t n = atomic_fetch_add_explicit(&h->dlq_count, 1, memory_order_relaxed);
	if (n >= cap) {
		dlq_credit_give(q);
		return pmq_fail(-EDQUOT, "queue \"%s\": dead-letter capacity %u exhausted; message kept where it is",
				q->name, cap);
	}
	return 0;
}

static uint32_t decide_reason(const struct pmq *q, uint32_t deliveries, uint32_t replay_base, uint32_t force)
{
	if (force)
		return force;
	return deliveries - replay_base >= q->max_deliveries ? DR_MAX_DELIVERIES : DR_NONE;
}

int side_move(struct pmq *q, const struct move_req *m)
{
	struct pmq_header *h = q->hdr;
	uint32_t e;
	uint64_t wr;
	if (side_reserve(q, m->actor, &e, &wr))
		return pmq_fail(-ENOSPC, "queue \"%s\": side area full (%u entries); message stays held", q->name,
				q->side_count);
	struct pmq_slot *d = side_slot(q, e);
	struct pmq_slot *src = m->src;
	/* the source's word: its own, or (groups) the lane of the holder's group */
	_Atomic uint64_t *sw = m->src_is_side ? &src->ctl : main_word(q, m->src_tag, m->src_idx);
	/* acquire: pairs with the claim/publish of the source; re-check it is still the one */
	if (atomic_load_explicit(sw, memory_order_acquire) != m->src_ctl) {
		side_unreserve(q, e, wr);
		return -ESTALE;
	}
	/* relaxed: published by the mark (release) and S2 */
	atomic_store_explicit(&d->src, src_make_tagged(m->src_is_side, m->src_idx, ctl_lap(m->src_ctl),
						       m->src_is_side ? 0 : m->src_tag),
			      memory_order_relaxed);
	/* the source's header read once: everything below uses the copy (shared memory) */
	struct pmq_slot sh;
	uint32_t len = slot_snapshot(q, src, &sh);
	memcpy(slot_payload(d), slot_payload(src), len);
	/* power mode: verify the bytes we copied before a new CRC seals them */
	bool corrupt = q->power && !slot_sealed(q, &sh, slot_payload(d), len);
	uint32_t deliveries = sh.deliveries + m->add_deliveries;
	d->ticket = sh.ticket;
	d->origin = sh.origin;
	d->ts_ns = sh.ts_ns;
	d->len = len;
	d->deliveries = deliveries;
	d->replay_base = sh.replay_base;
	d->epoch = sh.epoch;
	/* the copy belongs to the holder's group: a main source's tag comes with the move,
	 * a side source keeps its own */
	d->hflags = m->src_is_side ? (uint16_t)(sh.hflags & (SLOT_HF_REPLAYED | SLOT_HF_GROUP_MASK))
				   : hf_with_group(sh.hflags & SLOT_HF_REPLAYED, m->src_tag);
	unsigned tag = hf_group(d->hflags);
	uint32_t reason = decide_reason(q, deliveries, sh.replay_base, corrupt ? DR_CORRUPT : m->force_reason);
	if (reason != DR_NONE) {
		/* record the credit in the entry before taking it: reason != 0 on a WRITING entry
		 * means "credit held", so a crash between the two costs at worst one credit
		 * given back that was never taken (the next exclusive open recounts), never a
		 * leak nor a second credit */
		d->reason = reason;
		int rc = dlq_credit_take(q);
		if (rc) {
			d->reason = DR_NONE;
			side_unreserve(q, e, wr);
			return rc;
		}
		PMQ_FAULT("move.after_credit");
	} else {
		/* the hint goes up before the mark; relaxed: it only decides whether to scan,
		 * and the publish (S2, seq_cst) orders it before any claim's decrement */
		side_hint_up(q, tag);
	}
	if (q->power) {
		d->hflags |= SLOT_HF_CRC; /* before the CRC: it covers the flags */
		d->crc = seal_crc(d, len, corrupt);
	}
	/* D5: the copy is on the media before the mark */
	durable_persist(q, &d->ticket, PMQ_SLOT_HDR_SIZE - sizeof(d->ctl) + len);
	PMQ_FAULT("move.after_copy");
	uint64_t mark = ctl_make(ctl_lap(m->src_ctl), ST_MOVED, ctl_owner(m->src_ctl), e, 0);
	uint64_t expect = m->src_ctl;
	/* M1: acq_rel: the mark names the copy; release publishes src/copy to helpers */
	if (!atomic_compare_exchange_strong_explicit(sw, &expect, mark, memory_order_acq_rel,
						     memory_order_relaxed)) {
		if (reason != DR_NONE) {
			/* give the credit back, then un-record it: a crash between leaves one given
			 * back twice at worst (count low), never a leak */
			dlq_credit_give(q);
			d->reason = DR_NONE;
		} else {
			side_hint_down(q, tag);
		}
		side_unreserve(q, e, wr);
		return -ESTALE;
	}
	durable_persist(q, sw, sizeof(*sw)); /* D5': the mark */
	PMQ_FAULT("move.after_mark");
	side_publish(q, e, wr);
	/* statistics only: relaxed */
	atomic_fetch_add_explicit(reason != DR_NONE ? &h->dead_lettered : &h->redelivered, 1, memory_order_relaxed);
	group_count_move(q, tag, reason != DR_NONE);
	PMQ_FAULT("move.after_publish");
	if (m->free_source)
		slot_free_moved(q, src, m->src_is_side, m->src_idx, mark, m->src_tag);
	return 0;
}

int side_requeue_in_place(struct pmq *q, uint32_t idx, uint64_t claimed, uint32_t add, uint32_t force)
{
	struct pmq_header *h = q->hdr;
	struct pmq_slot *e = side_slot(q, idx);
	if (atomic_load_explicit(&e->ctl, memory_order_acquire) != claimed)
		return -ESTALE;
	/* the header read once (shared memory); plain stores below: the entry is CLAIMED
	 * by us (or by the dead holder we recover) */
	struct pmq_slot sh;
	uint32_t len = slot_snapshot(q, e, &sh);
	bool corrupt = !slot_sealed(q, &sh, slot_payload(e), len); /* never reseal unverified bytes */
	uint32_t deliveries = sh.deliveries + add;
	uint32_t reason = decide_reason(q, deliveries, sh.replay_base, corrupt ? DR_CORRUPT : force);
	/* a claimed redelivery carries DR_NONE; anything else was recorded by an earlier
	 * attempt that died after "record" (and maybe after "take"): the credit is held */
	bool held = sh.reason != DR_NONE, gave = false;
	if (reason != DR_NONE && !held) {
		e->reason = reason; /* record the credit before taking it (as in side_move) */
		int rc = dlq_credit_take(q);
		if (rc) {
			e->reason = DR_NONE;
			return rc;
		}
		PMQ_FAULT("requeue.after_credit");
	} else if (reason == DR_NONE) {
		if (held) {
			/* give back, then un-record: a crash between costs a count one low, no leak */
			gave = dlq_credit_give(q);
			e->reason = DR_NONE;
		}
		side_hint_up(q, hf_group(sh.hflags)); /* before the CAS, as in a move */
	} else {
		e->reason = reason; /* the credit recorded earlier is ours */
	}
	e->deliveries = deliveries;
	if (sh.hflags & SLOT_HF_CRC)
		e->crc = seal_crc(e, len, corrupt);
	durable_persist(q, &e->ticket, PMQ_SLOT_HDR_SIZE - sizeof(e->ctl));
	uint64_t next = ctl_make(ctl_lap(claimed) + 1, reason != DR_NONE ? ST_DEAD : ST_READY, PMQ_NO_OWNER, 0, 0);
	uint64_t expect = claimed;
	/* S3: seq_cst: release of the new header fields, W2's half for waiters */
	if (!atomic_compare_exchange_strong_explicit(&e->ctl, &expect, next, memory_order_seq_cst,
						     memory_order_relaxed)) {
		/* moved away under us (a lease): undo, credit and hint as they were */
		e->deliveries = sh.deliveries;
		if (reason != DR_NONE && !held)
			dlq_credit_give(q);
		else if (gave)
			atomic_fetch_add_explicit(&h->dlq_count, 1, memory_order_relaxed);
		if (reason == DR_NONE)
			side_hint_down(q, hf_group(sh.hflags));
		e->reason = sh.reason;
		if (sh.hflags & SLOT_HF_CRC)
			e->crc = sh.crc;
		return -ESTALE;
	}
	durable_persist(q, &e->ctl, sizeof(e->ctl));
	if (reason == DR_NONE)
		side_note_ready(q, idx);
	atomic_fetch_add_explicit(reason != DR_NONE ? &h->dead_lettered : &h->redelivered, 1, memory_order_relaxed);
	group_count_move(q, hf_group(sh.hflags), reason != DR_NONE);
	side_seq_bump(q);
	wait_wake_data(q);
	return 0;
}

/* A dead letter taken by a .dlq consumer goes back to the dead letters (its credit is kept). */
int side_return_dead(struct pmq *q, uint32_t idx, uint64_t claimed)
{
	struct pmq_slot *e = side_slot(q, idx);
	uint64_t next = ctl_make(ctl_lap(claimed) + 1, ST_DEAD, PMQ_NO_OWNER, 0, 0);
	/* seq_cst as S3 */
	if (!atomic_compare_exchange_strong_explicit(&e->ctl, &claimed, next, memory_order_seq_cst,
						     memory_order_relaxed))
		return -ESTALE;
	durable_persist(q, &e->ctl, sizeof(e->ctl));
	side_seq_bump(q);
	wait_wake_data(q);
	return 0;
}

/* One scan from the rotating start: claim the first entry in state `want`. When at most
 * one redelivery is READY (the hint never counts fewer than there are), it is looked for
 * first where it was last made READY: one line instead of a walk over a side area of
 * thousands of cold entries (the crash -> redelivered path); with more READY the
 * rotating scan alone decides, so none starves. */
static int side_scan_claim(struct pmq *q, struct pmq_msg *msg, bool dead_letters)
{
	uint32_t n = q->side_count;
	unsigned want = dead_letters ? ST_DEAD : ST_READY;
	uint32_t start = q->side_scan;
	/* H3: relaxed, read once and bounded (shared memory): only where to look */
	uint32_t last = dead_letters || atomic_load_explicit(&q->hdr->side_hint, memory_order_relaxed) > 1
				? 0
				: atomic_load_explicit(&q->hdr->side_last, memory_order_relaxed);
	uint32_t extra = last != 0 && last <= n ? 1 : 0;
	for (uint32_t i = 0; i < n + extra; i++) {
		uint32_t idx = i < extra ? last - 1 : (start + i - extra) % n;
		struct pmq_slot *e = side_slot(q, idx);
		/* C3: acquire; pairs with S2/S3: the copy's header and payload are visible */
		uint64_t c = atomic_load_explicit(&e->ctl, memory_order_acquire);
		if (ctl_state(c) != want)
			continue;
		/* groups: only our group's entries (the tag was written before the publish that C3
		 * acquired; a plain queue's are all 0, as is our group there) */
		if (hf_group(READ_ONCE(e->hflags)) != q->group)
			continue;
		uint64_t claimed = ctl_make(ctl_lap(c), ST_CLAIMED, q->index, 0, dead_letters ? CTL_F_DLQ : 0);
		held_record(q, 1, idx, ctl_lap(c)); /* before the claim names us */
		if (!atomic_compare_exchange_strong_explicit(&e->ctl, &c, claimed, memory_order_acquire,
							     memory_order_relaxed))
			continue;
		if (!dead_letters)
			side_hint_down(q, q->group); /* after the claim */
		if (unlikely(q->power) && !dead_letters) {
			struct pmq_slot sh;
			uint32_t len = slot_snapshot(q, e, &sh);
			if (!slot_sealed(q, &sh, slot_payload(e), len)) {
				/* a corrupt redelivery: dead-letter it in place; without a credit we
				 * keep it, counted (close and recovery retry) */
				if (side_requeue_in_place(q, idx, claimed, 0, DR_CORRUPT) != 0)
					held_uncounted(q);
				continue;
			}
		}
		q->side_scan = idx + 1; /* rotate: no entry starves */
		q->side_skip_until = 0;
		q->side_seq_stale = 0;
		slot_fill_msg(q, msg, e, claimed, 1, idx);
		return 0;
	}
	return -EAGAIN;
}

int side_try_claim(struct pmq *q, struct pmq_msg *msg, bool dead_letters)
{
	uint64_t now = 0;
	if (!dead_letters && q->side_skip_until) {
		/* a fruitless scan happened lately: the hint may be too high after a crash, so
		 * rescan at most every 50 us (the next exclusive open recounts it) */
		now = now_mono_ns();
		if (now < q->side_skip_until)
			return -EAGAIN;
	}
	if (side_scan_claim(q, msg, dead_letters) == 0)
		return 0;
	/* Fruitless (the rare path, so the claim path reads no extra line): remember
	 * side_seq, then look once more. C3s, acquire: pairs with the bump (W3) after each
	 * publish, requeue or replay: an entry made claimable before the value we read is
	 * seen by the second scan, one made claimable later changes side_seq. Only an
	 * unchanged side_seq proves "nothing new" to ring_peek_data; the hint itself can
	 * come back to the value we saw (another consumer claims, then nacks). */
	uint64_t seq = atomic_load_explicit(&q->hdr->side_seq, memory_order_acquire);
	if (side_scan_claim(q, msg, dead_letters) == 0)
		return 0;
	if (!dead_letters)
		q->side_skip_until = (now ? now : now_mono_ns()) + 50000;
	q->side_seq_stale = seq + 1;
	return -EAGAIN;
}

/* ---- dead-letter operations --------------------------------------------------- */

PMQ_EXPORT int pmq_dlq_replay(pmq_t *q, unsigned max)
{
	int rc = handle_check(q); /* NULL, or inherited across fork */
	if (rc)
		return rc;
	unsigned done = 0;
	for (uint32_t idx = 0; idx < q->side_count && done < max; idx++) {
		struct pmq_slot *e = side_slot(q, idx);
		uint64_t c = atomic_load_explicit(&e->ctl, memory_order_acquire);
		if (ctl_state(c) != ST_DEAD)
			continue;
		/* groups: a group's handle acts on its own letters only (a handle of no group: all) */
		if (q->group && hf_group(READ_ONCE(e->hflags)) != q->group)
			continue;
		/* own the entry first (as a .dlq consumer does), then write it: stores into an
		 * entry nobody owns could land in a purged-and-reused copy (tests/model, bug C) */
		uint64_t held = ctl_make(ctl_lap(c), ST_CLAIMED, q->index, 0, CTL_F_DLQ);
		held_record(q, 1, idx, ctl_lap(c)); /* before the claim names us */
		if (!atomic_compare_exchange_strong_explicit(&e->ctl, &c, held, memory_order_acquire,
							     memory_order_relaxed))
			continue;
		struct pmq_slot sh;
		uint32_t len = slot_snapshot(q, e, &sh); /* read once: shared memory */
		if (!slot_sealed(q, &sh, slot_payload(e), len)) {
			side_return_dead(q, idx, held); /* corrupt: a replay would deliver it */
			continue;
		}
		/* the credit goes back first: a crash after it leaves the letter dead (recovery
		 * returns it) with the count one low until the next exclusive open, never a leak */
		dlq_credit_give(q);
		/* the replayed message gets a fresh delivery budget; its count keeps rising */
		e->replay_base = sh.deliveries;
		e->reason = DR_NONE;
		e->hflags = sh.hflags | SLOT_HF_REPLAYED;
		if (sh.hflags & SLOT_HF_CRC)
			e->crc = seal_crc(e, len, false);
		durable_persist(q, &e->ticket, PMQ_SLOT_HDR_SIZE - sizeof(e->ctl));
		side_hint_up(q, hf_group(sh.hflags)); /* before the publish */
		/* S3 as in a requeue: seq_cst release of the new fields, W2's half for waiters;
		 * nobody else moves a word that names us while we live */
		atomic_store_explicit(&e->ctl, ctl_make(ctl_lap(c) + 1, ST_READY, PMQ_NO_OWNER, 0, 0),
				      memory_order_seq_cst);
		durable_persist(q, &e->ctl, sizeof(e->ctl));
		side_note_ready(q, idx);
		side_seq_bump(q); /* a new READY entry: waiters and the replicator look again */
		done++;
	}
	if (done)
		wait_wake_data(q);
	return (int)done;
}

PMQ_EXPORT int pmq_dlq_purge(pmq_t *q, unsigned max)
{
	int rc = handle_check(q); /* NULL, or inherited across fork */
	if (rc)
		return rc;
	unsigned done = 0;
	for (uint32_t idx = 0; idx < q->side_count && done < max; idx++) {
		struct pmq_slot *e = side_slot(q, idx);
		uint64_t c = atomic_load_explicit(&e->ctl, memory_order_acquire);
		if (ctl_state(c) != ST_DEAD)
			continue;
		/* groups: a group's handle acts on its own letters only (a handle of no group: all) */
		if (q->group && hf_group(READ_ONCE(e->hflags)) != q->group)
			continue;
		/* own the entry first (as replay does): the credit goes back only for a letter
		 * we purge. A crash after the claim is recovered like a .dlq consumer's; one
		 * after the give-back leaves the count one low (the next exclusive open
		 * recounts), never a leak */
		uint64_t held = ctl_make(ctl_lap(c), ST_CLAIMED, q->index, 0, CTL_F_DLQ);
		held_record(q, 1, idx, ctl_lap(c)); /* before the claim names us */
		if (!atomic_compare_exchange_strong_explicit(&e->ctl, &c, held, memory_order_acquire,
							     memory_order_relaxed))
			continue;
		dlq_credit_give(q);
		if (side_free(q, e, held, ctl_lap(held)) == 0)
			done++;
	}
	return (int)done;
}

/* ---- groups ----------------------------------------------------------------------- */

void group_count_move(struct pmq *q, unsigned tag, bool dead)
{
	if (!tag || tag > q->max_groups)
		return;
	struct pmq_group_rec *r = group_rec(q, tag - 1);
	/* statistics only: relaxed */
	atomic_fetch_add_explicit(dead ? &r->dead_lettered : &r->redelivered, 1, memory_order_relaxed);
}

void side_free_group(struct pmq *q, unsigned tag)
{
	for (uint32_t i = 0; i < q->side_count; i++) {
		struct pmq_slot *e = side_slot(q, i);
		/* acquire: pairs with the publish: the tag read next is the entry's */
		uint64_t c = atomic_load_explicit(&e->ctl, memory_order_acquire);
		unsigned st = ctl_state(c);
		if ((st != ST_READY && st != ST_DEAD) || hf_group(READ_ONCE(e->hflags)) != tag)
			continue;
		if (side_free(q, e, c, ctl_lap(c)) != 0)
			continue; /* claimed meanwhile: its holder settles it */
		if (st == ST_READY)
			side_hint_down(q, tag); /* a hint */
		else
			dlq_credit_give(q);
	}
}

/* A single writer's copy into side entry e (a standby's mirror, or its promotion: nobody
 * else writes its side area): WRITING while the bytes change (relaxed store, then a
 * release fence, so an observer that reads any new byte also sees WRITING), the header
 * fields from hdr and len bytes of payload (bounded by the caller), the CRC, then `st` at
 * generation gen (release: pairs with any acquire of the entry's word, C3, R6). */
void side_write_single(struct pmq *q, struct pmq_slot *e, uint32_t gen, const struct pmq_slot *hdr,
		       const void *payload, uint32_t len, unsigned st)
{
	atomic_store_explicit(&e->ctl, ctl_make(gen, ST_WRITING, PMQ_NO_OWNER, 0, 0), memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&e->src, 0, memory_order_relaxed); /* a copy has no source */
	e->ticket = hdr->ticket;
	e->origin = hdr->origin;
	e->ts_ns = hdr->ts_ns;
	e->len = len;
	e->deliveries = hdr->deliveries;
	e->replay_base = hdr->replay_base;
	e->epoch = hdr->epoch;
	e->hflags = hdr->hflags;
	e->reason = hdr->reason;
	if (len)
		memcpy(slot_payload(e), payload, len);
	e->crc = slot_crc(e, slot_payload(e), len);
	durable_persist(q, &e->ticket, PMQ_SLOT_HDR_SIZE - sizeof(e->ctl) + len);
	atomic_store_explicit(&e->ctl, ctl_make(gen, st, PMQ_NO_OWNER, 0, 0), memory_order_release);
	durable_persist(q, &e->ctl, sizeof(e->ctl));
}

/* Each group's READY count (record line 3) from the side area itself: at an exclusive
 * open and at a standby's promotion, when nobody else writes it (relaxed stores). */
void side_recount_groups(struct pmq *q)
{
	for (uint32_t g = 0; g < q->max_groups; g++)
		atomic_store_explicit(&group_rec(q, g)->side_ready, 0, memory_order_relaxed);
	for (uint32_t i = 0; i < q->side_count; i++) {
		struct pmq_slot *e = side_slot(q, i);
		unsigned tag = hf_group(READ_ONCE(e->hflags)); /* read once, bounded below */
		if (ctl_state(atomic_load_explicit(&e->ctl, memory_order_relaxed)) == ST_READY && tag &&
		    tag <= q->max_groups)
			atomic_fetch_add_explicit(&group_rec(q, tag - 1)->side_ready, 1, memory_order_relaxed);
	}
}

void side_count_group(struct pmq *q, unsigned tag, uint64_t *ready, uint64_t *dead)
{
	*ready = *dead = 0;
	for (uint32_t i = 0; i < q->side_count; i++) {
		struct pmq_slot *e = side_slot(q, i);
		/* relaxed: a snapshot for humans */
		unsigned st = ctl_state(atomic_load_explicit(&e->ctl, memory_order_relaxed));
		if ((st == ST_READY || st == ST_DEAD) && hf_group(READ_ONCE(e->hflags)) == tag)
			*(st == ST_READY ? ready : dead) += 1;
	}
}
