/*
 * recovery_cost.c - pmq-recovery-cost: what recovering a dead consumer costs
 * as the queue grows (issue 16, part 3). Reports; never asserts.
 *
 * Per slot count: a fresh queue (1,000 B payloads) filled to 90 %; a
 * consumer process takes 32 messages, holds them and is SIGKILLed. Then:
 *   attached   another process stays attached (the producer) and times
 *              pmq_recover() on its handle;
 *   exclusive  after a second such kill, the producer closes; a fresh process
 *              (nothing of the file mapped yet) times the first pmq_open(),
 *              which runs recovery because the last user died attached.
 * Each figure is the median of --reps repetitions, CLOCK_MONOTONIC around the
 * one call (milliseconds: the clock's cost does not matter here).
 *
 *   pmq-recovery-cost [--slots 4k,16k,64k,256k,1m] [--reps 3] [--dir /dev/shm]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "pmq.h"

#define PAYLOAD 1000u
#define HELD 32u
#define MAX_SIZES 16

static char dir[128];

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* a child: attach as consumer, take HELD messages without acking, say so, wait to be killed */
static pid_t holder(const char *name)
{
	int p[2];
	if (pipe(p) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		struct pmq_open_opts o;
		pmq_open_opts_init(&o);
		o.dir = dir;
		pmq_t *q;
		char ok = 'n';
		if (pmq_open_ex(name, PMQ_CONSUMER, &o, &q) == 0) {
			struct pmq_msg m;
			unsigned got = 0;
			while (got < HELD && pmq_recv(q, &m, PMQ_NONBLOCK) == 0)
				got++;
			ok = got == HELD ? 'y' : 'n';
		}
		if (write(p[1], &ok, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	char c = 'n';
	if (pid < 0 || read(p[0], &c, 1) != 1 || c != 'y') {
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		close(p[0]);
		return -EIO;
	}
	close(p[0]);
	return pid;
}

static int kill_holder(const char *name)
{
	pid_t pid = holder(name);
	if (pid < 0)
		return (int)pid;
	kill(pid, SIGKILL);     /* our own child, by pid */
	waitpid(pid, NULL, 0);
	return 0;
}

/* the first open in a fresh process, timed there; ms or -1 */
static double exclusive_open_ms(const char *name)
{
	int p[2];
	double ms = -1;
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		struct pmq_open_opts o;
		pmq_open_opts_init(&o);
		o.dir = dir;
		pmq_t *q;
		uint64_t t0 = now_ns();
		int r = pmq_open_ex(name, PMQ_CONSUMER, &o, &q);
		double v = r == 0 ? (double)(now_ns() - t0) / 1e6 : -1;
		if (r == 0)
			pmq_close(q);
		_exit(write(p[1], &v, sizeof(v)) == sizeof(v) ? 0 : 1);
	}
	close(p[1]);
	if (pid > 0) {
		if (read(p[0], &ms, sizeof(ms)) != sizeof(ms))
			ms = -1;
		waitpid(pid, NULL, 0);
	}
	close(p[0]);
	return ms;
}

static int one(unsigned slots, unsigned rep, double *attached_ms, double *open_ms, double *mib, char *err, size_t n)
{
	char name[64];
	struct pmq_config cfg;
	pmq_t *q;
	snprintf(name, sizeof(name), "rc-%u-%u", slots, rep);
	pmq_config_init(&cfg);
	cfg.slot_count = slots;
	cfg.max_payload = PAYLOAD;
	if (cfg.consumer_quota < HELD)
		cfg.consumer_quota = HELD;
	cfg.dir = dir;
	int r = pmq_create(name, &cfg, &q);
	if (r < 0) {
		snprintf(err, n, "create %u slots: %s (%s)", slots, pmq_strerror(r), pmq_errmsg());
		return r;
	}
	char path[256];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s.pmq", dir, name);
	*mib = stat(path, &st) == 0 ? (double)st.st_size / (1 << 20) : 0;
	static char buf[PAYLOAD];
	unsigned fill = slots / 10 * 9;
	for (unsigned i = 0; i < fill && r == 0; i++)
		r = pmq_send(q, buf, sizeof(buf), PMQ_NONBLOCK);
	if (r == 0 && (r = kill_holder(name)) == 0) {
		uint64_t t0 = now_ns();
		int got = pmq_recover(q);
		*attached_ms = (double)(now_ns() - t0) / 1e6;
		if (got != 1) {
			snprintf(err, n, "pmq_recover found %d dead attachments, not 1", got);
			r = -EPROTO;
		}
	}
	if (r == 0 && (r = kill_holder(name)) == 0) {
		pmq_close(q);
		q = NULL;
		*open_ms = exclusive_open_ms(name);
		if (*open_ms < 0) {
			snprintf(err, n, "the exclusive open failed");
			r = -EIO;
		}
	} else if (r != 0 && !err[0]) {
		snprintf(err, n, "fill or hold: %s", strerror(-r));
	}
	if (q)
		pmq_close(q);
	pmq_unlink(name, dir);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "slots", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned sizes[MAX_SIZES] = { 4096, 16384, 65536, 262144, 1048576 }, nsizes = 5, reps = 3;
	const char *base = "/dev/shm";
	int c;
	while ((c = getopt_long(argc, argv, "s:r:d:h", longs, NULL)) != -1) {
		uint64_t v;
		switch (c) {
		case 's':
			nsizes = 0;
			for (char *save, *tok = strtok_r(optarg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				if (nsizes == MAX_SIZES || parse_size(tok, &v) < 0 || v < 64 || v > (1u << 24) ||
				    (v & (v - 1))) {
					fprintf(stderr, "pmq-recovery-cost: --slots %s: expected powers of two 64..16m\n", tok);
					return 2;
				}
				sizes[nsizes++] = (unsigned)v;
			}
			break;
		case 'r':
			if (parse_size(optarg, &v) < 0 || v < 1 || v > 100) {
				fprintf(stderr, "pmq-recovery-cost: --reps %s: expected 1..100\n", optarg);
				return 2;
			}
			reps = (unsigned)v;
			break;
		case 'd':
			base = optarg;
			break;
		default:
			fprintf(stdout, "usage: pmq-recovery-cost [--slots 4k,16k,64k,256k,1m] [--reps 3] [--dir DIR]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	snprintf(dir, sizeof(dir), "%.100s/pmq-rc-XXXXXX", base);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "pmq-recovery-cost: mkdtemp %s: %s\n", dir, strerror(errno));
		return 1;
	}
	printf("pmq-recovery-cost: %u B payloads, 90 %% full, a consumer SIGKILLed holding %u; median of %u\n",
	       PAYLOAD, HELD, reps);
	printf("%10s %10s %22s %26s\n", "slots", "file MiB", "pmq_recover attached", "first open (exclusive)");
	int status = 0;
	for (unsigned s = 0; s < nsizes; s++) {
		double a[100], o[100], mib = 0;
		char err[200] = "";
		unsigned k = 0;
		for (unsigned rep = 0; rep < reps; rep++, k++)
			if (one(sizes[s], rep, &a[k], &o[k], &mib, err, sizeof(err)) < 0)
				break;
		if (k < reps) {
			printf("%10u FAILED: %s\n", sizes[s], err);
			status = 1;
			continue;
		}
		qsort(a, k, sizeof(double), cmp_double);
		qsort(o, k, sizeof(double), cmp_double);
		printf("%10u %10.0f %16.3f ms    %20.2f ms   (ranges %.3f..%.3f, %.2f..%.2f)\n", sizes[s], mib,
		       a[k / 2], o[k / 2], a[0], a[k - 1], o[0], o[k - 1]);
	}
	rmdir(dir);
	return status;
}
