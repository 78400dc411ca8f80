/*
 * repl_side.c - the library's side of replication for the side area
 * (redeliveries and dead letters): the primary's replicator reads entries and
 * the change counter, the standby writes and frees the mirrored entries at the
 * same index. Ring slots' settledness (pmq_repl_settled) is read here too,
 * since the replicator pairs it with the side counter.
 */
#include <errno.h>
#include <string.h>

#include "repl_internal.h"

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
		uint16_t hf = e->hflags; /* once; shared memory */
		if (hf & SLOT_HF_REPLAYED)
			s->flags |= PMQ_REPL_SIDE_REPLAYED;
		/* groups: the entry's group tag goes with it, so a redelivery stays in its group on
		 * the standby; a tag past the table is damage and would never be claimed: none */
		s->group = hf_group(hf) <= q->max_groups ? hf_group(hf) : 0;
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
	if (s->group > q->max_groups)
		return pmq_fail(-EINVAL, "queue \"%s\": side entry %u names group %u, the queue has %u", q->name,
				s->index, s->group, q->max_groups);
	bool dead = s->state == PMQ_REPL_SIDE_DEAD;
	struct pmq_slot hdr = {
		.ticket = s->ticket,
		.origin = s->origin,
		.ts_ns = s->ts_ns,
		.deliveries = s->deliveries,
		.replay_base = s->replay_base > s->deliveries ? s->deliveries : s->replay_base,
		.epoch = s->epoch,
		/* the group's consumers claim only entries with their tag */
		.hflags = hf_with_group(SLOT_HF_CRC | ((s->flags & PMQ_REPL_SIDE_REPLAYED) ? SLOT_HF_REPLAYED : 0),
					s->group),
		.reason = (uint16_t)(!dead ? DR_NONE
				     : s->reason >= DR_MAX_DELIVERIES && s->reason <= DR_CORRUPT ? s->reason
												  : DR_REJECTED),
	};
	side_write_single(q, side_slot(q, s->index), s->gen, &hdr, payload, s->len, dead ? ST_DEAD : ST_READY);
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
