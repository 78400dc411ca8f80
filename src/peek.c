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
	uint64_t head = atomic_load_explicit(&q->hdr->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&q->hdr->tail, memory_order_relaxed);
	uint64_t span = tail > head ? tail - head : 0;
	if (span > q->slot_count)
		span = q->slot_count;
	uint64_t end = head + span;
	uint64_t t = *pos < head ? head : *pos;
	for (; t < end; t++) {
		uint64_t want = ((uint64_t)ST_READY << 32) | (uint32_t)(t >> q->slot_shift);
		rc = peek_slot(q, main_slot(q, t & q->slot_mask), state_mask | 0xffffffffull, want, buf, cap, info);
		if (rc >= 0) {
			*pos = t + 1;
			return rc;
		}
	}
	*pos = t;
	return -ENOENT;
}
