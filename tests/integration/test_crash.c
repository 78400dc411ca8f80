/*
 * test_crash.c - producers, consumers and recoverers SIGKILLed at the
 * library's named fault points (PMQ_FAULT=name[:n] in the child). After
 * recovery from a surviving handle: nothing is lost, nothing appears that
 * was never sent, duplicates come only as redeliveries (delivery count
 * > 1), and no slot or side entry is left owned by the dead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "ledger.h"

#define QNAME "crash"

static pmq_t *Q; /* the survivor: producer and consumer, attached before any child */

static int setup(void **state)
{
	(void)state;
	itest_dir_make();
	ledger_new();
	struct pmq_config cfg;
	itest_config(&cfg, 64);
	return pmq_create(QNAME, &cfg, &Q);
}

static int teardown(void **state)
{
	(void)state;
	int rc = Q ? pmq_close(Q) : 0;
	Q = NULL;
	itest_dir_remove();
	return rc;
}

/* After the drain: every main slot and side entry is FREE and nobody holds anything. */
static void assert_all_settled(void)
{
	assert_int_equal(count_main(Q, ST_FREE), Q->slot_count);
	assert_int_equal(count_side(Q, ST_FREE), Q->side_count);
	struct pmq_stats st;
	assert_int_equal(pmq_stats(Q, &st), 0);
	assert_int_equal(st.in_flight, 0);
	assert_int_equal(st.attachments, 1);
}

/* ---- producers ------------------------------------------------------------------- */

static void producer_sends_ten(void *arg)
{
	(void)arg;
	pmq_t *q;
	CHILD_CHECK(pmq_open(QNAME, PMQ_PRODUCER, &q) == 0);
	for (uint32_t s = 0; s < 10; s++)
		CHILD_CHECK(ledger_send(q, 0, s) == 0);
	_exit(0); /* not reached when the fault fires */
}

/* a batch of four: the fault point kills us at the claim of the third */
static void producer_batch_of_four(void *arg)
{
	(void)arg;
	pmq_t *q;
	CHILD_CHECK(pmq_open(QNAME, PMQ_PRODUCER, &q) == 0);
	uint8_t bufs[4][128];
	struct iovec v[4];
	for (uint32_t s = 0; s < 4; s++) {
		v[s].iov_base = bufs[s];
		v[s].iov_len = itest_make(bufs[s], sizeof(bufs[s]), 0, s);
		atomic_store(&LG->sent[0][s], 1); /* before: a message the batch publishes may be delivered */
	}
	pmq_send_batch(q, v, 4, 0);
	_exit(0); /* not reached when the fault fires */
}

static void producer_reserves_and_dies(void *arg)
{
	(void)arg;
	pmq_t *q;
	CHILD_CHECK(pmq_open(QNAME, PMQ_PRODUCER, &q) == 0);
	for (uint32_t s = 0; s < 5; s++)
		CHILD_CHECK(ledger_send(q, 0, s) == 0);
	void *buf;
	CHILD_CHECK(pmq_reserve(q, 64, &buf, 0) == 0);
	itest_make(buf, 32, 0, 5); /* half a message: never committed */
	raise(SIGKILL);
}

/* A producer dies holding a WRITING slot; pmq_recover aborts it; the rest flows. */
static void producer_crash(const char *fault, void (*child)(void *))
{
	pid_t pid = itest_fork(fault, child, NULL);
	assert_true(itest_killed_by(itest_wait(pid), SIGKILL));
	for (uint32_t s = 0; s < 5; s++)
		assert_int_equal(atomic_load(&LG->sent[0][s]), 1);
	assert_int_equal(atomic_load(&LG->sent[0][5]), 0);
	assert_int_equal(count_main_claimed(Q), 1); /* the dead producer's claim */
	assert_int_equal(pmq_recover(Q), 1);
	assert_int_equal(count_main_claimed(Q), 0);
	struct pmq_stats st;
	assert_int_equal(pmq_stats(Q, &st), 0);
	assert_int_equal(st.aborted, 1);
	/* the ring still works past the aborted ticket, for more than a lap */
	for (uint32_t s = 0; s < 100; s++) {
		assert_int_equal(ledger_send(Q, 1, s), 0);
		if (s % 10 == 9)
			ledger_drain(Q);
	}
	ledger_drain(Q);
	assert_int_equal(ledger_verify(), 0);
	for (uint32_t s = 0; s < 5; s++)
		assert_int_equal(atomic_load(&LG->first[0][s]), 1);
	assert_int_equal(atomic_load(&LG->first[0][5]) + atomic_load(&LG->again[0][5]), 0);
	assert_int_equal(pmq_recover(Q), 0);
	assert_all_settled();
}

