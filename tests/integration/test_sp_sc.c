/*
 * test_sp_sc.c - queues created with PMQ_F_SP, PMQ_F_SC and both: the plain
 * store claims of the single-producer / single-consumer paths.
 *  - round trips over several laps (send, batch, reserve/commit; recv, batch),
 *    in order and intact;
 *  - the cursors the plain stores move: stats depth rises on an SP send and
 *    falls on an SC recv;
 *  - recovery: an SP producer killed between its claim and its commit (and
 *    before the tail store), an SC consumer killed while it holds messages.
 * The thread variant for TSan is test_sp_sc_tsan.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "itest.h"

#define QNAME "spsc"

static const uint32_t modes[] = {PMQ_F_SP, PMQ_F_SC, PMQ_F_SP | PMQ_F_SC};

static int setup(void **state)
{
	(void)state;
	itest_dir_make();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	itest_dir_remove();
	return 0;
}

static pmq_t *create_mode(uint32_t flags, uint32_t slots)
{
	struct pmq_config c;
	itest_config(&c, slots);
	c.flags = flags;
	pmq_t *q = NULL;
	assert_int_equal(pmq_create(QNAME, &c, &q), 0);
	struct pmq_config got;
	assert_int_equal(pmq_get_config(q, &got), 0);
	assert_int_equal(got.flags & (PMQ_F_SP | PMQ_F_SC), flags);
	return q;
}

static pmq_t *open_as(unsigned role)
{
	pmq_t *q = NULL;
	assert_int_equal(pmq_open(QNAME, role, &q), 0);
	return q;
}

static struct pmq_stats stats_of(pmq_t *q)
{
	struct pmq_stats st;
	assert_int_equal(pmq_stats(q, &st), 0);
	return st;
}

static void recv_expect(pmq_t *c, uint32_t seq, uint32_t deliveries)
{
	struct pmq_msg m;
	assert_int_equal(pmq_recv(c, &m, PMQ_NONBLOCK), 0);
	uint32_t p = 0, s = 0;
	assert_true(itest_check(m.data, m.len, &p, &s));
	assert_int_equal(s, seq);
	assert_int_equal(m.delivery_count, deliveries);
	assert_int_equal(pmq_ack(c, &m), 0);
}

/* 10 laps of a 16-slot ring through a separate producer and consumer handle. */
static void test_round_trip_each_mode(void **state)
{
	(void)state;
	for (unsigned k = 0; k < 3; k++) {
		pmq_t *obs = create_mode(modes[k], 16);
		pmq_t *p = open_as(PMQ_PRODUCER), *c = open_as(PMQ_CONSUMER);
		uint8_t buf[128];
		uint32_t sent = 0, got = 0;
		while (got < 160) {
			/* a burst of up to 12, then drain it: the ring wraps every 16 */
			for (int i = 0; i < 12 && sent < 160; i++, sent++) {
				size_t len = itest_make(buf, sizeof(buf), 1, sent);
				assert_int_equal(pmq_send(p, buf, len, PMQ_NONBLOCK), 0);
			}
			assert_int_equal(stats_of(obs).depth, sent - got);
			while (got < sent)
				recv_expect(c, got++, 1);
			assert_int_equal(stats_of(obs).depth, 0);
		}
		struct pmq_stats st = stats_of(obs);
		assert_int_equal(st.sent, 160);
		assert_int_equal(st.received, 160);
		assert_int_equal(st.in_flight, 0);
		assert_int_equal(pmq_close(c), 0);
		assert_int_equal(pmq_close(p), 0);
		assert_int_equal(pmq_close(obs), 0);
		assert_int_equal(pmq_unlink(QNAME, NULL), 0);
	}
}

