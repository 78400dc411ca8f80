/* Longer than 600 lines on purpose: one slot state machine (claim, commit, consume, ack, nack) whose edges are read together. */
/*
 * ring.c - the main ring's data path: claim, commit, consume, ack, nack.
 *
 * This file is the slot state machine of docs/format.md for main-ring slots:
 *
 *   FREE(L), tail == t --producer claim (record, tail)--> FREE(L), tail > t
 *   FREE(L), tail > t --publish CAS--> READY(L)
 *   READY(L) --consumer claim--> CLAIMED(L,c) --ack--> FREE(L+1)
 *   CLAIMED(L,c) --nack / death / lease--> MOVED(L,c,e) --> FREE(L+1)   (side.c)
 *   FREE(L), tail > t --abort, or claimant dead--> FREE(L+1, aborted)  (claim.c)
 *
 * Producers (format 2): the slot word is written once per message, by the publish;
 * the claim is the producer's record in its own attachment line plus the tail, which
 * only claims move (claim.c says how recovery finds a dead claimant's ticket).
 * Consumers claim first, then advance head: head is a hint that anyone may push
 * forward once the slot word shows the ticket is taken.
 *
 * Rules for this file: no lock, no system call (futex only when a waiter is
 * registered, or when we ourselves must sleep), no allocation.
 * Memory-order labels (P*, C*, A*, W*) are listed in docs/memory-ordering.md.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

static inline uint32_t lap_of(const struct pmq *q, uint64_t ticket) { return (uint32_t)(ticket >> q->slot_shift); }

/*
 * Bounded walks. A help step moves a cursor hint over a ticket that is taken or done.
 * In a healthy queue a freshly loaded cursor names a slot at most one lap behind the
 * slot's word (every claim happens at the cursor's value and the cursor only moves on
 * by one), so a step that finds the word two or more laps ahead ("far") needs a whole
 * lap of traffic between two adjacent loads. A cursor a hostile or damaged mapping set
 * laps away makes every step far: after slot_count far steps in one call the call gives
 * up with -EPROTO instead of walking up to 2^31 laps. The count lives in a register on
 * the help path only; a claim reads nothing extra.
 */
static inline bool far_step(int32_t d) { return d > 1; }

static int cursor_damaged(const struct pmq *q, const char *cursor)
{
	return pmq_fail(-EPROTO, "queue \"%s\": its %s cursor is laps away from the slots it names (a damaged or hostile "
				 "mapping); close every handle and reopen the queue to rebuild it", q->name, cursor);
}

static inline bool can_produce(const struct pmq *q) { return (q->role & PMQ_PRODUCER) != 0; }
static inline bool can_consume(const struct pmq *q) { return (q->role & (PMQ_CONSUMER | AT_ROLE_DLQ)) != 0; }

static int check_handle(const struct pmq *q)
{
	if (unlikely(!q))
		return pmq_fail(-EINVAL, "NULL queue handle");
	if (unlikely(q->forked))
		return pmq_fail(-EBADFD, "queue \"%s\": handle inherited across fork; open a new one in the child",
				q->name);
	return 0;
}

/* ---- producer side -------------------------------------------------------- */

/* With a standby in sync, ticket t may reuse its slot only once ticket t - slot_count
 * is confirmed (docs/failover.md). repl_flags sits on the tail line: no extra line per send. */
static inline bool repl_may_reuse(const struct pmq *q, uint64_t t)
{
	/* relaxed: a flag flip is picked up at the next send; `replicated` is acquired below */
	uint32_t f = atomic_load_explicit(&q->hdr->repl_flags, memory_order_relaxed);
	if (likely(!(f & HDR_REPL_ON)) || (f & HDR_REPL_DEGRADED) || t < q->slot_count)
		return true;
	/* acquire: pairs with the replicator's release store of `replicated` */
	return t - q->slot_count < atomic_load_explicit(&q->hdr->replicated, memory_order_acquire);
}

/*
 * Groups, after the tail CAS: a group created meanwhile may have to be waited for (its
 * creator started it at a tail it read after setting its bit: G2), and while a lossy
 * group exists the slot is marked WRITING before we overwrite it (its readers' check).
 */
static int groups_after_claim(struct pmq *q, struct pmq_slot *s, uint64_t t, uint64_t checked, uint64_t *c)
{
	/* G2's producer half: a seq_cst load after our seq_cst tail CAS (or store), so both
	 * are in the single total order with the creator's mask RMW and tail load */
	uint64_t m = atomic_load_explicit(&q->hdr->group_masks, memory_order_seq_cst);
	uint32_t lap = lap_of(q, t);
	uint32_t j = (uint32_t)(t & q->slot_mask);
	if (ctl_state(*c) == ST_READY && ((uint32_t)m & ~(uint32_t)checked)) {
		/* rare: a reliable group appeared between our look and our claim. The ticket is
		 * ours; wait until the new group settled the slot's previous lap */
		while (!lane_settled(q, m, j, lap, memory_order_acquire)) {
			uint32_t seq = atomic_load_explicit(&q->hdr->space_seq, memory_order_acquire);
			if (lane_settled(q, m, j, lap, memory_order_seq_cst))
				break;
			futex_sleep(&q->hdr->space_seq, seq, 1000000ull);
			m = atomic_load_explicit(&q->hdr->group_masks, memory_order_seq_cst);
		}
	}
	/* the mark also guards readers when no reliable group pins slots (peek, docs/groups.md) */
	if ((m >> 32) || !(uint32_t)m) {
		uint64_t mark = ctl_make(lap, ST_WRITING, q->index, 0, 0);
		uint64_t expect = *c;
		/* L3: seq_cst CAS: the mark comes before every byte we write into the slot (an
		 * acquiring RMW keeps later stores after it); a lossy reader's L2 check sees it */
		if (!atomic_compare_exchange_strong_explicit(&s->ctl, &expect, mark, memory_order_seq_cst,
							     memory_order_relaxed))
			return pmq_fail(-ESTALE, "queue \"%s\": the ticket was aborted before this send wrote it", q->name);
		*c = mark;
	}
	return 0;
}

