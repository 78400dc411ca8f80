/*
 * test_pmqd_strength: pmqd/pmqctl assertions an outside mutation review
 * found missing (issue 17):
 *  1. pmqctl create --sp / --sc / both: the queue carries the flags and a
 *     round trip through pmqctl send/recv works on each;
 *  2. the control socket's hello refuses an index equal to the table size
 *     (PMQD_MAX_ATTACH, 256) as a usage error, while 255 is parsed;
 *  3. a consumer in another PID namespace that dies before pmqd discovers
 *     it is recovered at discovery, not at the (here: one minute) probe.
 */
#include "harness.h"

static void flags_and_round_trip(const char *name, const char *opts, uint32_t want)
{
	char out[4096];
	int rc = h_pmqctl(out, sizeof(out), "create %s --slots 16 --payload 64 %s", name, opts);
	H_CHECK(rc == 0, "pmqctl create %s %s: exit %d: %s", name, opts, rc, out);
	pmq_t *q = h_open(name, 0);
	struct pmq_config c;
	H_CHECK(pmq_get_config(q, &c) == 0, "get_config");
	H_CHECK((c.flags & (PMQ_F_SP | PMQ_F_SC)) == want, "%s: flags 0x%x, want 0x%x", name, c.flags, want);
	pmq_close(q);
	rc = h_pmqctl(out, sizeof(out), "send %s one two three", name);
	H_CHECK(rc == 0, "pmqctl send %s: exit %d: %s", name, rc, out);
	rc = h_pmqctl(out, sizeof(out), "recv %s -n 3 --timeout 2000", name);
	H_CHECK(rc == 0, "pmqctl recv %s: exit %d: %s", name, rc, out);
	char *a = strstr(out, "one"), *b = a ? strstr(a, "two") : NULL, *d = b ? strstr(b, "three") : NULL;
	H_CHECK(d, "%s: recv did not print one, two, three in order: %s", name, out);
	rc = h_pmqctl(out, sizeof(out), "recv %s --timeout 100", name);
	H_CHECK(rc == 6, "%s: a fourth message was received (exit %d): %s", name, rc, out);
}

static void hello_bounds(void)
{
	char req[128], reply[4096];
	snprintf(req, sizeof(req), "hello hq 256 1 %d", (int)getpid());
	H_CHECK(h_request(req, reply, sizeof(reply)) == 0, "hello 256: pmqd unreachable");
	H_CHECK(!strncmp(reply, "err EINVAL", 10) && strstr(reply, "usage: hello"),
		"hello with index 256 (== table size) not refused as a usage error: %s", reply);
	snprintf(req, sizeof(req), "hello hq 255 1 %d", (int)getpid());
	H_CHECK(h_request(req, reply, sizeof(reply)) == 0, "hello 255: pmqd unreachable");
	H_CHECK(!strncmp(reply, "err ESRCH", 9), "hello with index 255 should parse and find no attachment: %s", reply);
	H_CHECK(h_request("ping", reply, sizeof(reply)) == 0 && !strncmp(reply, "ok ", 3), "pmqd died: %s", reply);
}

/* The holder of test_pmqd_pidns, in its own PID namespace: returns its unshare pid. */
static pid_t spawn_in_ns(const char *queue, unsigned n)
{
	int p[2];
	H_CHECK(pipe(p) == 0, "pipe");
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		char cnt[16];
		snprintf(cnt, sizeof(cnt), "%u", n);
		execlp("unshare", "unshare", "--pid", "--fork", "--kill-child=SIGKILL", PMQT_HOLDER_BIN, h_dir, queue, cnt,
		       (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char line[128] = "";
	ssize_t r = read(p[0], line, sizeof(line) - 1);
	close(p[0]);
	line[r > 0 ? r : 0] = '\0';
	unsigned got = 0;
	int inner = -1;
	if (sscanf(line, "held %u pid %d", &got, &inner) != 2 || inner != 1 || got != n) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		H_FAIL("namespaced holder: \"%s\"", line);
	}
	return pid;
}

static void dead_before_discovery(void)
{
	if (system("unshare --pid --fork true >/dev/null 2>&1") != 0) {
		printf("SKIP part 3: unshare --pid --fork does not work here (needs root or user namespaces)\n");
		return;
	}
	pmq_t *p = h_open("ns", PMQ_PRODUCER), *q = h_open("ns", PMQ_CONSUMER);
	for (int i = 0; i < 3; i++)
		H_CHECK(pmq_send(p, "ns", 2, 0) == 0, "send");
	char reply[8192];
	for (int i = 0; i < 200 && !(h_request("stat ns", reply, sizeof(reply)) == 0 && !strncmp(reply, "ok ", 3)); i++)
		h_sleep_ms(10);
	H_CHECK(!strncmp(reply, "ok ", 3), "pmqd does not watch \"ns\": %s", reply);
	/* pmqd is stopped while the holder attaches, takes 3 and dies: its hello and
	 * the rescan reach pmqd only after the death */
	kill(h_pmqd, SIGSTOP);
	pid_t u = spawn_in_ns("ns", 3);
	kill(u, SIGKILL);
	waitpid(u, NULL, 0);
	struct pmq_stats st;
	pmq_stats(q, &st);
	H_CHECK(st.in_flight == 3, "the dead holder's messages were settled before pmqd ran (in flight %llu)",
		(unsigned long long)st.in_flight);
	kill(h_pmqd, SIGCONT);
	uint64_t t0 = h_now_ns();
	/* non-blocking receives only: a blocking one would heal the queue itself */
	unsigned back = 0;
	while (back < 3 && h_now_ns() - t0 < 5000000000ull) {
		struct pmq_msg m;
		int r = pmq_recv(q, &m, PMQ_NONBLOCK);
		if (r == -EAGAIN) {
			h_sleep_ms(10);
			continue;
		}
		H_CHECK(r == 0 && m.delivery_count == 2, "redelivery: %s (count %u)", pmq_strerror(r), r ? 0 : m.delivery_count);
		pmq_ack(q, &m);
		back++;
	}
	H_CHECK(back == 3, "only %u of 3 messages of the consumer that died before discovery came back in 5 s", back);
	printf("dead-before-discovery namespaced consumer recovered after %.1f ms\n", (double)(h_now_ns() - t0) / 1e6);
	pmq_close(q);
	pmq_close(p);
}

static void no_lease(struct pmq_config *c) { c->lease_ns = 0; } /* no lease ticks either */

int main(void)
{
	h_setup("strength");
	H_CHECK(h_create("hq", NULL) == 0 && h_create("ns", no_lease) == 0, "create");
	/* probes, safety net and rescans a minute apart: only the discovery that the dead
	 * holder's queued hello triggers can recover it in time */
	static const char *const args[] = { "--probe-ms", "60000", "--scan-ms", "60000", NULL };
	h_start_pmqd_args(args);
	flags_and_round_trip("sp", "--sp", PMQ_F_SP);
	flags_and_round_trip("sc", "--sc", PMQ_F_SC);
	flags_and_round_trip("spsc", "--sp --sc", PMQ_F_SP | PMQ_F_SC);
	hello_bounds();
	dead_before_discovery();
	printf("PASS test_pmqd_strength\n");
	h_done();
	return 0;
}
