/*
 * recover.c - crash recovery, the one implementation that pmq_open,
 * pmq_recover, consumers healing a dead producer, pmqd and pmqctl share.
 *
 * Per dead owner (any time): take its token (possible only if it is dead),
 * re-read its entry, settle every slot and side entry its word names, free
 * the entry, and only then drop the token. Cursors are never moved.
 *
 * Whole file (only under the exclusive presence lock, i.e. nobody attached):
 * after a reboot, or when a walk over every control word finds a state that
 * no crash can leave (a damaged file), also check every surviving message
 * (ticket, CRC), rebuild head, tail, the side hint and the dead-letter count,
 * turn every ticket in [head,tail) that no slot holds into an aborted one so
 * nobody waits on it forever, and reset every position holding garbage to
 * the free state of its next ticket. After a reboot every survivor counts as
 * delivered once more (acks are not persisted). A file with groups is judged and
 * rebuilt with its lanes and group table (group_repair.c).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define ANY_OWNER 0x100u

static bool owned_by(uint64_t c, unsigned owner)
{
	return owner == ANY_OWNER ? ctl_owner(c) != PMQ_NO_OWNER : ctl_owner(c) == owner;
}

static uint32_t crash_add(const struct pmq *q) { return (q->qflags & PMQ_F_CRASH_NOT_DELIVERY) ? 0 : 1; }

/* Is the source of side entry e exactly MOVED(lap, *, e)? */
static bool source_marked(struct pmq *q, uint32_t e, uint64_t src)
{
	/* groups: the source word names the group whose lane it was (never the entry's tag,
	 * which a dead actor may not have written yet: tests/model, bug E) */
	unsigned tag = src_tag(src, q->max_groups != 0);
	if (!(src & SRC_VALID))
		return false;
	uint32_t si = src_index(src, q->max_groups != 0);
	uint32_t lap = (uint32_t)src;
	struct pmq_slot *s;
	if (src & SRC_SIDE) {
		if (si >= q->side_count)
			return false; /* bounds: read from shared memory */
		s = side_slot(q, si);
	} else {
		if (si >= q->slot_count || tag > q->max_groups)
			return false;
		s = main_slot(q, si);
	}
	/* groups: a main source of a tagged copy is that group's lane word */
	_Atomic uint64_t *w = (src & SRC_SIDE) ? &s->ctl : main_word(q, tag, si);
	uint64_t c = atomic_load_explicit(w, memory_order_acquire);
	return ctl_state(c) == ST_MOVED && ctl_lap(c) == lap && ctl_side(c) == e;
}

/* What settling one word did (the tally of a pass). */
struct tally {
	int moved, stuck;
};

/* Settle main slot j if its word names `owner`. Returns true to look at it again: the
 * word changed under us (a lease move may have marked it and left it pinned for a holder
 * that is dead): settle what is there now (tests/model, bug B); each retry follows a
 * change, so it ends. */
static bool settle_main(struct pmq *q, unsigned owner, uint32_t j, struct tally *t, unsigned tag)
{
	struct pmq_slot *s = main_slot(q, j);
	_Atomic uint64_t *w = main_word(q, tag, j); /* groups: the group's lane word */
	/* R1: acquire; pairs with the owner's last release on this word */
	uint64_t c = atomic_load_explicit(w, memory_order_acquire);
	if (!owned_by(c, owner))
		return false;
	switch (ctl_state(c)) {
	case ST_WRITING:
		if (!tag)
			slot_abort_writing(q, s, c);
		break;
	case ST_CLAIMED: {
		struct move_req m = {.src = s, .src_tag = tag, .src_is_side = 0, .src_idx = j, .src_ctl = c,
				     .actor = q->index, .free_source = true, .add_deliveries = crash_add(q),
				     .force_reason = 0};
		PMQ_FAULT("recover.settle_move");
		int rc = side_move(q, &m);
		if (rc == 0)
			t->moved++;
		else if (rc == -ESTALE)
			return true;
		else
			t->stuck++;
		break;
	}
	case ST_MOVED:
		slot_free_moved(q, s, 0, j, c, tag);
		break;
	default:
		break;
	}
	return false;
}

