/*
 * test_liveness.c - who counts as alive (docs/format.md): the kernel's OFD
 * lock on an attachment's token, never a pid. A forked child must not keep
 * a dead parent "alive"; a handle inherited across fork is unusable
 * (-EBADFD); a live holder's token is never taken, even while it is
 * stopped, and a live producer's WRITING slot is never aborted. A recoverer
 * keeps one description for taking dead owners' tokens: every token it took
 * is free again afterwards, so the entries are reused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/prctl.h>

#include <cmocka.h>

#include "ledger.h"

#define QNAME "live"

static pmq_t *Q;

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
	int rc = pmq_close(Q);
	Q = NULL;
	itest_dir_remove();
	return rc;
}

/* ---- a grandchild outlives the consumer ----------------------------------------------- */

static void consumer_forks_sleeper(void *arg)
{
	(void)arg;
	pmq_t *q;
	CHILD_CHECK(pmq_open(QNAME, PMQ_CONSUMER, &q) == 0);
	struct pmq_msg m[3];
	uint32_t p;
	for (int i = 0; i < 3; i++) {
		CHILD_CHECK(pmq_recv_timeout(q, &m[i], 1000000000ull) == 0);
		CHILD_CHECK(ledger_seen(&m[i], &p) == i);
	}
	fflush(NULL);
	pid_t g = fork();
	CHILD_CHECK(g >= 0);
	if (g == 0) {
		/* the inherited handle is dead in the grandchild, whatever it tries */
		struct pmq_msg x;
		int ok = pmq_recv(q, &x, PMQ_NONBLOCK) == -EBADFD && strstr(pmq_errmsg(), "fork") &&
			 pmq_ack(q, &m[0]) == -EBADFD && pmq_nack(q, &m[1], 0) == -EBADFD &&
			 pmq_recover(q) == -EBADFD;
		atomic_store(&LG->flag[1], ok ? 1 : 2);
		for (;;)
			pause();
	}
	atomic_store(&LG->flag[2], (uint32_t)g);
	atomic_store(&LG->flag[0], 1);
	for (;;)
		pause();
}

static void test_forked_child_does_not_keep_dead_consumer_alive(void **state)
{
	(void)state;
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0); /* the orphaned grandchild comes to us */
	for (uint32_t s = 0; s < 5; s++)
		assert_int_equal(ledger_send(Q, 0, s), 0);
	pid_t c = itest_fork(NULL, consumer_forks_sleeper, NULL);
	assert_true(itest_await(&LG->flag[0], 1, 5000));
	assert_true(itest_await(&LG->flag[1], 1, 5000));
	assert_int_equal(atomic_load(&LG->flag[1]), 1); /* the grandchild saw -EBADFD everywhere */
	pid_t g = (pid_t)atomic_load(&LG->flag[2]);
	assert_true(g > 0);
	assert_int_equal(pmq_recover(Q), 0); /* the consumer lives: nothing to do */
	kill(c, SIGKILL);
	assert_true(itest_killed_by(itest_wait(c), SIGKILL));
	assert_int_equal(kill(g, 0), 0); /* the grandchild, with copies of every descriptor, lives on */
	assert_int_equal(pmq_recover(Q), 1);
	assert_int_equal(ledger_drain(Q), 5);
	for (int s = 0; s < 3; s++)
		assert_int_equal(atomic_load(&LG->maxcount[0][s]), 2);
	assert_int_equal(ledger_verify(), 0);
	kill(g, SIGKILL);
	assert_true(itest_killed_by(itest_wait(g), SIGKILL));
	prctl(PR_SET_CHILD_SUBREAPER, 0);
}

/* ---- a handle inherited across fork ----------------------------------------------------- */

static struct pmq_msg held;

