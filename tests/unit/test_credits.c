/*
 * test_credits.c - dead-letter credits survive crashes (issue 9 item 11).
 * An entry records its credit before the credit is taken, so a process that
 * dies between the two costs nothing: recovery neither takes a second credit
 * (with dlq_capacity 1 that answered -EDQUOT and left the dead owner attached
 * with its message claimed for good) nor forgets one (a leak). And the first
 * exclusive opener recounts the credits from the side area.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "unit_queue.h"

static struct pmq *one_credit_queue(uint32_t max_deliveries)
{
	struct uq_shape sh = {.slots = 8, .side = 4, .dlq_cap = 1, .max_deliveries = max_deliveries};
	return uq_create(&sh);
}

/* a consumer process that receives one message and nacks it, SIGKILLed at `fault` */
static void consumer_dies_in_nack(const char *fault)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("PMQ_FAULT", fault, 1);
		struct pmq *c = uq_open("t", PMQ_CONSUMER);
		struct pmq_msg m;
		if (pmq_recv(c, &m, PMQ_NONBLOCK))
			_exit(3);
		pmq_nack(c, &m, 0);
		_exit(4); /* the fault point did not fire */
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static unsigned attached(struct pmq *q)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < q->max_attach; i++)
		n += at_state(atomic_load(&q->attach[i].word)) == AT_ATTACHED;
	return n;
}

static void assert_recovered_with_one_dead_letter(struct pmq *p)
{
	int rc = pmq_recover(p);
	if (rc != 1)
		fail_msg("recovery answered %d (%s): the dead consumer stays attached", rc, rc < 0 ? pmq_errmsg() : "");
	assert_int_equal(attached(p), 1); /* only p */
	assert_int_equal(uq_side_count(p, ST_DEAD), 1);
	assert_int_equal(uq_dlq_count(p), 1); /* one credit: the one dead letter */
	struct pmq_msg m;
	assert_int_equal(pmq_recv(p, &m, PMQ_NONBLOCK), -EAGAIN);
}

static void test_crash_after_requeue_took_its_credit(void **st)
{
	(void)st;
	struct pmq *p = one_credit_queue(2);
	struct pmq_msg m;
	assert_int_equal(pmq_send(p, "letter", 6, 0), 0);
	assert_int_equal(pmq_recv(p, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_nack(p, &m, 0), 0); /* in the side area, delivered once */
	/* the second failure makes it a dead letter; the consumer dies after taking the credit */
	consumer_dies_in_nack("requeue.after_credit");
	assert_recovered_with_one_dead_letter(p);
	pmq_close(p);
}

static void test_crash_after_move_took_its_credit(void **st)
{
	(void)st;
	struct pmq *p = one_credit_queue(1);
	assert_int_equal(pmq_send(p, "letter", 6, 0), 0);
	consumer_dies_in_nack("move.after_credit");
	assert_recovered_with_one_dead_letter(p);
	pmq_close(p);
}

static void test_exclusive_open_recounts_the_credits(void **st)
{
	(void)st;
	struct pmq *p = one_credit_queue(5);
	pmq_close(p);
	/* a count that lost track (a crash in an older version): nothing is dead, one credit used */
	p = uq_open("t", PMQ_CONSUMER);
	atomic_store(&p->hdr->dlq_count, 1);
	pmq_close(p);
	p = uq_open("t", PMQ_PRODUCER | PMQ_CONSUMER); /* nobody else attached: the open walks the file */
	assert_int_equal(uq_dlq_count(p), 0);
	struct pmq_msg m;
	assert_int_equal(pmq_send(p, "reject", 6, 0), 0);
	assert_int_equal(pmq_recv(p, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_nack(p, &m, PMQ_NACK_DEADLETTER), 0);
	assert_int_equal(uq_dlq_count(p), 1);
	pmq_close(p);
}

static int setup(void **st)
{
	(void)st;
	uq_dir_make("credits");
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	uq_dir_remove();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_crash_after_requeue_took_its_credit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_after_move_took_its_credit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exclusive_open_recounts_the_credits, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
