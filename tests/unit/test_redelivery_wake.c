/*
 * test_redelivery_wake.c - a futex waiter does not sleep through a
 * redelivery (issue 9 item 16). A consumer's side scan comes up empty
 * because another consumer holds the one redelivery at that moment; the
 * holder nacks it back before the first one registers as a waiter, so the
 * side hint is back at the value the fruitless scan saw. Taking "same hint
 * value" for "nothing new" made the waiter sleep its 100 ms cap with the
 * redelivery ready. The window is made exact with
 * the library's fault hook: the nack runs at the point between the fruitless
 * look and the wait.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "unit_queue.h"

static struct pmq *holder;
static struct pmq_msg held;
static int armed;

static void nack_before_the_wait(const char *point)
{
	if (!armed || strcmp(point, "recv.before_wait") != 0)
		return;
	armed = 0;
	/* the holder's claim had lowered the hint to 0 while the waiter's scan ran */
	atomic_store(&holder->hdr->side_hint, 0);
	assert_int_equal(pmq_nack(holder, &held, 0), 0); /* hint back to 1, entry READY, no waiter yet */
}

static void test_waiter_takes_a_redelivery_published_before_it_slept(void **st)
{
	(void)st;
	struct uq_shape sh = {.slots = 8, .side = 4, .dlq_cap = 2};
	struct pmq *p = uq_create(&sh);
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.dir = uq_dir;
	o.wait = PMQ_WAIT_FUTEX; /* no spinning: the first empty look is followed by the wait */
	pmq_t *w = NULL;
	assert_int_equal(pmq_open_ex("t", PMQ_CONSUMER, &o, &w), 0);
	holder = uq_open("t", PMQ_CONSUMER);

	struct pmq_msg m;
	assert_int_equal(pmq_send(p, "again", 5, 0), 0);
	assert_int_equal(pmq_recv(holder, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_nack(holder, &m, 0), 0);
	assert_int_equal(pmq_recv(holder, &held, PMQ_NONBLOCK), 0); /* the holder has the redelivery */
	/* the waiter loaded the hint (1) before the holder's claim lowered it */
	atomic_store(&p->hdr->side_hint, 1);

	armed = 1;
	pmq_fault_set_hook(nack_before_the_wait);
	uint64_t t0 = now_mono_ns();
	int rc = pmq_recv_timeout(w, &m, 2000000000ull);
	uint64_t took = now_mono_ns() - t0;
	pmq_fault_set_hook(NULL);
	assert_int_equal(armed, 0);
	assert_int_equal(rc, 0);
	/* not a speed check: a waiter that sleeps sleeps its whole 100 ms cap (nothing wakes
	 * it), one that does not takes microseconds; 90 ms is a wide margin for a loaded machine */
	if (took >= 90000000ull)
		fail_msg("the waiter slept %llu ms with a redelivery ready", (unsigned long long)(took / 1000000));
	assert_int_equal(m.len, 5);
	assert_memory_equal(m.data, "again", 5);
	assert_int_equal(pmq_ack(w, &m), 0);
	pmq_close(holder);
	pmq_close(w);
	pmq_close(p);
}

static int setup(void **st)
{
	(void)st;
	uq_dir_make("wake");
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
		cmocka_unit_test_setup_teardown(test_waiter_takes_a_redelivery_published_before_it_slept, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