static void test_producer_killed_after_claim(void **state)
{
	(void)state;
	producer_crash("send.after_claim:6", producer_sends_ten);
}

/* a batch producer dies at its third claim: the two before were published, the third is
 * the one claimed-unpublished ticket its record names (format 2 publishes each message
 * before claiming the next, so no claim is left that no record names) */
static void test_batch_producer_killed_at_third_claim(void **state)
{
	(void)state;
	pid_t pid = itest_fork("send.after_claim:3", producer_batch_of_four, NULL);
	assert_true(itest_killed_by(itest_wait(pid), SIGKILL));
	assert_int_equal(count_main_claimed(Q), 1);
	assert_int_equal(pmq_recover(Q), 1);
	assert_int_equal(count_main_claimed(Q), 0);
	struct pmq_stats st;
	assert_int_equal(pmq_stats(Q, &st), 0);
	assert_int_equal(st.aborted, 1);
	for (uint32_t s = 2; s < 4; s++)
		atomic_store(&LG->sent[0][s], 0); /* never published */
	assert_int_equal(ledger_drain(Q), 2);
	assert_int_equal(ledger_verify(), 0);
	assert_int_equal(pmq_recover(Q), 0);
	assert_all_settled();
}

/* killed after its claim record, before the tail CAS: nothing was claimed, nothing is
 * aborted, and the record alone must not make recovery abort a ticket someone else takes */
static void test_producer_killed_after_record(void **state)
{
	(void)state;
	pid_t pid = itest_fork("send.after_record:6", producer_sends_ten, NULL);
	assert_true(itest_killed_by(itest_wait(pid), SIGKILL));
	for (uint32_t s = 0; s < 5; s++)
		assert_int_equal(atomic_load(&LG->sent[0][s]), 1);
	assert_int_equal(count_main_claimed(Q), 0);
	assert_int_equal(atomic_load(&Q->hdr->tail), 5);
	/* a live producer takes ticket 5, the one the dead record names, and has not published */
	void *buf;
	assert_int_equal(pmq_reserve(Q, 8, &buf, 0), 0);
	assert_int_equal(count_main_claimed(Q), 1);
	/* both records name ticket 5 and one of them lives: recovery must not abort it, and
	 * keeps the dead entry until it can tell */
	assert_int_equal(pmq_recover(Q), 0);
	assert_int_equal(count_main_claimed(Q), 1);
	assert_int_equal(pmq_abort(Q, buf), 0);
	assert_int_equal(pmq_recover(Q), 1); /* ticket 5 is settled (aborted by us): now it frees the entry */
	struct pmq_stats st;
	assert_int_equal(pmq_stats(Q, &st), 0);
	assert_int_equal(st.aborted, 1); /* ours, by pmq_abort */
	for (uint32_t s = 0; s < 20; s++)
		assert_int_equal(ledger_send(Q, 1, s), 0);
	ledger_drain(Q);
	assert_int_equal(ledger_verify(), 0);
	assert_int_equal(pmq_recover(Q), 0);
	assert_all_settled();
}

static void test_producer_killed_before_commit(void **state)
{
	(void)state;
	producer_crash("send.before_commit:6", producer_sends_ten);
}

static void test_producer_killed_inside_reservation(void **state)
{
	(void)state;
	producer_crash(NULL, producer_reserves_and_dies);
}

/* ---- a waiting consumer heals a dead producer's slot by itself ----------------------- */

static void late_producer(void *arg)
{
	(void)arg;
	pmq_t *q;
	CHILD_CHECK(pmq_open(QNAME, PMQ_PRODUCER, &q) == 0); /* opened while the other producer lives */
	atomic_store(&LG->flag[0], 1);
	while (!atomic_load(&LG->flag[1]))
		itest_sleep_ms(1);
	itest_sleep_ms(50); /* let the consumer block first */
	CHILD_CHECK(ledger_send(q, 2, 0) == 0);
	CHILD_CHECK(pmq_close(q) == 0);
}

