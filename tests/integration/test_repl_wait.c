/*
 * test_repl_wait.c - what a PMQ_REPLICATED send returns when its message is
 * confirmed by the standby and, before the sender looks, the queue is fenced
 * (a clean stop's handover fences, then waits for that confirmation) or
 * degraded: 0, the message is replicated. It returned ESHUTDOWN / ENOLINK,
 * so a producer retried on the new primary a message already there.
 *
 * The fault point "repl.wait" (the start of the sender's wait) runs the
 * replicator's part in the sending thread, so the order is exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "internal.h"
#include "itest.h"

#define QNAME "rwait"

static pmq_t *q_hook; /* the handle the hook confirms and fences through */
static int hook_fence, hook_degrade, hook_confirm;

static void at_wait(const char *point)
{
	if (strcmp(point, "repl.wait") != 0 || !q_hook)
		return;
	struct pmq_repl_info in;
	assert_int_equal(pmq_repl_info(q_hook, &in), 0);
	if (hook_confirm)
		assert_int_equal(pmq_repl_confirm(q_hook, in.tail), 0); /* the standby has every ticket */
	if (hook_degrade)
		assert_int_equal(pmq_repl_set(q_hook, PMQ_REPL_ON | PMQ_REPL_DEGRADED), 0);
	if (hook_fence)
		assert_int_equal(pmq_repl_fence(q_hook, 1), 0);
}

static int setup(void **state)
{
	(void)state;
	itest_dir_make();
	struct pmq_config cfg;
	itest_config(&cfg, 64);
	pmq_t *q;
	if (pmq_create(QNAME, &cfg, &q) != 0 || pmq_repl_set(q, PMQ_REPL_ON) != 0)
		return -1;
	q_hook = q;
	pmq_fault_set_hook(at_wait);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	pmq_fault_set_hook(NULL);
	pmq_close(q_hook);
	q_hook = NULL;
	itest_dir_remove();
	return 0;
}

static void arm(int confirm, int fence, int degrade)
{
	hook_confirm = confirm;
	hook_fence = fence;
	hook_degrade = degrade;
}

static void test_confirmed_then_fenced_is_a_success(void **state)
{
	(void)state;
	arm(1, 1, 0);
	assert_int_equal(pmq_send(q_hook, "m", 1, PMQ_REPLICATED), 0);
	arm(0, 0, 0);
	/* the next send is refused at once: the queue is fenced */
	assert_int_equal(pmq_send(q_hook, "n", 1, PMQ_REPLICATED | PMQ_NONBLOCK), -ESHUTDOWN);
}

static void test_fenced_without_confirmation_is_refused(void **state)
{
	(void)state;
	arm(0, 1, 0);
	assert_int_equal(pmq_send(q_hook, "m", 1, PMQ_REPLICATED), -ESHUTDOWN);
}

static void test_confirmed_then_degraded_is_a_success(void **state)
{
	(void)state;
	arm(1, 0, 1);
	assert_int_equal(pmq_send(q_hook, "m", 1, PMQ_REPLICATED), 0);
	arm(0, 0, 0);
	assert_int_equal(pmq_send(q_hook, "n", 1, PMQ_REPLICATED), -ENOLINK); /* not confirmed: degraded */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_confirmed_then_fenced_is_a_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fenced_without_confirmation_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_confirmed_then_degraded_is_a_success, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
