/*
 * test_cursor_bounds.c - every walk over a shared cursor is bounded (issue 9, item 13's
 * standard): a head or tail that another process set laps away from the slots it names
 * makes pmq_send / pmq_recv return -EPROTO with a message naming the cursor, instead of
 * helping the hint forward one ticket at a time over up to 2^31 laps.
 *
 * The cursors are written while the queue is attached (the exclusive-open rebuild does
 * not run). Each call runs in a forked child with alarm() as a hang detector only: the
 * assertion is that the call returns at all, with the documented error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "internal.h"
#include "itest.h"

#define QNAME "bounds"
#define SLOTS 64
#define HANG_S 30 /* a hang detector, not a time limit: today's walk takes hours */

/* A ticket whose 32-bit lap is 3 * 2^30 laps past the slots' lap 0, i.e. 2^30 laps
 * behind them modulo 2^32: every slot word looks "already consumed and reused", which
 * is what made the help loops walk (lap_diff > 0 at every step). */
static uint64_t laps_away(const struct pmq *q) { return (uint64_t)0xC0000000u << q->slot_shift; }

static char qpath[512];

static int setup(void **state)
{
	(void)state;
	itest_dir_make();
	itest_queue_path(qpath, sizeof(qpath), QNAME);
	struct pmq_config cfg;
	itest_config(&cfg, SLOTS);
	pmq_t *q;
	if (pmq_create(QNAME, &cfg, &q) != 0 || pmq_close(q) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	itest_dir_remove();
	return 0;
}

enum op { OP_SEND_NB, OP_SEND_BLOCKING, OP_RECV_NB, OP_RECV_TIMEOUT };

static void damaged_cursor_child(void *arg)
{
	enum op op = *(enum op *)arg;
	alarm(HANG_S); /* SIGALRM kills a child whose call never returns */
	pmq_t *q;
	CHILD_CHECK(pmq_open(QNAME, PMQ_PRODUCER | PMQ_CONSUMER, &q) == 0);
	bool tail = op == OP_SEND_NB || op == OP_SEND_BLOCKING;
	/* the hostile write: one cursor, laps away */
	atomic_store(tail ? &q->hdr->tail : &q->hdr->head, laps_away(q));
	char buf[16] = "x";
	struct pmq_msg m;
	int rc;
	switch (op) {
	case OP_SEND_NB: rc = pmq_send(q, buf, sizeof(buf), PMQ_NONBLOCK); break;
	case OP_SEND_BLOCKING: rc = pmq_send(q, buf, sizeof(buf), 0); break;
	case OP_RECV_NB: rc = pmq_recv(q, &m, PMQ_NONBLOCK); break;
	default: rc = pmq_recv_timeout(q, &m, 500000000ull); break;
	}
	CHILD_CHECK(rc == -EPROTO);
	CHILD_CHECK(strstr(pmq_errmsg(), tail ? "tail cursor" : "head cursor") != NULL);
	CHILD_CHECK(strstr(pmq_errmsg(), "reopen") != NULL); /* says what to do */
	/* nothing was taken or published: the slots are as they were */
	for (uint32_t j = 0; j < q->slot_count; j++)
		CHILD_CHECK(atomic_load(&main_slot(q, j)->ctl) == ctl_free(0));
	pmq_close(q);
	_exit(0);
}

static void run_op(enum op op, const char *what)
{
	int st = itest_wait(itest_fork(NULL, damaged_cursor_child, &op));
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
		fail_msg("%s with a cursor laps away did not return in %d s (an unbounded walk)", what, HANG_S);
	if (!itest_exited_ok(st))
		fail_msg("%s with a cursor laps away: child status 0x%x", what, st);
}

static void test_send_nonblock_bounded(void **state)
{
	(void)state;
	run_op(OP_SEND_NB, "pmq_send(PMQ_NONBLOCK)");
}

static void test_send_blocking_bounded(void **state)
{
	(void)state;
	run_op(OP_SEND_BLOCKING, "blocking pmq_send");
}

static void test_recv_nonblock_bounded(void **state)
{
	(void)state;
	run_op(OP_RECV_NB, "pmq_recv(PMQ_NONBLOCK)");
}

static void test_recv_timeout_bounded(void **state)
{
	(void)state;
	run_op(OP_RECV_TIMEOUT, "pmq_recv_timeout");
}

/* The bound counts only "far" steps: a cursor one lap behind its slots (what a lagging
 * hint can legitimately be) is still walked and the calls succeed. */
static void test_one_lap_behind_still_works(void **state)
{
	(void)state;
	pmq_t *q;
	assert_int_equal(pmq_open(QNAME, PMQ_PRODUCER | PMQ_CONSUMER, &q), 0);
	char buf[8] = "lap";
	struct pmq_msg m;
	for (int i = 0; i < SLOTS; i++) { /* one lap through: every slot is FREE(1) */
		assert_int_equal(pmq_send(q, buf, sizeof(buf), PMQ_NONBLOCK), 0);
		assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0);
		assert_int_equal(pmq_ack(q, &m), 0);
	}
	/* both hints back to ticket 0: every slot word is one lap ahead of them */
	atomic_store(&q->hdr->tail, 0);
	atomic_store(&q->hdr->head, 0);
	assert_int_equal(pmq_send(q, buf, sizeof(buf), PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(m.ticket, SLOTS); /* the walk found the next lap's first ticket */
	assert_int_equal(pmq_ack(q, &m), 0);
	assert_int_equal(pmq_close(q), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_send_nonblock_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_blocking_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recv_nonblock_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recv_timeout_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_lap_behind_still_works, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