static void producer_sends_three(void *arg)
{
	(void)arg;
	pmq_t *q;
	CHILD_CHECK(pmq_open(QNAME, PMQ_PRODUCER, &q) == 0);
	for (uint32_t s = 0; s < 3; s++)
		CHILD_CHECK(ledger_send(q, 0, s) == 0);
}

static void test_waiting_consumer_heals_dead_producer_without_recover(void **state)
{
	(void)state;
	pid_t late = itest_fork(NULL, late_producer, NULL);
	assert_true(itest_await(&LG->flag[0], 1, 5000));
	pid_t dead = itest_fork("send.before_commit:3", producer_sends_three, NULL);
	assert_true(itest_killed_by(itest_wait(dead), SIGKILL));
	assert_int_equal(count_main_claimed(Q), 1);

	struct pmq_msg m;
	uint32_t p = 0;
	for (int s = 0; s < 2; s++) {
		assert_int_equal(pmq_recv_timeout(Q, &m, 1000000000ull), 0);
		assert_int_equal(ledger_seen(&m, &p), s);
		assert_int_equal(pmq_ack(Q, &m), 0);
		ledger_acked(p, s);
	}
	/* head now sits on the dead producer's WRITING slot; no pmq_recover anywhere */
	atomic_store(&LG->flag[1], 1);
	/* no pmq_recover and no pmqd: only the waiter's own heal can let this recv through */
	assert_int_equal(pmq_recv_timeout(Q, &m, 10000000000ull), 0);
	assert_int_equal(ledger_seen(&m, &p), 0);
	assert_int_equal(p, 2); /* the late producer's message, right after the aborted ticket */
	assert_int_equal(pmq_ack(Q, &m), 0);
	ledger_acked(p, 0);
	assert_true(itest_exited_ok(itest_wait(late)));

	struct pmq_stats st;
	assert_int_equal(pmq_stats(Q, &st), 0);
	assert_int_equal(st.aborted, 1);
	assert_int_equal(count_main_claimed(Q), 0);
	assert_int_equal(pmq_recover(Q), 0); /* the heal settled the dead producer completely */
	ledger_drain(Q);
	assert_int_equal(ledger_verify(), 0);
	assert_int_equal(atomic_load(&LG->first[0][2]) + atomic_load(&LG->again[0][2]), 0);
	assert_all_settled();
}

/* ---- consumers --------------------------------------------------------------------- */

/* Receives 5 (acks seq 0 and 1, holds 2..4), then dies at the 6th claim. */
static void consumer_holds_then_dies(void *arg)
{
	(void)arg;
	pmq_t *q;
	CHILD_CHECK(pmq_open(QNAME, PMQ_CONSUMER, &q) == 0);
	struct pmq_msg m[8];
	for (int i = 0; i < 8; i++) {
		CHILD_CHECK(pmq_recv_timeout(q, &m[i], 1000000000ull) == 0);
		uint32_t p = 0;
		int s = ledger_seen(&m[i], &p);
		CHILD_CHECK(s == i);
		if (i < 2) {
			CHILD_CHECK(pmq_ack(q, &m[i]) == 0);
			ledger_acked(p, s);
		}
	}
}

static void test_consumer_killed_holding_messages(void **state)
{
	(void)state;
	for (uint32_t s = 0; s < 20; s++)
		assert_int_equal(ledger_send(Q, 0, s), 0);
	pid_t pid = itest_fork("recv.after_claim:6", consumer_holds_then_dies, NULL);
	assert_true(itest_killed_by(itest_wait(pid), SIGKILL));
	assert_int_equal(count_main(Q, ST_CLAIMED), 4); /* 3 held + 1 claimed at the fault */
	assert_int_equal(pmq_recover(Q), 1);
	assert_int_equal(count_main(Q, ST_CLAIMED), 0);

	/* redeliveries come first, in order, each counted as a second delivery */
	struct pmq_msg m;
	uint32_t p = 0;
	for (int s = 2; s <= 5; s++) {
		assert_int_equal(pmq_recv_timeout(Q, &m, 1000000000ull), 0);
		int got = ledger_seen(&m, &p);
		assert_true(got >= 2 && got <= 5);
		assert_int_equal(m.delivery_count, 2);
		assert_int_equal(pmq_ack(Q, &m), 0);
		ledger_acked(p, got);
	}
	assert_int_equal(ledger_drain(Q), 14);
	assert_int_equal(ledger_verify(), 0);
	for (int s = 2; s <= 5; s++)
		assert_int_equal(atomic_load(&LG->again[0][s]), 1);
	for (int s = 6; s < 20; s++)
		assert_int_equal(atomic_load(&LG->maxcount[0][s]), 1);
	struct pmq_stats st;
	assert_int_equal(pmq_stats(Q, &st), 0);
	assert_int_equal(st.redelivered, 4);
	assert_all_settled();
}

