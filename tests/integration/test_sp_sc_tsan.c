/*
 * test_sp_sc_tsan.c - the SP/SC paths as threads of one process, each with
 * its own handle, so ThreadSanitizer sees their ordering edges: on an SC
 * queue only the consumer's acquire load of the slot word (C1) orders the
 * producer's payload writes before the consumer's reads (no CAS follows it),
 * and on an SP queue only the producer's acquire load (P0) orders the last
 * consumer's reads before the next writes. Weaken either and TSan reports
 * the payload race. Verdict as test_threads_tsan: each message exactly once,
 * intact, in each producer's order on a single-consumer queue.
 *
 * TSan tracks memory by virtual address, and every pmq_open maps the file at
 * an address of its own: between two handles TSan sees neither the payload
 * nor the slot words as shared. The "shared handle" runs therefore give one
 * PMQ_PRODUCER|PMQ_CONSUMER handle to one sending and one receiving thread
 * (they touch disjoint handle fields: sent vs in_flight/heartbeat/scan state;
 * busy-spin waits, so no waiter bit is shared). Those runs are the ones that
 * catch a weakened C1 (SC) or P0 (SP); the per-handle runs check the verdict.
 *
 * The "roomy" runs use a ring larger than all messages: a producer that waits
 * for space registers with a seq_cst RMW that the consumer's ack then reads
 * (W2), and TSan would take that edge for the one the slot word must give;
 * with room to spare, only the slot word orders the payload. Producers also
 * stay alive (spinning on a relaxed flag, no blocking call) until the consumers
 * are done: TSan forgets the accesses of a thread that has exited or sleeps in
 * an intercepted call, and would miss reads of what it wrote.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "itest.h"

#define QNAME "spsc-threads"
#define PER_PROD 20000
#define MAXPROD 2

static _Atomic uint32_t seen[MAXPROD][PER_PROD];
static _Atomic uint32_t errors;
static _Atomic uint64_t received;
static _Atomic uint32_t consumers_done;
static unsigned consumers;
static uint64_t total;

#define T_CHECK(cond)                                                                               \
	do {                                                                                        \
		if (!(cond)) {                                                                      \
			fprintf(stderr, "%s:%d: %s (%s)\n", __FILE__, __LINE__, #cond, pmq_errmsg()); \
			atomic_fetch_add(&errors, 1);                                               \
			return NULL;                                                                \
		}                                                                                   \
	} while (0)

static pmq_t *shared_handle; /* NULL: each thread opens its own */

static int open_role(unsigned role, pmq_t **q)
{
	if (shared_handle) {
		*q = shared_handle;
		return 0;
	}
	return pmq_open(QNAME, role, q);
}

static int close_role(pmq_t *q) { return q == shared_handle ? 0 : pmq_close(q); }

static void *producer(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	pmq_t *q;
	T_CHECK(open_role(PMQ_PRODUCER, &q) == 0);
	uint8_t buf[128];
	for (uint32_t s = 0; s < PER_PROD; s++) {
		size_t len = itest_make(buf, sizeof(buf), id, s);
		T_CHECK(pmq_send(q, buf, len, 0) == 0);
	}
	/* relaxed: no ordering edge may come from this wait (see the top comment) */
	while (atomic_load_explicit(&consumers_done, memory_order_relaxed) < consumers &&
	       atomic_load_explicit(&errors, memory_order_relaxed) == 0)
		;
	T_CHECK(close_role(q) == 0);
	return NULL;
}

/* arg: 1 if this is the only consumer (then each producer's order must hold) */
static void *consumer(void *arg)
{
	int single = (int)(uintptr_t)arg;
	pmq_t *q;
	T_CHECK(open_role(PMQ_CONSUMER, &q) == 0);
	int64_t next[MAXPROD] = {0};
	struct pmq_msg m;
	while (atomic_load(&received) < total) {
		int rc = pmq_recv_timeout(q, &m, 20000000ull);
		if (rc == -ETIMEDOUT)
			continue;
		T_CHECK(rc == 0);
		uint32_t p = 0, s = 0;
		T_CHECK(itest_check(m.data, m.len, &p, &s)); /* reads the payload: the raced bytes */
		T_CHECK(p < MAXPROD && s < PER_PROD);
		T_CHECK(atomic_fetch_add(&seen[p][s], 1) == 0);
		if (single) {
			T_CHECK((int64_t)s == next[p]);
			next[p] = s + 1;
		}
		T_CHECK(pmq_ack(q, &m) == 0);
		atomic_fetch_add(&received, 1);
	}
	atomic_fetch_add_explicit(&consumers_done, 1, memory_order_relaxed);
	T_CHECK(close_role(q) == 0);
	return NULL;
}