/* send_batch, reserve/commit and recv_batch on each mode; full ring is -EAGAIN. */
static void test_batches_and_reservations_each_mode(void **state)
{
	(void)state;
	for (unsigned k = 0; k < 3; k++) {
		pmq_t *q = create_mode(modes[k], 8);
		uint8_t bufs[6][128];
		struct iovec iov[6];
		for (uint32_t i = 0; i < 6; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = itest_make(bufs[i], sizeof(bufs[i]), 2, i);
		}
		assert_int_equal(pmq_send_batch(q, iov, 6, 0), 6);
		for (uint32_t i = 6; i < 8; i++) {
			void *w;
			assert_int_equal(pmq_reserve(q, 128, &w, PMQ_NONBLOCK), 0);
			assert_int_equal(pmq_commit(q, w, itest_make(w, 128, 2, i)), 0);
		}
		assert_int_equal(pmq_send(q, "x", 1, PMQ_NONBLOCK), -EAGAIN);
		assert_int_equal(stats_of(q).depth, 8);
		struct pmq_msg m[8];
		assert_int_equal(pmq_recv_batch(q, m, 8, PMQ_NONBLOCK), 8);
		for (uint32_t i = 0; i < 8; i++) {
			uint32_t p = 0, s = 0;
			assert_true(itest_check(m[i].data, m[i].len, &p, &s));
			assert_int_equal(s, i);
		}
		assert_int_equal(stats_of(q).depth, 0);
		assert_int_equal(pmq_ack_batch(q, m, 8), 0);
		assert_int_equal(stats_of(q).in_flight, 0);
		assert_int_equal(pmq_close(q), 0);
		assert_int_equal(pmq_unlink(QNAME, NULL), 0);
	}
}

/* The SP claim is a plain store and so is its tail store: stats see both cursors. */
static void test_depth_follows_sp_sends_and_sc_recvs(void **state)
{
	(void)state;
	for (unsigned k = 0; k < 3; k++) {
		pmq_t *q = create_mode(modes[k], 16);
		for (uint64_t i = 1; i <= 3; i++) {
			assert_int_equal(pmq_send(q, "d", 1, 0), 0);
			struct pmq_stats st = stats_of(q);
			assert_int_equal(st.depth, i);
			assert_int_equal(st.sent, i);
		}
		struct pmq_msg m;
		assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0);
		struct pmq_stats st = stats_of(q);
		assert_int_equal(st.depth, 2);
		assert_int_equal(st.received, 1);
		assert_int_equal(st.in_flight, 1);
		assert_int_equal(pmq_ack(q, &m), 0);
		assert_int_equal(pmq_close(q), 0);
		assert_int_equal(pmq_unlink(QNAME, NULL), 0);
	}
}

static void child_send_one(void *arg)
{
	(void)arg;
	pmq_t *p;
	CHILD_CHECK(pmq_open(QNAME, PMQ_PRODUCER, &p) == 0);
	uint8_t buf[128];
	size_t len = itest_make(buf, sizeof(buf), 7, 99);
	pmq_send(p, buf, len, 0); /* killed inside at the fault point */
	_exit(4);                 /* the fault did not fire */
}

/* An SP producer killed after its claim (format 2: its record and tail store) or
 * before its commit: a new producer's messages get through, the dead ticket counts
 * as aborted, and a consumer blocked behind it heals it. Killed after its record but
 * before its tail store: nothing was claimed, nothing is aborted, recovery frees it. */
