/* Longer than 600 lines on purpose: one case per slot transition and lost race, staged on control words. */
/*
 * test_slot.c - every transition of the slot state machine (docs/format.md),
 * including each CAS losing its race to a competitor. Competitors are
 * simulated by writing the shared control words directly (as Aeron's tests
 * set edge states), so each race is deterministic.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"

static char dir[64];

static struct pmq *make_queue(uint32_t slots, uint32_t max_deliveries, uint32_t quota, uint32_t side_slots,
			      uint32_t dlq_cap)
{
	struct pmq_config c;
	pmq_config_init(&c);
	c.slot_count = slots;
	c.max_payload = 64;
	c.max_deliveries = max_deliveries;
	c.consumer_quota = quota;
	c.side_slots = side_slots;
	c.dlq_capacity = dlq_cap;
	c.dir = dir;
	pmq_unlink("t", dir);
	pmq_t *q = NULL;
	int rc = pmq_create("t", &c, &q);
	assert_int_equal(rc, 0);
	return q;
}

static struct pmq *open_role(unsigned role)
{
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.dir = dir;
	pmq_t *q = NULL;
	assert_int_equal(pmq_open_ex("t", role, &o, &q), 0);
	return q;
}

static struct pmq *default_queue(void) { return make_queue(8, 5, 8, 0, 4); }

static uint64_t ctl_of(struct pmq *q, uint32_t j) { return atomic_load(&main_slot(q, j)->ctl); }

static void send_str(struct pmq *q, const char *s) { assert_int_equal(pmq_send(q, s, strlen(s), PMQ_NONBLOCK), 0); }

static void expect_msg(struct pmq *q, struct pmq_msg *m, const char *s, uint32_t deliveries)
{
	assert_int_equal(pmq_recv(q, m, PMQ_NONBLOCK), 0);
	assert_int_equal(m->len, strlen(s));
	assert_memory_equal(m->data, s, strlen(s));
	assert_int_equal(m->delivery_count, deliveries);
}

/* an attachment entry that looks ATTACHED but whose token nobody holds: a dead process */
static unsigned fake_dead_attachment(struct pmq *q)
{
	for (unsigned i = 0; i < q->max_attach; i++) {
		uint64_t w = atomic_load(&q->attach[i].word);
		if (at_state(w) == AT_FREE) {
			atomic_store(&q->attach[i].word, at_make(AT_ATTACHED, PMQ_CONSUMER | PMQ_PRODUCER, at_inc(w) + 1));
			atomic_store(&q->attach[i].pid, 999999);
			/* the words these tests forge for it have no records: its recovery walks
			 * everything (test_held.c covers the recorded path) */
			atomic_store(&held_block(q, i)->flags, HELD_OVERFLOW);
			return i;
		}
	}
	fail_msg("no free attachment entry");
	return 0;
}

/* ---- producer transitions ---------------------------------------------------- */

static void test_send_claims_free_slot_then_commits_ready(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	assert_int_equal(ctl_state(ctl_of(q, 0)), ST_FREE);
	send_str(q, "a");
	uint64_t c = ctl_of(q, 0);
	assert_int_equal(ctl_state(c), ST_READY);
	assert_int_equal(ctl_lap(c), 0);
	assert_int_equal(atomic_load(&q->hdr->tail), 1);
	assert_int_equal(main_slot(q, 0)->ticket, 0);
	pmq_close(q);
}

static void test_reserve_names_the_producer_until_commit(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	void *buf;
	assert_int_equal(pmq_reserve(q, 10, &buf, 0), 0);
	/* format 2: the slot word is untouched until the publish; the claim is the tail
	 * plus our attachment's record */
	assert_int_equal(ctl_of(q, 0), ctl_free(0));
	assert_int_equal(atomic_load(&q->hdr->tail), 1);
	assert_int_equal(atomic_load(&q->me->claim), 1);
	struct pmq_msg early;
	assert_int_equal(pmq_recv(q, &early, PMQ_NONBLOCK), -EAGAIN); /* claimed, unpublished: wait */
	memcpy(buf, "zerocopy", 8);
	assert_int_equal(pmq_commit(q, buf, 11), -EMSGSIZE); /* longer than reserved */
	assert_int_equal(pmq_commit(q, buf, 8), 0);
	struct pmq_msg m;
	expect_msg(q, &m, "zerocopy", 1);
	pmq_ack(q, &m);
	pmq_close(q);
}

static void test_abort_frees_slot_for_next_lap_and_consumers_skip_it(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	void *buf;
	assert_int_equal(pmq_reserve(q, 4, &buf, 0), 0);
	assert_int_equal(pmq_abort(q, buf), 0);
	uint64_t c = ctl_of(q, 0);
	assert_int_equal(ctl_state(c), ST_FREE);
	assert_int_equal(ctl_lap(c), 1);
	assert_true(c & CTL_F_ABORTED);
	struct pmq_msg m;
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), -EAGAIN);
	send_str(q, "after");
	expect_msg(q, &m, "after", 1);
	assert_int_equal(m.ticket, 1);
	pmq_close(q);
}