/* Settle side entry e if its word names `owner`; true to look again (as settle_main). */
static bool settle_side(struct pmq *q, unsigned owner, uint32_t e, struct tally *t)
{
	struct pmq_slot *d = side_slot(q, e);
	uint64_t c = atomic_load_explicit(&d->ctl, memory_order_acquire); /* R1 */
	if (!owned_by(c, owner))
		return false;
	switch (ctl_state(c)) {
	case ST_WRITING:
		/* a dead actor's copy: publish it iff the mark happened, else abort it */
		if (source_marked(q, e, atomic_load_explicit(&d->src, memory_order_relaxed))) {
			side_publish(q, e, c);
		} else {
			/* the move never happened: give back the dead-letter credit it recorded
			 * (the reason is the dead actor's as long as the word is still c, which
			 * the unreserve's CAS proves; a lost CAS takes the credit again). Back
			 * before the unreserve: a crash between leaves the count one low, never
			 * a leak; relaxed: a counter */
			uint32_t reason = READ_ONCE(d->reason);
			/* acquire fence, then the word again: a reason read while the word was
			 * still c is the dead actor's (no one else writes a dead actor's entry;
			 * as the src check of side_unreserve) */
			atomic_thread_fence(memory_order_acquire);
			bool gave = reason != DR_NONE && atomic_load_explicit(&d->ctl, memory_order_relaxed) == c &&
				    dlq_credit_give(q);
			if (side_unreserve(q, e, c) != 0 && gave)
				atomic_fetch_add_explicit(&q->hdr->dlq_count, 1, memory_order_relaxed);
		}
		break;
	case ST_CLAIMED: {
		int rc = (c & CTL_F_DLQ) ? side_return_dead(q, e, c) : side_requeue_in_place(q, e, c, crash_add(q), DR_NONE);
		if (rc == 0)
			t->moved++;
		else if (rc == -ESTALE)
			return true; /* changed under us: settle what is there now (bug B, as above) */
		else
			t->stuck++;
		break;
	}
	case ST_MOVED:
		slot_free_moved(q, d, 1, e, c, 0);
		break;
	default:
		break;
	}
	return false;
}

/* Where a pass looks for `owner`'s words: everywhere, or only where its held block
 * points (a producer's claims are its attachment record: claim.c). The block and the role are read once; a record is bounded before
 * use and only decides where to look: the word itself decides what is settled. */
struct plan {
	bool full_main, full_side;
	unsigned tag;                     /* groups: the owner's group (its main records are lane words) */
	uint32_t n;                       /* records copied */
	uint64_t rec[PMQ_HELD_MAX];
};

static void plan_pass(struct pmq *q, unsigned owner, struct plan *p)
{
	p->full_main = p->full_side = true;
	p->n = 0;
	p->tag = 0;
	if (owner >= q->max_attach)
		return; /* ANY_OWNER: the whole-file pass */
	p->tag = group_tag_of(q, owner);
	struct pmq_held *b = held_block(q, owner);
	/* acquire: our own block, or a dead owner's read under its token (H1) */
	uint64_t w = atomic_load_explicit(&q->attach[owner].word, memory_order_acquire);
	uint64_t fl = atomic_load_explicit(&b->flags, memory_order_relaxed); /* H1 */
	if (fl & HELD_OVERFLOW)
		return;
	/* a producer's main-ring claim is its attachment record, not a word naming it
	 * (format 2, claim.c; recover_owner aborts it): only an entry of no known role
	 * is walked in full */
	p->full_main = at_role(w) == 0;
	p->full_side = false;
	for (uint32_t k = 0; k < q->held_cap; k++) {
		uint64_t v = atomic_load_explicit(&b->ent[k], memory_order_relaxed); /* H1: once */
		uint32_t idx = (uint32_t)(v >> 32) & 0x3fffffffu;
		if (!(v & SRC_VALID) || idx >= ((v & SRC_SIDE) ? q->side_count : q->slot_count))
			continue; /* empty, or out of bounds (shared memory) */
		p->rec[p->n++] = v;
	}
}

