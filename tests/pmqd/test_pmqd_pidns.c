/*
 * test_pmqd_pidns: a consumer in its own PID namespace (unshare --pid
 * --fork) dies holding messages; they come back. Its recorded pid (1) means
 * nothing to pmqd. Two ways must both work:
 *  A. its hello reaches pmqd, which sees it through SO_PEERCRED as a pid of
 *     its own namespace, checks the start time, and watches it by pidfd;
 *  B. no hello (pmqd's socket elsewhere and its record in the directory
 *     removed, so the library finds no pmqd): pmqd probes the token.
 */
#include "harness.h"

static pid_t spawn_in_ns(const char *queue, unsigned n, unsigned *got)
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
	int inner = -1;
	*got = 0;
	if (sscanf(line, "held %u pid %d", got, &inner) != 2 || inner != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

static void run(const char *queue, const char *want_watch)
{
	pmq_t *p = h_open(queue, PMQ_PRODUCER), *q = h_open(queue, PMQ_CONSUMER);
	for (int i = 0; i < 3; i++)
		H_CHECK(pmq_send(p, "ns", 2, 0) == 0, "send");
	unsigned got;
	pid_t u = spawn_in_ns(queue, 3, &got);
	H_CHECK(u > 0 && got == 3, "holder in its own PID namespace received %u of 3", got);

	char req[64], reply[8192], want[64];
	snprintf(req, sizeof(req), "stat %s", queue);
	snprintf(want, sizeof(want), "\"pid\":1,\"local_pid\":");
	int seen = 0;
	for (int i = 0; i < 100 && !seen; i++) {
		if (h_request(req, reply, sizeof(reply)) == 0) {
			char *a = strstr(reply, want);
			seen = a && strstr(a, want_watch) && strstr(a, want_watch) - a < 80;
		}
		if (!seen)
			h_sleep_ms(20);
	}
	H_CHECK(seen, "pmqd watches the namespaced consumer by %s: %s", want_watch, reply);

	uint64_t t0 = h_now_ns();
	kill(u, SIGKILL); /* --kill-child takes the holder down with unshare */
	waitpid(u, NULL, 0);
	for (int i = 0; i < 3; i++) {
		struct pmq_msg m;
		int r = pmq_recv_timeout(q, &m, 3000000000ull);
		H_CHECK(r == 0 && m.delivery_count == 2, "redelivery %d: %s (count %u)", i, pmq_strerror(r),
			r ? 0 : m.delivery_count);
		pmq_ack(q, &m);
	}
	printf("%s: namespaced consumer's 3 messages back after %.2f ms\n", want_watch,
	       (double)(h_now_ns() - t0) / 1e6);
	pmq_close(q);
	pmq_close(p);
}

int main(void)
{
	h_setup("pidns");
	if (system("unshare --pid --fork true >/dev/null 2>&1") != 0)
		h_skip("unshare --pid --fork does not work here (needs root or user namespaces)");
	H_CHECK(h_create("a", NULL) == 0 && h_create("b", NULL) == 0, "create");

	h_start_pmqd();
	run("a", "\"watch\":\"pidfd\"");
	h_stop_pmqd();

	snprintf(h_sock, sizeof(h_sock), "%s.sock", h_dir); /* the library's hello finds no pmqd */
	static const char *const args[] = { "--probe-ms", "100", "--socket", h_sock, NULL };
	h_start_pmqd_args(args);
	char rec[400];
	snprintf(rec, sizeof(rec), "%s/.pmqd.sock", h_dir);
	H_CHECK(unlink(rec) == 0, "remove pmqd's socket record %s (item 20)", rec);
	run("b", "\"watch\":\"probe\"");
	printf("PASS test_pmqd_pidns\n");
	h_done();
	unlink(h_sock);
	return 0;
}
