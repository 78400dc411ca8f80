/*
 * test_pmqd_recovery: with pmqd running and nobody calling pmq_recover,
 *  - a SIGKILLed consumer's claimed messages come back (delivery count 2),
 *    quickly (pidfd), and pmqd logs one line naming queue, pid and counts;
 *  - a SIGKILLed producer's reserved (WRITING) slot is aborted, so the
 *    messages sent after it are delivered;
 *  - a cleanly closed consumer causes no recovery.
 */
#include "harness.h"

static void small(struct pmq_config *c)
{
	c->slot_count = 64;
	c->max_deliveries = 5;
}

/* Does pmqd's stat of `queue` list pid (watched by `watch`, NULL = any; absent = 0)? */
static int pmqd_lists(const char *queue, pid_t pid, const char *watch)
{
	char req[64], reply[8192], key[48];
	snprintf(req, sizeof(req), "stat %s", queue);
	if (h_request(req, reply, sizeof(reply)) != 0)
		return -1;
	snprintf(key, sizeof(key), "\"pid\":%d,", (int)pid);
	char *a = strstr(reply, key);
	if (!a)
		return 0;
	if (!watch)
		return 1;
	char *end = strchr(a, '}'), *w = strstr(a, watch);
	return w && (!end || w < end);
}

/* Wait (bounded) until pmqd's view of pid is `want` (1 listed with watch, 0 gone). */
static void await_pmqd_view(const char *queue, pid_t pid, const char *watch, int want)
{
	for (int i = 0; i < 1000; i++) {
		if (pmqd_lists(queue, pid, watch) == want)
			return;
		h_sleep_ms(10);
	}
	H_FAIL("pmqd never %s pid %d on \"%s\"", want ? "watched" : "forgot", (int)pid, queue);
}

static void test_consumer_death_requeues(void)
{
	pmq_t *p = h_open("orders", PMQ_PRODUCER);
	for (int i = 0; i < 4; i++) { /* the holder takes all: the next recv must wait for the requeue */
		char m[32];
		int n = snprintf(m, sizeof(m), "m%d", i);
		H_CHECK(pmq_send(p, m, (size_t)n, 0) == 0, "send");
	}
	unsigned got;
	pid_t c = h_spawn_holder("orders", 4, &got);
	H_CHECK(got == 4, "holder received %u of 4", got);
	/* open before the kill: pmq_open itself recovers dead owners, and we want pmqd to */
	pmq_t *q = h_open("orders", PMQ_CONSUMER);
	/* the holder's hello reaches pmqd asynchronously: kill it only once pmqd watches it by
	 * pidfd, else (a busy machine) pmqd first sees it at a scan, already dead, and logs
	 * that instead of its death */
	await_pmqd_view("orders", c, "\"watch\":\"pidfd\"", 1);
	uint64_t t0 = h_now_ns();
	h_kill(c);

	/* polled without blocking: a blocked waiter would heal the queue itself after 100 ms,
	 * and this test is about pmqd doing it */
	struct pmq_msg m;
	int r;
	while ((r = pmq_recv(q, &m, PMQ_NONBLOCK)) == -EAGAIN && h_now_ns() - t0 < 5000000000ull)
		h_sleep_us(100);
	uint64_t dt = h_now_ns() - t0;
	H_CHECK(r == 0, "recv after the kill: %s", pmq_strerror(r));
	H_CHECK(m.delivery_count == 2, "first message after the kill is a redelivery (count %u)", m.delivery_count);
	printf("consumer death -> first redelivery after %.3f ms\n", (double)dt / 1e6);
	pmq_ack(q, &m);
	unsigned redeliv = 1, total = 1;
	for (int i = 4; i < 10; i++) {
		char b[32];
		int n = snprintf(b, sizeof(b), "m%d", i);
		H_CHECK(pmq_send(p, b, (size_t)n, 0) == 0, "send");
	}
	/* pmqd requeues the dead holder's slots one by one: the rest may still be on their way */
	uint64_t t1 = h_now_ns();
	while (total < 10 && h_now_ns() - t1 < 5000000000ull) {
		if (pmq_recv(q, &m, PMQ_NONBLOCK) != 0) {
			h_sleep_us(100);
			continue;
		}
		redeliv += m.delivery_count == 2;
		total++;
		pmq_ack(q, &m);
	}
	H_CHECK(pmq_recv(q, &m, PMQ_NONBLOCK) == -EAGAIN, "nothing beyond the 10 sent");
	H_CHECK(total == 10 && redeliv == 4, "got %u messages, %u redelivered (want 10, 4)", total, redeliv);
	pmq_close(q);
	pmq_close(p);
	char line[128];
	/* pmqd, not a waiter's idle heal, took the four back (timing is bench/recovery_latency's job) */
	snprintf(line, sizeof(line), "consumer pid %d on \"orders\" died --> recovered 1 attachment(s): 4 requeued",
		 (int)c);
	for (int i = 0; i < 100 && !h_log_has(line); i++)
		h_sleep_ms(10);
	H_CHECK(h_log_has(line), "pmqd logged \"%s\"", line);
}