/* One pass over the main slots and side entries that may name `owner` (all of them, or
 * the recorded ones). Returns how many messages were requeued or dead-lettered, or
 * -ENOSPC if some had to stay. */
static int settle_pass(struct pmq *q, unsigned owner)
{
	static _Thread_local struct plan p; /* 8 KiB: off the stack */
	struct tally t = {0, 0};
	plan_pass(q, owner, &p);
	if (p.full_main) {
		for (uint32_t j = 0; j < q->slot_count; j++)
			while (settle_main(q, owner, j, &t, 0))
				;
		/* groups: every lane of every group (a full pass knows no records) */
		for (unsigned g = 1; g <= q->max_groups; g++)
			for (uint32_t j = 0; j < q->slot_count; j++)
				while (settle_main(q, owner, j, &t, g))
					;
	} else if (p.tag) {
		for (uint32_t k = 0; k < p.n; k++)
			if (!(p.rec[k] & SRC_SIDE))
				while (settle_main(q, owner, (uint32_t)(p.rec[k] >> 32) & 0x3fffffffu, &t, p.tag))
					;
	} else {
		for (uint32_t k = 0; k < p.n; k++)
			if (!(p.rec[k] & SRC_SIDE))
				while (settle_main(q, owner, (uint32_t)(p.rec[k] >> 32) & 0x3fffffffu, &t, 0))
					;
	}
	if (p.full_side) {
		for (uint32_t e = 0; e < q->side_count; e++)
			while (settle_side(q, owner, e, &t))
				;
	} else {
		for (uint32_t k = 0; k < p.n; k++)
			if (p.rec[k] & SRC_SIDE)
				while (settle_side(q, owner, (uint32_t)(p.rec[k] >> 32) & 0x3fffffffu, &t))
					;
	}
	return t.stuck ? -ENOSPC : t.moved;
}

#ifdef PMQ_FAULT_INJECTION
/* the states in which a word belongs to its owner (READY may carry a writer, FREE none) */
static bool names_owner(uint64_t c, unsigned owner)
{
	unsigned st = ctl_state(c);
	return ctl_owner(c) == owner && (st == ST_WRITING || st == ST_CLAIMED || st == ST_MOVED);
}

/* Test builds: after a settle that left nothing stuck, no word may still name `owner`:
 * the targeted pass must have found everything the full one would (the backstop for
 * every fault point and torture test). */
static void audit_owner(struct pmq *q, unsigned owner)
{
	if (!pmq_fault_audit_on())
		return;
	for (uint32_t j = 0; j < q->slot_count; j++) {
		uint64_t c = atomic_load_explicit(&main_slot(q, j)->ctl, memory_order_relaxed); /* test audit */
		if (names_owner(c, owner))
			pmq_fault_audit_failed("main slot", j, c, owner);
	}
	for (unsigned g = 1; g <= q->max_groups; g++)
		for (uint32_t j = 0; j < q->slot_count; j++) {
			uint64_t c = atomic_load_explicit(main_word(q, g, j), memory_order_relaxed); /* test audit */
			if (names_owner(c, owner))
				pmq_fault_audit_failed("group lane", j, c, owner);
		}
	for (uint32_t e = 0; e < q->side_count; e++) {
		uint64_t c = atomic_load_explicit(&side_slot(q, e)->ctl, memory_order_relaxed); /* test audit */
		if (names_owner(c, owner))
			pmq_fault_audit_failed("side entry", e, c, owner);
	}
}
#else
static void audit_owner(struct pmq *q, unsigned owner)
{
	(void)q;
	(void)owner;
}
#endif

/* Settle everything `owner` left. A pass that found no room or no dead-letter credit
 * is run once more: the first may have freed what was missing (the dead actor's own
 * reservation and the credit it recorded sit in the side area, settled after the ring). */
static int settle_owner(struct pmq *q, unsigned owner)
{
	int rc = settle_pass(q, owner);
	if (rc == -ENOSPC)
		rc = settle_pass(q, owner);
	if (rc >= 0 && owner < q->max_attach)
		audit_owner(q, owner);
	return rc;
}

