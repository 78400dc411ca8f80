/*
 * interleave.c - the block comparison (interleave.h): the parent sets every
 * kind's channels up, forks ONE pair of processes pinned to the two CPUs and
 * sleeps in waitpid(); the pair runs the whole schedule of a set:
 *
 *   warm-up cycle, then o->blocks cycles of
 *       floor-8, floor-2l, subject 1, floor-8, floor-2l, subject 2, ...
 *   and a closing floor-8, floor-2l.
 *
 * A block is up to o->block_len round trips on one kind, cut short after
 * BLOCK_MAX_NS (slow peers); the first tenth of what it ran is warm-up. Between
 * blocks process 0 sends a control word on the current kind naming the next
 * block; process 1 echoes it and both switch. Every sample is timed with the
 * calibrated TSC (tsc.h): rt by process 0 around send + echo, oneway by
 * process 1 (arrival - the stamp in the message).
 */
#define _GNU_SOURCE
#include "interleave.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run.h"

#define CTL_TAG 0xC000000000000000ull     /* above any sequence or TSC value */
#define CTL_MASK 0xF000000000000000ull
#define CTL_STOP (CTL_TAG | 0x0FFFFFFFFFFFFFFFull)
#define NOREC 0x80000000u                 /* schedule entry: warm-up, samples not kept */
#define BLOCK_MAX_NS 5000000ull           /* a block of a slow peer stops after 5 ms */
#define BLOCK_MIN 20u                     /* ... but not before this many round trips */

struct il_shared {
	_Atomic uint32_t arrived[2];
	_Atomic uint32_t abort;
	_Atomic uint32_t at[2];            /* the block each process is in (for a hang's report) */
	int mode;
	unsigned nkinds, nsched;
	unsigned block_len;
	uint64_t max_ticks;
	char msg[2][200];
	/* then: unsigned sched[nsched]; unsigned kept[nsched]; uint32_t samples[nsched][block_len] */
};

static unsigned *sched_of(struct il_shared *s)
{
	return (unsigned *)(s + 1);
}

static unsigned *kept_of(struct il_shared *s)
{
	return sched_of(s) + s->nsched;
}

static uint32_t *samples_of(struct il_shared *s, unsigned b)
{
	return (uint32_t *)(kept_of(s) + s->nsched) + (size_t)b * s->block_len;
}

static int ilfail(struct il_shared *s, unsigned idx, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int ilfail(struct il_shared *s, unsigned idx, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->msg[idx], sizeof(s->msg[idx]), fmt, ap);
	va_end(ap);
	atomic_store(&s->abort, 1);
	return err < 0 ? err : -EIO;
}

static int il_barrier(struct il_shared *s, int which)
{
	atomic_fetch_add(&s->arrived[which], 1);
	while (atomic_load(&s->arrived[which]) < 2) {
		if (atomic_load(&s->abort))
			return -ECANCELED;
		cpu_relax();
	}
	return 0;
}

static volatile uint64_t il_sink;

