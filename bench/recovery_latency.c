/*
 * recovery_latency - how long a crashed consumer's messages stay unavailable.
 *
 *   recovery_latency [-n KILLS] [--idle-seconds S] [--queues Q] [--procs P]
 *
 * Part 1 (KILLS rounds, default 300): a holder process receives one message
 * and is SIGKILLed; we time from just before kill(2) to the moment a consumer
 * that was already blocked in pmq_recv_timeout() gets the message again
 * (pmqd: pidfd wake-up, pmq_recover, the requeue, the futex wake-up). Prints
 * p50, p90, p99 and max.
 * Part 2 (S seconds, default 30, 0 to skip): pmqd watching Q queues (100)
 * with P processes (10) attached to each of them (1,000 attachments) while
 * nothing dies: pmqd's RSS and CPU share. Results go in docs/pmqd.md.
 */
#include <getopt.h>
#include <sys/resource.h>

#include "harness.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, int n, double p)
{
	int i = (int)(p * (n - 1) + 0.5);
	return (double)v[i] / 1e3;
}

static void latency(int kills)
{
	H_CHECK(h_create("lat", NULL) == 0, "create");
	h_start_pmqd();
	pmq_t *p = h_open("lat", PMQ_PRODUCER), *c = h_open("lat", PMQ_CONSUMER);
	uint64_t *us = calloc((size_t)kills, sizeof(*us));
	int n = 0, redeliv_bad = 0;
	for (int i = 0; i < kills; i++) {
		H_CHECK(pmq_send(p, "held", 4, 0) == 0, "send");
		unsigned got;
		pid_t h = h_spawn_holder("lat", 1, &got);
		H_CHECK(got == 1, "holder got its message");
		/* our consumer must be blocked in recv before the kill: give it the ring empty */
		uint64_t t0 = h_now_ns();
		kill(h, SIGKILL);
		struct pmq_msg m;
		int r = pmq_recv_timeout(c, &m, 2000000000ull);
		uint64_t t1 = h_now_ns();
		H_CHECK(r == 0, "message back within 2 s (round %d): %s", i, pmq_strerror(r));
		redeliv_bad += m.delivery_count < 2;
		pmq_ack(c, &m);
		waitpid(h, NULL, 0);
		us[n++] = t1 - t0; /* ns */
	}
	qsort(us, (size_t)n, sizeof(*us), cmp_u64);
	printf("recovery latency over %d kills (death -> message received again by a waiting consumer):\n", n);
	printf("  p50 %.1f us   p90 %.1f us   p99 %.1f us   max %.1f us   (%d not marked redelivered)\n",
	       pct(us, n, 0.50), pct(us, n, 0.90), pct(us, n, 0.99), (double)us[n - 1] / 1e3, redeliv_bad);
	free(us);
	pmq_close(c);
	pmq_close(p);
	h_stop_pmqd();

	/* pmqd's own share: pidfd event -> pmq_recover done, from its log lines "(x ms)" */
	FILE *f = fopen(h_log, "r");
	char line[2048];
	int m = 0;
	uint64_t *ns = calloc((size_t)kills + 16, sizeof(*ns));
	while (f && fgets(line, sizeof(line), f) && m < kills + 16) {
		char *a = strstr(line, " died --> ");
		char *b = a ? strrchr(line, '(') : NULL;
		if (b)
			ns[m++] = (uint64_t)(strtod(b + 1, NULL) * 1e6);
	}
	if (f)
		fclose(f);
	if (m) {
		qsort(ns, (size_t)m, sizeof(*ns), cmp_u64);
		printf("  of which pmqd (pidfd event -> recovered, %d events): p50 %.1f us   p99 %.1f us   max %.1f us\n",
		       m, pct(ns, m, 0.50), pct(ns, m, 0.99), (double)ns[m - 1] / 1e3);
	}
	free(ns);
}