int recover_owner(struct pmq *q, uint32_t idx)
{
	if (idx >= q->max_attach || idx == q->index)
		return 0;
	struct pmq_attach *a = &q->attach[idx];
	if (at_state(atomic_load_explicit(&a->word, memory_order_acquire)) != AT_ATTACHED)
		return 0;
	/* one system call on the handle's token description: it fails while the owner
	 * lives (no separate probe first: that was a second call for every death) */
	struct token_hold tok;
	if (attach_take_token(q, idx, &tok) != 0)
		return 0; /* alive (or we cannot tell): never rob a live owner */
	PMQ_FAULT("recover.holding_token");
	/* re-read under the token: it may have been recovered and freed meanwhile */
	uint64_t w = atomic_load_explicit(&a->word, memory_order_acquire);
	if (at_state(w) != AT_ATTACHED) {
		attach_drop_token(q, &tok);
		return 0;
	}
	int rc = settle_owner(q, idx);
	if (rc >= 0 && claim_settle(q, idx, false) == -EAGAIN) {
		/* the ticket its record names is named by a live producer too (which may own
		 * it): keep the entry for a later pass, which finds it published or decides */
		attach_drop_token(q, &tok);
		return 0;
	}
	if (rc >= 0) {
		/* a dead waiter's bits would make every waker enter the kernel: clear them;
		 * relaxed: a stale bit is harmless, a missing one impossible (owner is dead) */
		uint64_t bit = 1ull << (idx % 64);
		atomic_fetch_and_explicit(&q->hdr->data_waiters[idx / 64], ~bit, memory_order_relaxed);
		atomic_fetch_and_explicit(&q->hdr->space_waiters[idx / 64], ~bit, memory_order_relaxed);
		atomic_store_explicit(&a->in_flight, 0, memory_order_relaxed);
		/* R2: release: everything settled above is visible before the entry is reused */
		atomic_store_explicit(&a->word, at_make(AT_FREE, 0, at_inc(w)), memory_order_release);
		atomic_fetch_add_explicit(&q->hdr->recoveries, 1, memory_order_relaxed); /* statistics */
	}
	attach_drop_token(q, &tok); /* drops the token only now */
	return rc >= 0 ? 1 : rc;
}

int recover_dead_owners(struct pmq *q)
{
	int n = 0, err = 0;
	for (uint32_t i = 0; i < q->max_attach; i++) {
		int rc = recover_owner(q, i);
		if (rc > 0)
			n += rc;
		else if (rc < 0 && !err)
			err = rc;
	}
	return err && !n ? err : n;
}

PMQ_EXPORT int pmq_recover(pmq_t *q)
{
	if (!q)
		return pmq_fail(-EINVAL, "NULL queue handle");
	if (q->forked)
		return pmq_fail(-EBADFD, "queue \"%s\": handle inherited across fork", q->name);
	return recover_dead_owners(q);
}

/* ---- whole-file recovery ------------------------------------------------------ */

static void dead_letter_corrupt_main(struct pmq *q, struct pmq_slot *s, uint32_t j, uint64_t c)
{
	uint64_t claimed = ctl_make(ctl_lap(c), ST_CLAIMED, q->index, 0, 0);
	held_record(q, 0, j, ctl_lap(c)); /* before the claim names us */
	if (!atomic_compare_exchange_strong_explicit(&s->ctl, &c, claimed, memory_order_acquire, memory_order_relaxed))
		return;
	struct move_req m = {.src = s, .src_is_side = 0, .src_idx = j, .src_ctl = claimed, .actor = q->index,
			     .free_source = true, .add_deliveries = 0, .force_reason = DR_CORRUPT};
	if (side_move(q, &m) != 0) {
		/* no room: keep the bytes where they are, deliverable, rather than drop them */
		atomic_store_explicit(&s->ctl, c, memory_order_release);
	}
}

/* The side area of a rebuild: check survivors, count them once more (recount_side
 * rebuilds hint and credits), then make every reader rescan. */
