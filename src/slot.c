/*
 * slot.c - operations on one slot that the ring, the side area and recovery share:
 * reading a header once (snapshot, seal check, the whole-file intact check and re-home),
 * aborting a WRITING main slot, and handing a claimed slot to the caller as a message.
 * The lowest file of the data path: it calls only wait.c (wakes), durable.c and
 * crc32c.c, never ring.c, side.c or recover.c. Memory-order labels are listed in docs/memory-ordering.md.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

uint32_t slot_snapshot(const struct pmq *q, const struct pmq_slot *s, struct pmq_slot *copy)
{
	/* plain fields only: ctl and src are atomics others change, and no CRC covers them */
	memcpy(&copy->ticket, &s->ticket, offsetof(struct pmq_slot, src) - offsetof(struct pmq_slot, ticket));
	memcpy(&copy->len, &s->len, sizeof(*s) - offsetof(struct pmq_slot, len));
	return copy->len > q->max_payload ? q->max_payload : copy->len;
}

bool slot_sealed(const struct pmq *q, const struct pmq_slot *copy, const uint8_t *payload, uint32_t len)
{
	if (!(copy->hflags & SLOT_HF_CRC))
		return true;
	return copy->len <= q->max_payload && slot_crc(copy, payload, len) == copy->crc;
}

/* Exclusive (whole-file recovery). The header is read once into *sh; *len gets its
 * length, bounded (shared memory: no second read may disagree with the check). */
bool slot_intact(const struct pmq *q, struct pmq_slot *s, struct pmq_slot *sh, uint32_t *len)
{
	*len = slot_snapshot(q, s, sh);
	return sh->len <= q->max_payload && slot_sealed(q, sh, slot_payload(s), *len);
}

/* Exclusive: an intact message kept in the ring gets the ticket `t` of its position (a
 * rebuild found it where no cursor can reach and no side room to save it). */
void slot_rehome(struct pmq *q, struct pmq_slot *s, uint64_t t)
{
	struct pmq_slot sh;
	uint32_t len = slot_snapshot(q, s, &sh);
	s->ticket = t; /* plain stores: exclusive, nobody else is attached */
	if (sh.hflags & SLOT_HF_CRC)
		s->crc = slot_crc(s, slot_payload(s), len); /* verified by the caller's slot_intact */
	atomic_store_explicit(&s->ctl, ctl_make((uint32_t)(t >> q->slot_shift), ST_READY, PMQ_NO_OWNER, 0, 0),
			      memory_order_relaxed);
}

/* WRITING(L,p), or a claimed-unpublished FREE(L) (format 2, claim.c) -> FREE(L+1, aborted):
 * consumers skip the ticket. One CAS: against a late publish exactly one wins. */
int slot_abort_writing(struct pmq *q, struct pmq_slot *s, uint64_t wr_ctl)
{
	return slot_abort_at(q, s, wr_ctl, ctl_lap(wr_ctl));
}

int slot_abort_at(struct pmq *q, struct pmq_slot *s, uint64_t wr_ctl, uint32_t lap)
{
	uint64_t freed = ctl_make(lap + 1, ST_FREE, PMQ_NO_OWNER, 0, CTL_F_ABORTED);
	/* A2: seq_cst: frees the slot for producers (release) and pairs with W2 for both waiters */
	if (!atomic_compare_exchange_strong_explicit(&s->ctl, &wr_ctl, freed, memory_order_seq_cst,
						     memory_order_relaxed))
		return -ESTALE;
	durable_persist(q, &s->ctl, sizeof(s->ctl));
	atomic_fetch_add_explicit(&q->hdr->aborted, 1, memory_order_relaxed); /* statistics only */
	wait_wake_data(q);
	wait_wake_space(q);
	return 0;
}

void slot_fill_msg(struct pmq *q, struct pmq_msg *msg, struct pmq_slot *s, uint64_t claimed, int side, uint32_t idx)
{
	uint32_t len = READ_ONCE(s->len); /* once: the bound below must hold for what we return */
	msg->data = slot_payload(s);
	msg->len = len > q->max_payload ? q->max_payload : len; /* clamp: never read past the slot */
	msg->delivery_count = READ_ONCE(s->deliveries) + 1;
	msg->ticket = READ_ONCE(s->origin);
	msg->epoch = READ_ONCE(s->epoch);
	msg->timestamp_ns = READ_ONCE(s->ts_ns);
	msg->cookie[0] = ((uint64_t)side << 63) | idx;
	msg->cookie[1] = claimed;
	/* relaxed: heartbeat and in_flight are written only by their owner */
	struct pmq_attach *me = q->me;
	atomic_store_explicit(&me->heartbeat, atomic_load_explicit(&me->heartbeat, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&me->in_flight, atomic_load_explicit(&me->in_flight, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&me->received, atomic_load_explicit(&me->received, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}
