/*
 * fanout.c - the fan-out comparison (fanout.h): per repetition every subject
 * runs once, in table order; a run forks the publisher (first CPU) and its
 * subscribers (all on the second CPU), measures the round trip to every
 * subscriber and then the throughput in the same processes, and stops.
 *
 * Word 0 of every message says what it is (a round-trip sequence number or
 * one of the tags below), word 1 of an echo which subscriber sent it.
 */
#define _GNU_SOURCE
#include "fanout.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "histogram.h"
#include "run.h"

#define FAN_STOP UINT64_MAX                 /* the publisher is done; checked before the tags */
#define FAN_HELLO (1ull << 62)              /* handshake: every subscriber is there */
#define FAN_TPUT (1ull << 61)               /* a throughput message: counted, not echoed */
#define FAN_DONE (1ull << 60)               /* a subscriber's answer to the stop */
#define FAN_TAGS (FAN_HELLO | FAN_TPUT | FAN_DONE)
#define FAN_HELLO_NS 15000000000ull         /* every subscriber answers within 15 s */
#define FAN_ECHO_NS 10000000000ull          /* an echo missing for 10 s is a hang */
#define FAN_TPUT_PER_COUNT 16u              /* tput: at most 16 x --count messages */
#define NPROC (1u + FAN_MAX_SUBS)

const struct fan_tp *const fan_all[] = {
	&fan_pmq_default, &fan_pmq_group1, &fan_pmq_groups, &fan_iceoryx, &fan_zmq, NULL,
};

/*
 * Shared by the parent and the processes of one run (a MAP_SHARED mapping).
 * The atomics use seq_cst (off the measured path). The plain fields are each
 * written by one child and read by the parent only after it has reaped that
 * child (waitpid orders the child's writes before the parent's reads); p,
 * count .. tput_max are written by the parent before the fork.
 */
struct fan_ctl {
	_Atomic uint32_t arrived;          /* the barrier after every end is open */
	_Atomic uint32_t abort;            /* a process failed: nobody waits for it */
	unsigned nproc;
	struct fan_params p;
	uint64_t count, warmup, duration_ns, tput_max;
	uint64_t t_tput_start;             /* publisher: first throughput send (CLOCK_MONOTONIC) */
	uint64_t tput_sent;
	uint64_t t_end[NPROC];             /* subscriber idx + 1: when it saw the stop */
	uint64_t nrecv[NPROC];             /* subscriber idx + 1: throughput messages it took */
	uint64_t nskip[NPROC];             /* ... and how many sequence numbers it never saw */
	char msg[NPROC][200];
	struct hist hist;                  /* round trips, recorded by the publisher */
};

struct fan_result {
	int status;                        /* enum run_status */
	char note[240];
	struct hist hist;
	uint64_t sent;
	double secs, mps;                  /* messages published per second (each reached every subscriber) */
};

static volatile uint64_t fan_sink;
static unsigned fan_seq;

static int fanfail(struct fan_ctl *c, unsigned idx, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fanfail(struct fan_ctl *c, unsigned idx, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->msg[idx], sizeof(c->msg[idx]), fmt, ap);
	va_end(ap);
	atomic_store(&c->abort, 1);
	return err < 0 ? err : -EIO;
}

static int fan_barrier(struct fan_ctl *c)
{
	atomic_fetch_add(&c->arrived, 1);
	while (atomic_load(&c->arrived) < c->nproc) {
		if (atomic_load(&c->abort))
			return -ECANCELED;
		sched_yield();  /* five processes on two CPUs: let the others arrive */
	}
	return 0;
}

/* --- the publisher ------------------------------------------------------------ */

/* Send hellos until every subscriber has echoed one (zmq's and iceoryx's late
 * joiners lose what was sent before they subscribed). */
