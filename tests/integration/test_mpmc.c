/*
 * test_mpmc.c - many producer and consumer processes, nobody crashes:
 * every message is received exactly once, intact, once per ticket, and
 * each consumer sees each producer's messages in the order they were sent.
 *
 * 4 producer and 4 consumer processes (each its own pmq_open after fork)
 * move 1,000,000 messages through a 256-slot ring, so the ring wraps
 * about 3,900 times. Consumers record (producer, seq) -> count and ticket
 * in a MAP_SHARED ledger; the parent checks it after everyone exits.
 * PMQ_TEST_MESSAGES overrides the count (for a quick run).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "itest.h"

#define NPROD 4
#define NCONS 4
#define QNAME "mpmc"

struct ledger {
	uint32_t per_prod;
	uint32_t batch;             /* 0: pmq_send/pmq_recv; n: the batch calls, n at a time */
	_Atomic uint64_t received;  /* messages acked by all consumers */
	_Atomic uint32_t ready;     /* children attached */
	_Atomic uint32_t go;
	_Atomic uint32_t bad;       /* consumers' local failures */
	uint64_t *ticket;           /* [NPROD * per_prod]: ticket of each message */
	_Atomic uint8_t *seen;      /* [NPROD * per_prod]: times received */
};

static struct ledger *L;

static void producer(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	pmq_t *q = NULL;
	CHILD_CHECK(pmq_open(QNAME, PMQ_PRODUCER, &q) == 0);
	atomic_fetch_add(&L->ready, 1);
	while (!atomic_load(&L->go))
		itest_sleep_ms(1);
	uint8_t buf[8][128];
	struct iovec iov[8];
	for (uint32_t s = 0; s < L->per_prod;) {
		if (!L->batch) {
			size_t len = itest_make(buf[0], sizeof(buf[0]), id, s);
			int rc = pmq_send(q, buf[0], len, 0);
			CHILD_CHECK(rc == 0);
			s++;
			continue;
		}
		unsigned n = 0;
		for (; n < L->batch && s + n < L->per_prod; n++) {
			iov[n].iov_base = buf[n];
			iov[n].iov_len = itest_make(buf[n], sizeof(buf[n]), id, s + n);
		}
		int rc = pmq_send_batch(q, iov, n, 0);
		CHILD_CHECK(rc >= 1 && (unsigned)rc <= n);
		s += (uint32_t)rc; /* a partial batch resends the rest */
	}
	CHILD_CHECK(pmq_close(q) == 0);
}

static void consume_one(const struct pmq_msg *m, uint64_t last_ticket[NPROD])
{
	uint32_t p, s;
	CHILD_CHECK(itest_check(m->data, m->len, &p, &s));
	CHILD_CHECK(p < NPROD && s < L->per_prod);
	CHILD_CHECK(m->delivery_count == 1); /* nobody crashed or nacked */
	/* one consumer claims increasing tickets, and a producer's tickets rise with seq */
	CHILD_CHECK(last_ticket[p] == UINT64_MAX || m->ticket > last_ticket[p]);
	last_ticket[p] = m->ticket;
	size_t k = (size_t)p * L->per_prod + s;
	L->ticket[k] = m->ticket;
	atomic_fetch_add_explicit(&L->seen[k], 1, memory_order_relaxed);
}

static void consumer(void *arg)
{
	(void)arg;
	pmq_t *q = NULL;
	CHILD_CHECK(pmq_open(QNAME, PMQ_CONSUMER, &q) == 0);
	atomic_fetch_add(&L->ready, 1);
	uint64_t total = (uint64_t)NPROD * L->per_prod;
	uint64_t last_ticket[NPROD];
	for (int i = 0; i < NPROD; i++)
		last_ticket[i] = UINT64_MAX;
	struct pmq_msg msgs[8];
	for (;;) {
		if (!L->batch) {
			int rc = pmq_recv_timeout(q, &msgs[0], 20 * 1000000ull);
			if (rc == -ETIMEDOUT) {
				if (atomic_load(&L->received) >= total)
					break;
				continue;
			}
			CHILD_CHECK(rc == 0);
			consume_one(&msgs[0], last_ticket);
			CHILD_CHECK(pmq_ack(q, &msgs[0]) == 0);
			atomic_fetch_add(&L->received, 1);
			continue;
		}
		int rc = pmq_recv_batch(q, msgs, L->batch, PMQ_NONBLOCK);
		if (rc == -EAGAIN) {
			if (atomic_load(&L->received) >= total)
				break;
			struct pmq_msg one;
			rc = pmq_recv_timeout(q, &one, 20 * 1000000ull);
			if (rc == -ETIMEDOUT)
				continue;
			CHILD_CHECK(rc == 0);
			msgs[0] = one;
			rc = 1;
		}
		CHILD_CHECK(rc >= 1 && (unsigned)rc <= L->batch);
		for (int i = 0; i < rc; i++)
			consume_one(&msgs[i], last_ticket);
		CHILD_CHECK(pmq_ack_batch(q, msgs, (unsigned)rc) == 0);
		atomic_fetch_add(&L->received, (uint64_t)rc);
	}
	CHILD_CHECK(pmq_close(q) == 0);
}