/*
 * Claim the next ticket for writing. Returns 0 with the slot and its FREE(L) word
 * (the publish CAS's expected value), -EAGAIN if full and non-blocking, -ETIMEDOUT.
 */
static int ring_claim_produce(struct pmq *q, unsigned flags, struct pmq_slot **out, uint64_t *out_ctl,
			      uint64_t *out_ticket)
{
	struct pmq_header *h = q->hdr;
	struct wait_state w;
	bool waiting = false;
	uint32_t far = 0; /* far help steps in this call (bounded walks, above) */

	for (;;) {
		/* acquire: pairs with the waker's bump; taken before we look (wait.c) */
		uint32_t seq = atomic_load_explicit(&h->space_seq, memory_order_acquire);
		/* relaxed: tail is a hint; the slot word below decides */
		uint64_t t = atomic_load_explicit(&h->tail, memory_order_relaxed);
		struct pmq_slot *s = main_slot(q, t & q->slot_mask);
		uint32_t lap = lap_of(q, t);
		/* P0: acquire; pairs with A1 (the release that freed the slot): the previous
		 * consumer's reads of this payload happen before our writes into it */
		uint64_t c = atomic_load_explicit(&s->ctl, memory_order_acquire);
		int32_t d = lap_diff(ctl_lap(c), lap);

		/* groups: the previous lap's READY is free once every reliable group settled it */
		uint64_t masks = 0;
		bool open = d == 0 && ctl_state(c) == ST_FREE;
		if (q->max_groups && d == -1 && ctl_state(c) == ST_READY) {
			/* relaxed: rechecked with a seq_cst fence after the claim, below */
			masks = atomic_load_explicit(&h->group_masks, memory_order_relaxed);
			/* what the last look at the lanes proved still holds (settles are never undone)
			 * for the same reliable groups; else read the lane lines once for the tickets
			 * their slots share */
			open = (t < q->gate_until && t + q->slot_count >= q->gate_until &&
				(uint32_t)masks == q->gate_masks) ||
			       lane_gate_refresh(q, masks, t);
			if (open && unlikely(q->gate_until - t == GATE_PREFETCH_AT || q->gate_until - t == GATE_READ_AT))
				lane_gate_ahead(q, t); /* the next window's lanes, before it is needed */
		}
		if (open && unlikely(!repl_may_reuse(q, t))) {
			/* the standby has not confirmed the ticket this slot held a lap ago */
			if (flags & PMQ_NONBLOCK)
				return -EAGAIN;
			if (!waiting) {
				wait_begin(q, &w, 0, true, ring_peek_space, recover_dead_owners);
				waiting = true;
			}
			wait_for_space(q, &w, seq);
			continue;
		}
		if (open) {
			/* the record first, on our own line: whoever sees tail past t also sees
			 * that we may own t (claim.c); relaxed, the tail's release carries it */
			atomic_store_explicit(&q->me->claim, t + 1, memory_order_relaxed);
			PMQ_FAULT("send.after_record");
			if (q->qflags & PMQ_F_SP) {
				/* P1-SP: release: the record before the claim (R5 acquires tail);
				 * single producer: nobody else moves tail while it reads t */
				if (q->max_groups) /* G2: seq_cst, so the mask load after it is ordered */
					atomic_store_explicit(&h->tail, t + 1, memory_order_seq_cst);
				else
					atomic_store_explicit(&h->tail, t + 1, memory_order_release);
			} else {
				/* P1: the claim; release as P1-SP. A lost CAS means another producer
				 * took t: our record must not name it while we look again or wait
				 * (recovery reads "a live producer names t" as "t may be its own") */
				/* seq_cst (x86: the same locked instruction as release): G2's producer half
				 * needs the mask load after it ordered behind it */
				if (!atomic_compare_exchange_strong_explicit(&h->tail, &t, t + 1, memory_order_seq_cst,
									     memory_order_relaxed)) {
					atomic_store_explicit(&q->me->claim, 0, memory_order_relaxed);
					continue;
				}
			}
			PMQ_FAULT("send.after_claim");
			if (q->max_groups) {
				int rc = groups_after_claim(q, s, t, masks, &c);
				if (rc)
					return rc;
			}
			/* D1: the slot's line (its word FREE(L), unchanged) reaches the media before
			 * the first store into a reused slot: an ack is not persisted, and the media
			 * must not show the previous lap's READY over half-written bytes */
			durable_persist(q, &s->ctl, sizeof(s->ctl));
			*out = s;
			*out_ctl = c;
			*out_ticket = t;
			return 0;
		}
		if (d > 0 || (d == 0 && ctl_state(c) != ST_FREE)) {
			/* ticket t was published (or done) and tail still names it: only a rebuilt
			 * or damaged tail lags so; help it along (relaxed: a tail that moved on
			 * makes the CAS fail, and the claims' release sits on the winners) */
			if (unlikely(far_step(d)) && ++far > q->slot_count)
				return cursor_damaged(q, "tail");
			atomic_compare_exchange_strong_explicit(&h->tail, &t, t + 1, memory_order_relaxed,
								memory_order_relaxed);
			continue;
		}
		/* d < 0: the slot still holds the previous lap's message: full */
		if (flags & PMQ_NONBLOCK)
			return -EAGAIN;
		if (unlikely(atomic_load_explicit(&h->fenced, memory_order_relaxed)))
			return pmq_fail(-ESHUTDOWN, "queue \"%s\" is fenced (a newer primary exists)", q->name);
		if (!waiting) {
			wait_begin(q, &w, 0, true, ring_peek_space, recover_dead_owners);
			waiting = true;
		}
		wait_for_space(q, &w, seq);
	}
}

_Static_assert(offsetof(struct pmq_slot, replay_base) + sizeof(uint32_t) - offsetof(struct pmq_slot, hflags) == 8,
	       "hflags, reason, replay_base: one 8-byte span");

