/*
 * test_pmqd_lease: a consumer stopped with SIGSTOP while holding a message,
 * past the queue's lease, has that message redelivered to another consumer
 * by pmqd; after SIGCONT its late ack answers -ESTALE and the bytes it was
 * reading were not overwritten meanwhile.
 */
#include "harness.h"

static void leased(struct pmq_config *c)
{
	c->lease_ns = 300000000ull; /* 300 ms */
}

int main(void)
{
	h_setup("lease");
	H_CHECK(h_create("jobs", leased) == 0, "create");
	h_start_pmqd();
	pmq_t *p = h_open("jobs", PMQ_PRODUCER);
	H_CHECK(pmq_send(p, "job-1", 5, 0) == 0, "send");

	int up[2], down[2];
	H_CHECK(pipe(up) == 0 && pipe(down) == 0, "pipes");
	/* the lease runs from the holder's recv, which is after this: a lower bound even under load */
	uint64_t t0 = h_now_ns();
	pid_t c = fork();
	if (c == 0) {
		pmq_t *q = h_open("jobs", PMQ_CONSUMER);
		struct pmq_msg m;
		int r = pmq_recv_timeout(q, &m, 5000000000ull);
		if (write(up[1], &r, sizeof(r)) != sizeof(r))
			_exit(2);
		char go;
		if (read(down[0], &go, 1) != 1) /* blocks here; SIGSTOP arrives meanwhile */
			_exit(2);
		int same = m.len == 5 && !memcmp(m.data, "job-1", 5);
		r = pmq_ack(q, &m);
		int out[2] = { r, same };
		if (write(up[1], out, sizeof(out)) != sizeof(out))
			_exit(2);
		_exit(0);
	}
	int r;
	H_CHECK(read(up[0], &r, sizeof(r)) == sizeof(r) && r == 0, "holder received the job");
	pmq_t *q = h_open("jobs", PMQ_CONSUMER);
	kill(c, SIGSTOP);

	struct pmq_msg m;
	r = pmq_recv_timeout(q, &m, 5000000000ull);
	double waited = (double)(h_now_ns() - t0) / 1e6;
	H_CHECK(r == 0, "redelivery to a second consumer: %s", pmq_strerror(r));
	H_CHECK(m.delivery_count == 2 && m.len == 5 && !memcmp(m.data, "job-1", 5), "it is job-1, delivery 2 (got %u)",
		m.delivery_count);
	H_CHECK(waited >= 250, "not before the lease (%.1f ms)", waited);
	printf("lease 300 ms: redelivered after %.1f ms\n", waited);
	H_CHECK(pmq_ack(q, &m) == 0, "second consumer acks");

	kill(c, SIGCONT);
	char go = 1;
	H_CHECK(write(down[1], &go, 1) == 1, "tell the holder to ack");
	int out[2];
	H_CHECK(read(up[0], out, sizeof(out)) == sizeof(out), "holder reports");
	H_CHECK(out[0] == -ESTALE, "late ack answers -ESTALE (got %d: %s)", out[0], pmq_strerror(out[0]));
	H_CHECK(out[1] == 1, "the bytes the holder was reading stayed unchanged");
	waitpid(c, NULL, 0);
	H_CHECK(h_log_wait("made no progress", 10000), "pmqd logged the lease expiry");
	pmq_close(q);
	pmq_close(p);
	printf("PASS test_pmqd_lease\n");
	h_done();
	return 0;
}
