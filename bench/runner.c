/*
 * runner.c - one run: check that the transport applies, set its channels up,
 * fork the processes, pin them, wait for them (with a time limit), collect
 * what they measured and tear everything down, also on failure or ^C.
 * The parent sleeps in waitpid() while the children measure: it must not
 * steal cycles from the two CPUs under test.
 */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

volatile sig_atomic_t run_interrupted;
static unsigned run_seq;

int pin_cpu(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static void note(struct run_result *res, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(struct run_result *res, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->note, sizeof(res->note), fmt, ap);
	va_end(ap);
	res->status = status;
}

/* Wait for the children; kill them when the time is up or on ^C. */
int run_reap(pid_t *pids, unsigned n, uint64_t limit_ns, int *statuses)
{
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	uint64_t deadline = now_ns() + limit_ns;
	unsigned left = n;
	int timed_out = 0;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);          /* no SA_RESTART: waitpid wakes up */
	while (left) {
		uint64_t now = now_ns();
		if (now >= deadline || run_interrupted) {
			timed_out = !run_interrupted;
			for (unsigned i = 0; i < n; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGKILL);   /* our own children, by pid */
			deadline = UINT64_MAX;
		}
		if (deadline != UINT64_MAX)
			alarm((unsigned)((deadline - now) / 1000000000u) + 1);
		int st;
		pid_t p = waitpid(-1, &st, 0);
		alarm(0);
		if (p < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (unsigned i = 0; i < n; i++)
			if (pids[i] == p) {
				statuses[i] = st;
				pids[i] = 0;
				left--;
			}
	}
	sigaction(SIGALRM, &old, NULL);
	return timed_out ? -ETIMEDOUT : run_interrupted ? -EINTR : 0;
}

void run_one(const struct transport *t, int mode, const struct bench_opts *o, unsigned size,
	     uint64_t count, uint64_t warmup, struct run_result *res)
{
	char why[256] = "";
	pid_t pids[BENCH_MAX_PROCS] = { 0 };
	int statuses[BENCH_MAX_PROCS] = { 0 };
	struct run_ctl *ctl;
	int nchan = (mode == MODE_RT || mode == MODE_ONEWAY) ? 2 : 1;
	int setup_done = 0, err;
	unsigned P = mode == MODE_TPUT ? o->producers : 1, C = mode == MODE_TPUT ? o->consumers : 1;

	memset(res, 0, sizeof(*res));
	hist_init(&res->hist);
	if (!t->setup || t->probe(why, sizeof(why)) < 0) {
		note(res, RUN_SKIPPED, "%s", why);
		return;
	}
	if ((t->caps & TP_PINGPONG) && (mode == MODE_RATE || mode == MODE_TPUT)) {
		note(res, RUN_SKIPPED, "%s: strict ping-pong only (rt, oneway)", t->name);
		return;
	}
	if (P * C > 1 && !(t->caps & TP_MPMC)) {
		note(res, RUN_SKIPPED, "%s: one producer and one consumer only", t->name);
		return;
	}

	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ctl == MAP_FAILED) {
		note(res, RUN_FAILED, "mmap: %s", strerror(errno));
		return;
	}
	memset(ctl, 0, sizeof(*ctl));
	hist_init(&ctl->hist);
	ctl->nproc = P + C;
	ctl->producers = P;
	ctl->consumers = C;
	ctl->count = count;
	ctl->warmup = warmup;
	ctl->duration_ns = (uint64_t)(o->duration * 1e9);
	ctl->rate = o->rate;
	ctl->params = (struct tp_params){
		.size = size, .slots = o->slots, .batch = mode == MODE_TPUT ? o->batch : 1,
		.wait = o->wait, .durability = o->durability, .producers = P, .consumers = C,
		.run_id = ++run_seq, .queue_dir = o->queue_dir,
	};
	for (int c = 0; c < nchan; c++, setup_done++)
		if ((err = t->setup(c, &ctl->params, why, sizeof(why))) < 0) {
			/* -EMSGSIZE: the transport cannot carry this size here, a skip */
			note(res, err == -EMSGSIZE ? RUN_SKIPPED : RUN_FAILED, "%s", why);
			goto out;
		}

	fflush(NULL);
	for (unsigned i = 0; i < ctl->nproc; i++) {
		pid_t p = fork();
		if (p < 0) {
			atomic_store(&ctl->abort, 1);
			note(res, RUN_FAILED, "fork: %s", strerror(errno));
			break;
		}
		if (p == 0) {
			signal(SIGINT, SIG_DFL);
			int cpu = o->cpu[i < P ? 0 : 1];
			if ((err = pin_cpu(cpu)) < 0) {
				snprintf(ctl->msg[i], sizeof(ctl->msg[i]), "cannot pin to CPU %d: %s", cpu,
					 strerror(-err));
				atomic_store(&ctl->abort, 1);
				_exit(2);
			}
			err = drive(t, mode, ctl, i);
			if (t->proc_exit)
				t->proc_exit();
			ctl->status[i] = err;
			exit(err < 0 ? 1 : 0);  /* not _exit: library destructors clean up (iceoryx sockets) */
		}
		pids[i] = p;
	}
	/* a run may not finish its count in time; it stops itself after the
	 * duration, so anything much longer is a hang */
	uint64_t limit = 2 * ctl->duration_ns + 30ull * 1000000000u;
	err = run_reap(pids, ctl->nproc, limit, statuses);
	if (res->status == RUN_FAILED)
		goto out;
	if (err == -ETIMEDOUT) {
		note(res, RUN_FAILED, "%s: no answer after %.0f s, killed", t->name, (double)limit / 1e9);
		goto out;
	}
	if (err == -EINTR) {
		note(res, RUN_FAILED, "interrupted");
		goto out;
	}
	for (unsigned i = 0; i < ctl->nproc; i++) {
		if (WIFSIGNALED(statuses[i])) {
			note(res, RUN_FAILED, "%s: process %u killed by signal %d%s%s", t->name, i,
			     WTERMSIG(statuses[i]), ctl->msg[i][0] ? ": " : "", ctl->msg[i]);
			goto out;
		}
		if (WEXITSTATUS(statuses[i]) != 0 && ctl->msg[i][0]) {
			note(res, RUN_FAILED, "%s", ctl->msg[i]);
			goto out;
		}
	}
	res->status = RUN_OK;
	if (mode == MODE_TPUT) {
		uint64_t t0 = UINT64_MAX, t1 = 0, sent = 0, got = 0;
		for (unsigned i = 0; i < P; i++) {
			t0 = ctl->t_start[i] < t0 ? ctl->t_start[i] : t0;
			sent += ctl->nsent[i];
		}
		for (unsigned i = P; i < P + C; i++) {
			t1 = ctl->t_end[i] > t1 ? ctl->t_end[i] : t1;
			got += ctl->nrecv[i];
		}
		if (got != sent) {
			note(res, RUN_FAILED, "%s: %llu messages sent, %llu received", t->name,
			     (unsigned long long)sent, (unsigned long long)got);
			goto out;
		}
		res->msgs = got;
		res->secs = t1 > t0 ? (double)(t1 - t0) / 1e9 : 0.0;
		res->mps = res->secs > 0 ? (double)got / res->secs : 0.0;
		res->gbps = res->mps * size / 1e9;
	} else {
		res->hist = ctl->hist;
		if (res->hist.count < count)
			snprintf(res->note, sizeof(res->note), "%llu of %llu samples within %.1f s",
				 (unsigned long long)res->hist.count, (unsigned long long)count, o->duration);
	}
out:
	for (int c = 0; c < setup_done; c++)
		t->teardown(c);
	munmap(ctl, sizeof(*ctl));
}