static void run_exchange(uint32_t per_prod, uint32_t batch, uint32_t slots)
{
	itest_dir_make();
	struct pmq_config cfg;
	itest_config(&cfg, slots);
	pmq_t *q = NULL;
	assert_int_equal(pmq_create(QNAME, &cfg, &q), 0);

	size_t n = (size_t)NPROD * per_prod;
	L = itest_shared(sizeof(*L));
	L->per_prod = per_prod;
	L->batch = batch;
	L->ticket = itest_shared(n * sizeof(uint64_t));
	L->seen = itest_shared(n);

	pid_t pids[NPROD + NCONS];
	for (int i = 0; i < NCONS; i++)
		pids[i] = itest_fork(NULL, consumer, NULL);
	for (int i = 0; i < NPROD; i++)
		pids[NCONS + i] = itest_fork(NULL, producer, (void *)(uintptr_t)i);
	assert_true(itest_await(&L->ready, NPROD + NCONS, 10000));
	uint64_t t0 = itest_now_ns();
	atomic_store(&L->go, 1);
	int failed = itest_wait_all(pids, NPROD + NCONS, 200);
	double secs = (double)(itest_now_ns() - t0) / 1e9;
	fprintf(stderr, "# %zu messages, %u-slot ring, batch %u: %.2f s, %.0f msg/s\n", n, slots, batch, secs,
		(double)n / secs);
	assert_int_equal(failed, 0);

	/* exactly once, ticket per message unique, and within [0, n): no ticket was aborted */
	uint8_t *tick_seen = calloc(n, 1);
	assert_non_null(tick_seen);
	size_t missing = 0, dup = 0, badticket = 0, disorder = 0;
	for (uint32_t p = 0; p < NPROD; p++) {
		for (uint32_t s = 0; s < per_prod; s++) {
			size_t k = (size_t)p * per_prod + s;
			uint8_t c = atomic_load(&L->seen[k]);
			if (c == 0) {
				missing++;
				continue;
			}
			if (c > 1)
				dup++;
			uint64_t t = L->ticket[k];
			if (t >= n || tick_seen[t]++)
				badticket++;
			if (s > 0 && atomic_load(&L->seen[k - 1]) && L->ticket[k - 1] >= t)
				disorder++;
		}
	}
	free(tick_seen);
	if (missing || dup || badticket || disorder)
		fprintf(stderr, "missing %zu, duplicated %zu, bad tickets %zu, out of order %zu\n", missing, dup,
			badticket, disorder);
	assert_int_equal(missing, 0);
	assert_int_equal(dup, 0);
	assert_int_equal(badticket, 0);
	assert_int_equal(disorder, 0);
	assert_int_equal(atomic_load(&L->received), n);

	struct pmq_stats st;
	assert_int_equal(pmq_stats(q, &st), 0);
	assert_int_equal(st.sent, n);
	assert_int_equal(st.received, n);
	assert_int_equal(st.depth, 0);
	assert_int_equal(st.in_flight, 0);
	assert_int_equal(st.aborted, 0);
	assert_int_equal(st.redelivered, 0);
	assert_int_equal(st.attachments, 1); /* every child detached cleanly: only ours is left */
	/* nothing left to receive */
	struct pmq_msg m;
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), -EAGAIN);
	assert_int_equal(pmq_close(q), 0);

	munmap((void *)L->seen, n);
	munmap(L->ticket, n * sizeof(uint64_t));
	munmap(L, sizeof(*L));
	itest_dir_remove();
}

static uint32_t count_from_env(uint32_t dflt)
{
	const char *e = getenv("PMQ_TEST_MESSAGES");
	long v = e ? atol(e) : 0;
	return v > 0 ? (uint32_t)((v + NPROD - 1) / NPROD) : dflt;
}

/* 4 x 4 processes, 1,000,000 single sends and receives through 256 slots. */
static void test_mpmc_million_messages_exactly_once(void **state)
{
	(void)state;
	run_exchange(count_from_env(250000), 0, 256);
}

/* The batch calls keep the same guarantees: 200,000 messages, batches of 8, 64 slots. */
static void test_mpmc_batches_exactly_once(void **state)
{
	(void)state;
	run_exchange(count_from_env(50000), 8, 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mpmc_million_messages_exactly_once),
		cmocka_unit_test(test_mpmc_batches_exactly_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