/* ---- targeted recovery: the held records (docs/format.md, "held area") ------------------ */

/* the attachment entry a dead child left (its pid is still recorded) */
static unsigned entry_of(pid_t pid)
{
	for (unsigned i = 0; i < Q->max_attach; i++)
		if (at_state(atomic_load(&Q->attach[i].word)) == AT_ATTACHED && atomic_load(&Q->attach[i].pid) == pid)
			return i;
	fail_msg("no entry for pid %d", (int)pid);
	return 0;
}

/* Killed between the record and the claim's CAS: the record names a slot that never
 * named the dead; recovery (records only: no overflow) settles the 3 it did hold and
 * leaves the 6th message READY for us. The test library's audit checks that nothing
 * still names the dead consumer afterwards. */
static void test_consumer_killed_between_record_and_claim(void **state)
{
	(void)state;
	for (uint32_t s = 0; s < 20; s++)
		assert_int_equal(ledger_send(Q, 0, s), 0);
	pid_t pid = itest_fork("held.after_record:6", consumer_holds_then_dies, NULL);
	assert_true(itest_killed_by(itest_wait(pid), SIGKILL));
	unsigned dead = entry_of(pid);
	assert_int_equal(atomic_load(&held_block(Q, dead)->flags), 0); /* the targeted path */
	assert_int_equal(count_main(Q, ST_CLAIMED), 3);
	assert_int_equal(pmq_recover(Q), 1);
	assert_int_equal(count_main(Q, ST_CLAIMED), 0);
	struct pmq_stats st;
	assert_int_equal(pmq_stats(Q, &st), 0);
	assert_int_equal(st.redelivered, 3);
	assert_int_equal(ledger_drain(Q), 18);
	assert_int_equal(ledger_verify(), 0);
	assert_all_settled();
}

/* Records are shared memory: garbage in the dead's block (out of range, not valid, one
 * naming a slot we hold) is bounded and checked against the word, never trusted. */
static void test_recovery_ignores_garbage_records(void **state)
{
	(void)state;
	for (uint32_t s = 0; s < 20; s++)
		assert_int_equal(ledger_send(Q, 0, s), 0);
	pid_t pid = itest_fork("recv.after_claim:6", consumer_holds_then_dies, NULL);
	assert_true(itest_killed_by(itest_wait(pid), SIGKILL));
	struct pmq_msg mine;
	uint32_t p = 0;
	assert_int_equal(pmq_recv_timeout(Q, &mine, 1000000000ull), 0); /* seq 6: ours */
	uint32_t my_slot = (uint32_t)mine.cookie[0];
	struct pmq_held *b = held_block(Q, entry_of(pid));
	uint32_t k = Q->held_cap;
	atomic_store(&b->ent[--k], src_make(0, 0x3fffffffu, 0));                    /* main index out of range */
	atomic_store(&b->ent[--k], src_make(1, Q->side_count, 0));                  /* side index out of range */
	atomic_store(&b->ent[--k], src_make(0, my_slot, ctl_lap(mine.cookie[1])));  /* a slot we hold */
	atomic_store(&b->ent[--k], 0x3fffffffffffffffull);                          /* not valid */
	assert_int_equal(pmq_recover(Q), 1);
	assert_int_equal(count_main(Q, ST_CLAIMED), 1); /* ours, untouched */
	assert_int_equal(pmq_ack(Q, &mine), 0);
	ledger_acked(p, ledger_seen(&mine, &p));
	ledger_drain(Q);
	assert_int_equal(ledger_verify(), 0);
	assert_all_settled();
}

/* HELD_OVERFLOW (records incomplete) falls back to the walk over everything: with the
 * flag set and every record wiped, the dead consumer's claims are still all found. */