static uint64_t proc_cpu_ticks(pid_t pid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *s = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	/* fields 14, 15 (utime, stime) counted from field 3 after ')' */
	if (s)
		sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
	return ut + st;
}

/* one "Key:   N kB" line of /proc/<pid>/status */
static long proc_status_kib(pid_t pid, const char *key)
{
	char path[64], line[256];
	long kib = -1;
	size_t kl = strlen(key);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			kib = strtol(line + kl + 1, NULL, 10);
	if (f)
		fclose(f);
	return kib;
}

static void idle(int seconds, int queues, int procs)
{
	struct rlimit rl = { 65536, 65536 };
	setrlimit(RLIMIT_NOFILE, &rl);
	for (int i = 0; i < queues; i++) {
		char name[32];
		snprintf(name, sizeof(name), "idle%03d", i);
		H_CHECK(h_create(name, NULL) == 0, "create %s", name);
	}
	pid_t *kids = calloc((size_t)procs, sizeof(pid_t));
	int pp[2];
	H_CHECK(pipe(pp) == 0, "pipe");
	for (int k = 0; k < procs; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			for (int i = 0; i < queues; i++) {
				char name[32];
				snprintf(name, sizeof(name), "idle%03d", i);
				h_open(name, (k & 1) ? PMQ_CONSUMER : PMQ_PRODUCER);
			}
			char x = 1;
			if (write(pp[1], &x, 1) != 1)
				_exit(1);
			for (;;)
				pause();
		}
	}
	for (int k = 0; k < procs; k++) {
		char x;
		H_CHECK(read(pp[0], &x, 1) == 1, "attacher ready");
	}
	pid_t d = h_start_pmqd_args((const char *const[]){ NULL });
	char reply[4096];
	h_sleep_ms(3000); /* first scan, hellos, pidfds */
	h_request("ping", reply, sizeof(reply));
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t c0 = proc_cpu_ticks(d), t0 = h_now_ns();
	h_sleep_ms((unsigned)seconds * 1000);
	uint64_t c1 = proc_cpu_ticks(d), t1 = h_now_ns();
	double cpu = (double)(c1 - c0) / (double)hz / ((double)(t1 - t0) / 1e9) * 100.0;
	printf("idle: pmqd watching %d queues, %d attachments (+%d its own), default intervals, %d s:\n", queues,
	       queues * procs, queues, seconds);
	printf("  RSS %.1f MiB = private (RssAnon) %.1f MiB + queue mappings (RssShmem) %.1f MiB + files %.1f MiB\n",
	       (double)proc_status_kib(d, "VmRSS") / 1024.0, (double)proc_status_kib(d, "RssAnon") / 1024.0,
	       (double)proc_status_kib(d, "RssShmem") / 1024.0, (double)proc_status_kib(d, "RssFile") / 1024.0);
	printf("  CPU %.3f%% of one core   pmqd: %s", cpu, reply);
	for (int k = 0; k < procs; k++)
		h_kill(kids[k]);
	close(pp[0]);
	close(pp[1]);
	free(kids);
	h_stop_pmqd();
}

int main(int argc, char **argv)
{
	static const struct option o[] = { { "idle-seconds", 1, 0, 's' }, { "queues", 1, 0, 'q' },
					   { "procs", 1, 0, 'p' }, { 0, 0, 0, 0 } };
	int kills = 300, seconds = 30, queues = 100, procs = 10, ch;
	while ((ch = getopt_long(argc, argv, "n:", o, NULL)) != -1) {
		if (ch == 'n') kills = atoi(optarg);
		else if (ch == 's') seconds = atoi(optarg);
		else if (ch == 'q') queues = atoi(optarg);
		else if (ch == 'p') procs = atoi(optarg);
		else return 2;
	}
	h_setup("bench");
	if (kills > 0)
		latency(kills);
	if (seconds > 0)
		idle(seconds, queues, procs);
	h_done();
	return 0;
}