static int handshake(const struct fan_tp *t, struct fan_ctl *c, void *ep, unsigned char *buf)
{
	unsigned all = (1u << c->p.nsubs) - 1u, seen = 0;
	uint64_t deadline = now_ns() + FAN_HELLO_NS;
	struct tp_msg m;
	for (uint64_t h = 1; seen != all; h++) {
		if (now_ns() > deadline)
			return fanfail(c, 0, -ETIMEDOUT, "%s: subscribers 0x%x of 0x%x answered no hello within %llu s",
				       t->name, all & ~seen, all, FAN_HELLO_NS / 1000000000ull);
		if (atomic_load(&c->abort))
			return -ECANCELED;
		msg_set_word0(buf, FAN_HELLO | h);
		int err = t->publish(ep, buf, c->p.size, 1);
		if (err < 0 && err != -EAGAIN)
			return fanfail(c, 0, err, "%s: send hello: %s", t->name, strerror(-err));
		uint64_t until = now_ns() + 1000000;   /* 1 ms for the answers */
		for (uint64_t now; (now = now_ns()) < until;) {
			if ((err = t->take(ep, &m, until - now)) == -ETIMEDOUT)
				break;
			if (err < 0)
				return fanfail(c, 0, err, "%s: take hello echo: %s", t->name, strerror(-err));
			uint64_t w = msg_word0(m.data), who = msg_word0((const unsigned char *)m.data + 8);
			t->release(ep);
			if ((w & FAN_TAGS) == FAN_HELLO && who < c->p.nsubs)
				seen |= 1u << who;
		}
	}
	return 0;
}

static int round_trips(const struct fan_tp *t, struct fan_ctl *c, void *ep, unsigned char *buf)
{
	uint64_t total = c->warmup + c->count, deadline = UINT64_MAX;
	struct tp_msg m;
	int err;
	for (uint64_t i = 0; i < total; i++) {
		uint64_t seq = i + 1;
		if (i == c->warmup)
			deadline = now_ns() + c->duration_ns;
		msg_set_word0(buf, seq);
		uint64_t t0 = now_ns();
		if ((err = t->publish(ep, buf, c->p.size, 0)) < 0)
			return fanfail(c, 0, err, "%s: send #%llu: %s", t->name, (unsigned long long)seq,
				       strerror(-err));
		for (unsigned got = 0; got < c->p.nsubs;) {
			if ((err = t->take(ep, &m, FAN_ECHO_NS)) == -ETIMEDOUT)
				return fanfail(c, 0, err, "%s: no echo of #%llu from %u of the %u subscribers within %llu s "
					       "(one died or hangs)", t->name, (unsigned long long)seq, c->p.nsubs - got,
					       c->p.nsubs, FAN_ECHO_NS / 1000000000ull);
			if (err < 0)
				return fanfail(c, 0, err, "%s: echo of #%llu (%u of %u in): %s", t->name,
					       (unsigned long long)seq, got, c->p.nsubs, strerror(-err));
			uint64_t w = msg_word0(m.data);
			fan_sink += msg_touch(m.data, m.len);
			t->release(ep);
			if (w == seq)
				got++;
			else if ((w & FAN_TAGS) != FAN_HELLO)   /* late hello echoes: the handshake's */
				return fanfail(c, 0, -EPROTO, "%s: echo %llx while waiting for #%llu", t->name,
					       (unsigned long long)w, (unsigned long long)seq);
		}
		uint64_t t1 = now_ns();
		if (i >= c->warmup)
			hist_record(&c->hist, t1 - t0);
		if (t1 > deadline)
			break;
	}
	return 0;
}

/* one message, or a batch of n through publish_batch (buf holds n messages) */
static int publish_n(const struct fan_tp *t, struct fan_ctl *c, void *ep, unsigned char *buf, unsigned n)
{
	struct iovec iov[FAN_MAX_BATCH];
	if (n == 1)
		return t->publish(ep, buf, c->p.size, 0);
	for (unsigned i = 0; i < n; i++)
		iov[i] = (struct iovec){ .iov_base = buf + (size_t)i * c->p.size, .iov_len = c->p.size };
	for (unsigned done = 0; done < n;) {
		int k = t->publish_batch(ep, iov + done, n - done);
		if (k < 0)
			return k;
		done += (unsigned)k;
	}
	return 0;
}