static void test_overflowed_records_fall_back_to_the_full_walk(void **state)
{
	(void)state;
	for (uint32_t s = 0; s < 20; s++)
		assert_int_equal(ledger_send(Q, 0, s), 0);
	pid_t pid = itest_fork("recv.after_claim:6", consumer_holds_then_dies, NULL);
	assert_true(itest_killed_by(itest_wait(pid), SIGKILL));
	struct pmq_held *b = held_block(Q, entry_of(pid));
	for (uint32_t k = 0; k < Q->held_cap; k++)
		atomic_store(&b->ent[k], 0);
	atomic_store(&b->flags, HELD_OVERFLOW);
	assert_int_equal(pmq_recover(Q), 1);
	assert_int_equal(count_main(Q, ST_CLAIMED), 0);
	assert_int_equal(ledger_drain(Q), 18);
	assert_int_equal(ledger_verify(), 0);
	assert_all_settled();
}

/* Recovery visits only what the records name: a word forged for the dead without a
 * record is not found (the audit, which would catch it, is off for this one). */
static void test_targeted_recovery_walks_only_the_records(void **state)
{
	(void)state;
	for (uint32_t s = 0; s < 20; s++)
		assert_int_equal(ledger_send(Q, 0, s), 0);
	pid_t pid = itest_fork("recv.after_claim:6", consumer_holds_then_dies, NULL);
	assert_true(itest_killed_by(itest_wait(pid), SIGKILL));
	unsigned dead = entry_of(pid);
	uint32_t e = Q->side_count - 1;
	uint64_t forged = ctl_make(ctl_lap(atomic_load(&side_slot(Q, e)->ctl)), ST_WRITING, dead, 0, 0);
	atomic_store(&side_slot(Q, e)->ctl, forged);
	setenv("PMQ_AUDIT", "0", 1);
	assert_int_equal(pmq_recover(Q), 1);
	unsetenv("PMQ_AUDIT");
	assert_int_equal(atomic_load(&side_slot(Q, e)->ctl), forged); /* not visited */
	assert_int_equal(count_main(Q, ST_CLAIMED), 0);                /* the recorded ones were */
	atomic_store(&side_slot(Q, e)->ctl, ctl_free(ctl_lap(forged) + 1));
	assert_int_equal(ledger_drain(Q), 18);
	assert_int_equal(ledger_verify(), 0);
	assert_all_settled();
}

/* The owner sets HELD_OVERFLOW when every record still names a word of its own: here
 * quota + slack claims forged in our name fill the block, and the next record overflows. */
static void test_full_block_sets_overflow(void **state)
{
	(void)state;
	assert_int_equal(atomic_load(&held_block(Q, Q->index)->flags), 0);
	uint32_t n = Q->held_cap;
	assert_true(n < Q->slot_count);
	for (uint32_t j = 0; j < n; j++) {
		atomic_store(&main_slot(Q, j)->ctl, ctl_make(0, ST_CLAIMED, Q->index, 0, 0));
		held_record(Q, 0, j, 0);
	}
	assert_int_equal(atomic_load(&held_block(Q, Q->index)->flags), 0); /* exactly full */
	held_record(Q, 0, n, 0);
	assert_int_equal(atomic_load(&held_block(Q, Q->index)->flags), HELD_OVERFLOW);
	for (uint32_t j = 0; j < n; j++)
		atomic_store(&main_slot(Q, j)->ctl, ctl_free(0));
	assert_all_settled();
}

/* ---- a nack's move, cut at each step -------------------------------------------------- */

static unsigned nack_flags;

static void consumer_nacks_second(void *arg)
{
	(void)arg;
	pmq_t *q;
	CHILD_CHECK(pmq_open(QNAME, PMQ_CONSUMER, &q) == 0);
	struct pmq_msg m;
	uint32_t p = 0;
	CHILD_CHECK(pmq_recv_timeout(q, &m, 1000000000ull) == 0);
	int s = ledger_seen(&m, &p);
	CHILD_CHECK(s == 0 && pmq_ack(q, &m) == 0);
	ledger_acked(p, s);
	CHILD_CHECK(pmq_recv_timeout(q, &m, 1000000000ull) == 0);
	CHILD_CHECK(ledger_seen(&m, &p) == 1);
	pmq_nack(q, &m, nack_flags); /* the fault point kills us inside */
	CHILD_CHECK(!"nack returned");
}