static void rebuild_side(struct pmq *q, bool rebooted)
{
	struct pmq_header *h = q->hdr;
	for (uint32_t e = 0; e < q->side_count; e++) {
		struct pmq_slot *d = side_slot(q, e);
		uint64_t c = atomic_load_explicit(&d->ctl, memory_order_relaxed);
		unsigned st = ctl_state(c);
		if (st > ST_DEAD) { /* no such state: a damaged entry, nothing in it to save */
			atomic_store_explicit(&d->ctl, ctl_free(ctl_lap(c) + 1), memory_order_relaxed);
			continue;
		}
		if (st != ST_READY && st != ST_DEAD)
			continue;
		struct pmq_slot sh;
		uint32_t len;
		if (!slot_intact(q, d, &sh, &len)) {
			d->reason = DR_CORRUPT; /* its CRC stays wrong: never replayed, never delivered */
			atomic_store_explicit(&d->ctl, ctl_make(ctl_lap(c) + 1, ST_DEAD, PMQ_NO_OWNER, 0, 0),
					      memory_order_relaxed);
			continue;
		}
		if (st == ST_READY && rebooted) {
			d->deliveries = sh.deliveries + 1;
			if (sh.hflags & SLOT_HF_CRC)
				d->crc = slot_crc(d, slot_payload(d), len); /* verified just above */
		}
	}
	atomic_fetch_add_explicit(&h->side_seq, 1, memory_order_release); /* as side_seq_bump: entries rewritten above, rescan */
}