static void test_producer_death_aborts(void)
{
	int pp[2];
	H_CHECK(pipe(pp) == 0, "pipe");
	pid_t c = fork();
	if (c == 0) {
		pmq_t *p = h_open("orders", PMQ_PRODUCER);
		void *buf;
		if (pmq_reserve(p, 16, &buf, 0) != 0)
			_exit(2);
		memcpy(buf, "never", 5);
		char x = 1;
		if (write(pp[1], &x, 1) != 1)
			_exit(2);
		for (;;)
			pause();
	}
	char x;
	H_CHECK(read(pp[0], &x, 1) == 1, "producer reserved");
	pmq_t *p = h_open("orders", PMQ_PRODUCER);
	H_CHECK(pmq_send(p, "after", 5, 0) == 0, "send behind the reservation");
	pmq_t *q = h_open("orders", PMQ_CONSUMER);
	h_kill(c);
	struct pmq_msg m;
	int r = pmq_recv_timeout(q, &m, 2000000000ull);
	H_CHECK(r == 0, "message behind a dead producer's slot: %s", pmq_strerror(r));
	H_CHECK(m.len == 5 && !memcmp(m.data, "after", 5), "got the message sent after the reservation");
	pmq_ack(q, &m);
	struct pmq_stats st;
	pmq_stats(q, &st);
	H_CHECK(st.aborted >= 1, "aborted counter %llu", (unsigned long long)st.aborted);
	/* the next test counts pmqd's recoveries: let pmqd finish with this death first (its
	 * recovery, or the rescan that finds the entry already healed by our recv) */
	await_pmqd_view("orders", c, NULL, 0);
	pmq_close(q);
	pmq_close(p);
	close(pp[0]);
	close(pp[1]);
}

static void test_clean_close_is_not_a_death(void)
{
	char reply[8192];
	pmq_t *q = h_open("orders", PMQ_CONSUMER);
	pmq_close(q);
	h_sleep_ms(300);
	H_CHECK(h_request("stat orders", reply, sizeof(reply)) == 0, "stat");
	char *r = strstr(reply, "\"recoveries\":");
	H_CHECK(r, "stat reply has recoveries: %s", reply);
	unsigned long before = strtoul(r + 13, NULL, 10);
	q = h_open("orders", PMQ_CONSUMER);
	pmq_close(q);
	h_sleep_ms(300);
	H_CHECK(h_request("stat orders", reply, sizeof(reply)) == 0, "stat");
	r = strstr(reply, "\"recoveries\":");
	H_CHECK(strtoul(r + 13, NULL, 10) == before, "a clean close caused a recovery: %s", reply);
}

int main(void)
{
	h_setup("recovery");
	H_CHECK(h_create("orders", small) == 0, "create");
	h_start_pmqd();
	test_consumer_death_requeues();
	test_producer_death_aborts();
	test_clean_close_is_not_a_death();
	printf("PASS test_pmqd_recovery\n");
	h_done();
	return 0;
}