static void test_send_returns_eagain_when_ring_full(void **st)
{
	(void)st;
	struct pmq *q = make_queue(4, 5, 4, 0, 4);
	for (int i = 0; i < 4; i++)
		send_str(q, "x");
	assert_int_equal(pmq_send(q, "x", 1, PMQ_NONBLOCK), -EAGAIN);
	struct pmq_msg m;
	expect_msg(q, &m, "x", 1);
	/* claimed but not acked: the slot is pinned, the ring is still full */
	assert_int_equal(pmq_send(q, "x", 1, PMQ_NONBLOCK), -EAGAIN);
	assert_int_equal(pmq_ack(q, &m), 0);
	assert_int_equal(pmq_send(q, "y", 1, PMQ_NONBLOCK), 0);
	pmq_close(q);
}

static void test_producer_claim_loses_race_and_helps_tail(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	/* ticket 0 published while tail still names it (a rebuilt or lagging tail): help it */
	atomic_store(&main_slot(q, 0)->ctl, ctl_make(0, ST_READY, PMQ_NO_OWNER, 0, 0));
	send_str(q, "b");
	assert_int_equal(ctl_state(ctl_of(q, 1)), ST_READY);
	assert_int_equal(atomic_load(&q->hdr->tail), 2);
	pmq_close(q);
}

static void test_consumer_waits_behind_a_claimed_unpublished_ticket(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	unsigned other = fake_dead_attachment(q); /* nonblocking receives below: no heal runs */
	/* a competitor claimed ticket 0 (tail past it, its record names it), not yet published */
	atomic_store(&q->attach[other].claim, 1);
	atomic_store(&q->hdr->tail, 1);
	send_str(q, "second");
	assert_int_equal(ctl_of(q, 0), ctl_free(0));
	assert_int_equal(ctl_state(ctl_of(q, 1)), ST_READY);
	struct pmq_msg m;
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), -EAGAIN); /* never skip a claimed ticket */
	/* the competitor publishes: both arrive, in ticket order */
	struct pmq_slot *s = main_slot(q, 0);
	memcpy(slot_payload(s), "first", 5);
	s->len = 5;
	s->deliveries = 0;
	s->origin = s->ticket = 0;
	atomic_store(&s->ctl, ctl_make(0, ST_READY, PMQ_NO_OWNER, 0, 0));
	expect_msg(q, &m, "first", 1);
	pmq_ack(q, &m);
	expect_msg(q, &m, "second", 1);
	pmq_ack(q, &m);
	pmq_close(q);
}

static void test_publish_loses_to_an_abort_and_says_so(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	void *buf;
	assert_int_equal(pmq_reserve(q, 4, &buf, 0), 0);
	/* a recoverer aborted the ticket (as for a dead claimant): the publish CAS must lose */
	atomic_store(&main_slot(q, 0)->ctl, ctl_make(1, ST_FREE, PMQ_NO_OWNER, 0, CTL_F_ABORTED));
	memcpy(buf, "lost", 4);
	assert_int_equal(pmq_commit(q, buf, 4), -ESTALE);
	assert_int_equal(ctl_of(q, 0), ctl_make(1, ST_FREE, PMQ_NO_OWNER, 0, CTL_F_ABORTED));
	send_str(q, "after");
	struct pmq_msg m;
	expect_msg(q, &m, "after", 1);
	assert_int_equal(m.ticket, 1);
	pmq_ack(q, &m);
	pmq_close(q);
}

static void test_producer_skips_ticket_aborted_before_tail_moved(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	atomic_store(&main_slot(q, 0)->ctl, ctl_make(1, ST_FREE, PMQ_NO_OWNER, 0, CTL_F_ABORTED));
	send_str(q, "c");
	assert_int_equal(ctl_state(ctl_of(q, 1)), ST_READY);
	struct pmq_msg m;
	expect_msg(q, &m, "c", 1);
	assert_int_equal(m.ticket, 1);
	pmq_close(q);
}

/* a send stores only what differs from the slot's old header: a field a rebuild or a
 * mirror left non-zero (a survivor's extra delivery, flags, reason, an old epoch) must
 * still read as a fresh message's */
static void test_send_resets_what_an_old_header_left(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	struct pmq_slot *s = main_slot(q, 0);
	s->deliveries = 3;
	s->hflags = SLOT_HF_REPLAYED;
	s->reason = DR_REJECTED;
	s->replay_base = 2;
	s->epoch = 9;
	send_str(q, "fresh");
	assert_int_equal(s->deliveries, 0);
	assert_int_equal(s->hflags, 0);
	assert_int_equal(s->reason, DR_NONE);
	assert_int_equal(s->replay_base, 0);
	assert_int_equal(s->epoch, (uint32_t)atomic_load(&q->hdr->epoch));
	struct pmq_msg m;
	expect_msg(q, &m, "fresh", 1);
	assert_int_equal(m.epoch, (uint32_t)atomic_load(&q->hdr->epoch));
	pmq_ack(q, &m);
	/* and the common case: nothing to reset, the next lap's send reads the same */
	for (int i = 0; i < 8; i++) {
		send_str(q, "lap");
		expect_msg(q, &m, "lap", 1);
		pmq_ack(q, &m);
	}
	pmq_close(q);
}

static void test_send_too_large_is_emsgsize_and_nothing_changes(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	char big[65] = {0};
	assert_int_equal(pmq_send(q, big, sizeof(big), 0), -EMSGSIZE);
	assert_non_null(strstr(pmq_errmsg(), "max_payload"));
	assert_int_equal(atomic_load(&q->hdr->tail), 0);
	pmq_close(q);
}

/* ---- consumer transitions ---------------------------------------------------- */

