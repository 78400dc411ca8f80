/*
 * test_settle_race.c - recovery's retry when a lease move races its settle
 * (issue 17; bug B of tests/model/README.md). Recovery of a dead consumer
 * finds its message CLAIMED and starts to move it; at that moment a lease
 * move (pmqd's pmq_requeue_holder) marks the slot MOVED and, the holder being
 * possibly alive, leaves it pinned. Recovery's move answers -ESTALE; it must
 * look at the word again and free the pinned MOVED slot, or the slot names a
 * freed owner for good and the ring wedges one lap later. The fault hook at
 * recover.settle_move runs the lease move exactly in that window.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "unit_queue.h"

static struct pmq *pmqd;
static uint32_t victim, victim_inc;
static int armed;

static void lease_move_first(const char *point)
{
	if (!armed || strcmp(point, "recover.settle_move") != 0)
		return;
	armed = 0;
	assert_int_equal(pmq_requeue_holder(pmqd, victim, victim_inc), 1);
}

static void test_recovery_frees_a_slot_a_lease_move_pinned_under_it(void **st)
{
	(void)st;
	struct uq_shape sh = {.slots = 4, .side = 4, .dlq_cap = 1};
	struct pmq *p = uq_create(&sh);
	struct pmq *c = uq_open("t", PMQ_CONSUMER);
	pmqd = uq_open("t", PMQ_CONSUMER);
	struct pmq_msg m;
	assert_int_equal(pmq_send(p, "leased", 6, 0), 0);
	assert_int_equal(pmq_recv(c, &m, PMQ_NONBLOCK), 0);
	victim = c->index;
	victim_inc = c->incarnation;
	uq_die(c);

	armed = 1;
	pmq_fault_set_hook(lease_move_first);
	int rc = pmq_recover(p);
	pmq_fault_set_hook(NULL);
	assert_int_equal(armed, 0); /* the lease move ran inside recovery's settle */
	assert_true(rc >= 0);
	assert_int_equal(at_state(atomic_load(&p->attach[victim].word)), AT_FREE);
	for (uint32_t j = 0; j < p->slot_count; j++) {
		uint64_t w = atomic_load(&main_slot(p, j)->ctl);
		if (ctl_state(w) != ST_FREE && ctl_state(w) != ST_READY)
			fail_msg("slot %u is in state %u naming owner %u after recovery freed that owner", j, ctl_state(w),
				 ctl_owner(w));
	}
	/* delivered once (the lease copy), and the ring carries a full lap again */
	assert_int_equal(pmq_recv(p, &m, PMQ_NONBLOCK), 0);
	assert_memory_equal(m.data, "leased", 6);
	assert_int_equal(pmq_ack(p, &m), 0);
	assert_int_equal(pmq_recv(p, &m, PMQ_NONBLOCK), -EAGAIN);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pmq_send(p, "lap", 3, PMQ_NONBLOCK), 0);
	pmq_close(pmqd);
	pmq_close(p);
}

static int setup(void **st)
{
	(void)st;
	uq_dir_make("settle");
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
		cmocka_unit_test_setup_teardown(test_recovery_frees_a_slot_a_lease_move_pinned_under_it, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