static void rebuild(struct pmq *q, bool rebooted)
{
	struct pmq_header *h = q->hdr;
	/* nobody is attached: settle whatever any owner left, even if its entry's
	 * ATTACHED never reached the media */
	settle_owner(q, ANY_OWNER);
	for (uint32_t i = 0; i < q->max_attach; i++)
		claim_settle(q, i, true); /* every claimed-unpublished ticket a record names: aborted */

	uint64_t ref = atomic_load_explicit(&h->tail, memory_order_relaxed);
	bool have_ready = false;
	uint64_t min_ready = 0, max_ready = 0, min_free = UINT64_MAX;
	for (uint32_t j = 0; j < q->slot_count; j++) {
		struct pmq_slot *s = main_slot(q, j);
		uint64_t c = atomic_load_explicit(&s->ctl, memory_order_relaxed); /* exclusive: no race */
		uint32_t lap = ctl_lap(c);
		unsigned st = ctl_state(c);
		struct pmq_slot sh; /* the header, read once */
		uint32_t len;
		bool intact = slot_intact(q, s, &sh, &len);
		bool ticket_ok = slot_ticket_matches(q, sh.ticket, j, lap);
		if (st == ST_READY && (!ticket_ok || !intact)) {
			dead_letter_corrupt_main(q, s, j, c);
			continue;
		}
		/* survivors, and claims a settle had no side room for: both stay in [head, tail) */
		if (st == ST_READY || (st == ST_CLAIMED && ticket_ok)) {
			if (st == ST_READY && rebooted) {
				/* acks are not persisted: every survivor counts as delivered once more */
				s->deliveries = sh.deliveries + 1;
				if (sh.hflags & SLOT_HF_CRC)
					s->crc = slot_crc(s, slot_payload(s), len); /* verified just above */
			}
			uint64_t t = sh.ticket;
			if (!have_ready || t < min_ready)
				min_ready = t;
			if (!have_ready || t > max_ready)
				max_ready = t;
			have_ready = true;
		} else if (st == ST_FREE) {
			uint64_t t = slot_ticket_near(q, lap, j, ref);
			if (t < min_free)
				min_free = t;
		}
	}
	uint64_t head, tail;
	if (have_ready) {
		head = min_ready;
		tail = max_ready + 1;
	} else {
		head = tail = min_free == UINT64_MAX ? ref : min_free;
	}
	if (tail - head > q->slot_count)
		head = tail - q->slot_count; /* only a corrupt file gets here: bound the walk */
	/* every position j: it holds ticket t_next - n if that is in [head, tail), and is
	 * free for t_next (its next ticket at or past tail) otherwise */
	uint64_t homeless_end = 0; /* past the last ticket an intact message left out needs */
	for (uint32_t j = 0; j < q->slot_count; j++) {
		struct pmq_slot *s = main_slot(q, j);
		uint64_t t_next = tail + ((j - tail) & q->slot_mask);
		uint32_t ln = (uint32_t)(t_next >> q->slot_shift);
		bool held = t_next >= q->slot_count && t_next - q->slot_count >= head;
		uint64_t c = atomic_load_explicit(&s->ctl, memory_order_relaxed); /* exclusive: no race */
		unsigned st = ctl_state(c);
		if (st == ST_FREE && (ctl_lap(c) == ln || (!held && ctl_lap(c) == ln + 1)))
			continue; /* free for its next ticket (or consumed), or aborted past the
				   * rebuilt tail: producers step over it, tickets never repeat */
		if (held && ctl_lap(c) == ln - 1) {
			if (st == ST_READY || ((st == ST_CLAIMED || st == ST_WRITING) && ctl_owner(c) < q->max_attach))
				continue; /* a message, or one settle had no room for: keep it */
			if (st == ST_FREE) {
				/* a ticket in [head, tail) that no slot holds: abort it so nobody waits */
				atomic_store_explicit(&s->ctl, ctl_make(ln, ST_FREE, PMQ_NO_OWNER, 0, CTL_F_ABORTED),
						      memory_order_relaxed);
				atomic_fetch_add_explicit(&h->aborted, 1, memory_order_relaxed);
				continue;
			}
		}
		/* a state no ring with these cursors can hold: a damaged file. Save an intact
		 * message as a dead letter if there is room, else keep it in the ring under a
		 * ticket of its own; then free the position. Nothing intact is dropped. */
		struct pmq_slot sh;
		uint32_t len;
		if (st == ST_READY && slot_intact(q, s, &sh, &len)) {
			dead_letter_corrupt_main(q, s, j, c);
			c = atomic_load_explicit(&s->ctl, memory_order_relaxed);
			if (ctl_state(c) == ST_READY) { /* no side room (or no credit) */
				if (held) {
					slot_rehome(q, s, t_next - q->slot_count); /* the ticket [head, tail) has here */
				} else if (t_next + 1 > homeless_end) {
					homeless_end = t_next + 1; /* re-homed past tail below */
				}
				continue;
			}
			if (ctl_state(c) == ST_FREE && ctl_lap(c) == ln)
				continue;
		}
		atomic_store_explicit(&s->ctl, ctl_make(ln, ST_FREE, PMQ_NO_OWNER, 0, CTL_F_ABORTED),
				      memory_order_relaxed);
		atomic_fetch_add_explicit(&h->aborted, 1, memory_order_relaxed);
	}
	/* Messages kept at positions outside [head, tail): tail grows over them. Every ticket
	 * of [tail, homeless_end) lies outside the window (homeless_end <= head + n), so its
	 * position holds such a message (it gets the ticket) or is free (the ticket aborted). */
	for (uint64_t t = tail; t < homeless_end; t++) {
		struct pmq_slot *s = main_slot(q, t & q->slot_mask);
		uint64_t c = atomic_load_explicit(&s->ctl, memory_order_relaxed); /* exclusive: no race */
		uint32_t lt = (uint32_t)(t >> q->slot_shift);
		if (ctl_state(c) == ST_READY) {
			slot_rehome(q, s, t);
		} else if (!(ctl_state(c) == ST_FREE && ctl_lap(c) == lt + 1)) {
			atomic_store_explicit(&s->ctl, ctl_make(lt + 1, ST_FREE, PMQ_NO_OWNER, 0, CTL_F_ABORTED),
					      memory_order_relaxed);
			atomic_fetch_add_explicit(&h->aborted, 1, memory_order_relaxed);
		}
	}
	if (homeless_end > tail)
		tail = homeless_end;
	atomic_store_explicit(&h->head, head, memory_order_relaxed);
	atomic_store_explicit(&h->tail, tail, memory_order_relaxed);

	rebuild_side(q, rebooted);
}