static void test_recv_claim_names_the_consumer(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	send_str(q, "a");
	struct pmq_msg m;
	expect_msg(q, &m, "a", 1);
	uint64_t c = ctl_of(q, 0);
	assert_int_equal(ctl_state(c), ST_CLAIMED);
	assert_int_equal(ctl_owner(c), q->index);
	assert_int_equal(atomic_load(&q->hdr->head), 1);
	assert_int_equal(atomic_load(&q->me->in_flight), 1);
	assert_int_equal(pmq_ack(q, &m), 0);
	c = ctl_of(q, 0);
	assert_int_equal(ctl_state(c), ST_FREE);
	assert_int_equal(ctl_lap(c), 1);
	assert_int_equal(atomic_load(&q->me->in_flight), 0);
	pmq_close(q);
}

static void test_consumer_claim_loses_race_and_helps_head(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	send_str(q, "first");
	send_str(q, "second");
	/* a competitor claimed ticket 0 and died before advancing head */
	atomic_store(&main_slot(q, 0)->ctl, ctl_make(0, ST_CLAIMED, 9, 0, 0));
	struct pmq_msg m;
	expect_msg(q, &m, "second", 1);
	assert_int_equal(atomic_load(&q->hdr->head), 2);
	pmq_ack(q, &m);
	atomic_store(&main_slot(q, 0)->ctl, ctl_free(1)); /* leave the ring clean */
	pmq_close(q);
}

static void test_recv_on_writing_slot_waits_and_nonblock_says_eagain(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	void *buf;
	assert_int_equal(pmq_reserve(q, 1, &buf, 0), 0);
	struct pmq_msg m;
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), -EAGAIN);
	assert_int_equal(pmq_recv_timeout(q, &m, 2000000), -ETIMEDOUT);
	assert_int_equal(pmq_commit(q, buf, 1), 0);
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0);
	pmq_ack(q, &m);
	pmq_close(q);
}

static void test_quota_reached_returns_ebusy(void **st)
{
	(void)st;
	struct pmq *q = make_queue(8, 5, 2, 0, 4);
	send_str(q, "1");
	send_str(q, "2");
	send_str(q, "3");
	struct pmq_msg a, b, c;
	expect_msg(q, &a, "1", 1);
	expect_msg(q, &b, "2", 1);
	assert_int_equal(pmq_recv(q, &c, PMQ_NONBLOCK), -EBUSY);
	pmq_ack(q, &a);
	expect_msg(q, &c, "3", 1);
	pmq_ack(q, &b);
	pmq_ack(q, &c);
	pmq_close(q);
}

static void test_ack_after_slot_taken_returns_estale(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	send_str(q, "a");
	struct pmq_msg m;
	expect_msg(q, &m, "a", 1);
	/* recovery (wrongly believing us dead) freed the slot: our CAS must lose */
	atomic_store(&main_slot(q, 0)->ctl, ctl_free(1));
	assert_int_equal(pmq_ack(q, &m), -ESTALE);
	assert_int_equal(ctl_lap(ctl_of(q, 0)), 1); /* untouched by the failed ack */
	pmq_close(q);
}

static void test_ack_of_foreign_message_is_einval(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	struct pmq_msg m;
	memset(&m, 0, sizeof(m));
	m.cookie[0] = 3;
	m.cookie[1] = ctl_make(0, ST_CLAIMED, 200, 0, 0);
	assert_int_equal(pmq_ack(q, &m), -EINVAL);
	m.cookie[0] = 1ull << 40; /* out of range index */
	assert_int_equal(pmq_ack(q, &m), -EINVAL);
	pmq_close(q);
}

/* ---- moves, side area, dead letters ---------------------------------------------- */

static void test_nack_moves_to_side_and_redelivery_comes_first(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	send_str(q, "old");
	send_str(q, "new");
	struct pmq_msg m;
	expect_msg(q, &m, "old", 1);
	assert_int_equal(pmq_nack(q, &m, 0), 0);
	uint64_t c = ctl_of(q, 0);
	assert_int_equal(ctl_state(c), ST_FREE); /* holder was the actor: freed at once */
	assert_int_equal(ctl_lap(c), 1);
	assert_int_equal(atomic_load(&q->hdr->side_hint), 1);
	expect_msg(q, &m, "old", 2);
	assert_int_equal(m.ticket, 0); /* origin ticket kept */
	assert_int_equal(atomic_load(&q->hdr->side_hint), 0);
	assert_int_equal(pmq_ack(q, &m), 0);
	expect_msg(q, &m, "new", 1);
	pmq_ack(q, &m);
	struct pmq_stats s;
	pmq_stats(q, &s);
	assert_int_equal(s.redelivered, 1);
	pmq_close(q);
}

static void test_nack_of_side_entry_requeues_in_place(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	send_str(q, "p");
	struct pmq_msg m;
	expect_msg(q, &m, "p", 1);
	pmq_nack(q, &m, 0);
	expect_msg(q, &m, "p", 2);
	uint32_t idx = (uint32_t)m.cookie[0];
	uint32_t gen = ctl_lap(m.cookie[1]);
	assert_true(m.cookie[0] >> 63);
	assert_int_equal(pmq_nack(q, &m, 0), 0);
	uint64_t c = atomic_load(&side_slot(q, idx)->ctl);
	assert_int_equal(ctl_state(c), ST_READY);
	assert_int_equal(ctl_lap(c), gen + 1);
	expect_msg(q, &m, "p", 3);
	assert_int_equal((uint32_t)m.cookie[0], idx); /* same entry: no copy-of-copy */
	pmq_ack(q, &m);
	assert_int_equal(ctl_state(atomic_load(&side_slot(q, idx)->ctl)), ST_FREE);
	pmq_close(q);
}