static void test_dead_sp_producer_is_recovered(void **state)
{
	(void)state;
	const char *faults[] = {"send.after_claim", "send.before_commit", "send.after_record"};
	for (unsigned k = 0; k < 2; k++) {
		for (unsigned f = 0; f < 3; f++) {
			uint32_t mode = k ? (PMQ_F_SP | PMQ_F_SC) : PMQ_F_SP;
			pmq_t *c = create_mode(mode, 16);
			uint8_t buf[128];
			size_t len = itest_make(buf, sizeof(buf), 7, 0);
			pmq_t *p = open_as(PMQ_PRODUCER);
			assert_int_equal(pmq_send(p, buf, len, 0), 0);
			assert_int_equal(pmq_close(p), 0);
			pid_t pid = itest_fork(faults[f], child_send_one, NULL);
			assert_true(itest_killed_by(itest_wait(pid), SIGKILL));
			recv_expect(c, 0, 1);
			/* blocked behind the dead producer's claimed ticket: the heal aborts it */
			struct pmq_msg m;
			assert_int_equal(pmq_recv_timeout(c, &m, 300000000ull), -ETIMEDOUT);
			assert_int_equal(stats_of(c).aborted, f < 2 ? 1 : 0);
			/* after_record: no claim to heal, yet the waiter's idle heal (or this call)
			 * frees the dead entry: attachments below counts only c and the new p */
			assert_true(pmq_recover(c) >= 0);
			p = open_as(PMQ_PRODUCER);
			len = itest_make(buf, sizeof(buf), 7, 1);
			assert_int_equal(pmq_send(p, buf, len, 0), 0);
			recv_expect(c, 1, 1);
			struct pmq_stats st = stats_of(c);
			assert_int_equal(st.depth, 0);
			assert_int_equal(st.attachments, 2);
			assert_int_equal(pmq_close(p), 0);
			assert_int_equal(pmq_close(c), 0);
			assert_int_equal(pmq_unlink(QNAME, NULL), 0);
		}
	}
}

static void child_hold_three(void *arg)
{
	_Atomic uint32_t *flag = arg;
	pmq_t *c;
	CHILD_CHECK(pmq_open(QNAME, PMQ_CONSUMER, &c) == 0);
	struct pmq_msg m;
	for (int i = 0; i < 3; i++)
		CHILD_CHECK(pmq_recv(c, &m, PMQ_NONBLOCK) == 0);
	atomic_store(flag, 1);
	for (;;)
		pause();
}

/* An SC consumer killed holding three messages: they come back (delivery 2), in
 * front of the rest, and a new consumer takes everything. */
static void test_dead_sc_consumer_is_recovered(void **state)
{
	(void)state;
	for (unsigned k = 0; k < 2; k++) {
		pmq_t *p = create_mode(k ? (PMQ_F_SP | PMQ_F_SC) : PMQ_F_SC, 16);
		uint8_t buf[128];
		for (uint32_t i = 0; i < 5; i++)
			assert_int_equal(pmq_send(p, buf, itest_make(buf, sizeof(buf), 3, i), 0), 0);
		_Atomic uint32_t *flag = itest_shared(sizeof(*flag));
		pid_t pid = itest_fork(NULL, child_hold_three, (void *)flag);
		if (!itest_await(flag, 1, 10000)) {
			kill(pid, SIGKILL);
			fail_msg("the SC consumer did not take its messages");
		}
		kill(pid, SIGKILL);
		assert_true(itest_killed_by(itest_wait(pid), SIGKILL));
		assert_int_equal(stats_of(p).in_flight, 3);
		assert_int_equal(pmq_recover(p), 1);
		struct pmq_stats st = stats_of(p);
		assert_int_equal(st.in_flight, 0);
		assert_int_equal(st.redelivered, 3);
		assert_int_equal(st.depth, 2);
		unsigned seen = 0;
		for (int i = 0; i < 5; i++) {
			struct pmq_msg m;
			assert_int_equal(pmq_recv(p, &m, PMQ_NONBLOCK), 0);
			uint32_t pr = 0, s = 0;
			assert_true(itest_check(m.data, m.len, &pr, &s));
			assert_true(s < 5 && !(seen & (1u << s)));
			seen |= 1u << s;
			assert_int_equal(m.delivery_count, s < 3 ? 2 : 1);
			assert_int_equal(pmq_ack(p, &m), 0);
		}
		struct pmq_msg m;
		assert_int_equal(pmq_recv(p, &m, PMQ_NONBLOCK), -EAGAIN);
		munmap(flag, sizeof(*flag));
		assert_int_equal(pmq_close(p), 0);
		assert_int_equal(pmq_unlink(QNAME, NULL), 0);
	}
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_round_trip_each_mode),
		T(test_batches_and_reservations_each_mode),
		T(test_depth_follows_sp_sends_and_sc_recvs),
		T(test_dead_sp_producer_is_recovered),
		T(test_dead_sc_consumer_is_recovered),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