/* Whole file, groups: every lane of every group and the side area, for any owner (dead
 * holders' lane claims move to their group's redeliveries, counted). A main word of such
 * a queue never names a holder: the ring's repair judges it. A pass that found no room
 * runs once more, as settle_owner. */
static void settle_groups_all(struct pmq *q)
{
	for (int pass = 0; pass < 2; pass++) {
		struct tally t = {0, 0};
		for (unsigned g = 1; g <= q->max_groups; g++)
			for (uint32_t j = 0; j < q->slot_count; j++)
				while (settle_main(q, ANY_OWNER, j, &t, g))
					;
		for (uint32_t e = 0; e < q->side_count; e++)
			while (settle_side(q, ANY_OWNER, e, &t))
				;
		if (!t.stuck)
			return;
	}
}

/* A file with groups (docs/groups.md, "Recovery"): the table first (it says whose lanes
 * count), then what dead owners left, the claimed tickets records name, the ring with the
 * lanes and the cursors, and the side area (group_repair.c). */
static void rebuild_groups(struct pmq *q, bool rebooted)
{
	uint64_t masks = group_repair_table(q);
	settle_groups_all(q);
	for (uint32_t i = 0; i < q->max_attach; i++)
		claim_settle(q, i, true); /* every claimed-unpublished ticket a record names: aborted */
	group_repair_ring(q, masks, rebooted);
	rebuild_side(q, rebooted);
	group_repair_side(q, masks);
}

/* The side hint and the dead-letter credits, counted from the side area itself (at the
 * first exclusive open, nobody attached): whatever crashes left them, they are exact
 * again. A credit is held by every DEAD entry and by a WRITING or CLAIMED one that
 * recorded it (reason set: a settle that found no room, a .dlq consumer's letter). */
static void recount_side(struct pmq *q)
{
	uint64_t ready = 0, credits = 0;
	side_recount_groups(q); /* the groups' own READY counts, the same way */
	for (uint32_t e = 0; e < q->side_count; e++) {
		struct pmq_slot *d = side_slot(q, e);
		unsigned st = ctl_state(atomic_load_explicit(&d->ctl, memory_order_relaxed)); /* exclusive */
		if (st == ST_READY)
			ready++;
		else if (st == ST_DEAD || ((st == ST_WRITING || st == ST_CLAIMED) && READ_ONCE(d->reason) != DR_NONE))
			credits++;
	}
	/* relaxed: nobody else is attached; the presence lock's hand-over orders them */
	atomic_store_explicit(&q->hdr->side_hint, ready, memory_order_relaxed);
	atomic_store_explicit(&q->hdr->dlq_count, credits, memory_order_relaxed);
}

/* ---- is the file one that crashes alone could have left? ------------------------- */

/* Main slot j, nobody attached and dead owners settled. A dead producer may have
 * claimed (and been aborted) up to max_attach tickets past a tail it never moved. */
static bool main_slot_plausible(struct pmq *q, uint32_t j, uint64_t head, uint64_t tail)
{
	struct pmq_slot *s = main_slot(q, j);
	uint64_t t_next = tail + ((j - tail) & q->slot_mask);
	uint32_t ln = (uint32_t)(t_next >> q->slot_shift);
	bool past_tail = t_next - tail < q->max_attach;
	bool held = t_next >= q->slot_count && t_next - q->slot_count >= head;
	uint64_t c = atomic_load_explicit(&s->ctl, memory_order_relaxed); /* exclusive: no race */
	uint32_t lap = ctl_lap(c);
	unsigned st = ctl_state(c);
	if (st == ST_FREE)
		return lap == ln || (past_tail && lap == ln + 1);
	if (st > ST_MOVED)
		return false; /* DEAD lives in the side area only */
	if (!((held && lap == ln - 1) || (past_tail && lap == ln)))
		return false;
	if (st != ST_READY && ctl_owner(c) >= q->max_attach)
		return false;
	if (st == ST_MOVED && ctl_side(c) >= q->side_count)
		return false;
	if (st == ST_READY) /* each field read once */
		return slot_ticket_matches(q, READ_ONCE(s->ticket), j, lap) && READ_ONCE(s->len) <= q->max_payload;
	return true;
}

