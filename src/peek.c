/*
 * peek.c - non-destructive reads for operators (pmqctl peek, tail, dlq list).
 *
 * A seqlock-style read: load the control word, copy header and payload,
 * then load the word again; the copy counts only if the word did not change
 * (a producer writes into the slot only for the next lap, after the ack changed
 * the word to FREE(L+1), and a consumer's claim changes it too). Nothing here
 * writes shared memory.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

static int peek_slot(struct pmq *q, struct pmq_slot *s, uint64_t expect_state_lap_mask, uint64_t want, void *buf,
		     size_t cap, struct pmq_msg *info)
{
	/* acquire: pairs with the publish (P2/S2): the copy below sees what was published */
	uint64_t c = atomic_load_explicit(&s->ctl, memory_order_acquire);
	if ((c & expect_state_lap_mask) != want)
		return -EAGAIN;
	/* shared memory: read once into a local, clamp the local, use only the local */
	uint32_t len = s->len;
	if (len > q->max_payload)
		len = q->max_payload;
	struct pmq_msg m = {.len = len, .delivery_count = s->deliveries + 1, .ticket = s->origin, .epoch = s->epoch,
			    .timestamp_ns = s->ts_ns};
	if (buf && cap)
		memcpy(buf, slot_payload(s), cap < len ? cap : len);
	/* acquire fence: the copy's loads happen before the re-check (seqlock read side) */
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&s->ctl, memory_order_relaxed) != c)
		return -EAGAIN; /* changed under us: the copy may be torn */
	if (info) {
		m.data = NULL;
		*info = m;
	}
	return (int)len;
}

/* groups: the main head is unused; start at the oldest head of a reliable group, or at
 * the oldest ticket still in the ring when there is none. relaxed: hints, bounded below */
static uint64_t peek_groups_head(struct pmq *q, uint64_t tail)
{
	uint64_t lo = tail > q->slot_count ? tail - q->slot_count : 0, head = tail;
	uint32_t rel = (uint32_t)atomic_load_explicit(&q->hdr->group_masks, memory_order_relaxed);
	for (uint32_t g = 0; g < q->max_groups; g++) {
		if (!(rel & (1u << g)))
			continue;
		struct pmq_group_rec *r = group_rec(q, g);
		uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
		if (h < head)
			head = h;
	}
	if (!rel)
		head = lo; /* no reliable group: whatever the ring still holds (lossy marks guard it) */
	return head < lo ? lo : head;
}

/* After the copy (its acquire fence is behind us): is ticket t still unsettled by some
 * reliable group? A producer writes into the slot only after seeing every reliable lane
 * settled, and a settle is never undone: a lane still unsettled now was unsettled during
 * the whole copy, so no producer wrote meanwhile. Without reliable groups producers
 * mark the word WRITING before writing (docs/groups.md): the word check suffices. */
static bool peek_groups_pinned(struct pmq *q, uint64_t t)
{
	/* acquire: pairs with the mask RMW of a create or delete */
	uint32_t rel = (uint32_t)atomic_load_explicit(&q->hdr->group_masks, memory_order_acquire);
	if (!rel)
		return true;
	uint32_t lap = (uint32_t)(t >> q->slot_shift);
	for (uint32_t g = 0; g < q->max_groups; g++) {
		if (!(rel & (1u << g)))
			continue;
		/* relaxed after the caller's acquire fence: an unsettled value orders as above */
		uint64_t w = atomic_load_explicit(&group_lane(q, g)[t & q->slot_mask], memory_order_relaxed);
		if (lap_diff(ctl_lap(w), lap) <= 0)
			return true; /* FREE(L) not taken yet, or CLAIMED/MOVED(L): the group still needs it */
	}
	return false;
}

PMQ_EXPORT int pmq_peek(pmq_t *q, uint64_t *pos, void *buf, size_t cap, struct pmq_msg *info, unsigned flags)
{
	int rc = handle_check(q);
	if (rc)
		return rc;
	if (!pos)
		return pmq_fail(-EINVAL, "pmq_peek: NULL argument");
	if (flags & ~PMQ_PEEK_DLQ)
		return pmq_fail(-EINVAL, "pmq_peek: unknown flags 0x%x", flags);
	uint64_t state_mask = 7ull << 32;
	if (flags & PMQ_PEEK_DLQ) {
		for (uint64_t i = *pos; i < q->side_count; i++) {
			rc = peek_slot(q, side_slot(q, (uint32_t)i), state_mask, (uint64_t)ST_DEAD << 32, buf, cap, info);
			if (rc >= 0) {
				*pos = i + 1;
				return rc;
			}
		}
		*pos = q->side_count;
		return -ENOENT;
	}
	/* relaxed: cursors are hints; each slot word is checked. Each is read once, and the
	 * walk is bounded by the ring: no more than slot_count tickets can be committed, and
	 * a tail written huge (or a head past it) must not make us walk 2^64 tickets */
	uint64_t tail = atomic_load_explicit(&q->hdr->tail, memory_order_relaxed);
	uint64_t head = q->max_groups ? peek_groups_head(q, tail)
				      : atomic_load_explicit(&q->hdr->head, memory_order_relaxed);
	uint64_t span = tail > head ? tail - head : 0;
	if (span > q->slot_count)
		span = q->slot_count;
	uint64_t end = head + span;
	uint64_t t = *pos < head ? head : *pos;
	for (; t < end; t++) {
		uint64_t want = ((uint64_t)ST_READY << 32) | (uint32_t)(t >> q->slot_shift);
		rc = peek_slot(q, main_slot(q, t & q->slot_mask), state_mask | 0xffffffffull, want, buf, cap, info);
		if (rc >= 0 && q->max_groups && !peek_groups_pinned(q, t))
			rc = -EAGAIN; /* every reliable group settled it: consumed, and maybe overwritten */
		if (rc >= 0) {
			*pos = t + 1;
			return rc;
		}
	}
	*pos = t;
	return -ENOENT;
}