static void test_max_deliveries_dead_letters_and_dlq_handle_receives(void **st)
{
	(void)st;
	struct pmq *q = make_queue(8, 2, 8, 0, 4);
	send_str(q, "poison");
	struct pmq_msg m;
	expect_msg(q, &m, "poison", 1);
	pmq_nack(q, &m, 0);
	expect_msg(q, &m, "poison", 2);
	pmq_nack(q, &m, 0); /* second failed attempt: over max_deliveries=2 */
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), -EAGAIN);
	struct pmq_stats s;
	pmq_stats(q, &s);
	assert_int_equal(s.dead_letters, 1);
	assert_int_equal(s.dead_lettered, 1);
	struct pmq *dlq = NULL;
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.dir = dir;
	assert_int_equal(pmq_open_ex("t.dlq", PMQ_PRODUCER, &o, &dlq), -EINVAL);
	assert_int_equal(pmq_open_ex("t.dlq", PMQ_CONSUMER, &o, &dlq), 0);
	expect_msg(dlq, &m, "poison", 3);
	assert_int_equal(pmq_nack(dlq, &m, 0), 0); /* back to the dead letters */
	expect_msg(dlq, &m, "poison", 3);
	assert_int_equal(pmq_ack(dlq, &m), 0);
	pmq_stats(q, &s);
	assert_int_equal(s.dead_letters, 0);
	pmq_close(dlq);
	pmq_close(q);
}

static void test_nack_deadletter_flag_and_replay(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	send_str(q, "r");
	struct pmq_msg m;
	expect_msg(q, &m, "r", 1);
	assert_int_equal(pmq_nack(q, &m, PMQ_NACK_DEADLETTER), 0);
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), -EAGAIN);
	assert_int_equal(pmq_dlq_replay(q, 10), 1);
	expect_msg(q, &m, "r", 2);
	pmq_ack(q, &m);
	struct pmq_stats s;
	pmq_stats(q, &s);
	assert_int_equal(s.dead_letters, 0);
	pmq_close(q);
}

static void test_dlq_purge_drops_dead_letters(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	send_str(q, "x");
	struct pmq_msg m;
	expect_msg(q, &m, "x", 1);
	pmq_nack(q, &m, PMQ_NACK_DEADLETTER);
	assert_int_equal(pmq_dlq_purge(q, 10), 1);
	assert_int_equal(pmq_dlq_replay(q, 10), 0);
	pmq_close(q);
}

static void test_dead_letter_without_credit_stays_held(void **st)
{
	(void)st;
	struct pmq *q = make_queue(8, 5, 8, 0, 1);
	send_str(q, "1");
	send_str(q, "2");
	struct pmq_msg a, b;
	expect_msg(q, &a, "1", 1);
	expect_msg(q, &b, "2", 1);
	assert_int_equal(pmq_nack(q, &a, PMQ_NACK_DEADLETTER), 0);
	assert_int_equal(pmq_nack(q, &b, PMQ_NACK_DEADLETTER), -EDQUOT);
	assert_int_equal(ctl_state(ctl_of(q, 1)), ST_CLAIMED); /* never dropped */
	assert_int_equal(pmq_ack(q, &b), 0);
	pmq_close(q);
}

static void test_nack_without_side_room_is_enospc_and_message_stays(void **st)
{
	(void)st;
	struct pmq *q = make_queue(8, 5, 8, 2, 1);
	send_str(q, "1");
	send_str(q, "2");
	send_str(q, "3");
	struct pmq_msg a, b, c;
	expect_msg(q, &a, "1", 1);
	expect_msg(q, &b, "2", 1);
	expect_msg(q, &c, "3", 1);
	assert_int_equal(pmq_nack(q, &a, 0), 0);
	assert_int_equal(pmq_nack(q, &b, 0), 0);
	assert_int_equal(pmq_nack(q, &c, 0), -ENOSPC);
	assert_int_equal(ctl_state(ctl_of(q, 2)), ST_CLAIMED);
	assert_int_equal(pmq_ack(q, &c), 0);
	pmq_close(q);
}

static void test_move_loses_race_when_source_changed(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	send_str(q, "m");
	struct pmq_msg m;
	expect_msg(q, &m, "m", 1);
	struct move_req r = {.src = main_slot(q, 0), .src_is_side = 0, .src_idx = 0,
			     .src_ctl = ctl_make(0, ST_CLAIMED, 77, 0, 0), /* not the real owner */
			     .actor = q->index, .free_source = true, .add_deliveries = 1};
	assert_int_equal(side_move(q, &r), -ESTALE);
	for (uint32_t e = 0; e < q->side_count; e++)
		assert_int_equal(ctl_state(atomic_load(&side_slot(q, e)->ctl)), ST_FREE);
	assert_int_equal(atomic_load(&q->hdr->side_hint), 0);
	assert_int_equal(pmq_ack(q, &m), 0);
	pmq_close(q);
}