static inline uint32_t clamp32(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* The first tenth of a block is warm-up (the kind's lines are cold after
 * the other kinds ran): drop it, whatever length the block reached. */
static unsigned drop_warmup(uint32_t *out, unsigned n)
{
	unsigned w = n / 10;
	memmove(out, out + w, (n - w) * sizeof(*out));
	return n - w;
}

/* process 0: drives the schedule; times rt */
static int il_pinger(struct il_shared *s, const struct transport *const *k, void **tx, void **rx, size_t size)
{
	unsigned char *buf = calloc(1, size < 8 ? 8 : size);
	uint64_t seq = 1;
	struct tp_msg m;
	int err = 0;
	if (!buf)
		return ilfail(s, 0, -ENOMEM, "out of memory");
	for (unsigned b = 0; b < s->nsched && !err; b++) {
		unsigned kind = sched_of(s)[b] & ~NOREC, rec = !(sched_of(s)[b] & NOREC), n = 0;
		const struct transport *t = k[kind];
		uint32_t *out = samples_of(s, b);
		atomic_store_explicit(&s->at[0], b, memory_order_relaxed);   /* a report, nothing depends on it */
		uint64_t start = tsc_begin();
		for (unsigned i = 0; i < s->block_len; i++) {
			uint64_t t0 = tsc_begin();
			uint64_t word = s->mode == MODE_RT ? seq : t0;
			msg_set_word0(buf, word);
			if ((err = t->send(tx[kind], buf, size)) < 0 || (err = t->recv(rx[kind], &m)) < 0) {
				ilfail(s, 0, err, "%s: block %u round trip %u: %s", t->name, b, i, strerror(-err));
				break;
			}
			uint64_t echo = msg_word0(m.data);
			il_sink += msg_touch(m.data, m.len);
			t->release(rx[kind]);
			uint64_t t1 = tsc_end();
			if (echo != word) {
				err = ilfail(s, 0, -EPROTO, "%s: block %u: echo %llx of %llx", t->name, b,
					     (unsigned long long)echo, (unsigned long long)word);
				break;
			}
			seq++;
			if (s->mode == MODE_RT && rec)
				out[n++] = clamp32(t1 - t0);
			if (i >= BLOCK_MIN && t1 - start > s->max_ticks)
				break;
		}
		if (s->mode == MODE_RT)
			kept_of(s)[b] = drop_warmup(out, n);
		if (err)
			break;
		uint64_t ctl = b + 1 < s->nsched ? CTL_TAG | (b + 1) : CTL_STOP;
		msg_set_word0(buf, ctl);
		if ((err = t->send(tx[kind], buf, size)) < 0 || (err = t->recv(rx[kind], &m)) < 0) {
			ilfail(s, 0, err, "%s: block %u switch: %s", t->name, b, strerror(-err));
			break;
		}
		if (msg_word0(m.data) != ctl)
			err = ilfail(s, 0, -EPROTO, "%s: block %u: switch echoed as %llx", t->name, b,
				     (unsigned long long)msg_word0(m.data));
		t->release(rx[kind]);
	}
	free(buf);
	return err;
}

/* process 1: echoes; times oneway */
static int il_echoer(struct il_shared *s, const struct transport *const *k, void **tx, void **rx, size_t size)
{
	struct tp_msg m;
	int err;
	for (unsigned b = 0; b < s->nsched;) {
		unsigned kind = sched_of(s)[b] & ~NOREC, rec = !(sched_of(s)[b] & NOREC), n = 0;
		const struct transport *t = k[kind];
		uint32_t *out = samples_of(s, b);
		atomic_store_explicit(&s->at[1], b, memory_order_relaxed);   /* a report, nothing depends on it */
		for (unsigned i = 0;; i++) {
			if ((err = t->recv(rx[kind], &m)) < 0)
				return ilfail(s, 1, err, "%s: block %u receive: %s", t->name, b, strerror(-err));
			uint64_t t1 = tsc_end();
			uint64_t w = msg_word0(m.data);
			if ((w & CTL_MASK) == CTL_TAG) {
				err = t->send(tx[kind], m.data, size);
				t->release(rx[kind]);
				if (err < 0)
					return ilfail(s, 1, err, "%s: block %u switch echo: %s", t->name, b,
						      strerror(-err));
				if (s->mode == MODE_ONEWAY)
					kept_of(s)[b] = drop_warmup(out, n);
				if (w == CTL_STOP)
					return 0;
				uint64_t next = w & ~CTL_MASK;
				if (next != b + 1u)
					return ilfail(s, 1, -EPROTO, "block %u: told to switch to %llu", b,
						      (unsigned long long)next);
				b = (unsigned)next;
				break;
			}
			if (s->mode == MODE_ONEWAY && rec && n < s->block_len)
				out[n++] = clamp32(t1 > w ? t1 - w : 0);
			il_sink += msg_touch(m.data, m.len);
			err = t->send(tx[kind], m.data, size);
			t->release(rx[kind]);
			if (err < 0)
				return ilfail(s, 1, err, "%s: block %u echo: %s", t->name, b, strerror(-err));
		}
	}
	return 0;
}

static int il_child(struct il_shared *s, unsigned idx, const struct transport *const *k, const struct tp_params *p)
{
	void *tx[BENCH_MAX_TRANSPORTS] = { 0 }, *rx[BENCH_MAX_TRANSPORTS] = { 0 };
	int err = 0;
	/* process 0 sends on channel 0 and hears on 1; process 1 the other way round */
	for (unsigned i = 0; i < s->nkinds && !err; i++) {
		if ((err = k[i]->open(idx ? 1 : 0, TP_TX, &p[i], &tx[i])) < 0 ||
		    (err = k[i]->open(idx ? 0 : 1, TP_RX, &p[i], &rx[i])) < 0)
			ilfail(s, idx, err, "%s: open: %s", k[i]->name, strerror(-err));
	}
	for (unsigned i = 0; i < s->nkinds && !err; i++)
		if (k[i]->ready && ((err = k[i]->ready(tx[i])) < 0 || (err = k[i]->ready(rx[i])) < 0))
			ilfail(s, idx, err, "%s: not connected: %s", k[i]->name, strerror(-err));
	if (!err && (err = il_barrier(s, 0)) == 0)
		err = idx ? il_echoer(s, k, tx, rx, p[0].size) : il_pinger(s, k, tx, rx, p[0].size);
	/* both finished before anyone closes: a peer may drop what is queued on close */
	if (!err)
		err = il_barrier(s, 1);
	for (unsigned i = 0; i < s->nkinds; i++) {
		if (tx[i])
			k[i]->close(tx[i]);
		if (rx[i])
			k[i]->close(rx[i]);
	}
	for (unsigned i = 0; i < s->nkinds; i++)
		if (k[i]->proc_exit)
			k[i]->proc_exit();
	return err;
}

static int grow(struct il_result *r, unsigned nb, size_t ns)
{
	if (r->nblocks + nb > r->cap) {
		unsigned cap = (r->nblocks + nb) * 2;
		struct blk *b = realloc(r->blocks, cap * sizeof(*b));
		if (!b)
			return -ENOMEM;
		r->blocks = b;
		r->cap = cap;
	}
	if (r->nsamples + ns > r->samples_cap) {
		size_t cap = (r->nsamples + ns) * 2;
		uint32_t *s = realloc(r->samples, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		r->samples = s;
		r->samples_cap = cap;
	}
	return 0;
}

static unsigned il_seq;

/* one set: fresh channels of every kind, one pair, the whole schedule */
static int il_set(int mode, unsigned size, unsigned set, const struct bench_opts *o, const struct tsc_cal *cal,
		  struct il_result *res)
{
	struct tp_params p[BENCH_MAX_TRANSPORTS];
	int up[BENCH_MAX_TRANSPORTS][2] = { { 0 } };
	const struct transport *k[BENCH_MAX_TRANSPORTS];
	unsigned map[BENCH_MAX_TRANSPORTS], nk = 0, nsubj = 0;
	char why[256];
	int err = 0;

	for (unsigned i = 0; i < res->nkinds; i++) {
		if (i > IL_FLOOR2 && res->note[i][0])
			continue;       /* skipped in an earlier set */
		p[nk] = (struct tp_params){ .size = size, .slots = o->slots, .batch = 1, .wait = WAIT_SPIN,
					    .durability = o->durability, .producers = 1, .consumers = 1,
					    .run_id = 1000000u + ++il_seq, .queue_dir = o->queue_dir };
		for (int c = 0; c < 2 && !err; c++) {
			why[0] = '\0';
			int e = res->kind[i]->setup(c, &p[nk], why, sizeof(why));
			if (e < 0) {
				snprintf(res->note[i], sizeof(res->note[i]), "%.190s", why[0] ? why : strerror(-e));
				if (i <= IL_FLOOR2)
					err = e;    /* no floor, no comparison */
				break;
			}
			up[nk][c] = 1;
		}
		if (!up[nk][0] || !up[nk][1]) {
			if (up[nk][0])
				res->kind[i]->teardown(0);
			up[nk][0] = 0;
			if (err)
				goto out;
			continue;
		}
		map[nk] = i;
		k[nk++] = res->kind[i];
		nsubj += i > IL_FLOOR2;
		if (res->kind[i]->file_path && set <= BENCH_MAX_SETS) {
			char path[256];
			struct placement *pl = &res->place[set - 1][i];
			memset(pl, 0, sizeof(*pl));
			for (int c = 0; c < 2; c++)
				if (res->kind[i]->file_path(c, path, sizeof(path)) == 0 && placement_add(pl, path) < 0)
					pl->valid = 0;
		}
	}
	if (!nsubj) {
		err = -ENOENT;
		snprintf(res->failure, sizeof(res->failure), "no subject could be set up");
		goto out;
	}

	/* the schedule: one warm-up cycle, o->blocks cycles, the closing floors */
	unsigned cycle = 3 * nsubj, nsched = cycle * (o->blocks + 1) + 2;
	size_t shlen = sizeof(struct il_shared) + 2 * nsched * sizeof(unsigned) +
		       (size_t)nsched * o->block_len * sizeof(uint32_t);
	struct il_shared *s = mmap(NULL, shlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED) {
		err = -errno;
		snprintf(res->failure, sizeof(res->failure), "mmap %zu bytes: %s", shlen, strerror(errno));
		goto out;
	}
	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->nkinds = nk;
	s->nsched = nsched;
	s->block_len = o->block_len;
	s->max_ticks = (uint64_t)((double)BLOCK_MAX_NS / cal->ns_per_tick);
	unsigned *sc = sched_of(s), b = 0;
	for (unsigned c = 0; c <= o->blocks; c++)
		for (unsigned j = IL_FLOOR2 + 1; j < nk; j++) {
			unsigned flag = c == 0 ? NOREC : 0;
			sc[b++] = IL_FLOOR8 | flag;
			sc[b++] = IL_FLOOR2 | flag;
			sc[b++] = j | flag;
		}
	sc[b++] = IL_FLOOR8;
	sc[b++] = IL_FLOOR2;

	pid_t pids[2] = { 0 };
	int st[2] = { 0 };
	fflush(NULL);
	for (unsigned i = 0; i < 2; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			atomic_store(&s->abort, 1);
			err = -errno;
			snprintf(res->failure, sizeof(res->failure), "fork: %s", strerror(errno));
			break;
		}
		if (pid == 0) {
			signal(SIGINT, SIG_DFL);
			int e = pin_cpu(o->cpu[i]);
			if (e < 0) {
				ilfail(s, i, e, "cannot pin to CPU %d: %s", o->cpu[i], strerror(-e));
				_exit(2);
			}
			e = il_child(s, i, k, p);
			exit(e < 0 ? 1 : 0);  /* not _exit: library destructors clean up (iceoryx) */
		}
		pids[i] = pid;
	}
	/* every block is at most BLOCK_MAX_NS plus its switch: anything far beyond is a hang */
	uint64_t limit = (uint64_t)nsched * BLOCK_MAX_NS * 2 + 60ull * 1000000000u;
	int r = run_reap(pids, 2, limit, st);
	if (!err && r < 0) {
		err = r;
		unsigned a0 = atomic_load(&s->at[0]), a1 = atomic_load(&s->at[1]);
		snprintf(res->failure, sizeof(res->failure), "set %u: %s (processes in blocks %u (%s) and %u (%s) of %u)",
			 set, r == -ETIMEDOUT ? "no answer in time, killed" : "interrupted", a0,
			 k[sc[a0 < nsched ? a0 : 0] & ~NOREC]->name, a1, k[sc[a1 < nsched ? a1 : 0] & ~NOREC]->name, nsched);
	}
	for (unsigned i = 0; i < 2 && !err; i++)
		if (WIFSIGNALED(st[i]) || WEXITSTATUS(st[i]) != 0) {
			err = -EIO;
			snprintf(res->failure, sizeof(res->failure), "set %u, process %u: %.160s", set, i,
				 s->msg[i][0] ? s->msg[i] : WIFSIGNALED(st[i]) ? "killed by a signal" : "failed");
		}
	if (!err) {
		size_t total = 0;
		for (unsigned i = 0; i < nsched; i++)
			total += (sc[i] & NOREC) ? 0 : kept_of(s)[i];
		if ((err = grow(res, nsched, total)) == 0) {
			for (unsigned i = 0; i < nsched; i++) {
				if (sc[i] & NOREC)
					continue;
				unsigned n = kept_of(s)[i];
				struct blk *bl = &res->blocks[res->nblocks++];
				memset(bl, 0, sizeof(*bl));
				bl->set = set;
				bl->kind = map[sc[i]];
				bl->n = n;
				memcpy(res->samples + res->nsamples, samples_of(s, i), n * sizeof(uint32_t));
				/* ticks point into res->samples, fixed up once every set is in (realloc) */
				bl->ticks = (const uint32_t *)(uintptr_t)res->nsamples;
				res->nsamples += n;
			}
			res->sets_done = set;
		} else {
			snprintf(res->failure, sizeof(res->failure), "out of memory for %zu samples", total);
		}
	}
	munmap(s, shlen);
out:
	for (unsigned i = 0; i < nk; i++)
		for (int c = 0; c < 2; c++)
			if (up[i][c])
				k[i]->teardown(c);
	return err;
}

int il_run(int mode, unsigned size, const struct transport *const *subjects, unsigned n,
	   const struct bench_opts *o, const struct tsc_cal *cal, struct il_result *res)
{
	int err = 0;
	memset(res, 0, sizeof(*res));
	res->kind[res->nkinds++] = &tp_floor_8;
	res->kind[res->nkinds++] = &tp_floor_2l;
	for (unsigned i = 0; i < n && res->nkinds < BENCH_MAX_TRANSPORTS; i++) {
		if (subjects[i]->caps & TP_FLOOR)
			continue;
		res->kind[res->nkinds++] = subjects[i];
	}
	for (unsigned set = 1; set <= o->reps && set <= BENCH_MAX_SETS && !run_interrupted; set++)
		if ((err = il_set(mode, size, set, o, cal, res)) < 0)
			break;
	if (run_interrupted && !err) {
		err = -EINTR;
		snprintf(res->failure, sizeof(res->failure), "interrupted");
	}
	for (unsigned i = 0; i < res->nblocks; i++) {
		res->blocks[i].ticks = res->samples + (uintptr_t)res->blocks[i].ticks;
		blk_stats(&res->blocks[i], cal->ns_per_tick);
	}
	return err;
}

void il_free(struct il_result *res)
{
	free(res->blocks);
	free(res->samples);
	res->blocks = NULL;
	res->samples = NULL;
}