static void child_uses_inherited(void *arg)
{
	(void)arg;
	struct pmq_msg m;
	void *buf;
	struct pmq_attach_info ai;
	CHILD_CHECK(pmq_send(Q, "x", 1, 0) == -EBADFD);
	CHILD_CHECK(strstr(pmq_errmsg(), "fork") != NULL);
	CHILD_CHECK(pmq_reserve(Q, 1, &buf, 0) == -EBADFD);
	CHILD_CHECK(pmq_recv(Q, &m, PMQ_NONBLOCK) == -EBADFD);
	CHILD_CHECK(pmq_recv_timeout(Q, &m, 1000) == -EBADFD);
	CHILD_CHECK(pmq_ack(Q, &held) == -EBADFD);
	CHILD_CHECK(pmq_nack(Q, &held, 0) == -EBADFD);
	CHILD_CHECK(pmq_recover(Q) == -EBADFD);
	CHILD_CHECK(pmq_attachments(Q, &ai, 1) == -EBADFD);
	/* its own handle works; closing the inherited one touches nothing of the parent's */
	pmq_t *mine;
	CHILD_CHECK(pmq_open(QNAME, PMQ_PRODUCER, &mine) == 0);
	CHILD_CHECK(ledger_send(mine, 1, 0) == 0);
	CHILD_CHECK(pmq_close(mine) == 0);
	CHILD_CHECK(pmq_close(Q) == 0);
}

static void test_inherited_handle_returns_ebadfd(void **state)
{
	(void)state;
	assert_int_equal(ledger_send(Q, 0, 0), 0);
	assert_int_equal(pmq_recv(Q, &held, PMQ_NONBLOCK), 0);
	assert_true(itest_exited_ok(itest_wait(itest_fork(NULL, child_uses_inherited, NULL))));
	/* our message is still ours, our entry still attached, the child's message arrived */
	assert_int_equal(pmq_ack(Q, &held), 0);
	atomic_store(&LG->acked[0][0], 1);
	assert_int_equal(pmq_recover(Q), 0);
	struct pmq_attach_info ai[4];
	assert_int_equal(pmq_attachments(Q, ai, 4), 1);
	assert_int_equal(ai[0].pid, getpid());
	assert_int_equal(ai[0].alive, 1);
	assert_int_equal(ledger_drain(Q), 1);
	assert_int_equal(ledger_verify(), 0);
}

/* ---- a live holder's token is never taken -------------------------------------------------- */

static void consumer_holds_until_told(void *arg)
{
	(void)arg;
	pmq_t *q;
	CHILD_CHECK(pmq_open(QNAME, PMQ_CONSUMER, &q) == 0);
	struct pmq_msg m;
	uint32_t p;
	CHILD_CHECK(pmq_recv_timeout(q, &m, 1000000000ull) == 0);
	int s = ledger_seen(&m, &p);
	CHILD_CHECK(s == 0);
	atomic_store(&LG->flag[0], 1);
	while (!atomic_load(&LG->flag[1]))
		itest_sleep_ms(1);
	CHILD_CHECK(pmq_ack(q, &m) == 0); /* still ours: nobody took it */
	ledger_acked(p, s);
	CHILD_CHECK(pmq_close(q) == 0);
}

static void test_live_consumer_token_never_taken(void **state)
{
	(void)state;
	assert_int_equal(ledger_send(Q, 0, 0), 0);
	pid_t c = itest_fork(NULL, consumer_holds_until_told, NULL);
	assert_true(itest_await(&LG->flag[0], 1, 5000));
	struct pmq_attach_info ai[4];
	assert_int_equal(pmq_attachments(Q, ai, 4), 2);
	int k = ai[0].pid == c ? 0 : 1;
	assert_int_equal(ai[k].pid, c);
	assert_int_equal(ai[k].alive, 1);
	assert_int_equal(ai[k].in_flight, 1);
	struct pmq_msg m;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pmq_recover(Q), 0);
		assert_int_equal(pmq_recv_timeout(Q, &m, 20000000ull), -ETIMEDOUT);
	}
	/* a stopped process is still alive */
	assert_int_equal(kill(c, SIGSTOP), 0);
	itest_sleep_ms(20);
	assert_int_equal(pmq_recover(Q), 0);
	assert_int_equal(pmq_recv_timeout(Q, &m, 20000000ull), -ETIMEDOUT);
	assert_int_equal(pmq_attachments(Q, ai, 4), 2);
	assert_int_equal(ai[k].alive, 1);
	assert_int_equal(kill(c, SIGCONT), 0);
	assert_int_equal(count_main(Q, ST_CLAIMED), 1);
	atomic_store(&LG->flag[1], 1);
	assert_true(itest_exited_ok(itest_wait(c)));
	assert_int_equal(pmq_recover(Q), 0); /* closed cleanly: nothing to recover */
	assert_int_equal(ledger_drain(Q), 0);
	assert_int_equal(ledger_verify(), 0);
	assert_int_equal(atomic_load(&LG->first[0][0]), 1);
	assert_int_equal(atomic_load(&LG->again[0][0]), 0);
}