static void test_lease_requeue_of_live_holder_pins_slot_until_estale_ack(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	struct pmq *holder = open_role(PMQ_CONSUMER);
	send_str(q, "leased");
	struct pmq_msg hm, m;
	expect_msg(holder, &hm, "leased", 1);
	assert_int_equal(pmq_requeue_holder(q, holder->index, holder->incarnation + 1), -ESTALE);
	assert_int_equal(pmq_requeue_holder(q, holder->index, holder->incarnation), 1);
	uint64_t c = ctl_of(q, 0);
	assert_int_equal(ctl_state(c), ST_MOVED);
	assert_int_equal(ctl_owner(c), holder->index);
	expect_msg(q, &m, "leased", 2);
	/* the holder's bytes are untouched while it may still read them */
	assert_memory_equal(hm.data, "leased", 6);
	assert_int_equal(pmq_ack(holder, &hm), -ESTALE);
	c = ctl_of(q, 0);
	assert_int_equal(ctl_state(c), ST_FREE);
	assert_int_equal(ctl_lap(c), 1);
	assert_int_equal(atomic_load(&holder->me->in_flight), 0);
	assert_int_equal(pmq_ack(q, &m), 0);
	pmq_close(holder);
	pmq_close(q);
}

/* side_last is a hint in shared memory: the redelivery it names is claimed first, and a
 * stale or out-of-range value only costs the rotating scan */
static void test_redelivery_claim_uses_side_last_only_as_a_hint(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	send_str(q, "r");
	struct pmq_msg m;
	expect_msg(q, &m, "r", 1);
	assert_int_equal(pmq_nack(q, &m, 0), 0); /* a redelivery, READY in the side area */
	uint32_t last = atomic_load(&q->hdr->side_last);
	assert_true(last >= 1 && last <= q->side_count);
	assert_int_equal(ctl_state(atomic_load(&side_slot(q, last - 1)->ctl)), ST_READY);
	/* another READY entry where the rotating scan starts (forged; side_hint left at 1):
	 * the hint's entry is taken first, the rotating scan alone would take this one */
	uint32_t x = last % q->side_count;
	struct pmq_slot *d = side_slot(q, x);
	uint64_t c0 = atomic_load(&d->ctl);
	assert_int_equal(ctl_state(c0), ST_FREE);
	d->len = 1;
	d->deliveries = 0;
	d->replay_base = 0;
	d->reason = DR_NONE;
	d->hflags = 0;
	memcpy(slot_payload(d), "x", 1);
	atomic_store(&d->ctl, ctl_make(ctl_lap(c0), ST_READY, PMQ_NO_OWNER, 0, 0));
	q->side_scan = x;
	expect_msg(q, &m, "r", 2);
	assert_int_equal((uint32_t)m.cookie[0], last - 1); /* found where the hint said */
	atomic_store(&d->ctl, c0);
	assert_int_equal(pmq_nack(q, &m, 0), 0);
	atomic_store(&q->hdr->side_last, 0xffffffffu); /* scribbled: out of range */
	expect_msg(q, &m, "r", 3);
	assert_int_equal(pmq_nack(q, &m, 0), 0);
	atomic_store(&q->hdr->side_last, 1 + (((uint32_t)m.cookie[0] + 1) % q->side_count)); /* stale */
	expect_msg(q, &m, "r", 4);
	pmq_ack(q, &m);
	pmq_close(q);
}

static void test_freeing_moved_slot_publishes_copy_left_writing(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	send_str(q, "h");
	struct pmq_msg m;
	expect_msg(q, &m, "h", 1);
	/* an actor reserved e, copied, marked the source, then died before publishing */
	uint32_t e;
	uint64_t wr;
	assert_int_equal(side_reserve(q, 5, &e, &wr), 0);
	struct pmq_slot *d = side_slot(q, e);
	atomic_store(&d->src, src_make(0, 0, 0));
	d->len = 1;
	d->reason = DR_NONE;
	memcpy(slot_payload(d), "h", 1);
	atomic_store(&main_slot(q, 0)->ctl, ctl_make(0, ST_MOVED, q->index, e, 0));
	/* the holder's ack frees the MOVED slot, publishing e first (helping rule) */
	assert_int_equal(pmq_ack(q, &m), -ESTALE);
	assert_int_equal(ctl_state(atomic_load(&d->ctl)), ST_READY);
	assert_int_equal(ctl_state(ctl_of(q, 0)), ST_FREE);
	atomic_store(&q->hdr->side_hint, 1);
	expect_msg(q, &m, "h", 1);
	pmq_ack(q, &m);
	pmq_close(q);
}

/* ---- recovery transitions ----------------------------------------------------------- */

static void test_recovery_aborts_dead_producers_writing_slot(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	unsigned dead = fake_dead_attachment(q);
	/* format 2: the dead producer claimed ticket 0 (record + tail) and never published */
	atomic_store(&q->attach[dead].claim, 1);
	atomic_store(&q->hdr->tail, 1);
	send_str(q, "next");
	assert_int_equal(pmq_recover(q), 1);
	uint64_t c = ctl_of(q, 0);
	assert_int_equal(ctl_state(c), ST_FREE);
	assert_true(c & CTL_F_ABORTED);
	assert_int_equal(at_state(atomic_load(&q->attach[dead].word)), AT_FREE);
	struct pmq_msg m;
	expect_msg(q, &m, "next", 1);
	pmq_ack(q, &m);
	pmq_close(q);
}

