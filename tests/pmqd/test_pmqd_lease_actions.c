/*
 * test_pmqd_lease_actions: the two other lease actions. With `kill`, pmqd
 * SIGKILLs a stopped holder past its lease (as RabbitMQ closes a channel) and
 * the message comes back through death recovery; with `alarm`, pmqd only
 * logs: the message stays with its holder, and nobody else receives it.
 */
#include "harness.h"

static void lease_kill(struct pmq_config *c)
{
	c->lease_ns = 300000000ull; /* 300 ms */
	c->lease_action = 1;
}

static void lease_alarm(struct pmq_config *c)
{
	c->lease_ns = 300000000ull;
	c->lease_action = 2;
}

/* A child that takes one message from `queue` and then is stopped; returns its pid.
 * *forked_ns: a time before its recv, so "not before the lease" holds even under load. */
static pid_t stopped_holder(const char *queue, uint64_t *forked_ns)
{
	int up[2];
	H_CHECK(pipe(up) == 0, "pipe");
	*forked_ns = h_now_ns();
	pid_t c = fork();
	if (c == 0) {
		pmq_t *q = h_open(queue, PMQ_CONSUMER);
		struct pmq_msg m;
		int r = pmq_recv_timeout(q, &m, 5000000000ull);
		if (write(up[1], &r, sizeof(r)) != sizeof(r))
			_exit(2);
		for (;;)
			pause();
	}
	int r;
	H_CHECK(read(up[0], &r, sizeof(r)) == sizeof(r) && r == 0, "holder of \"%s\" received its message", queue);
	close(up[0]);
	close(up[1]);
	kill(c, SIGSTOP);
	return c;
}

int main(void)
{
	h_setup("leaseact");
	H_CHECK(h_create("killq", lease_kill) == 0, "create killq");
	H_CHECK(h_create("alarmq", lease_alarm) == 0, "create alarmq");
	h_start_pmqd();
	pmq_t *p1 = h_open("killq", PMQ_PRODUCER), *p2 = h_open("alarmq", PMQ_PRODUCER);
	H_CHECK(pmq_send(p1, "k", 1, 0) == 0 && pmq_send(p2, "a", 1, 0) == 0, "send");

	/* kill: the stopped holder is SIGKILLed and its message redelivered */
	uint64_t t0;
	pid_t holder = stopped_holder("killq", &t0);
	pmq_t *q = h_open("killq", PMQ_CONSUMER);
	struct pmq_msg m;
	int r = pmq_recv_timeout(q, &m, 5000000000ull);
	double waited = (double)(h_now_ns() - t0) / 1e6;
	H_CHECK(r == 0 && m.len == 1 && ((const char *)m.data)[0] == 'k', "killq: redelivered (%s)", pmq_strerror(r));
	H_CHECK(m.delivery_count == 2, "killq: delivery count 2 (got %u)", m.delivery_count);
	H_CHECK(waited >= 250, "killq: not before the lease (%.1f ms)", waited);
	int st;
	H_CHECK(waitpid(holder, &st, 0) == holder && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		"killq: pmqd killed the holder (status 0x%x)", st);
	H_CHECK(h_log_wait("killed (lease_action kill)", 10000), "killq: pmqd logged the kill");
	H_CHECK(pmq_ack(q, &m) == 0, "killq: ack");
	pmq_close(q);
	printf("lease kill: holder killed, message back after %.1f ms\n", waited);

	/* alarm: pmqd only logs; the message stays with the stopped holder */
	holder = stopped_holder("alarmq", &t0);
	q = h_open("alarmq", PMQ_CONSUMER);
	r = pmq_recv_timeout(q, &m, 1200000000ull);
	H_CHECK(r == -ETIMEDOUT, "alarmq: nobody else gets the held message (%s)", pmq_strerror(r));
	for (int i = 0; i < 500 && !h_log_has("alarm only (lease_action alarm)"); i++)
		h_sleep_ms(10);
	H_CHECK(h_log_has("alarm only (lease_action alarm)"), "alarmq: pmqd raised the alarm");
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	/* once the holder is dead, the message comes back as for any death */
	r = pmq_recv_timeout(q, &m, 5000000000ull);
	H_CHECK(r == 0 && ((const char *)m.data)[0] == 'a' && m.delivery_count == 2, "alarmq: back after death (%s)",
		pmq_strerror(r));
	H_CHECK(pmq_ack(q, &m) == 0, "alarmq: ack");
	pmq_close(q);
	pmq_close(p1);
	pmq_close(p2);
	printf("PASS test_pmqd_lease_actions\n");
	h_done();
	return 0;
}
