/*
 * test_pmqd_lifecycle: pmqd is an add-on, never on the data path.
 *  - starting a second pmqd on the same directory is refused (exit 3, a
 *    message naming the running one) and the first keeps working;
 *  - pmqd stopped (SIGSTOP): producers and consumers go on; a consumer that
 *    dies meanwhile gets its messages back once pmqd continues;
 *  - pmqd killed (-9): a consumer dies while it is gone; a new pmqd recovers
 *    it at start (state comes from the files only);
 *  - SIGHUP reloads; SIGTERM stops cleanly with exit 0.
 *  - a queue created after pmqd started is found (directory watch);
 *  - readiness is announced with sd_notify (READY=1) for Type=notify.
 */
#include "harness.h"

/* Start pmqd with NOTIFY_SOCKET pointing at our datagram socket; expect READY=1. */
static void start_with_notify(void)
{
	char path[400];
	snprintf(path, sizeof(path), "%s.notify", h_dir);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	H_CHECK(strlen(path) < sizeof(sa.sun_path), "notify path fits");
	memcpy(sa.sun_path, path, strlen(path) + 1);
	H_CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind notify socket");
	setenv("NOTIFY_SOCKET", path, 1);
	h_start_pmqd();
	unsetenv("NOTIFY_SOCKET");
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	H_CHECK(n > 0 && strstr(buf, "READY=1"), "sd_notify READY=1 received (got \"%s\")", buf);
	close(fd);
	unlink(path);
}

static void pump(pmq_t *p, pmq_t *q, int n)
{
	for (int i = 0; i < n; i++) {
		H_CHECK(pmq_send(p, "x", 1, 0) == 0, "send with pmqd away");
		struct pmq_msg m;
		H_CHECK(pmq_recv(q, &m, PMQ_NONBLOCK) == 0, "recv with pmqd away");
		H_CHECK(pmq_ack(q, &m) == 0, "ack with pmqd away");
	}
}

static void expect_redelivery(pmq_t *q, unsigned n, unsigned timeout_ms, const char *when)
{
	for (unsigned i = 0; i < n; i++) {
		struct pmq_msg m;
		int r = pmq_recv_timeout(q, &m, (uint64_t)timeout_ms * 1000000ull);
		H_CHECK(r == 0, "%s: redelivery %u of %u: %s", when, i + 1, n, pmq_strerror(r));
		H_CHECK(m.delivery_count == 2, "%s: delivery count %u", when, m.delivery_count);
		pmq_ack(q, &m);
	}
}

int main(void)
{
	h_setup("life");
	H_CHECK(h_create("q", NULL) == 0, "create");
	pid_t first = h_start_pmqd();

	/* twice */
	char cmd[600], out[4096];
	snprintf(cmd, sizeof(cmd), "%s --dir '%s' 2>&1", PMQD_BIN, h_dir);
	FILE *f = popen(cmd, "r");
	size_t n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	int st = pclose(f);
	H_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3, "second pmqd exits 3 (status %d)", st);
	char want[64];
	snprintf(want, sizeof(want), "another pmqd (pid %d)", (int)first);
	H_CHECK(strstr(out, want), "second pmqd names the first: %s", out);
	char reply[4096];
	snprintf(want, sizeof(want), "\"pid\":%d,", (int)first);
	H_CHECK(h_request("ping", reply, sizeof(reply)) == 0 && strstr(reply, want), "first still answers");

	pmq_t *p = h_open("q", PMQ_PRODUCER), *q = h_open("q", PMQ_CONSUMER);

	/* stopped */
	kill(h_pmqd, SIGSTOP);
	pump(p, q, 1000);
	H_CHECK(pmq_send(p, "a", 1, 0) == 0 && pmq_send(p, "b", 1, 0) == 0, "send");
	unsigned got;
	pid_t c = h_spawn_holder("q", 2, &got);
	H_CHECK(got == 2, "holder got %u", got);
	h_kill(c);
	h_sleep_ms(200);
	struct pmq_msg m;
	H_CHECK(pmq_recv(q, &m, PMQ_NONBLOCK) == -EAGAIN, "nothing comes back while pmqd is stopped");
	kill(h_pmqd, SIGCONT);
	expect_redelivery(q, 2, 2000, "after SIGCONT");

	/* killed, consumer dies meanwhile, restarted */
	h_kill9_pmqd();
	pump(p, q, 1000);
	H_CHECK(pmq_send(p, "c", 1, 0) == 0 && pmq_send(p, "d", 1, 0) == 0, "send");
	c = h_spawn_holder("q", 2, &got);
	H_CHECK(got == 2, "holder got %u", got);
	h_kill(c);
	start_with_notify(); /* stale socket and lock from the killed one must not stop it */
	expect_redelivery(q, 2, 2000, "after restart");

	/* new queue after start: found by the directory watch, watched at once */
	H_CHECK(h_create("late", NULL) == 0, "create late");
	pmq_t *lp = h_open("late", PMQ_PRODUCER), *lq = h_open("late", PMQ_CONSUMER);
	H_CHECK(pmq_send(lp, "l", 1, 0) == 0, "send");
	c = h_spawn_holder("late", 1, &got);
	H_CHECK(got == 1, "late holder");
	h_kill(c);
	expect_redelivery(lq, 1, 2000, "queue created after pmqd");
	pmq_close(lq);
	pmq_close(lp);

	/* reload and stop */
	kill(h_pmqd, SIGHUP);
	for (int i = 0; i < 100 && !h_log_has("reloaded"); i++)
		h_sleep_ms(10);
	H_CHECK(h_log_has("reloaded"), "SIGHUP reloads");
	H_CHECK(h_request("ping", reply, sizeof(reply)) == 0, "answers after reload");
	pid_t d = h_pmqd;
	kill(d, SIGTERM);
	H_CHECK(waitpid(d, &st, 0) == d && WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM: exit 0 (status %d)", st);
	h_pmqd = -1;
	pump(p, q, 10);
	pmq_close(q);
	pmq_close(p);
	printf("PASS test_pmqd_lifecycle\n");
	h_done();
	return 0;
}