static void ring_write_header(struct pmq *q, struct pmq_slot *s, uint64_t ticket, uint32_t len, uint64_t ts)
{
	/* plain stores: the slot is ours (tail is past our ticket, our record names it); P2
	 * publishes them. Only what carries information is stored (issue 16): the polled
	 * line takes fewer producer stores. Fields a send always sets to the same value
	 * (deliveries, flags, reason and replay base: zero; the epoch: the header's) are
	 * read first, once each (the line is in our cache: P0 just loaded its word), and
	 * stored only where they differ: a rebuild after a reboot counts a survivor's
	 * delivery there, a standby's mirror and power mode set the CRC flag */
	s->ticket = ticket;
	s->origin = ticket;
	s->ts_ns = ts;
	s->len = len;
	uint64_t same; /* hflags, reason, replay_base: 8 bytes on this line, read once */
	memcpy(&same, &s->hflags, sizeof(same));
	if (unlikely((same | READ_ONCE(s->deliveries)) != 0)) {
		s->deliveries = 0;
		s->hflags = 0;
		s->reason = DR_NONE;
		s->replay_base = 0;
	}
	uint32_t epoch = (uint32_t)atomic_load_explicit(&q->hdr->epoch, memory_order_relaxed);
	if (unlikely(READ_ONCE(s->epoch) != epoch))
		s->epoch = epoch;
	if (q->power) {
		s->hflags = SLOT_HF_CRC; /* before the CRC: it covers the flags */
		s->crc = slot_crc(s, slot_payload(s), len);
		/* D2: header and payload reach the media before READY */
		durable_persist(q, &s->ticket, PMQ_SLOT_HDR_SIZE - sizeof(s->ctl) + len);
	}
}

/* FREE(L) -> READY(L): one CAS, so that it and a recovery's abort of the ticket
 * (claim.c, FREE(L) -> FREE(L+1)|ABORTED) have exactly one winner. -ESTALE if the
 * ticket was aborted under us (only a damaged or hostile mapping, or a recoverer that
 * took us for dead, gets there: the message is not sent). */
static int ring_publish(struct pmq *q, struct pmq_slot *s, uint64_t free_ctl, uint64_t ticket, bool last_of_batch)
{
	/* the ticket's lap, not the expected word's: with groups that word is the previous
	 * lap's READY (docs/groups.md) */
	uint64_t ready = ctl_make(lap_of(q, ticket), ST_READY, PMQ_NO_OWNER, 0, 0);
	uint64_t expect = free_ctl;
	PMQ_FAULT("send.before_commit");
	/* P2: seq_cst CAS (release plus W2's half of the Dekker pair): a consumer that
	 * acquires READY (C1) sees header and payload; a waiter either sees READY or is
	 * seen by wait_wake_data() below. In a batch the same CAS (x86: one locked
	 * instruction whatever the order); the last one's wake covers the batch */
	if (unlikely(!atomic_compare_exchange_strong_explicit(&s->ctl, &expect, ready, memory_order_seq_cst,
							      memory_order_relaxed)))
		return pmq_fail(-ESTALE, "queue \"%s\": the ticket was aborted before this send published it (a "
					 "recoverer took this process for dead, or the mapping is damaged); not sent",
				q->name);
	/* D3: the commit itself reaches the media */
	durable_persist(q, &s->ctl, sizeof(s->ctl));
	if (last_of_batch)
		wait_wake_data(q);
	return 0;
}

/*
 * Write hints for the slot PRODUCE_AHEAD tickets on (issue 16, docs/decisions.md "Write
 * hints ahead of a streaming producer"): its word's line, which the consumer's ack left
 * in its cache a lap ago, so that the claim's P0 load and the publish find it ours; in
 * batches of a queue without groups also the payload's first line. Single sends ask only
 * while streaming (the previous one less than STREAM_NS ago): in a ping-pong the hint's
 * transfers delay the one the reader waits for. The payload line is left out of single
 * sends and of group queues because it measured slower there (cause not established).
 * A hint: nothing is read into a local, nothing decided.
 */
#define PRODUCE_AHEAD 4
#define STREAM_NS 200
static inline void produce_ahead(struct pmq *q, uint64_t ticket, bool payload_too)
{
	struct pmq_slot *ahead = main_slot(q, (ticket + PRODUCE_AHEAD) & q->slot_mask);
	prefetch_write(ahead);
	if (payload_too && !q->max_groups)
		prefetch_write(slot_payload(ahead));
}

/* What every send path checks first. */
static int producer_precheck(struct pmq *q, size_t len)
{
	int rc = check_handle(q);
	if (rc)
		return rc;
	if (unlikely(!can_produce(q)))
		return pmq_fail(-EPERM, "queue \"%s\": handle not opened as producer", q->name);
	if (unlikely(len > q->max_payload))
		return pmq_fail(-EMSGSIZE, "queue \"%s\": message of %zu bytes exceeds max_payload %u", q->name, len,
				q->max_payload);
	if (unlikely(q->resv))
		return pmq_fail(-EBUSY, "queue \"%s\": a reservation is already open on this handle", q->name);
	if (unlikely(atomic_load_explicit(&q->hdr->fenced, memory_order_relaxed)))
		return pmq_fail(-ESHUTDOWN, "queue \"%s\" is fenced (a newer primary exists)", q->name);
	return 0;
}