/* a dead producer's record names a ticket whose tail CAS it never made: nothing to abort */
static void test_recovery_ignores_a_record_the_tail_never_passed(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	unsigned dead = fake_dead_attachment(q);
	atomic_store(&q->attach[dead].claim, 1); /* "claiming 0", killed before the tail CAS */
	assert_int_equal(pmq_recover(q), 1);
	assert_int_equal(ctl_of(q, 0), ctl_free(0));
	assert_int_equal(atomic_load(&q->hdr->aborted), 0);
	assert_int_equal(atomic_load(&q->attach[dead].claim), 0);
	send_str(q, "zero");
	struct pmq_msg m;
	expect_msg(q, &m, "zero", 1);
	assert_int_equal(m.ticket, 0);
	pmq_ack(q, &m);
	pmq_close(q);
}

static void test_waiting_consumer_heals_dead_producer_without_recover(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	unsigned dead = fake_dead_attachment(q);
	atomic_store(&q->attach[dead].claim, 1); /* its claim of ticket 0, never published */
	atomic_store(&q->hdr->tail, 1);
	send_str(q, "behind");
	struct pmq_msg m;
	assert_int_equal(pmq_recv_timeout(q, &m, 200000000ull), 0);
	assert_memory_equal(m.data, "behind", 6);
	pmq_ack(q, &m);
	pmq_close(q);
}

static void test_recovery_requeues_dead_consumers_claims_with_count(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	send_str(q, "held");
	unsigned dead = fake_dead_attachment(q);
	atomic_store(&main_slot(q, 0)->ctl, ctl_make(0, ST_CLAIMED, dead, 0, 0));
	atomic_store(&q->hdr->head, 1);
	assert_int_equal(pmq_recover(q), 1);
	struct pmq_msg m;
	expect_msg(q, &m, "held", 2);
	pmq_ack(q, &m);
	pmq_close(q);
}

static void test_recovery_never_robs_a_live_owner(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	struct pmq *live = open_role(PMQ_CONSUMER);
	send_str(q, "mine");
	struct pmq_msg m;
	expect_msg(live, &m, "mine", 1);
	assert_int_equal(pmq_recover(q), 0);
	assert_int_equal(ctl_state(ctl_of(q, 0)), ST_CLAIMED);
	assert_int_equal(pmq_ack(live, &m), 0);
	pmq_close(live);
	pmq_close(q);
}

static void test_recovery_publishes_marked_copy_and_aborts_unmarked(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	send_str(q, "A");
	send_str(q, "B");
	unsigned dead = fake_dead_attachment(q);
	/* slot 0 held by the dead actor, moved to e1 (mark done, publish not);
	 * slot 1 held by it too, copy e2 reserved but never marked */
	uint32_t e1, e2;
	uint64_t w1, w2;
	assert_int_equal(side_reserve(q, dead, &e1, &w1), 0);
	assert_int_equal(side_reserve(q, dead, &e2, &w2), 0);
	struct pmq_slot *d1 = side_slot(q, e1), *d2 = side_slot(q, e2);
	atomic_store(&d1->src, src_make(0, 0, 0));
	d1->len = 1;
	d1->deliveries = 1;
	d1->origin = 0;
	d1->reason = DR_NONE;
	memcpy(slot_payload(d1), "A", 1);
	atomic_store(&d2->src, src_make(0, 1, 0));
	atomic_store(&main_slot(q, 0)->ctl, ctl_make(0, ST_MOVED, dead, e1, 0));
	atomic_store(&main_slot(q, 1)->ctl, ctl_make(0, ST_CLAIMED, dead, 0, 0));
	atomic_store(&q->hdr->head, 2);
	atomic_store(&q->hdr->side_hint, 1); /* the dead actor raised it before its mark */
	assert_int_equal(pmq_recover(q), 1);
	assert_int_equal(ctl_state(ctl_of(q, 0)), ST_FREE);
	assert_int_equal(ctl_state(ctl_of(q, 1)), ST_FREE);
	struct pmq_msg m;
	int got_a = 0, got_b = 0;
	while (pmq_recv(q, &m, PMQ_NONBLOCK) == 0) {
		assert_int_equal(m.delivery_count, 2);
		if (((const char *)m.data)[0] == 'A')
			got_a++;
		else if (((const char *)m.data)[0] == 'B')
			got_b++;
		pmq_ack(q, &m);
	}
	assert_int_equal(got_a, 1);
	assert_int_equal(got_b, 1);
	/* the unmarked copy was aborted, not published: no third message, e2 is free */
	assert_int_equal(ctl_state(atomic_load(&d2->ctl)), ST_FREE);
	assert_int_equal(atomic_load(&d2->src), 0);
	pmq_close(q);
}

static void test_crash_requeue_not_counted_when_configured(void **st)
{
	(void)st;
	struct pmq_config c;
	pmq_config_init(&c);
	c.slot_count = 8;
	c.max_payload = 16;
	c.flags = PMQ_F_CRASH_NOT_DELIVERY;
	c.consumer_quota = 8;
	c.dir = dir;
	pmq_unlink("t", dir);
	pmq_t *q;
	assert_int_equal(pmq_create("t", &c, &q), 0);
	send_str(q, "c");
	unsigned dead = fake_dead_attachment(q);
	atomic_store(&main_slot(q, 0)->ctl, ctl_make(0, ST_CLAIMED, dead, 0, 0));
	atomic_store(&q->hdr->head, 1);
	assert_int_equal(pmq_recover(q), 1);
	struct pmq_msg m;
	expect_msg(q, &m, "c", 1);
	pmq_ack(q, &m);
	pmq_close(q);
}