static int throughput(const struct fan_tp *t, struct fan_ctl *c, void *ep, unsigned char *buf)
{
	unsigned batch = t->publish_batch && c->p.batch > 1 ? c->p.batch : 1;
	uint64_t sent = 0, deadline;
	int err;
	c->t_tput_start = now_ns();
	deadline = c->t_tput_start + c->duration_ns;
	for (uint64_t round = 1; sent < c->tput_max; round++) {
		unsigned n = c->tput_max - sent < batch ? (unsigned)(c->tput_max - sent) : batch;
		for (unsigned i = 0; i < n; i++)
			msg_set_word0(buf + (size_t)i * c->p.size, FAN_TPUT | (sent + i));
		if ((err = publish_n(t, c, ep, buf, n)) < 0)
			return fanfail(c, 0, err, "%s: throughput send #%llu: %s", t->name, (unsigned long long)sent,
				       strerror(-err));
		sent += n;
		if ((round & 255) == 0 && now_ns() > deadline)
			break;
	}
	c->tput_sent = sent;
	return 0;
}

/* the stop, then every subscriber's answer (so that nothing is closed under it) */
static int stop_all(const struct fan_tp *t, struct fan_ctl *c, void *ep, unsigned char *buf)
{
	struct tp_msg m;
	unsigned done = 0;
	int err;
	msg_set_word0(buf, FAN_STOP);
	if ((err = t->publish(ep, buf, c->p.size, 0)) < 0)
		return fanfail(c, 0, err, "%s: send stop: %s", t->name, strerror(-err));
	while (done < c->p.nsubs) {
		if ((err = t->take(ep, &m, FAN_ECHO_NS)) < 0)
			return fanfail(c, 0, err, "%s: answer to the stop (%u of %u in): %s", t->name, done,
				       c->p.nsubs, strerror(-err));
		uint64_t w = msg_word0(m.data);
		t->release(ep);
		if ((w & FAN_TAGS) == FAN_DONE && w != FAN_STOP)
			done++;
	}
	return 0;
}

static int publisher(const struct fan_tp *t, struct fan_ctl *c, void *ep)
{
	unsigned char *buf = calloc(FAN_MAX_BATCH, c->p.size);
	int err;
	if (!buf)
		return fanfail(c, 0, -ENOMEM, "out of memory");
	if ((err = handshake(t, c, ep, buf)) == 0 && (err = round_trips(t, c, ep, buf)) == 0 &&
	    (err = throughput(t, c, ep, buf)) == 0)
		err = stop_all(t, c, ep, buf);
	free(buf);
	return err;
}

/* --- a subscriber --------------------------------------------------------------- */

/* Takes one message at a time, and batches (take_batch) from the first
 * throughput message on when --batch > 1: the round trips are the same
 * calls with or without --batch. */