static void run_ring(uint32_t flags, unsigned nprod, unsigned ncons, uint32_t slots, int share)
{
	itest_dir_make();
	memset(seen, 0, sizeof(seen));
	atomic_store(&errors, 0);
	atomic_store(&received, 0);
	atomic_store(&consumers_done, 0);
	consumers = ncons;
	total = (uint64_t)nprod * PER_PROD;
	struct pmq_config c;
	itest_config(&c, slots);
	c.flags = flags;
	pmq_t *obs;
	assert_int_equal(pmq_create(QNAME, &c, &obs), 0);
	shared_handle = NULL;
	if (share) {
		assert_true(nprod == 1 && ncons == 1);
		struct pmq_open_opts o;
		pmq_open_opts_init(&o);
		o.wait = PMQ_WAIT_SPIN;
		assert_int_equal(pmq_open_ex(QNAME, PMQ_PRODUCER | PMQ_CONSUMER, &o, &shared_handle), 0);
	}
	pthread_t th[4];
	unsigned n = 0;
	for (unsigned i = 0; i < ncons; i++)
		assert_int_equal(pthread_create(&th[n++], NULL, consumer, (void *)(uintptr_t)(ncons == 1)), 0);
	for (unsigned i = 0; i < nprod; i++)
		assert_int_equal(pthread_create(&th[n++], NULL, producer, (void *)(uintptr_t)i), 0);
	for (unsigned i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&errors), 0);
	assert_int_equal(atomic_load(&received), total);
	for (unsigned p = 0; p < nprod; p++)
		for (unsigned s = 0; s < PER_PROD; s++)
			assert_int_equal(atomic_load(&seen[p][s]), 1);
	struct pmq_stats st;
	assert_int_equal(pmq_stats(obs, &st), 0);
	assert_int_equal(st.sent, total);
	assert_int_equal(st.depth, 0);
	assert_int_equal(st.in_flight, 0);
	if (shared_handle)
		assert_int_equal(pmq_close(shared_handle), 0);
	shared_handle = NULL;
	assert_int_equal(pmq_close(obs), 0);
	itest_dir_remove();
}

static void run(uint32_t flags, unsigned nprod, unsigned ncons) { run_ring(flags, nprod, ncons, 64, 0); }

/* one shared handle, a ring that never fills: only the slot word orders the payload */
static void test_sc_shared_handle_roomy(void **state)
{
	(void)state;
	run_ring(PMQ_F_SC, 1, 1, 32768, 1);
}

static void test_sp_sc_shared_handle_roomy(void **state)
{
	(void)state;
	run_ring(PMQ_F_SP | PMQ_F_SC, 1, 1, 32768, 1);
}

/* one shared handle, a small ring: the SP producer's P0 orders the reuse of each slot */
static void test_sp_shared_handle_wrapping(void **state)
{
	(void)state;
	run_ring(PMQ_F_SP, 1, 1, 64, 1);
}

static void test_sc_two_producers_one_consumer(void **state)
{
	(void)state;
	run(PMQ_F_SC, 2, 1);
}

static void test_sp_sc_one_producer_one_consumer(void **state)
{
	(void)state;
	run(PMQ_F_SP | PMQ_F_SC, 1, 1);
}

static void test_sp_one_producer_two_consumers(void **state)
{
	(void)state;
	run(PMQ_F_SP, 1, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sc_shared_handle_roomy),
		cmocka_unit_test(test_sp_sc_shared_handle_roomy),
		cmocka_unit_test(test_sp_shared_handle_wrapping),
		cmocka_unit_test(test_sc_two_producers_one_consumer),
		cmocka_unit_test(test_sp_sc_one_producer_one_consumer),
		cmocka_unit_test(test_sp_one_producer_two_consumers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