/* Header, publish and the owner's counter: the common end of pmq_commit and pmq_send. */
static int ring_commit_slot(struct pmq *q, struct pmq_slot *s, uint64_t wr, uint64_t ticket, uint32_t len)
{
	uint64_t ts = send_clock_now(&q->clock);
	if (ts - q->last_send_ns < STREAM_NS)
		produce_ahead(q, ticket, false);
	q->last_send_ns = ts;
	ring_write_header(q, s, ticket, len, ts);
	int rc = ring_publish(q, s, wr, ticket, true);
	if (rc)
		return rc;
	/* relaxed: owner-only counter */
	atomic_store_explicit(&q->me->sent, atomic_load_explicit(&q->me->sent, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	return 0;
}

PMQ_EXPORT int pmq_reserve(pmq_t *q, size_t len, void **buf, unsigned flags)
{
	int rc = producer_precheck(q, len);
	if (rc)
		return rc;
	if (unlikely(!buf))
		return pmq_fail(-EINVAL, "pmq_reserve: NULL buffer pointer");
	struct pmq_slot *s;
	uint64_t wr, ticket;
	rc = ring_claim_produce(q, flags, &s, &wr, &ticket);
	if (rc)
		return rc;
	q->resv = s;
	q->resv_ctl = wr;
	q->resv_ticket = ticket;
	q->resv_len = (uint32_t)len;
	*buf = slot_payload(s);
	return 0;
}

PMQ_EXPORT int pmq_commit(pmq_t *q, void *buf, size_t len)
{
	int rc = check_handle(q);
	if (rc)
		return rc;
	if (unlikely(!q->resv || buf != slot_payload(q->resv)))
		return pmq_fail(-EINVAL, "pmq_commit: buffer does not belong to this handle's open reservation");
	if (unlikely(len > q->resv_len))
		return pmq_fail(-EMSGSIZE, "pmq_commit: length %zu exceeds the reserved %u bytes", len, q->resv_len);
	struct pmq_slot *s = q->resv;
	q->resv = NULL;
	return ring_commit_slot(q, s, q->resv_ctl, q->resv_ticket, (uint32_t)len);
}

PMQ_EXPORT int pmq_abort(pmq_t *q, void *buf)
{
	int rc = check_handle(q);
	if (rc)
		return rc;
	if (!q->resv || buf != slot_payload(q->resv))
		return pmq_fail(-EINVAL, "pmq_abort: buffer does not belong to this handle's open reservation");
	struct pmq_slot *s = q->resv;
	q->resv = NULL;
	return slot_abort_at(q, s, q->resv_ctl, lap_of(q, q->resv_ticket));
}

PMQ_EXPORT int pmq_send(pmq_t *q, const void *buf, size_t len, unsigned flags)
{
	int rc = producer_precheck(q, len);
	if (rc)
		return rc;
	if (unlikely(!buf && len))
		return pmq_fail(-EINVAL, "pmq_send: NULL buffer with length %zu", len);
	struct pmq_slot *s;
	uint64_t wr, ticket;
	rc = ring_claim_produce(q, flags, &s, &wr, &ticket);
	if (rc)
		return rc;
	if (len)
		memcpy(slot_payload(s), buf, len);
	if ((rc = ring_commit_slot(q, s, wr, ticket, (uint32_t)len)))
		return rc;
	if (flags & PMQ_REPLICATED)
		return repl_wait_confirmed(q, ticket);
	return 0;
}

PMQ_EXPORT int pmq_send_batch(pmq_t *q, const struct iovec *msgs, unsigned n, unsigned flags)
{
	int rc = producer_precheck(q, 0);
	if (rc)
		return rc;
	if (unlikely(!msgs || n == 0))
		return pmq_fail(-EINVAL, "pmq_send_batch: empty batch");
	for (unsigned i = 0; i < n; i++)
		if (msgs[i].iov_len > q->max_payload || (!msgs[i].iov_base && msgs[i].iov_len))
			return pmq_fail(-EMSGSIZE, "queue \"%s\": batch message %u of %zu bytes exceeds max_payload %u "
						   "(or has no buffer)", q->name, i, msgs[i].iov_len, q->max_payload);
	unsigned sent = 0;
	uint64_t ts = send_clock_now(&q->clock); /* one stamp per batch: the batch is enqueued at once */
	while (sent < n) {
		struct pmq_slot *s;
		uint64_t wr, ticket;
		/* block for the first only; later ones take what room there is */
		rc = ring_claim_produce(q, sent ? (flags | PMQ_NONBLOCK) : flags, &s, &wr, &ticket);
		if (rc)
			break;
		if (sent + PRODUCE_AHEAD < n) /* a slot this batch will fill */
			produce_ahead(q, ticket, true);
		if (msgs[sent].iov_len)
			memcpy(slot_payload(s), msgs[sent].iov_base, msgs[sent].iov_len);
		ring_write_header(q, s, ticket, (uint32_t)msgs[sent].iov_len, ts);
		/* published before the next claim: our record names one ticket, so it must be
		 * the only one we hold unpublished (claim.c). No wake per message: one below */
		if ((rc = ring_publish(q, s, wr, ticket, false)))
			break;
		sent++;
	}
	if (sent)
		wait_wake_data(q); /* W2: the publishes were seq_cst; one wake for the batch */
	if (sent == 0)
		return rc;
	atomic_store_explicit(&q->me->sent, atomic_load_explicit(&q->me->sent, memory_order_relaxed) + sent,
			      memory_order_relaxed); /* relaxed: owner-only counter */
	return (int)sent;
}

/* ---- consumer side -------------------------------------------------------- */

/* A corrupt message found on the data path (power mode CRC): dead-letter it. */
static void ring_reject_corrupt(struct pmq *q, struct pmq_slot *s, uint64_t claimed)
{
	struct move_req m = {.src = s, .src_tag = q->group, .src_is_side = 0,
			     .src_idx = (uint32_t)(((uint8_t *)s - q->ring) / q->slot_size),
			     .src_ctl = claimed, .actor = q->index, .free_source = true, .add_deliveries = 0,
			     .force_reason = DR_CORRUPT};
	if (side_move(q, &m) != 0)
		held_uncounted(q); /* no room or credit: we keep it, counted; close/recovery retry,
				    * and every later move checks the CRC before it copies */
}

/*
 * Prefetch while polling: the payload's first line is written just before the slot
 * word, so asking for it on every fruitless poll lets its transfer overlap the
 * slot word's instead of following it as a second demand miss (issue 16). A hint:
 * it reads nothing into a local and decides nothing.
 */
static inline void ring_prefetch_payload(struct pmq_slot *s) { __builtin_prefetch(slot_payload(s), 0, 3); }

/* The slot is READY: ask for the payload's remaining lines at once (len already read
 * into a local and bounded by the caller), so they arrive in parallel. */

/*
 * Try to take the message at head. 0 on success, -EAGAIN if nothing is
 * ready, -EPROTO if head is laps away from its slots (bounded walks, above);
 * *writer is set to the WRITING word when a producer is mid-send.
 */
static int ring_try_consume(struct pmq *q, struct pmq_msg *msg, uint64_t *writer)
{
	struct pmq_header *h = q->hdr;
	uint32_t far = 0; /* far help steps in this call */
	for (;;) {
		/* relaxed: head is a hint; the slot word decides */
		uint64_t hd = atomic_load_explicit(&h->head, memory_order_relaxed);
		uint32_t lap = lap_of(q, hd);
		struct pmq_slot *s = main_slot(q, hd & q->slot_mask);
		/* C1: acquire; pairs with P2: header and payload are visible once READY is */
		uint64_t c = atomic_load_explicit(&s->ctl, memory_order_acquire);
		int32_t d = lap_diff(ctl_lap(c), lap);
		if (d == 0) {
			unsigned st = ctl_state(c);
			if (st == ST_READY) {
				uint64_t claimed = ctl_make(lap, ST_CLAIMED, q->index, 0, 0);
				held_record(q, 0, (uint32_t)(hd & q->slot_mask), lap); /* before the claim names us */
				if (q->qflags & PMQ_F_SC) {
					/* C2-SC: release: single consumer, nobody else moves READY(L), so no
					 * CAS; release so that a lease mover or recoverer that acquires our
					 * CLAIMED also sees what C1 made visible to us (header, payload) */
					atomic_store_explicit(&s->ctl, claimed, memory_order_release);
					PMQ_FAULT("recv.after_claim");
					atomic_store_explicit(&h->head, hd + 1, memory_order_relaxed); /* hint */
				} else {
					/* C2: the claim names us; acquire as C1 */
					if (!atomic_compare_exchange_strong_explicit(&s->ctl, &c, claimed,
										     memory_order_acquire,
										     memory_order_relaxed))
						continue;
					PMQ_FAULT("recv.after_claim");
					uint64_t expect = hd; /* a failed CAS overwrites it; hd names our slot */
					atomic_compare_exchange_strong_explicit(&h->head, &expect, hd + 1, memory_order_relaxed,
										memory_order_relaxed); /* hint */
				}
				if (unlikely(q->power)) {
					struct pmq_slot sh; /* the header read once: shared memory */
					uint32_t len = slot_snapshot(q, s, &sh);
					if (!slot_sealed(q, &sh, slot_payload(s), len)) {
						ring_reject_corrupt(q, s, claimed);
						continue;
					}
				}
				slot_fill_msg(q, msg, s, claimed, 0, (uint32_t)(hd & q->slot_mask));
				slot_prefetch_rest(s, (uint32_t)msg->len);
				return 0;
			}
			if (st == ST_FREE) {
				ring_prefetch_payload(s);
				*writer = c; /* maybe claimed and unpublished: the heal looks at tail (rarely) */
				return -EAGAIN;
			}
			if (st == ST_WRITING) {
				ring_prefetch_payload(s);
				*writer = c;
				return -EAGAIN;
			}
			/* CLAIMED, MOVED: taken; help the cursor (relaxed: hint) */
			atomic_compare_exchange_strong_explicit(&h->head, &hd, hd + 1, memory_order_relaxed,
								memory_order_relaxed);
			continue;
		}
		if (d > 0) {
			/* consumed or aborted and already reused: help the cursor */
			if (unlikely(far_step(d)) && ++far > q->slot_count)
				return cursor_damaged(q, "head");
			atomic_compare_exchange_strong_explicit(&h->head, &hd, hd + 1, memory_order_relaxed,
								memory_order_relaxed);
			continue;
		}
		return -EAGAIN; /* older lap: the producer has not reached this ticket */
	}
}

bool ring_peek_data(struct pmq *q)
{
	struct pmq_header *h = q->hdr;
	if (q->group && !(q->role & AT_ROLE_DLQ)) {
		bool side_fresh = !q->side_seq_stale ||
				  atomic_load_explicit(&h->side_seq, memory_order_seq_cst) + 1 != q->side_seq_stale;
		/* the queue's hint while the side area changed since our last fruitless scan:
		 * what group_side_worth_scan lets a receive look at (the group's own count is
		 * at most the queue's) */
		if (!q->group_lossy && side_fresh && atomic_load_explicit(&h->side_hint, memory_order_seq_cst) != 0)
			return true;
		return lane_peek_data(q);
	}
	/* seq_cst loads: W1's re-check half (see wait.c). After a fruitless side scan, the
	 * side area has something new only if side_seq moved since (W3): a hint or count
	 * that merely equals the old value proves nothing (claim + nack restores it) */
	bool side_new = !q->side_seq_stale ||
			atomic_load_explicit(&h->side_seq, memory_order_seq_cst) + 1 != q->side_seq_stale;
	if (q->role & AT_ROLE_DLQ)
		return side_new && atomic_load_explicit(&h->dlq_count, memory_order_seq_cst) != 0;
	if (side_new && atomic_load_explicit(&h->side_hint, memory_order_seq_cst) != 0)
		return true;
	uint64_t hd = atomic_load_explicit(&h->head, memory_order_seq_cst);
	uint64_t c = atomic_load_explicit(&main_slot(q, hd & q->slot_mask)->ctl, memory_order_seq_cst);
	int32_t d = lap_diff(ctl_lap(c), lap_of(q, hd));
	return d > 0 || (d == 0 && ctl_state(c) != ST_FREE && ctl_state(c) != ST_WRITING);
}

bool ring_peek_space(struct pmq *q)
{
	struct pmq_header *h = q->hdr;
	uint64_t t = atomic_load_explicit(&h->tail, memory_order_seq_cst);
	uint64_t c = atomic_load_explicit(&main_slot(q, t & q->slot_mask)->ctl, memory_order_seq_cst);
	if (atomic_load_explicit(&h->fenced, memory_order_relaxed))
		return true;
	if (q->max_groups && !lane_peek_space(q, t, c))
		return false;
	int32_t d = lap_diff(ctl_lap(c), lap_of(q, t));
	if (q->max_groups && d == -1)
		d = 0; /* the previous lap's READY, settled: free for our purpose */
	if (d == 0 && ctl_state(c) == ST_FREE && t >= q->slot_count) {
		/* gated on the standby's confirmation: seq_cst loads pair with R4 in pmq_repl_confirm */
		uint32_t f = atomic_load_explicit(&h->repl_flags, memory_order_seq_cst);
		if ((f & HDR_REPL_ON) && !(f & HDR_REPL_DEGRADED) &&
		    t - q->slot_count >= atomic_load_explicit(&h->replicated, memory_order_seq_cst))
			return false;
	}
	return d >= 0;
}

/* The heals' clock: true when a waiter has been behind the same word `c` for heal_gap
 * (1 ms at first, doubled by the caller while the blocker is merely slow). */
static bool heal_due(struct wait_state *w, uint64_t c)
{
	uint64_t now = now_mono_ns();
	if (w->watch_ctl != c) {
		w->watch_ctl = c;
		w->watch_since = now;
		w->heal_gap = 1000000ull;
		return false;
	}
	if (now - w->watch_since < w->heal_gap)
		return false;
	w->watch_since = now;
	return true;
}

/* Behind FREE(L) at head: if tail is past head the ticket is claimed and unpublished
 * (format 2). Sampled once every 64 waits, so a spinning consumer reads the clock and
 * the tail line rarely; after a millisecond behind the same claim, probe the
 * attachments that name it (claim.c) and recover the dead ones (under their tokens,
 * where claim_settle decides). A futex sleeper is healed by the idle heal as well. */
static void ring_maybe_heal_claim(struct pmq *q, struct wait_state *w, uint64_t c)
{
	if ((w->spins & 63) != 63)
		return;
	/* relaxed: hints; the slot word is compared, and recovery decides under the token */
	uint64_t hd = atomic_load_explicit(q->group ? &q->grec->head : &q->hdr->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&q->hdr->tail, memory_order_relaxed);
	if (tail <= hd || !ctl_free_at(c, lap_of(q, hd))) {
		w->watch_ctl = 0; /* nothing claimed there: an empty queue */
		return;
	}
	if (!heal_due(w, c))
		return;
	uint32_t who[8];
	int n = claim_who(q, hd, who, 8);
	bool alive = false;
	for (int i = 0; i < n; i++) {
		if (who[i] == q->index)
			continue; /* our own claim is published or aborted before we receive */
		/* one syscall to ask; back off while the claimant is merely slow (preempted) */
		if (attach_probe_alive(q, who[i]) != 0)
			alive = true;
		else
			recover_owner(q, who[i]);
	}
	if (alive && w->heal_gap < 128000000ull)
		w->heal_gap *= 2;
}

/* A producer that died mid-send blocks its ticket: after a millisecond behind the same
 * WRITING word, take the producer's token (succeeds only if it is dead) and recover it. */
static void ring_maybe_heal(struct pmq *q, struct wait_state *w, uint64_t writer)
{
	if (ctl_state(writer) == ST_FREE) {
		ring_maybe_heal_claim(q, w, writer);
		return;
	}
	if (!heal_due(w, writer))
		return;
	unsigned owner = ctl_owner(writer);
	if (owner >= q->max_attach || owner == q->index)
		return;
	/* one syscall to ask; back off while the producer is merely slow (preempted) */
	if (attach_probe_alive(q, owner) != 0) {
		if (w->heal_gap < 128000000ull)
			w->heal_gap *= 2;
		return;
	}
	recover_owner(q, owner);
}

static int recv_one_lost(struct pmq *q, struct pmq_msg *msg, unsigned flags, uint64_t timeout_ns, bool forever,
			 uint64_t *lost);

static int recv_one(struct pmq *q, struct pmq_msg *msg, unsigned flags, uint64_t timeout_ns, bool forever)
{
	uint64_t lost = 0;
	return recv_one_lost(q, msg, flags, timeout_ns, forever, &lost);
}

static void in_flight_dec(struct pmq *q);

/* Is the side area worth a scan for our group? Not while the queue's hint is 0 (the
 * usual case: one load, as without groups; it counts every group's entries, never fewer
 * than there are). Else if our group's own READY count says so; else once after each
 * change of the side area (side_seq), for an entry of ours that a library which does
 * not keep the groups' counts (an older pmqd recovering our dead) made READY. relaxed:
 * the hints only decide whether to look; the entry words and their tags decide; acquire
 * on side_seq: pairs with its bump after the publish (W3), as in side_try_claim */
static inline bool group_side_worth_scan(struct pmq *q)
{
	if (likely(atomic_load_explicit(&q->hdr->side_hint, memory_order_relaxed) == 0))
		return false;
	if (atomic_load_explicit(&q->grec->side_ready, memory_order_relaxed) != 0)
		return true;
	return !q->side_seq_stale || atomic_load_explicit(&q->hdr->side_seq, memory_order_acquire) + 1 != q->side_seq_stale;
}

/* One try at our group's next message: redeliveries first, then the lane (or the lossy copy). */
static int group_try_consume(struct pmq *q, struct pmq_msg *msg, uint64_t *writer, uint64_t *lost)
{
	if (unlikely(group_gone(q)))
		return pmq_fail(-EIDRM, "queue \"%s\": this handle's group was deleted; open a handle on an existing "
					"group", q->name);
	if (q->group_lossy)
		return lossy_try_consume(q, msg, lost, writer);
	if (unlikely(group_side_worth_scan(q)) &&
	    side_try_claim(q, msg, false) == 0)
		return 0;
	for (;;) {
		int rc = lane_try_consume(q, msg, writer);
		if (rc || likely(!q->power))
			return rc;
		struct pmq_slot *s = main_slot(q, (uint32_t)msg->cookie[0]);
		struct pmq_slot sh; /* the header read once: shared memory */
		uint32_t len = slot_snapshot(q, s, &sh);
		if (slot_sealed(q, &sh, slot_payload(s), len))
			return 0;
		/* corrupt (power mode CRC): dead-letter it in our group, as ring_try_consume does */
		in_flight_dec(q);
		ring_reject_corrupt(q, s, msg->cookie[1]);
	}
}

static int recv_one_lost(struct pmq *q, struct pmq_msg *msg, unsigned flags, uint64_t timeout_ns, bool forever,
			 uint64_t *lost)
{
	int rc = check_handle(q);
	if (rc)
		return rc;
	if (unlikely(!msg))
		return pmq_fail(-EINVAL, "pmq_recv: NULL message pointer");
	if (unlikely(!can_consume(q)))
		return pmq_fail(-EPERM, "queue \"%s\": handle not opened as consumer", q->name);
	/* relaxed: owner-only counter */
	if (unlikely(atomic_load_explicit(&q->me->in_flight, memory_order_relaxed) >= q->quota) && !q->group_lossy)
		return pmq_fail(-EBUSY, "queue \"%s\": consumer holds its quota of %u messages; ack some", q->name,
				q->quota);
	struct pmq_header *h = q->hdr;
	struct wait_state w;
	bool waiting = false;
	for (;;) {
		/* acquire: pairs with the waker's bump; taken before we look (wait.c) */
		uint32_t seq = atomic_load_explicit(&h->data_seq, memory_order_acquire);
		uint64_t writer = 0;
		if (q->role & AT_ROLE_DLQ) {
			if (side_try_claim(q, msg, true) == 0)
				return 0;
		} else if (q->group) {
			rc = group_try_consume(q, msg, &writer, lost);
			if (rc != -EAGAIN)
				return rc;
		} else {
			/* relaxed: the hint only decides whether to scan; the entry words decide */
			if (unlikely(atomic_load_explicit(&h->side_hint, memory_order_relaxed) != 0) &&
			    side_try_claim(q, msg, false) == 0)
				return 0;
			rc = ring_try_consume(q, msg, &writer);
			if (rc != -EAGAIN)
				return rc; /* 0: a message; -EPROTO: a damaged head */
		}
		if (flags & PMQ_NONBLOCK)
			return -EAGAIN;
		PMQ_FAULT("recv.before_wait");
		if (!waiting) {
			wait_begin(q, &w, timeout_ns, forever, ring_peek_data, recover_dead_owners);
			waiting = true;
		}
		if (writer)
			ring_maybe_heal(q, &w, writer);
		/* a 1 ms sleep cap only behind a WRITING word or a claim the heal is watching */
		rc = wait_for_data(q, &w, seq, writer != 0 && (ctl_state(writer) != ST_FREE || w.watch_ctl == writer));
		if (rc)
			return rc;
	}
}

PMQ_EXPORT int pmq_recv(pmq_t *q, struct pmq_msg *msg, unsigned flags) { return recv_one(q, msg, flags, 0, true); }

PMQ_EXPORT int pmq_recv_lossy(pmq_t *q, struct pmq_msg *msg, unsigned flags, uint64_t *lost)
{
	uint64_t n = 0;
	int rc = recv_one_lost(q, msg, flags, 0, true, &n);
	if (lost)
		*lost = n; /* skipped before this message (or before the failure: counted in `lost` anyway) */
	return rc;
}

PMQ_EXPORT int pmq_recv_timeout(pmq_t *q, struct pmq_msg *msg, uint64_t timeout_ns)
{
	return recv_one(q, msg, 0, timeout_ns, false);
}

PMQ_EXPORT int pmq_recv_batch(pmq_t *q, struct pmq_msg *msgs, unsigned n, unsigned flags)
{
	if (!msgs || n == 0)
		return pmq_fail(-EINVAL, "pmq_recv_batch: empty batch");
	int rc = recv_one(q, &msgs[0], flags, 0, true);
	if (rc)
		return rc;
	unsigned got = 1;
	while (got < n && recv_one(q, &msgs[got], PMQ_NONBLOCK, 0, true) == 0)
		got++;
	return (int)got;
}

/* ---- settling -------------------------------------------------------------- */

static void in_flight_dec(struct pmq *q)
{
	/* relaxed: owner-only counter */
	uint32_t v = atomic_load_explicit(&q->me->in_flight, memory_order_relaxed);
	if (v)
		atomic_store_explicit(&q->me->in_flight, v - 1, memory_order_relaxed);
}

/* Decode a message cookie into its slot; -EINVAL if it is not ours. */
static int msg_slot(struct pmq *q, const struct pmq_msg *msg, struct pmq_slot **s, int *side, uint32_t *idx,
		    _Atomic uint64_t **word)
{
	if (unlikely(!msg))
		return pmq_fail(-EINVAL, "NULL message pointer");
	*side = (int)(msg->cookie[0] >> 63);
	*idx = (uint32_t)msg->cookie[0];
	bool lane = (msg->cookie[0] & COOKIE_LANE) != 0;
	uint64_t claimed = msg->cookie[1];
	if ((*side && *idx >= q->side_count) || (!*side && *idx >= q->slot_count) || ctl_state(claimed) != ST_CLAIMED ||
	    ctl_owner(claimed) != q->index || (lane && (*side || !q->lane)) || (!lane && !*side && q->group))
		return pmq_fail(-EINVAL, "queue \"%s\": message was not received through this handle", q->name);
	*s = *side ? side_slot(q, *idx) : main_slot(q, *idx);
	*word = lane ? &q->lane[*idx] : &(*s)->ctl;
	return 0;
}

/* A lossy copy holds nothing: its ack is a no-op, a nack is refused. */
static inline bool msg_is_lossy(const struct pmq *q, const struct pmq_msg *msg)
{
	return msg && q->group_lossy && msg->cookie[0] == COOKIE_LOSSY;
}

/* The CLAIMED word is gone: if it was moved away from us (lease), free our pin. */
static int settle_stale(struct pmq *q, struct pmq_slot *s, _Atomic uint64_t *word, int side, uint32_t idx,
			uint64_t claimed)
{
	/* acquire: pairs with the mover's release of the MOVED mark */
	uint64_t c = atomic_load_explicit(word, memory_order_acquire);
	if (ctl_state(c) == ST_MOVED && ctl_lap(c) == ctl_lap(claimed) && ctl_owner(c) == q->index)
		slot_free_moved(q, s, side, idx, c, word == &s->ctl ? 0 : q->group);
	in_flight_dec(q);
	return pmq_fail(-ESTALE, "queue \"%s\": message ticket was taken away (lease expired); it is redelivered",
			q->name);
}

PMQ_EXPORT int pmq_ack(pmq_t *q, const struct pmq_msg *msg)
{
	int rc = check_handle(q);
	if (rc)
		return rc;
	if (msg_is_lossy(q, msg))
		return 0; /* a lossy copy: nothing is held */
	struct pmq_slot *s = NULL; /* set by msg_slot; initialised for gcc's flow analysis */
	_Atomic uint64_t *word = NULL;
	int side = 0;
	uint32_t idx = 0;
	if ((rc = msg_slot(q, msg, &s, &side, &idx, &word)))
		return rc;
	uint64_t claimed = msg->cookie[1];
	if (side) {
		/* a dead letter's credit goes back before the free: a crash between leaves the
		 * letter dead (recovery returns it) and the count one low, never a leak;
		 * relaxed: a counter, the entry words carry the data */
		bool gave = (claimed & CTL_F_DLQ) != 0 && dlq_credit_give(q);
		rc = side_free(q, s, claimed, ctl_lap(claimed));
		if (rc && gave)
			atomic_fetch_add_explicit(&q->hdr->dlq_count, 1, memory_order_relaxed); /* not ours after all */
	} else {
		uint64_t freed = ctl_free(ctl_lap(claimed) + 1);
		/* A1: seq_cst CAS: release for the next producer (P0 acquires it, G4 a lane) and W2's half */
		rc = atomic_compare_exchange_strong_explicit(word, &claimed, freed, memory_order_seq_cst,
							     memory_order_relaxed)
			     ? 0
			     : -ESTALE;
		if (rc == 0) {
			if (word != &s->ctl) {
				durable_persist(q, word, sizeof(*word)); /* a group's cursor survives power loss */
				if ((idx & 7u) == 7u || idx == q->slot_count - 1) /* once per lane line */
					lane_floor_advance(q, ctl_lap(msg->cookie[1]), idx);
			}
			wait_wake_space(q);
		}
	}
	if (rc)
		return settle_stale(q, s, word, side, idx, msg->cookie[1]);
	in_flight_dec(q);
	return 0;
}

PMQ_EXPORT int pmq_ack_batch(pmq_t *q, const struct pmq_msg *msgs, unsigned n)
{
	int rc = check_handle(q);
	if (rc)
		return rc;
	if (!msgs && n)
		return pmq_fail(-EINVAL, "pmq_ack_batch: NULL messages");
	int first_err = 0;
	bool freed_main = false;
	const struct pmq_msg *last_lane = NULL; /* the floor is raised once, after the batch */
	for (unsigned i = 0; i < n; i++) {
		const struct pmq_msg *m = &msgs[i];
		uint64_t claimed = m->cookie[1];
		uint32_t idx = (uint32_t)m->cookie[0];
		/* a main slot held through its own word (no groups) or through our reliable
		 * group's lane (msg_slot's checks, for these two kinds only) */
		bool lane = (m->cookie[0] & COOKIE_LANE) != 0;
		if (!(m->cookie[0] >> 63) && idx < q->slot_count && (lane ? q->group && !q->group_lossy : !q->group) &&
		    ctl_state(claimed) == ST_CLAIMED && ctl_owner(claimed) == q->index) {
			_Atomic uint64_t *word = lane ? &q->lane[idx] : &main_slot(q, idx)->ctl;
			/* A1 (A1g for a lane) as in pmq_ack; the space wake is issued once for the
			 * whole batch below */
			if (atomic_compare_exchange_strong_explicit(word, &claimed, ctl_free(ctl_lap(m->cookie[1]) + 1),
								    memory_order_seq_cst, memory_order_relaxed)) {
				if (lane) {
					durable_persist(q, word, sizeof(*word)); /* as pmq_ack: the group's cursor */
					last_lane = m;
				}
				in_flight_dec(q);
				freed_main = true;
				continue;
			}
		}
		rc = pmq_ack(q, m); /* side entries, stale and foreign messages: the general path */
		if (rc && !first_err)
			first_err = rc;
	}
	if (last_lane)
		lane_floor_advance(q, ctl_lap(last_lane->cookie[1]), (uint32_t)last_lane->cookie[0]);
	if (freed_main)
		wait_wake_space(q);
	return first_err;
}

PMQ_EXPORT int pmq_nack(pmq_t *q, const struct pmq_msg *msg, unsigned flags)
{
	int rc = check_handle(q);
	if (rc)
		return rc;
	if (flags & ~PMQ_NACK_DEADLETTER)
		return pmq_fail(-EINVAL, "pmq_nack: unknown flags 0x%x", flags);
	if (msg_is_lossy(q, msg))
		return pmq_fail(-EINVAL, "queue \"%s\": a lossy group does not redeliver; nothing to nack", q->name);
	struct pmq_slot *s = NULL; /* set by msg_slot; initialised for gcc's flow analysis */
	_Atomic uint64_t *word = NULL;
	int side = 0;
	uint32_t idx = 0;
	if ((rc = msg_slot(q, msg, &s, &side, &idx, &word)))
		return rc;
	uint64_t claimed = msg->cookie[1];
	uint32_t reason = (flags & PMQ_NACK_DEADLETTER) ? DR_REJECTED : DR_NONE;
	if (side) {
		if (claimed & CTL_F_DLQ)
			rc = side_return_dead(q, idx, claimed);
		else
			rc = side_requeue_in_place(q, idx, claimed, 1, reason);
	} else {
		struct move_req m = {.src = s, .src_tag = word == &s->ctl ? 0 : q->group, .src_is_side = 0,
				     .src_idx = idx, .src_ctl = claimed, .actor = q->index, .free_source = true,
				     .add_deliveries = 1, .force_reason = reason};
		rc = side_move(q, &m);
	}
	if (rc == -ESTALE)
		return settle_stale(q, s, word, side, idx, claimed);
	if (rc)
		return rc; /* -ENOSPC / -EDQUOT: the message stays held by us */
	in_flight_dec(q);
	return 0;
}