/* expect_dlq: the nack's dead-letter decision survived the crash (it passed the mark) */
static void nack_crash(const char *fault, int expect_dlq)
{
	for (uint32_t s = 0; s < 5; s++)
		assert_int_equal(ledger_send(Q, 0, s), 0);
	pid_t pid = itest_fork(fault, consumer_nacks_second, NULL);
	assert_true(itest_killed_by(itest_wait(pid), SIGKILL));
	assert_int_equal(pmq_recover(Q), 1);
	/* no side entry is left half-written, whatever the step */
	assert_int_equal(count_side(Q, ST_WRITING), 0);
	assert_int_equal(count_main(Q, ST_MOVED), 0);
	assert_int_equal(count_main(Q, ST_CLAIMED), 0);
	if (expect_dlq) {
		assert_int_equal(ledger_drain(Q), 3);
		/* seq 1 sits in the dead letters, exactly once */
		pmq_t *dlq;
		assert_int_equal(pmq_open(QNAME ".dlq", PMQ_CONSUMER, &dlq), 0);
		struct pmq_msg m;
		uint32_t p = 0;
		assert_int_equal(pmq_recv_timeout(dlq, &m, 1000000000ull), 0);
		assert_int_equal(ledger_seen(&m, &p), 1);
		assert_int_equal(m.delivery_count, 2);
		assert_int_equal(pmq_dlq_purge(dlq, 10), 0); /* it is held, not DEAD */
		assert_int_equal(pmq_ack(dlq, &m), 0);
		ledger_acked(p, 1);
		assert_int_equal(pmq_recv(dlq, &m, PMQ_NONBLOCK), -EAGAIN);
		assert_int_equal(pmq_close(dlq), 0);
	} else {
		assert_int_equal(ledger_drain(Q), 4);
		struct pmq_stats st;
		assert_int_equal(pmq_stats(Q, &st), 0);
		assert_int_equal(st.dead_letters, 0);
	}
	assert_int_equal(ledger_verify(), 0);
	/* the nacked message came back exactly once, as a redelivery (the nack's count) */
	assert_int_equal(atomic_load(&LG->first[0][1]), 1);
	assert_int_equal(atomic_load(&LG->again[0][1]), 1);
	assert_int_equal(atomic_load(&LG->maxcount[0][1]), 2);
	assert_all_settled();
}

static void test_nack_killed_after_copy(void **state) { (void)state; nack_crash("move.after_copy", 0); }
static void test_nack_killed_after_mark(void **state) { (void)state; nack_crash("move.after_mark", 0); }
static void test_nack_killed_after_publish(void **state) { (void)state; nack_crash("move.after_publish", 0); }
static void test_nack_killed_before_free(void **state) { (void)state; nack_crash("move.before_free", 0); }

static void test_deadletter_nack_killed_after_mark(void **state)
{
	(void)state;
	nack_flags = PMQ_NACK_DEADLETTER;
	nack_crash("move.after_mark", 1);
	nack_flags = 0;
}

static void test_deadletter_nack_killed_after_copy_gives_credit_back(void **state)
{
	(void)state;
	nack_flags = PMQ_NACK_DEADLETTER;
	nack_crash("move.after_copy", 0); /* cut before the mark: the nack never happened */
	nack_flags = 0;
}

/* ---- recoverers that die -------------------------------------------------------------- */

/* Holds three messages (seq 0..2) and waits to be killed. */
static void consumer_holds_three(void *arg)
{
	(void)arg;
	pmq_t *q;
	CHILD_CHECK(pmq_open(QNAME, PMQ_CONSUMER, &q) == 0);
	struct pmq_msg m;
	uint32_t p = 0;
	for (int i = 0; i < 3; i++) {
		CHILD_CHECK(pmq_recv_timeout(q, &m, 1000000000ull) == 0);
		CHILD_CHECK(ledger_seen(&m, &p) == i);
	}
	atomic_store(&LG->flag[2], 1);
	for (;;)
		pause();
}

static void recoverer(void *arg)
{
	(void)arg;
	pmq_t *q;
	/* pmq_open recovers the dead it finds; the fault point kills us in the middle */
	int rc = pmq_open(QNAME, PMQ_CONSUMER, &q);
	CHILD_CHECK(rc == 0);
	pmq_recover(q);
	CHILD_CHECK(!"the recoverer survived its fault point");
}