static bool side_entry_plausible(struct pmq *q, uint32_t e)
{
	struct pmq_slot *d = side_slot(q, e);
	uint64_t c = atomic_load_explicit(&d->ctl, memory_order_relaxed); /* exclusive: no race */
	unsigned st = ctl_state(c);
	if (st > ST_DEAD)
		return false;
	if ((st == ST_READY || st == ST_DEAD) && READ_ONCE(d->len) > q->max_payload)
		return false;
	if ((st == ST_WRITING || st == ST_CLAIMED || st == ST_MOVED) && ctl_owner(c) >= q->max_attach)
		return false;
	return st != ST_MOVED || ctl_side(c) < q->side_count;
}

/* The side area's counters and entries (both kinds of file). */
static bool side_plausible(struct pmq *q)
{
	struct pmq_header *h = q->hdr;
	/* relaxed: nobody else is attached */
	if (atomic_load_explicit(&h->side_hint, memory_order_relaxed) > q->side_count ||
	    atomic_load_explicit(&h->dlq_count, memory_order_relaxed) > q->side_count)
		return false;
	for (uint32_t e = 0; e < q->side_count; e++)
		if (!side_entry_plausible(q, e))
			return false;
	return true;
}

/* One walk over every control word: O(slots + side entries), at exclusive open only.
 * A file with groups: its main head is unused; the table, the lanes and the side tags
 * decide with the ring (group_repair.c). */
static bool file_plausible(struct pmq *q)
{
	if (q->max_groups)
		return side_plausible(q) && group_repair_plausible(q);
	struct pmq_header *h = q->hdr;
	/* relaxed: nobody else is attached */
	uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&h->tail, memory_order_relaxed);
	if (head > tail + q->max_attach || tail - head > q->slot_count + (uint64_t)q->max_attach)
		return false;
	if (!side_plausible(q))
		return false;
	/* head past tail only over tickets a dead producer claimed and was aborted on */
	for (uint64_t t = tail; t < head; t++) {
		uint64_t c = atomic_load_explicit(&main_slot(q, t & q->slot_mask)->ctl, memory_order_relaxed);
		if (ctl_state(c) != ST_FREE || ctl_lap(c) != (uint32_t)(t >> q->slot_shift) + 1)
			return false;
	}
	for (uint32_t j = 0; j < q->slot_count; j++)
		if (!main_slot_plausible(q, j, head, tail))
			return false;
	return true;
}

int recover_whole_file(struct pmq *q, bool rebooted)
{
	struct pmq_header *h = q->hdr;
	int n = recover_dead_owners(q);
	/* nobody else is attached: any waiter bit is stale */
	for (int k = 0; k < 4; k++) {
		atomic_store_explicit(&h->data_waiters[k], 0, memory_order_relaxed);
		atomic_store_explicit(&h->space_waiters[k], 0, memory_order_relaxed);
	}
	/* a damaged file is rebuilt like one after a reboot, without counting deliveries
	 * (what it cost shows as aborted tickets and DR_CORRUPT dead letters). groups: the
	 * main words of settled messages stay READY (docs/groups.md): the lanes say which
	 * messages survive, so such a file has a rebuild of its own */
	bool repair = rebooted || !file_plausible(q);
	if (repair && q->max_groups)
		rebuild_groups(q, rebooted);
	else if (repair)
		rebuild(q, rebooted);
	if (q->max_groups)
		lane_rewind_heads(q); /* after the rebuild: from the lanes it left */
	recount_side(q); /* every exclusive open: credits a crash left uncounted come back */
	if (repair) {
		if (rebooted)
			format_read_boot_id(h->boot_id);
		durable_persist_all(q);
	}
	return n;
}

/* pmq_close: settle our own messages as a nack would (same code, same rules). */
int recover_settle(struct pmq *q, unsigned owner) { return settle_owner(q, owner); }