static int subscriber(const struct fan_tp *t, struct fan_ctl *c, unsigned idx, void *ep)
{
	unsigned char *buf = calloc(1, c->p.size);
	uint64_t got = 0, expect = 0, skipped = 0;
	struct tp_msg m[FAN_MAX_BATCH];
	int err = 0, batching = 0, stop = 0;
	if (!buf)
		return fanfail(c, idx + 1, -ENOMEM, "out of memory");
	while (!stop) {
		int k = batching ? t->take_batch(ep, m, c->p.batch) : t->take(ep, &m[0], FAN_FOREVER);
		if (k < 0) {
			err = fanfail(c, idx + 1, k, "%s: subscriber %u: take: %s", t->name, idx, strerror(-k));
			break;
		}
		if (!batching)
			k = 1;
		for (int i = 0; i < k && !err; i++) {
			uint64_t w = msg_word0(m[i].data);
			fan_sink += msg_touch(m[i].data, m[i].len);   /* read every line, as a user would */
			if (w == FAN_STOP) {
				stop = 1;   /* nothing is sent after it */
			} else if ((w & FAN_TAGS) == FAN_TPUT) {
				uint64_t s = w & ~FAN_TAGS;
				skipped += s > expect ? s - expect : 0;   /* a subject that drops shows here */
				expect = s + 1;
				got++;
				batching = c->p.batch > 1 && t->take_batch;
			} else {
				/* a hello or a round trip: echo it at once (the copy outlives the release) */
				memcpy(buf, m[i].data, c->p.size);
				msg_set_word0(buf + 8, idx);
				if ((err = t->echo(ep, buf, c->p.size)) < 0)
					fanfail(c, idx + 1, err, "%s: subscriber %u: echo: %s", t->name, idx,
						strerror(-err));
			}
		}
		t->release(ep);
		if (err)
			break;
	}
	if (stop) {
		c->t_end[idx + 1] = now_ns();
		c->nrecv[idx + 1] = got;
		c->nskip[idx + 1] = skipped;
		msg_set_word0(buf, FAN_DONE | idx);
		msg_set_word0(buf + 8, idx);
		if ((err = t->echo(ep, buf, c->p.size)) < 0)
			fanfail(c, idx + 1, err, "%s: subscriber %u: answer the stop: %s", t->name, idx,
				strerror(-err));
	}
	free(buf);
	return err;
}

/* --- one run ---------------------------------------------------------------------- */

static int fan_child(const struct fan_tp *t, struct fan_ctl *c, unsigned idx)
{
	void *ep = NULL;
	int err = idx == 0 ? t->open_pub(&c->p, &ep) : t->open_sub(&c->p, idx - 1, &ep);
	if (err < 0)
		return fanfail(c, idx, err, "%s: open the %s end%s: %s", t->name, idx ? "subscriber" : "publisher",
			       idx ? "" : "s", strerror(-err));
	if ((err = fan_barrier(c)) == 0)
		err = idx == 0 ? publisher(t, c, ep) : subscriber(t, c, idx - 1, ep);
	t->close(ep);
	return err;
}

/*
 * Wait for the n processes of a run. When one has failed (c->abort), the
 * others may be blocked for good in a take that nothing will answer: after a
 * second's grace they are killed, as all are after limit_ns or on ^C. The
 * parent wakes every 10 ms for this, off the CPUs' measured work.
 * 0, -ETIMEDOUT, -ECANCELED (killed after a failure) or -EINTR.
 */
static int fan_reap(struct fan_ctl *c, pid_t *pids, unsigned n, uint64_t limit_ns, int *statuses)
{
	struct timespec tick = { .tv_nsec = 10000000 };
	uint64_t deadline = now_ns() + limit_ns, grace = UINT64_MAX;
	unsigned left = n;
	int why = 0;
	while (left) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p > 0) {
			for (unsigned i = 0; i < n; i++)
				if (pids[i] == p) {
					statuses[i] = st;
					pids[i] = 0;
					left--;
				}
			continue;
		}
		if (p < 0 && errno != EINTR)
			break;
		uint64_t now = now_ns();
		if (grace == UINT64_MAX && atomic_load(&c->abort))
			grace = now + 1000000000u;
		if (!why && (now >= deadline || now >= grace || run_interrupted)) {
			why = run_interrupted ? -EINTR : now >= deadline ? -ETIMEDOUT : -ECANCELED;
			for (unsigned i = 0; i < n; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGKILL);   /* our own children, by pid */
		}
		nanosleep(&tick, NULL);
	}
	return why;
}

/* the batch the subject's throughput phase uses: --batch where it has batch calls */
static unsigned fan_batch(const struct fan_tp *t, const struct bench_opts *o)
{
	if (!t->publish_batch || !t->take_batch || o->batch <= 1)
		return 1;
	return o->batch < FAN_MAX_BATCH ? o->batch : FAN_MAX_BATCH;
}