static void test_close_requeues_held_messages(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	struct pmq *c = open_role(PMQ_CONSUMER);
	send_str(q, "kept");
	struct pmq_msg m;
	expect_msg(c, &m, "kept", 1);
	assert_int_equal(pmq_close(c), 0);
	expect_msg(q, &m, "kept", 2);
	pmq_ack(q, &m);
	pmq_close(q);
}

/* ---- waiting -------------------------------------------------------------------------- */

static void *late_sender(void *arg)
{
	usleep(50000);
	struct pmq *p = open_role(PMQ_PRODUCER);
	assert_int_equal(pmq_send(p, "wake", 4, 0), 0);
	pmq_close(p);
	(void)arg;
	return NULL;
}

static void test_futex_waiter_is_woken_by_send(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.dir = dir;
	o.wait = PMQ_WAIT_FUTEX;
	pmq_t *c;
	assert_int_equal(pmq_open_ex("t", PMQ_CONSUMER, &o, &c), 0);
	pthread_t th;
	pthread_create(&th, NULL, late_sender, NULL);
	struct pmq_msg m;
	assert_int_equal(pmq_recv_timeout(c, &m, 5000000000ull), 0);
	assert_memory_equal(m.data, "wake", 4);
	pmq_ack(c, &m);
	pthread_join(th, NULL);
	/* the waiter's bit is gone once it is awake */
	assert_int_equal(atomic_load(&q->hdr->data_waiters[0]), 0);
	pmq_close(c);
	pmq_close(q);
}

static void test_stale_side_hint_does_not_keep_a_waiter_awake(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	/* an actor died between raising the hint and its mark: the hint stays 1 forever */
	atomic_store(&q->hdr->side_hint, 1);
	q->wait = PMQ_WAIT_FUTEX;
	struct rusage before, after;
	getrusage(RUSAGE_THREAD, &before);
	struct pmq_msg m;
	assert_int_equal(pmq_recv_timeout(q, &m, 100000000ull), -ETIMEDOUT);
	getrusage(RUSAGE_THREAD, &after);
	long cpu_us = (after.ru_utime.tv_sec - before.ru_utime.tv_sec) * 1000000L +
		      (after.ru_utime.tv_usec - before.ru_utime.tv_usec) +
		      (after.ru_stime.tv_sec - before.ru_stime.tv_sec) * 1000000L +
		      (after.ru_stime.tv_usec - before.ru_stime.tv_usec);
	assert_true(cpu_us < 50000); /* it slept; a busy loop would burn the whole 100 ms */
	/* and a real redelivery published later is still found */
	send_str(q, "r");
	struct pmq_msg r;
	expect_msg(q, &r, "r", 1);
	assert_int_equal(pmq_nack(q, &r, 0), 0);
	usleep(60000); /* past the rescan delay */
	expect_msg(q, &r, "r", 2);
	pmq_ack(q, &r);
	pmq_close(q);
}

static void test_batches_send_receive_and_ack_in_order(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	struct iovec v[10];
	char bufs[10][4];
	for (int i = 0; i < 10; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "b%d", i);
		v[i].iov_base = bufs[i];
		v[i].iov_len = strlen(bufs[i]);
	}
	/* 8 slots: the batch takes what room there is */
	assert_int_equal(pmq_send_batch(q, v, 10, PMQ_NONBLOCK), 8);
	struct pmq_msg m[8];
	assert_int_equal(pmq_recv_batch(q, m, 8, PMQ_NONBLOCK), 8);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(m[i].ticket, (uint64_t)i);
		assert_memory_equal(m[i].data, bufs[i], strlen(bufs[i]));
	}
	/* one of them was taken away meanwhile: the batch acks the rest, reports -ESTALE */
	atomic_store(&main_slot(q, 3)->ctl, ctl_free(1));
	assert_int_equal(pmq_ack_batch(q, m, 8), -ESTALE);
	for (uint32_t j = 0; j < 8; j++) {
		assert_int_equal(ctl_state(ctl_of(q, j)), ST_FREE);
		assert_int_equal(ctl_lap(ctl_of(q, j)), 1);
	}
	assert_int_equal(atomic_load(&q->me->in_flight), 0);
	assert_int_equal(pmq_send_batch(q, v + 8, 2, PMQ_NONBLOCK), 2);
	pmq_close(q);
}

static void test_idle_waiter_recovers_dead_consumer_without_pmqd(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	send_str(q, "orphan");
	unsigned dead = fake_dead_attachment(q);
	atomic_store(&main_slot(q, 0)->ctl, ctl_make(0, ST_CLAIMED, dead, 0, 0));
	atomic_store(&q->hdr->head, 1);
	q->wait = PMQ_WAIT_FUTEX;
	struct pmq_msg m;
	/* nobody calls pmq_recover: the sleeping consumer heals the queue itself */
	assert_int_equal(pmq_recv_timeout(q, &m, 2000000000ull), 0);
	assert_memory_equal(m.data, "orphan", 6);
	assert_int_equal(m.delivery_count, 2);
	assert_int_equal(at_state(atomic_load(&q->attach[dead].word)), AT_FREE);
	pmq_ack(q, &m);
	pmq_close(q);
}

