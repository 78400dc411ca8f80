/*
 * test_pmqd_pidreuse: a consumer dies holding messages while pmqd is stopped
 * and, before pmqd looks, another process is given the very same pid
 * (ns_last_pid). pmqd must not take the impostor for the consumer (its start
 * time differs, and its token is free): the messages come back while the
 * impostor is still running, and the impostor is left alone.
 */
#include "harness.h"

static pid_t fork_with_pid(pid_t want)
{
	for (int attempt = 0; attempt < 200; attempt++) {
		FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "w");
		if (!f)
			return -1;
		fprintf(f, "%d", (int)want - 1);
		fclose(f);
		pid_t c = fork();
		if (c == 0) {
			if (getpid() != want)
				_exit(0);
			for (;;)
				pause();
		}
		if (c == want)
			return c;
		waitpid(c, NULL, 0); /* someone else forked in between: try again */
	}
	return -1;
}

int main(void)
{
	h_setup("pidreuse");
	if (geteuid() != 0 || access("/proc/sys/kernel/ns_last_pid", W_OK) != 0)
		h_skip("needs root and a writable /proc/sys/kernel/ns_last_pid to reuse a pid on purpose");
	H_CHECK(h_create("q", NULL) == 0, "create");
	static const char *const slow[] = { "--probe-ms", "100", "--scan-ms", "100", NULL };
	h_start_pmqd_args(slow);
	pmq_t *p = h_open("q", PMQ_PRODUCER), *q = h_open("q", PMQ_CONSUMER);
	for (int i = 0; i < 2; i++)
		H_CHECK(pmq_send(p, "r", 1, 0) == 0, "send");

	kill(h_pmqd, SIGSTOP);
	unsigned got;
	pid_t c = h_spawn_holder("q", 2, &got);
	H_CHECK(got == 2, "holder got %u", got);
	h_kill(c);
	pid_t imp = fork_with_pid(c);
	if (imp < 0)
		h_skip("could not get the dead consumer's pid again (busy machine)");
	printf("consumer pid %d died; impostor now has pid %d\n", (int)c, (int)imp);
	kill(h_pmqd, SIGCONT);

	for (int i = 0; i < 2; i++) {
		struct pmq_msg m;
		int r = pmq_recv_timeout(q, &m, 3000000000ull);
		H_CHECK(r == 0 && m.delivery_count == 2, "redelivery %d with the pid reused: %s", i, pmq_strerror(r));
		pmq_ack(q, &m);
	}
	H_CHECK(kill(imp, 0) == 0, "the impostor is untouched");
	kill(imp, SIGKILL);
	waitpid(imp, NULL, 0);
	pmq_close(q);
	pmq_close(p);
	printf("PASS test_pmqd_pidreuse\n");
	h_done();
	return 0;
}