static void recoverer_crash(const char *fault)
{
	for (uint32_t s = 0; s < 10; s++)
		assert_int_equal(ledger_send(Q, 0, s), 0);
	pid_t c = itest_fork(NULL, consumer_holds_three, NULL);
	assert_true(itest_await(&LG->flag[2], 1, 5000));
	kill(c, SIGKILL);
	assert_true(itest_killed_by(itest_wait(c), SIGKILL));
	assert_int_equal(count_main(Q, ST_CLAIMED), 3);

	pid_t r = itest_fork(fault, recoverer, NULL);
	assert_true(itest_killed_by(itest_wait(r), SIGKILL));
	/* the second recoverer (us) finds both dead: the consumer and the first recoverer */
	assert_int_equal(pmq_recover(Q), 2);
	assert_int_equal(count_main(Q, ST_CLAIMED), 0);
	assert_int_equal(count_main(Q, ST_MOVED), 0);
	assert_int_equal(count_side(Q, ST_WRITING), 0);
	assert_int_equal(ledger_drain(Q), 10);
	assert_int_equal(ledger_verify(), 0);
	for (int s = 0; s < 3; s++) {
		assert_int_equal(atomic_load(&LG->again[0][s]), 1);
		assert_int_equal(atomic_load(&LG->maxcount[0][s]), 2);
	}
	for (int s = 3; s < 10; s++)
		assert_int_equal(atomic_load(&LG->maxcount[0][s]), 1);
	assert_int_equal(pmq_recover(Q), 0);
	assert_all_settled();
}

static void test_recoverer_killed_holding_token(void **state)
{
	(void)state;
	recoverer_crash("recover.holding_token");
}

static void test_recoverer_killed_after_copy(void **state)
{
	(void)state;
	recoverer_crash("move.after_copy");
}

static void test_recoverer_killed_after_mark(void **state)
{
	(void)state;
	recoverer_crash("move.after_mark:2");
}

static void test_recoverer_killed_before_free(void **state)
{
	(void)state;
	recoverer_crash("move.before_free:3");
}

/* a recoverer dies deciding a dead producer's claimed ticket: the next one aborts it */
static void test_recoverer_killed_aborting_a_claim(void **state)
{
	(void)state;
	pid_t p = itest_fork("send.after_claim:6", producer_sends_ten, NULL);
	assert_true(itest_killed_by(itest_wait(p), SIGKILL));
	assert_int_equal(count_main_claimed(Q), 1);
	pid_t r = itest_fork("recover.abort_claim", recoverer, NULL);
	assert_true(itest_killed_by(itest_wait(r), SIGKILL));
	assert_int_equal(count_main_claimed(Q), 1); /* it died before its abort CAS */
	assert_int_equal(pmq_recover(Q), 2);          /* the producer and the first recoverer */
	assert_int_equal(count_main_claimed(Q), 0);
	struct pmq_stats st;
	assert_int_equal(pmq_stats(Q, &st), 0);
	assert_int_equal(st.aborted, 1);
	assert_int_equal(ledger_drain(Q), 5);
	assert_int_equal(ledger_verify(), 0);
	assert_int_equal(pmq_recover(Q), 0);
	assert_all_settled();
}

/* ---- random torture: kills at random points, then everything adds up ------------------- */

static const char *const producer_points[] = {"send.after_record", "send.after_claim", "send.before_commit",
					      "recv.after_claim"};
static const char *const points[] = {"send.after_claim", "send.before_commit", "recv.after_claim",
				     "move.after_copy",  "move.after_mark",    "move.after_publish",
				     "move.before_free", "held.after_record", NULL};

struct tort {
	uint32_t producer;
	uint32_t first_seq;
};

static void torture_producer(void *arg)
{
	struct tort *t = arg;
	pmq_t *q;
	CHILD_CHECK(pmq_open(QNAME, PMQ_PRODUCER, &q) == 0);
	for (uint32_t s = t->first_seq; s < t->first_seq + 40 && s < LG_SEQ; s++)
		CHILD_CHECK(ledger_send(q, t->producer, s) == 0);
	CHILD_CHECK(pmq_close(q) == 0);
}