static void test_peek_reads_without_claiming_and_skips_taken(void **st)
{
	(void)st;
	struct pmq *q = default_queue();
	send_str(q, "one");
	send_str(q, "two");
	send_str(q, "three");
	struct pmq_msg first;
	expect_msg(q, &first, "one", 1); /* claimed: peek skips it */
	uint64_t pos = 0;
	char buf[8];
	struct pmq_msg info;
	assert_int_equal(pmq_peek(q, &pos, buf, sizeof(buf), &info, 0), 3);
	assert_memory_equal(buf, "two", 3);
	assert_int_equal(info.ticket, 1);
	assert_int_equal(pos, 2);
	assert_int_equal(pmq_peek(q, &pos, buf, 2, &info, 0), 5); /* full length, truncated copy */
	assert_memory_equal(buf, "th", 2);
	assert_int_equal(pmq_peek(q, &pos, buf, sizeof(buf), &info, 0), -ENOENT);
	/* nothing was taken */
	struct pmq_msg m;
	expect_msg(q, &m, "two", 1);
	pmq_ack(q, &m);
	assert_int_equal(pmq_nack(q, &first, PMQ_NACK_DEADLETTER), 0);
	pos = 0;
	assert_int_equal(pmq_peek(q, &pos, buf, sizeof(buf), &info, PMQ_PEEK_DLQ), 3);
	assert_memory_equal(buf, "one", 3);
	assert_int_equal(pmq_peek(q, &pos, buf, sizeof(buf), &info, PMQ_PEEK_DLQ), -ENOENT);
	struct pmq_stats s;
	pmq_stats(q, &s);
	assert_int_equal(s.dead_letters, 1);
	struct pmq_attach_info ai[4];
	assert_int_equal(pmq_attachments_ex(q, ai, 4, PMQ_ATTACH_NO_PROBE), 1);
	assert_int_equal(ai[0].pid, getpid());
	assert_int_equal(ai[0].alive, 1);
	pmq_close(q);
}

static void test_lap_comparison_wraps(void **st)
{
	(void)st;
	assert_int_equal(lap_diff(0, 0xffffffffu), 1);
	assert_int_equal(lap_diff(0xffffffffu, 0), -1);
	assert_int_equal(lap_diff(5, 5), 0);
}

static int setup(void **st)
{
	(void)st;
	snprintf(dir, sizeof(dir), "/dev/shm/pmq-unit-%d", (int)getpid());
	mkdir(dir, 0700);
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	pmq_unlink("t", dir);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_send_claims_free_slot_then_commits_ready),
		cmocka_unit_test(test_reserve_names_the_producer_until_commit),
		cmocka_unit_test(test_abort_frees_slot_for_next_lap_and_consumers_skip_it),
		cmocka_unit_test(test_send_returns_eagain_when_ring_full),
		cmocka_unit_test(test_producer_claim_loses_race_and_helps_tail),
		cmocka_unit_test(test_consumer_waits_behind_a_claimed_unpublished_ticket),
		cmocka_unit_test(test_publish_loses_to_an_abort_and_says_so),
		cmocka_unit_test(test_producer_skips_ticket_aborted_before_tail_moved),
		cmocka_unit_test(test_send_resets_what_an_old_header_left),
		cmocka_unit_test(test_send_too_large_is_emsgsize_and_nothing_changes),
		cmocka_unit_test(test_recv_claim_names_the_consumer),
		cmocka_unit_test(test_consumer_claim_loses_race_and_helps_head),
		cmocka_unit_test(test_recv_on_writing_slot_waits_and_nonblock_says_eagain),
		cmocka_unit_test(test_quota_reached_returns_ebusy),
		cmocka_unit_test(test_ack_after_slot_taken_returns_estale),
		cmocka_unit_test(test_ack_of_foreign_message_is_einval),
		cmocka_unit_test(test_nack_moves_to_side_and_redelivery_comes_first),
		cmocka_unit_test(test_nack_of_side_entry_requeues_in_place),
		cmocka_unit_test(test_max_deliveries_dead_letters_and_dlq_handle_receives),
		cmocka_unit_test(test_nack_deadletter_flag_and_replay),
		cmocka_unit_test(test_dlq_purge_drops_dead_letters),
		cmocka_unit_test(test_dead_letter_without_credit_stays_held),
		cmocka_unit_test(test_nack_without_side_room_is_enospc_and_message_stays),
		cmocka_unit_test(test_move_loses_race_when_source_changed),
		cmocka_unit_test(test_lease_requeue_of_live_holder_pins_slot_until_estale_ack),
		cmocka_unit_test(test_freeing_moved_slot_publishes_copy_left_writing),
		cmocka_unit_test(test_redelivery_claim_uses_side_last_only_as_a_hint),
		cmocka_unit_test(test_recovery_aborts_dead_producers_writing_slot),
		cmocka_unit_test(test_recovery_ignores_a_record_the_tail_never_passed),
		cmocka_unit_test(test_waiting_consumer_heals_dead_producer_without_recover),
		cmocka_unit_test(test_recovery_requeues_dead_consumers_claims_with_count),
		cmocka_unit_test(test_recovery_never_robs_a_live_owner),
		cmocka_unit_test(test_recovery_publishes_marked_copy_and_aborts_unmarked),
		cmocka_unit_test(test_crash_requeue_not_counted_when_configured),
		cmocka_unit_test(test_close_requeues_held_messages),
		cmocka_unit_test(test_futex_waiter_is_woken_by_send),
		cmocka_unit_test(test_stale_side_hint_does_not_keep_a_waiter_awake),
		cmocka_unit_test(test_batches_send_receive_and_ack_in_order),
		cmocka_unit_test(test_idle_waiter_recovers_dead_consumer_without_pmqd),
		cmocka_unit_test(test_peek_reads_without_claiming_and_skips_taken),
		cmocka_unit_test(test_lap_comparison_wraps),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
