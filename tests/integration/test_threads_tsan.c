/*
 * test_threads_tsan.c - the MPMC exchange as threads of one process, each
 * thread with its own handle (its own attachment and token), so that
 * ThreadSanitizer (-DPMQ_SANITIZE=thread) sees every ordering edge of the
 * data path, including the futex wait/wake and the nack/redelivery path.
 * Same verdict as test_mpmc: every message exactly once (or, when nacked,
 * once more as a redelivery), intact, tickets unique.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "itest.h"

#define NPROD 2
#define NCONS 2
#define PER_PROD 20000
#define QNAME "threads"

static _Atomic uint32_t seen[NPROD][PER_PROD];
static _Atomic uint32_t again[NPROD][PER_PROD];
static _Atomic uint64_t tick[NPROD][PER_PROD];
static _Atomic uint64_t received;
static _Atomic uint32_t errors;
static _Atomic uint32_t nack_every; /* 0: never */

#define T_CHECK(cond)                                                                               \
	do {                                                                                        \
		if (!(cond)) {                                                                      \
			fprintf(stderr, "%s:%d: %s (%s)\n", __FILE__, __LINE__, #cond, pmq_errmsg()); \
			atomic_fetch_add(&errors, 1);                                               \
			return NULL;                                                                \
		}                                                                                   \
	} while (0)

static void *producer(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	pmq_t *q;
	T_CHECK(pmq_open(QNAME, PMQ_PRODUCER, &q) == 0);
	uint8_t buf[128];
	for (uint32_t s = 0; s < PER_PROD; s++) {
		size_t len = itest_make(buf, sizeof(buf), id, s);
		T_CHECK(pmq_send(q, buf, len, 0) == 0);
	}
	T_CHECK(pmq_close(q) == 0);
	return NULL;
}

static void *consumer(void *arg)
{
	(void)arg;
	pmq_t *q;
	T_CHECK(pmq_open(QNAME, PMQ_CONSUMER, &q) == 0);
	uint64_t total = (uint64_t)NPROD * PER_PROD;
	struct pmq_msg m;
	unsigned n = 0;
	for (;;) {
		int rc = pmq_recv_timeout(q, &m, 20 * 1000000ull);
		if (rc == -ETIMEDOUT) {
			if (atomic_load(&received) >= total)
				break;
			continue;
		}
		T_CHECK(rc == 0);
		uint32_t p, s;
		T_CHECK(itest_check(m.data, m.len, &p, &s));
		T_CHECK(p < NPROD && s < PER_PROD);
		uint64_t expect = 0;
		if (!atomic_compare_exchange_strong(&tick[p][s], &expect, m.ticket + 1))
			T_CHECK(expect == m.ticket + 1); /* a redelivery keeps its origin ticket */
		uint32_t every = atomic_load(&nack_every);
		if (m.delivery_count == 1 && every && ++n % every == 0) {
			T_CHECK(pmq_nack(q, &m, 0) == 0);
			continue;
		}
		if (m.delivery_count > 1)
			atomic_fetch_add(&again[p][s], 1);
		atomic_fetch_add(&seen[p][s], 1);
		T_CHECK(pmq_ack(q, &m) == 0);
		atomic_fetch_add(&received, 1);
	}
	T_CHECK(pmq_close(q) == 0);
	return NULL;
}

static void run(uint32_t every)
{
	itest_dir_make();
	memset(seen, 0, sizeof(seen));
	memset(again, 0, sizeof(again));
	memset(tick, 0, sizeof(tick));
	atomic_store(&received, 0);
	atomic_store(&errors, 0);
	atomic_store(&nack_every, every);
	struct pmq_config cfg;
	itest_config(&cfg, 64);
	pmq_t *q;
	assert_int_equal(pmq_create(QNAME, &cfg, &q), 0);
	pthread_t t[NPROD + NCONS];
	for (int i = 0; i < NCONS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, consumer, NULL), 0);
	for (int i = 0; i < NPROD; i++)
		assert_int_equal(pthread_create(&t[NCONS + i], NULL, producer, (void *)(uintptr_t)i), 0);
	for (int i = 0; i < NPROD + NCONS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(atomic_load(&errors), 0);
	size_t bad = 0, redelivered = 0;
	for (uint32_t p = 0; p < NPROD; p++)
		for (uint32_t s = 0; s < PER_PROD; s++) {
			bad += atomic_load(&seen[p][s]) != 1;
			redelivered += atomic_load(&again[p][s]);
		}
	assert_int_equal(bad, 0);
	assert_int_equal(atomic_load(&received), (uint64_t)NPROD * PER_PROD);
	struct pmq_stats st;
	assert_int_equal(pmq_stats(q, &st), 0);
	assert_int_equal(st.in_flight, 0);
	assert_int_equal(st.redelivered, redelivered);
	if (every)
		assert_true(redelivered > 0);
	else
		assert_int_equal(redelivered, 0);
	assert_int_equal(pmq_close(q), 0);
	itest_dir_remove();
}

static void test_threads_exchange_exactly_once(void **state)
{
	(void)state;
	run(0);
}

static void test_threads_exchange_with_nacks(void **state)
{
	(void)state;
	run(97);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads_exchange_exactly_once),
		cmocka_unit_test(test_threads_exchange_with_nacks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
