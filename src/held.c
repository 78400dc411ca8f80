/*
 * held.c - each attachment's claim records, so that recovering it visits what
 * it held instead of every slot of the queue (docs/format.md, "held area").
 *
 * Before any CAS or store that makes a control word name us (a consumer claim
 * of a main slot or side entry, a side reservation for a nack, lease or
 * recovery move, a dead-letter claim) we record (side, index, lap) in our
 * block. A record is reused only once the word it names no longer names us
 * with that lap: the ones still live stay. With none free the block says
 * HELD_OVERFLOW and recovery walks everything, as before.
 */
#include <string.h>

#include "internal.h"

void held_reset(struct pmq *q, uint32_t idx)
{
	struct pmq_held *b = held_block(q, idx);
	/* H0: relaxed: our token is held; a recoverer of this incarnation takes it only after
	 * we die (the kernel's lock hand-over orders these stores before its reads). A record
	 * left by an earlier incarnation is harmless anyway: its words were all settled
	 * before the entry was freed, and recovery checks every word it is pointed to. */
	atomic_store_explicit(&b->flags, 0, memory_order_relaxed);
	for (uint32_t k = 0; k < q->held_cap; k++)
		atomic_store_explicit(&b->ent[k], 0, memory_order_relaxed);
	memset(q->held_mine, 0, sizeof(q->held_mine));
	q->held_next = 0;
	q->held_overflow = false;
}

/* Does the word a record of ours names still name us with its lap? Our own copy of the
 * record is read (never the shared block). relaxed: a word names us only through our
 * own stores or a mover's MOVED mark (which keeps owner and lap), so no load can show
 * it free of us before it really is, and it never names us again under the same lap
 * without a new record of ours. */
static bool record_live(const struct pmq *q, uint64_t rec)
{
	uint32_t idx = (uint32_t)(rec >> 32) & 0x3fffffffu;
	_Atomic uint64_t *w = (rec & SRC_SIDE) ? &side_slot(q, idx)->ctl : main_word(q, q->group, idx);
	uint64_t c = atomic_load_explicit(w, memory_order_relaxed);
	return ctl_owner(c) == q->index && ctl_lap(c) == (uint32_t)rec;
}

void held_record(struct pmq *q, int side, uint32_t idx, uint32_t lap)
{
	uint32_t cap = q->held_cap;
	uint64_t rec = src_make(side, idx, lap);
	uint32_t k = q->held_next;
	for (uint32_t i = 0; i < cap; i++, k = k + 1 == cap ? 0 : k + 1) {
		uint64_t old = q->held_mine[k];
		if (old == rec)
			return; /* a failed claim retried on the same word: recorded already */
		if (old && record_live(q, old))
			continue;
		q->held_mine[k] = rec;
		/* H1: relaxed: read only by ourselves (close) or by a recoverer holding our token
		 * after our death, which the kernel's lock hand-over orders after this store */
		atomic_store_explicit(&held_block(q, q->index)->ent[k], rec, memory_order_relaxed);
		q->held_next = k + 1 == cap ? 0 : k + 1;
		/* H1': the record precedes the CAS in the instruction stream (a compiler
		 * barrier; a SIGKILL lands between instructions, and a dead process's
		 * earlier stores all reach memory) */
		atomic_signal_fence(memory_order_seq_cst);
		PMQ_FAULT("held.after_record");
		return;
	}
	if (!q->held_overflow) {
		q->held_overflow = true;
		/* H2: relaxed as H1; sticky until the entry is joined again */
		atomic_store_explicit(&held_block(q, q->index)->flags, HELD_OVERFLOW, memory_order_relaxed);
	}
	atomic_signal_fence(memory_order_seq_cst); /* H1' */
}