static void fan_run(const struct fan_tp *t, const struct bench_opts *o, unsigned size, struct fan_result *res)
{
	char why[240] = "";
	pid_t pids[NPROC] = { 0 };
	int statuses[NPROC] = { 0 };
	struct fan_ctl *c;
	int err;

	memset(res, 0, sizeof(*res));
	hist_init(&res->hist);
	if (t->probe(why, sizeof(why)) < 0) {
		res->status = RUN_SKIPPED;
		snprintf(res->note, sizeof(res->note), "%s", why);
		return;
	}
	c = mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c == MAP_FAILED) {
		res->status = RUN_FAILED;
		snprintf(res->note, sizeof(res->note), "mmap: %s", strerror(errno));
		return;
	}
	memset(c, 0, sizeof(*c));
	hist_init(&c->hist);
	c->p = (struct fan_params){ .size = size, .slots = o->slots, .nsubs = t->nsubs, .run_id = ++fan_seq,
				    .batch = fan_batch(t, o), .queue_dir = o->queue_dir };
	c->nproc = 1 + t->nsubs;
	c->count = o->count;
	c->warmup = o->warmup;
	c->duration_ns = (uint64_t)(o->duration * 1e9);
	c->tput_max = o->count * FAN_TPUT_PER_COUNT;
	if ((err = t->setup(&c->p, why, sizeof(why))) < 0) {
		res->status = RUN_FAILED;
		snprintf(res->note, sizeof(res->note), "%s", why);
		munmap(c, sizeof(*c));
		return;
	}
	fflush(NULL);
	for (unsigned i = 0; i < c->nproc; i++) {
		pid_t p = fork();
		if (p < 0) {
			atomic_store(&c->abort, 1);
			res->status = RUN_FAILED;
			snprintf(res->note, sizeof(res->note), "fork: %s", strerror(errno));
			break;
		}
		if (p == 0) {
			signal(SIGINT, SIG_DFL);
			int cpu = o->cpu[i == 0 ? 0 : 1];
			if ((err = pin_cpu(cpu)) < 0) {
				fanfail(c, i, err, "cannot pin to CPU %d: %s", cpu, strerror(-err));
				_exit(2);
			}
			err = fan_child(t, c, i);
			if (t->proc_exit)
				t->proc_exit();
			exit(err < 0 ? 1 : 0);   /* not _exit: library destructors clean up (iceoryx) */
		}
		pids[i] = p;
	}
	uint64_t limit = 4 * c->duration_ns + 60ull * 1000000000u;
	err = fan_reap(c, pids, c->nproc, limit, statuses);
	if (res->status == RUN_FAILED)
		goto out;
	res->status = RUN_FAILED;
	if (err == -ETIMEDOUT || err == -EINTR) {
		snprintf(res->note, sizeof(res->note), "%s: %s", t->name,
			 err == -EINTR ? "interrupted" : "no answer in time, killed");
		goto out;
	}
	/* the process that failed says why; the others may have been killed after it */
	for (unsigned i = 0; i < c->nproc; i++)
		if (c->msg[i][0]) {
			snprintf(res->note, sizeof(res->note), "%s", c->msg[i]);
			goto out;
		}
	for (unsigned i = 0; i < c->nproc; i++)
		if (!WIFEXITED(statuses[i]) || WEXITSTATUS(statuses[i]) != 0) {
			snprintf(res->note, sizeof(res->note), "%s: process %u ended with status 0x%x", t->name, i,
				 (unsigned)statuses[i]);
			goto out;
		}
	uint64_t t1 = 0;
	for (unsigned i = 1; i < c->nproc; i++) {
		if (c->nrecv[i] != c->tput_sent || c->nskip[i]) {
			snprintf(res->note, sizeof(res->note),
				 "%s: subscriber %u took %llu of %llu throughput messages (%llu skipped)", t->name,
				 i - 1, (unsigned long long)c->nrecv[i], (unsigned long long)c->tput_sent,
				 (unsigned long long)c->nskip[i]);
			goto out;
		}
		t1 = c->t_end[i] > t1 ? c->t_end[i] : t1;
	}
	res->status = RUN_OK;
	res->hist = c->hist;
	res->sent = c->tput_sent;
	res->secs = t1 > c->t_tput_start ? (double)(t1 - c->t_tput_start) / 1e9 : 0.0;
	res->mps = res->secs > 0 ? (double)res->sent / res->secs : 0.0;
