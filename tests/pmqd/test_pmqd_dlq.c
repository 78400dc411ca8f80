/*
 * test_pmqd_dlq:
 *  - a poison message nacked until max_deliveries lands in the dead letters;
 *    `pmqctl dlq list --json` counts it, `pmqctl dlq replay` brings it back;
 *  - a poison message that crashes every consumer (SIGKILL while holding it)
 *    reaches the dead letters after max_deliveries deaths, with pmqd doing
 *    every recovery.
 */
#include "harness.h"

static void three(struct pmq_config *c)
{
	c->max_deliveries = 3;
}

static void test_nack_to_dlq_and_replay(void)
{
	pmq_t *p = h_open("pay", PMQ_PRODUCER), *q = h_open("pay", PMQ_CONSUMER);
	H_CHECK(pmq_send(p, "poison", 6, 0) == 0, "send");
	struct pmq_msg m;
	unsigned tries = 0;
	while (pmq_recv(q, &m, PMQ_NONBLOCK) == 0) {
		tries++;
		H_CHECK(pmq_nack(q, &m, PMQ_NACK_REQUEUE) == 0, "nack");
		H_CHECK(tries < 10, "never dead-lettered");
	}
	H_CHECK(tries == 3, "delivered %u times (max_deliveries 3)", tries);
	char out[4096];
	int ex = h_pmqctl(out, sizeof(out), "dlq list pay --json");
	H_CHECK(ex == 0 && strstr(out, "\"dead_letters\":1"), "dlq list: exit %d: %s", ex, out);
	ex = h_pmqctl(out, sizeof(out), "dlq replay pay");
	H_CHECK(ex == 0 && strstr(out, "replayed 1"), "dlq replay: exit %d: %s", ex, out);
	H_CHECK(pmq_recv(q, &m, PMQ_NONBLOCK) == 0, "the replayed message is deliverable");
	H_CHECK(m.len == 6 && !memcmp(m.data, "poison", 6), "it is the poison message");
	H_CHECK(pmq_ack(q, &m) == 0, "ack");
	pmq_close(q);
	pmq_close(p);
}

static void test_crashing_poison(void)
{
	pmq_t *p = h_open("crash", PMQ_PRODUCER);
	pmq_t *watch = h_open("crash", 0);
	H_CHECK(pmq_send(p, "kaboom", 6, 0) == 0, "send");
	unsigned deaths = 0;
	for (int i = 0; i < 10; i++) {
		unsigned got;
		pid_t c = h_spawn_holder("crash", 1, &got);
		if (!got) {
			h_kill(c);
			break;
		}
		h_kill(c); /* the message "crashed" its consumer */
		deaths++;
		struct pmq_stats st;
		for (int w = 0; w < 200; w++) { /* wait for pmqd's recovery */
			pmq_stats(watch, &st);
			if (st.side_ready || st.dead_letters)
				break;
			h_sleep_ms(5);
		}
		if (st.dead_letters)
			break;
	}
	struct pmq_stats st;
	pmq_stats(watch, &st);
	printf("poison crashed %u consumers; dead letters %llu\n", deaths, (unsigned long long)st.dead_letters);
	H_CHECK(deaths == 3 && st.dead_letters == 1, "dead-lettered after 3 crashes (deaths %u, dlq %llu)", deaths,
		(unsigned long long)st.dead_letters);
	pmq_close(watch);
	pmq_close(p);
}

int main(void)
{
	h_setup("dlq");
	H_CHECK(h_create("pay", three) == 0 && h_create("crash", three) == 0, "create");
	h_start_pmqd();
	test_nack_to_dlq_and_replay();
	test_crashing_poison();
	printf("PASS test_pmqd_dlq\n");
	h_done();
	return 0;
}