/* ---- a live producer's WRITING slot is never aborted by a waiting consumer ---------------- */

static void slow_producer(void *arg)
{
	(void)arg;
	pmq_t *q;
	CHILD_CHECK(pmq_open(QNAME, PMQ_PRODUCER, &q) == 0);
	void *buf;
	CHILD_CHECK(pmq_reserve(q, 64, &buf, 0) == 0);
	atomic_store(&LG->flag[0], 1);
	while (!atomic_load(&LG->flag[1]))
		itest_sleep_ms(1);
	size_t len = itest_make(buf, 64, 0, 0);
	CHILD_CHECK(pmq_commit(q, buf, len) == 0);
	atomic_store(&LG->sent[0][0], 1);
	CHILD_CHECK(pmq_close(q) == 0);
}

static void test_live_producer_slot_never_aborted(void **state)
{
	(void)state;
	pid_t p = itest_fork(NULL, slow_producer, NULL);
	assert_true(itest_await(&LG->flag[0], 1, 5000));
	struct pmq_msg m;
	/* waiting behind a live producer's WRITING slot for far longer than the heal threshold */
	assert_int_equal(pmq_recv_timeout(Q, &m, 200000000ull), -ETIMEDOUT);
	assert_int_equal(count_main_claimed(Q), 1);
	struct pmq_stats st;
	assert_int_equal(pmq_stats(Q, &st), 0);
	assert_int_equal(st.aborted, 0);
	atomic_store(&LG->flag[1], 1);
	assert_int_equal(pmq_recv_timeout(Q, &m, 2000000000ull), 0);
	uint32_t pr = 0;
	assert_int_equal(ledger_seen(&m, &pr), 0);
	assert_int_equal(m.ticket, 0);
	assert_int_equal(pmq_ack(Q, &m), 0);
	ledger_acked(pr, 0);
	assert_true(itest_exited_ok(itest_wait(p)));
	assert_int_equal(ledger_verify(), 0);
}

/* ---- the recoverer's kept token description lets every token go ------------------------- */

#define REUSE_Q "reuse"
#define REUSE_ROUNDS 8

static void consumer_takes_one_and_waits(void *arg)
{
	(void)arg;
	pmq_t *q;
	/* fails with -EUSERS once every free entry's token is still held by the recoverer */
	CHILD_CHECK(pmq_open(REUSE_Q, PMQ_CONSUMER, &q) == 0);
	struct pmq_msg m;
	CHILD_CHECK(pmq_recv_timeout(q, &m, 2000000000ull) == 0);
	atomic_fetch_add(&LG->flag[2], 1);
	for (;;)
		pause(); /* SIGKILLed holding m */
}

static void test_recovered_tokens_are_free_for_new_attachments(void **state)
{
	(void)state;
	struct pmq_config cfg;
	itest_config(&cfg, 16);
	cfg.max_attach = 3; /* us and two more: rounds past two reuse recovered entries */
	cfg.max_deliveries = REUSE_ROUNDS + 2;
	pmq_t *q;
	assert_int_equal(pmq_create(REUSE_Q, &cfg, &q), 0);
	char b[16] = "reuse";
	assert_int_equal(pmq_send(q, b, sizeof(b), PMQ_NONBLOCK), 0);
	for (uint32_t r = 0; r < REUSE_ROUNDS; r++) {
		pid_t c = itest_fork(NULL, consumer_takes_one_and_waits, NULL);
		int got = itest_await(&LG->flag[2], r + 1, 5000);
		assert_int_equal(kill(c, SIGKILL), 0);
		int st = itest_wait(c);
		assert_true(got);
		assert_true(itest_killed_by(st, SIGKILL));
		assert_int_equal(pmq_recover(q), 1);
	}
	struct pmq_msg m;
	assert_int_equal(pmq_recv_timeout(q, &m, 1000000000ull), 0);
	assert_int_equal(m.delivery_count, REUSE_ROUNDS + 1); /* every death counted once */
	assert_int_equal(pmq_ack(q, &m), 0);
	assert_int_equal(pmq_close(q), 0);
	assert_int_equal(pmq_unlink(REUSE_Q, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_forked_child_does_not_keep_dead_consumer_alive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inherited_handle_returns_ebadfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_consumer_token_never_taken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_producer_slot_never_aborted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recovered_tokens_are_free_for_new_attachments, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