out:
	t->teardown();
	munmap(c, sizeof(*c));
}

/* --- the report ----------------------------------------------------------------------- */

static int fan_selected(const struct bench_opts *o, const char *name)
{
	if (!strcmp(o->transports, "all"))
		return 1;
	size_t len = strlen(name);
	for (const char *p = o->transports; (p = strstr(p, name)); p += len)
		if ((p == o->transports || p[-1] == ',') && (p[len] == ',' || p[len] == '\0'))
			return 1;
	return 0;
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void print_row(const struct fan_tp *t, unsigned size, unsigned batch, unsigned rep, const struct fan_result *r)
{
	if (r->status != RUN_OK) {
		printf("%-12s %4u %5u %5u %3u  %s: %s\n", t->name, t->nsubs, size, batch, rep,
		       r->status == RUN_SKIPPED ? "skipped" : "FAILED", r->note);
		return;
	}
	const struct hist *h = &r->hist;
	printf("%-12s %4u %5u %5u %3u  %8llu %8.1f %8.1f %9.1f %9.1f  %10.0f %11.0f %10llu %6.2f\n", t->name,
	       t->nsubs, size, batch, rep, (unsigned long long)h->count, us(hist_percentile(h, 50)), us(hist_percentile(h, 99)),
	       us(hist_percentile(h, 99.9)), hist_mean(h) / 1000.0, r->mps, r->mps * t->nsubs,
	       (unsigned long long)r->sent, r->secs);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n ? (n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0.0;
}

static void csv_row(FILE *f, const struct fan_tp *t, unsigned size, unsigned rep, const struct bench_opts *o,
		    const struct fan_result *r)
{
	const struct hist *h = &r->hist;
	int ok = r->status == RUN_OK;
	fprintf(f, "fanout,%s,%u,%u,%u,%d,%d,%u,%s,%llu,%llu,%llu,%llu,%.0f,%.0f,%.0f,%llu,%.4f,%u,\"%s\"\n", t->name,
		t->nsubs, size, rep, o->cpu[0], o->cpu[1], o->slots,
		ok ? "ok" : r->status == RUN_SKIPPED ? "skipped" : "failed", (unsigned long long)h->count,
		(unsigned long long)(ok ? hist_percentile(h, 50) : 0), (unsigned long long)(ok ? hist_percentile(h, 99) : 0),
		(unsigned long long)(ok ? hist_percentile(h, 99.9) : 0), ok ? hist_mean(h) : 0.0, r->mps,
		r->mps * t->nsubs, (unsigned long long)r->sent, r->secs, fan_batch(t, o), r->note);
}

int fan_main(const struct bench_opts *o)
{
	const struct fan_tp *use[8];
	unsigned nuse = 0, reps = o->reps ? o->reps : 1;
	int failed = 0;
	FILE *csv = NULL;

	for (int i = 0; fan_all[i]; i++) {
		char why[240] = "";
		if (!fan_selected(o, fan_all[i]->name))
			continue;
		if (fan_all[i]->probe(why, sizeof(why)) < 0) {
			printf("fanout: skip %s: %s\n", fan_all[i]->name, why);
			continue;
		}
		use[nuse++] = fan_all[i];
	}
	if (!nuse) {
		fprintf(stderr, "pmq-bench: fanout: no subject to run (-t names: pmq,pmq-group1,pmq-groups,iceoryx,zmq)\n");
		return 1;
	}
	printf("fanout: 1 publisher on CPU %d; its subscribers all share CPU %d (%u + 1 processes on %ld online CPUs: "
	       "they cannot each have a core). Every wait blocks (pmq futex, iceoryx wait set, zmq in the kernel): "
	       "a busy-polling subscriber would hold the shared CPU from the others for a time slice.\n",
	       o->cpu[0], o->cpu[1], FAN_MAX_SUBS, sysconf(_SC_NPROCESSORS_ONLN));
	printf("fanout: round trip = the publisher sends message i and has taken the echo of i from every "
	       "subscriber (each echoes on the return path as soon as it has read the message); throughput = "
	       "messages published per second, every one taken by every subscriber (deliveries/s = that x subs); "
	       "batch: the throughput phase's messages per call (--batch, where the subject has batch calls)\n");
	for (unsigned k = 0; k < nuse; k++)
		printf("  %-12s %s\n", use[k]->name, use[k]->what);
	if (o->csv && !(csv = fopen(o->csv, "a"))) {
		fprintf(stderr, "pmq-bench: fanout: cannot append to %s: %s\n", o->csv, strerror(errno));
		return 1;
	}
	if (csv && ftell(csv) == 0)
		fprintf(csv, "mode,subject,subs,size,rep,cpu_pub,cpu_subs,slots,status,rt_samples,rt_p50_ns,rt_p99_ns,"
			     "rt_p999_ns,rt_mean_ns,msgs_per_s,deliveries_per_s,tput_sent,tput_secs,batch,note\n");

	double (*p50)[BENCH_MAX_SETS] = calloc(nuse * o->nsizes, sizeof(*p50));
	double (*mps)[BENCH_MAX_SETS] = calloc(nuse * o->nsizes, sizeof(*mps));
	unsigned *nok = calloc(nuse * o->nsizes, sizeof(*nok));
	struct fan_result *r = malloc(sizeof(*r));
	if (!p50 || !mps || !nok || !r) {
		fprintf(stderr, "pmq-bench: fanout: out of memory\n");
		return 1;
	}
	for (unsigned s = 0; s < o->nsizes && !run_interrupted; s++) {
		unsigned size = o->sizes[s] < 16 ? 16 : o->sizes[s];
		printf("\n%-12s %4s %5s %5s %3s  %8s %8s %8s %9s %9s  %10s %11s %10s %6s\n", "subject", "subs", "size", "batch", "rep",
		       "rt n", "p50 us", "p99 us", "p99.9 us", "mean us", "msgs/s", "deliveries/s", "tput sent", "secs");
		for (unsigned rep = 1; rep <= reps && !run_interrupted; rep++)
			for (unsigned k = 0; k < nuse && !run_interrupted; k++) {
				fan_run(use[k], o, size, r);
				print_row(use[k], size, fan_batch(use[k], o), rep, r);
				if (csv)
					csv_row(csv, use[k], size, rep, o, r);
				failed |= r->status == RUN_FAILED;
				unsigned row = s * nuse + k;
				if (r->status == RUN_OK && nok[row] < BENCH_MAX_SETS) {
					p50[row][nok[row]] = (double)hist_percentile(&r->hist, 50);
					mps[row][nok[row]++] = r->mps;
				}
			}
		printf("\nfanout summary, %u B (median over the repetitions that ran):\n", size);
		printf("%-12s %4s %5s  %10s  %12s\n", "subject", "subs", "runs", "rt p50 us", "msgs/s");
		for (unsigned k = 0; k < nuse; k++) {
			unsigned row = s * nuse + k;
			if (!nok[row]) {
				printf("%-12s %4u %5u  %10s  %12s\n", use[k]->name, use[k]->nsubs, 0u, "-", "-");
				continue;
			}
			double a = median(p50[row], nok[row]) / 1000.0, b = median(mps[row], nok[row]);
			printf("%-12s %4u %5u  %10.1f  %12.0f\n", use[k]->name, use[k]->nsubs, nok[row], a, b);
		}
	}
	if (csv) {
		fclose(csv);
		printf("csv: %s\n", o->csv);
	}
	free(p50);
	free(mps);
	free(nok);
	free(r);
	return failed ? 1 : 0;
}