static void torture_consumer(void *arg)
{
	(void)arg;
	pmq_t *q;
	CHILD_CHECK(pmq_open(QNAME, PMQ_CONSUMER, &q) == 0);
	struct pmq_msg m;
	unsigned r = (unsigned)getpid();
	for (int i = 0; i < 30; i++) {
		int rc = pmq_recv_timeout(q, &m, 20000000ull);
		if (rc == -ETIMEDOUT)
			continue;
		CHILD_CHECK(rc == 0);
		uint32_t p = 0;
		int s = ledger_seen(&m, &p);
		r = r * 1103515245u + 12345u;
		if ((r >> 16) % 4 == 0) {
			rc = pmq_nack(q, &m, 0);
			CHILD_CHECK(rc == 0 || rc == -ENOSPC);
		} else if ((r >> 16) % 4 != 1) { /* 1 in 4 is held until we die or close */
			CHILD_CHECK(pmq_ack(q, &m) == 0);
			ledger_acked(p, s);
		}
	}
	raise(SIGKILL); /* die holding what we hold */
}

static void test_random_kills_lose_nothing(void **state)
{
	(void)state;
	unsigned seed = (unsigned)itest_now_ns();
	fprintf(stderr, "# seed %u\n", seed);
	srand(seed);
	for (int round = 0; round < 12; round++) {
		char fault[64];
		pid_t pids[3];
		struct tort t = {.producer = (uint32_t)(round % 2), .first_seq = (uint32_t)(round / 2) * 40};
		snprintf(fault, sizeof(fault), "%s:%d", producer_points[rand() % 4 < 3 ? rand() % 3 : 3], 1 + rand() % 30);
		pids[0] = itest_fork(fault, torture_producer, &t);
		snprintf(fault, sizeof(fault), "%s:%d", points[2 + rand() % 6], 1 + rand() % 10);
		pids[1] = itest_fork(fault, torture_consumer, NULL);
		pids[2] = itest_fork(NULL, torture_consumer, NULL);
		for (int i = 1; i < 3; i++)
			assert_true(itest_killed_by(itest_wait(pids[i]), SIGKILL)); /* consumers always die */
		/* the producer may block on a ring pinned by the dead: recover and drain until it ends */
		int st;
		uint64_t end = itest_now_ns() + 20000000000ull;
		while (waitpid(pids[0], &st, WNOHANG) == 0) {
			assert_true(pmq_recover(Q) >= 0);
			ledger_drain(Q);
			if (itest_now_ns() > end) {
				kill(pids[0], SIGKILL);
				fail_msg("producer still blocked after 20 s of recovery and draining");
			}
		}
		assert_true(itest_exited_ok(st) || itest_killed_by(st, SIGKILL));
		assert_true(pmq_recover(Q) >= 0);
		/* whoever recovered them (this loop, or the blocked producer's idle heal),
		 * neither dead consumer still owns an attachment */
		struct pmq_attach_info ai[64];
		int na = pmq_attachments(Q, ai, 64);
		assert_true(na >= 0 && na <= 64);
		for (int i = 0; i < na; i++)
			assert_true(ai[i].pid != pids[1] && ai[i].pid != pids[2]);
	}
	ledger_drain(Q);
	assert_int_equal(pmq_recover(Q), 0);
	/* messages nacked or crashed max_deliveries times wait in the dead letters */
	pmq_t *dlq;
	assert_int_equal(pmq_open(QNAME ".dlq", PMQ_CONSUMER, &dlq), 0);
	int dead = ledger_drain(dlq);
	assert_int_equal(pmq_close(dlq), 0);
	fprintf(stderr, "# %d dead letters\n", dead);
	assert_int_equal(ledger_verify(), 0);
	assert_all_settled();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_producer_killed_after_claim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_producer_killed_after_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_producer_killed_at_third_claim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_producer_killed_before_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_producer_killed_inside_reservation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiting_consumer_heals_dead_producer_without_recover, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_consumer_killed_holding_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_consumer_killed_between_record_and_claim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recovery_ignores_garbage_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflowed_records_fall_back_to_the_full_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_targeted_recovery_walks_only_the_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_block_sets_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nack_killed_after_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nack_killed_after_mark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nack_killed_after_publish, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nack_killed_before_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadletter_nack_killed_after_copy_gives_credit_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadletter_nack_killed_after_mark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recoverer_killed_holding_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recoverer_killed_after_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recoverer_killed_after_mark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recoverer_killed_before_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recoverer_killed_aborting_a_claim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_kills_lose_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
