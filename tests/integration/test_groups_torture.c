/*
 * test_groups_torture.c - SIGKILL torture of a queue with consumer groups (issue 11),
 * no pmqd: the restarted consumer (the next opener) runs pmq_recover, and waiting
 * consumers recover the dead they find.
 *
 * A 64-slot queue with max_groups 3: groups A and B reliable, C lossy. Two producer
 * processes send numbered messages (producer, seq, check) flat out; a seq is marked
 * `attempted` before pmq_send and `confirmed` only after it returned 0. Two consumers
 * in A, two in B and one in C run while the parent SIGKILLs one of them at random every
 * 10..60 ms and starts a new one. Bookkeeping lives in a MAP_SHARED mapping that
 * survives the kills. At the end (producers stopped, A and B drained):
 *   - every confirmed message was delivered to A and to B, at least once each;
 *   - nothing phantom: no delivery of a seq never attempted, every payload intact,
 *     one origin ticket per message in every group;
 *   - duplicates only as counted redeliveries: per group at most one delivery with
 *     delivery_count 1, and the group's `redelivered` covers the redeliveries seen;
 *   - C's tickets strictly increase over the whole run; between two deliveries of one
 *     consumer process the ticket difference is exactly lost + 1 (no producer dies, so
 *     no ticket is aborted); across a kill it is exact too when the victim was not
 *     inside pmq_recv_lossy, else the victim's unseen last call may have taken one
 *     message and counted a gap of its own (bounded below);
 *   - the sum of C's reported gaps equals its `lost` statistic (exactly when no kill
 *     landed inside pmq_recv_lossy; otherwise within what those kills can hide).
 * C receives with PMQ_NONBLOCK: a receive that skips tickets and then finds nothing
 * returns -EAGAIN with *lost set (src/ring.c); the test adds that to the next gap.
 * Environment: PMQ_TORTURE_SECONDS (default 25; 12 when the load average exceeds 2 per
 * CPU), PMQ_TORTURE_SEED.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "itest.h"

#define QNAME "gtort"
#define NPROD 2
#define MAXSEQ (1u << 20)
#define NREL 2          /* reliable groups A and B */
#define PER_REL 2       /* consumers per reliable group */
#define NCONS (NREL * PER_REL + 1)
#define LOSSY_MAX (NPROD * MAXSEQ)

static const char *const group_names[NREL + 1] = {"A", "B", "C"};

struct lossy_rec {
	uint64_t ticket;
	uint64_t lost;
	uint32_t incarnation; /* which C process received it */
	uint32_t dirty_start; /* 1: the previous C process died inside pmq_recv_lossy */
};

struct shared {
	_Atomic uint32_t stop_producing, stop_consuming, ready;
	_Atomic uint32_t bad_payload, phantom, reticketed, child_fail;
	_Atomic uint64_t sent[NPROD];
	_Atomic uint8_t attempted[NPROD][MAXSEQ];
	_Atomic uint8_t confirmed[NPROD][MAXSEQ];
	_Atomic uint64_t ticket[NPROD][MAXSEQ]; /* ticket + 1 at first sight, any group */
	_Atomic uint8_t firsts[NREL][NPROD][MAXSEQ];
	_Atomic uint8_t agains[NREL][NPROD][MAXSEQ];
	_Atomic uint64_t again_total[NREL];
	/* the lossy consumer's log: rec[0..nrec) */
	_Atomic uint32_t lossy_in_recv;    /* 1 while C is inside pmq_recv_lossy */
	_Atomic uint32_t lossy_dirty_kill; /* the last C victim died inside it */
	_Atomic uint32_t lossy_incarnation;
	_Atomic uint64_t nrec;
	_Atomic uint64_t lossy_pending;  /* gaps reported by -EAGAIN returns, for the next record */
	_Atomic uint64_t lost_on_eagain; /* all of those, for the summary */
	struct lossy_rec rec[LOSSY_MAX];
};

static struct shared *S;

struct payload {
	uint32_t producer, seq;
	uint64_t check;
	char pad[16];
};

static uint64_t check_of(uint32_t p, uint32_t s)
{
	uint64_t x = ((uint64_t)p << 32 | s) * 0x9e3779b97f4a7c15ull;
	return x ^ (x >> 29);
}

/* A payload's (producer, seq) or -1 if it is not one of ours. */
static int decode(const struct pmq_msg *m, uint32_t *p, uint32_t *s)
{
	struct payload pl;
	if (m->len != sizeof(pl))
		return -1;
	memcpy(&pl, m->data, sizeof(pl));
	if (pl.producer >= NPROD || pl.seq >= MAXSEQ || pl.check != check_of(pl.producer, pl.seq))
		return -1;
	*p = pl.producer;
	*s = pl.seq;
	return 0;
}

/* record the message's ticket; a different ticket for the same message is a defect */
static void note_ticket(uint32_t p, uint32_t s, uint64_t ticket)
{
	uint64_t expect = 0;
	if (!atomic_compare_exchange_strong(&S->ticket[p][s], &expect, ticket + 1) && expect != ticket + 1) {
		atomic_fetch_add(&S->reticketed, 1);
		fprintf(stderr, "message %u/%u came with ticket %llu, earlier %llu\n", p, s,
			(unsigned long long)ticket, (unsigned long long)(expect - 1));
	}
}

static pmq_t *open_group(const char *g)
{
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.group = g;
	pmq_t *q = NULL;
	int rc = pmq_open_ex(QNAME, PMQ_CONSUMER, &o, &q);
	CHILD_CHECK(rc == 0);
	return q;
}

static void producer(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	pmq_t *q = NULL;
	CHILD_CHECK(pmq_open(QNAME, PMQ_PRODUCER, &q) == 0);
	atomic_fetch_add(&S->ready, 1);
	for (uint32_t s = 0; s < MAXSEQ && !atomic_load(&S->stop_producing); s++) {
		struct payload pl = {.producer = id, .seq = s, .check = check_of(id, s)};
		atomic_store(&S->attempted[id][s], 1);
		int rc = pmq_send(q, &pl, sizeof(pl), 0);
		CHILD_CHECK(rc == 0);
		atomic_store(&S->confirmed[id][s], 1); /* only after pmq_send returned 0 */
		atomic_store(&S->sent[id], s + 1);
		if ((s & 15) == 15)
			usleep(100); /* a paced feed: the lossy reader keeps up some of the time */
	}
	CHILD_CHECK(pmq_close(q) == 0);
}

static void reliable_consumer(void *arg)
{
	uint32_t g = (uint32_t)(uintptr_t)arg;
	pmq_t *q = open_group(group_names[g]);
	CHILD_CHECK(pmq_recover(q) >= 0); /* the next opener settles whoever died before it */
	atomic_fetch_add(&S->ready, 1);
	unsigned seed = (unsigned)getpid();
	for (;;) {
		struct pmq_msg m;
		int rc = pmq_recv_timeout(q, &m, 20 * 1000000ull);
		if (rc == -ETIMEDOUT) {
			if (atomic_load(&S->stop_consuming))
				break;
			continue;
		}
		CHILD_CHECK(rc == 0);
		uint32_t p, s;
		if (decode(&m, &p, &s)) {
			atomic_fetch_add(&S->bad_payload, 1);
			fprintf(stderr, "group %s: corrupt message (len %u, ticket %llu)\n", group_names[g], m.len,
				(unsigned long long)m.ticket);
		} else {
			if (!atomic_load(&S->attempted[p][s]))
				atomic_fetch_add(&S->phantom, 1);
			note_ticket(p, s, m.ticket);
			if (m.delivery_count <= 1) {
				atomic_fetch_add(&S->firsts[g][p][s], 1);
			} else {
				atomic_fetch_add(&S->agains[g][p][s], 1);
				atomic_fetch_add(&S->again_total[g], 1);
			}
		}
		if (rand_r(&seed) % 64 == 0)
			usleep(200); /* hold it a while: kills land on held messages */
		rc = pmq_ack(q, &m);
		CHILD_CHECK(rc == 0);
	}
	CHILD_CHECK(pmq_close(q) == 0);
}

static void lossy_consumer(void *arg)
{
	(void)arg;
	pmq_t *q = open_group(group_names[NREL]);
	CHILD_CHECK(pmq_recover(q) >= 0);
	uint32_t inc = atomic_fetch_add(&S->lossy_incarnation, 1) + 1;
	/* cleared only once this process committed a record: a victim that dies before that
	 * leaves it for the next */
	uint32_t dirty = atomic_load(&S->lossy_dirty_kill);
	atomic_fetch_add(&S->ready, 1);
	unsigned seed = (unsigned)getpid();
	for (uint32_t n = 0;; n++) {
		struct pmq_msg m;
		uint64_t lost = UINT64_MAX;
		atomic_store(&S->lossy_in_recv, 1);
		int rc = pmq_recv_lossy(q, &m, PMQ_NONBLOCK, &lost);
		if (rc == -EAGAIN) {
			/* a receive that skipped tickets and then found nothing says so in *lost
			 * (src/ring.c, pmq_recv_lossy): they belong to the next message's gap */
			CHILD_CHECK(lost != UINT64_MAX);
			if (lost) {
				atomic_fetch_add(&S->lossy_pending, lost);
				atomic_fetch_add(&S->lost_on_eagain, lost);
			}
			atomic_store(&S->lossy_in_recv, 0);
			if (atomic_load(&S->stop_consuming))
				break;
			usleep(500);
			continue;
		}
		CHILD_CHECK(rc == 0);
		uint64_t i = atomic_load(&S->nrec);
		CHILD_CHECK(i < LOSSY_MAX);
		uint64_t gap = lost + atomic_load(&S->lossy_pending);
		S->rec[i] = (struct lossy_rec){.ticket = m.ticket, .lost = gap, .incarnation = inc, .dirty_start = dirty};
		atomic_store(&S->lossy_pending, 0);
		atomic_store(&S->nrec, i + 1); /* the record counts from here */
		if (dirty)
			atomic_store(&S->lossy_dirty_kill, 0);
		atomic_store(&S->lossy_in_recv, 0);
		dirty = 0;
		uint32_t p, s;
		if (decode(&m, &p, &s)) {
			atomic_fetch_add(&S->bad_payload, 1);
			fprintf(stderr, "group C: corrupt copy (len %u, ticket %llu)\n", m.len,
				(unsigned long long)m.ticket);
		} else {
			if (!atomic_load(&S->attempted[p][s]))
				atomic_fetch_add(&S->phantom, 1);
			note_ticket(p, s, m.ticket);
		}
		CHILD_CHECK(pmq_ack(q, &m) == 0); /* a no-op on a lossy copy */
		if (n % 32 == 31 && !atomic_load(&S->stop_producing))
			usleep(1000 + (unsigned)(rand_r(&seed) % 3000)); /* slow: it falls a lap behind */
	}
	CHILD_CHECK(pmq_close(q) == 0);
}

static pid_t spawn_consumer(int k)
{
	if (k < NREL * PER_REL)
		return itest_fork(NULL, reliable_consumer, (void *)(uintptr_t)(k / PER_REL));
	return itest_fork(NULL, lossy_consumer, NULL);
}

static unsigned torture_seconds(void)
{
	const char *e = getenv("PMQ_TORTURE_SECONDS");
	if (e && atoi(e) > 0)
		return (unsigned)atoi(e);
	double load = 0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (getloadavg(&load, 1) == 1 && load > 2.0 * (double)(cpus > 0 ? cpus : 1)) {
		printf("torture: load average %.1f on %ld CPUs: a shorter run\n", load, cpus);
		return 12;
	}
	return 25;
}

/* the lossy log's checks; returns the violations */
static int verify_lossy(const struct pmq_group_info *c)
{
	int bad = 0;
	uint64_t n = atomic_load(&S->nrec), sum = 0, hidden = 0, dirty_bounds = 0, exact_bounds = 0;
	int64_t prev = -1; /* the group started with the queue: its first ticket is 0 */
	uint32_t prev_inc = 0;
	for (uint64_t i = 0; i < n; i++) {
		const struct lossy_rec *r = &S->rec[i];
		sum += r->lost;
		if ((int64_t)r->ticket <= prev) {
			fprintf(stderr, "C: ticket %llu after %lld: not increasing\n", (unsigned long long)r->ticket,
				(long long)prev);
			bad++;
			prev = (int64_t)r->ticket;
			prev_inc = r->incarnation;
			continue;
		}
		uint64_t diff = r->ticket - (uint64_t)(prev + 1); /* tickets skipped since the last one seen */
		if (r->incarnation == prev_inc || !r->dirty_start) {
			/* same process, or the victim died outside pmq_recv_lossy: exact */
			if (r->incarnation != prev_inc)
				exact_bounds++;
			if (diff != r->lost) {
				fprintf(stderr, "C: ticket %llu after %lld reports lost %llu, the difference says %llu%s\n",
					(unsigned long long)r->ticket, (long long)prev, (unsigned long long)r->lost,
					(unsigned long long)diff, r->incarnation != prev_inc ? " (after a clean kill)" : "");
				bad++;
			}
		} else {
			/* the victim's unrecorded last call may have taken one message and counted a gap */
			dirty_bounds++;
			if (diff < r->lost) {
				fprintf(stderr, "C: ticket %llu after %lld (after a kill) reports lost %llu > skipped %llu\n",
					(unsigned long long)r->ticket, (long long)prev, (unsigned long long)r->lost,
					(unsigned long long)diff);
				bad++;
			} else {
				hidden += diff - r->lost;
			}
		}
		prev = (int64_t)r->ticket;
		prev_inc = r->incarnation;
	}
	/* a last receive that skipped and then found nothing: reported, no message after it */
	uint64_t trailing = atomic_load(&S->lossy_pending);
	sum += trailing;
	printf("torture: C received %llu, reported gaps sum %llu, stat lost %llu, %llu kills across C (%llu inside "
	       "recv, hiding %llu tickets)\n",
	       (unsigned long long)n, (unsigned long long)sum, (unsigned long long)c->lost,
	       (unsigned long long)(exact_bounds + dirty_bounds), (unsigned long long)dirty_bounds,
	       (unsigned long long)hidden);
	if (dirty_bounds == 0) {
		if (sum != c->lost) {
			fprintf(stderr, "C: reported gaps sum to %llu, the group's lost stat is %llu\n",
				(unsigned long long)sum, (unsigned long long)c->lost);
			bad++;
		}
	} else if (c->lost < sum || c->lost > sum + hidden || sum + hidden - c->lost > dirty_bounds) {
		/* each hidden call took at most one message; the rest of what it hid is lost */
		fprintf(stderr, "C: stat lost %llu outside [gaps %llu + hidden %llu - %llu dirty kills, gaps + hidden]\n",
			(unsigned long long)c->lost, (unsigned long long)sum, (unsigned long long)hidden,
			(unsigned long long)dirty_bounds);
		bad++;
	}
	if (c->lag != 0) {
		fprintf(stderr, "C: lag %llu at the end (it should have caught up)\n", (unsigned long long)c->lag);
		bad++;
	}
	/* the final cursor: everything up to the tail was read or skipped */
	if (n && S->rec[n - 1].ticket + 1 + trailing != c->head) {
		fprintf(stderr, "C: last ticket %llu, then %llu skipped, head %llu\n",
			(unsigned long long)S->rec[n - 1].ticket, (unsigned long long)trailing,
			(unsigned long long)c->head);
		bad++;
	}
	printf("torture: of C's gaps, %llu tickets were reported by receives that then found nothing (-EAGAIN)\n",
	       (unsigned long long)atomic_load(&S->lost_on_eagain));
	if (sum == 0)
		printf("torture: note: C never fell a lap behind (no gap to check)\n");
	return bad;
}

static void test_groups_sigkill_torture(void **state)
{
	(void)state;
	const char *se = getenv("PMQ_TORTURE_SEED");
	unsigned seed = se ? (unsigned)strtoul(se, NULL, 0) : (unsigned)time(NULL);
	unsigned secs = torture_seconds();
	printf("torture: seed %u (PMQ_TORTURE_SEED to repeat the kill schedule), %u s\n", seed, secs);
	itest_dir_make();
	struct pmq_config cfg;
	itest_config(&cfg, 64);
	cfg.max_payload = 64;
	cfg.max_attach = 32;
	cfg.consumer_quota = 4;
	cfg.max_deliveries = 1000000; /* nothing dead-letters: every message reaches its groups */
	cfg.max_groups = 3;
	cfg.groups = "A,B,C:lossy";
	pmq_t *q = NULL;
	assert_int_equal(pmq_create(QNAME, &cfg, &q), 0);
	S = itest_shared(sizeof(*S));

	pid_t cons[NCONS], prod[NPROD];
	for (int k = 0; k < NCONS; k++)
		cons[k] = spawn_consumer(k);
	for (int i = 0; i < NPROD; i++)
		prod[i] = itest_fork(NULL, producer, (void *)(uintptr_t)i);
	assert_true(itest_await(&S->ready, NCONS + NPROD, 10000));

	uint64_t end = itest_now_ns() + (uint64_t)secs * 1000000000ull;
	unsigned kills[NREL + 1] = {0};
	while (itest_now_ns() < end) {
		itest_sleep_ms(10 + (unsigned)(rand_r(&seed) % 50));
		int k = (int)(rand_r(&seed) % NCONS);
		kill(cons[k], SIGKILL);
		int st = itest_wait(cons[k]);
		if (!itest_killed_by(st, SIGKILL)) {
			fprintf(stderr, "consumer %d ended with status 0x%x before its kill\n", k, st);
			atomic_fetch_add(&S->child_fail, 1);
		}
		/* the victim's last word: it died between entering pmq_recv_lossy and committing
		 * what it got (conservative: the commit may have happened) */
		if (k == NCONS - 1 && atomic_load(&S->lossy_in_recv))
			atomic_store(&S->lossy_dirty_kill, 1);
		kills[k < NREL * PER_REL ? k / PER_REL : NREL]++;
		cons[k] = spawn_consumer(k);
	}
	atomic_store(&S->stop_producing, 1);
	int failed = itest_wait_all(prod, NPROD, 60);
	assert_int_equal(failed, 0);

	/* let A and B drain and C catch up; recover anyone still dead meanwhile */
	uint64_t drain_end = itest_now_ns() + 30000000000ull;
	struct pmq_group_info gi[NREL + 1];
	for (;;) {
		assert_true(pmq_recover(q) >= 0);
		int settled = 1;
		for (int g = 0; g <= NREL; g++) {
			assert_int_equal(pmq_group_stats(q, group_names[g], &gi[g]), 0);
			if (gi[g].lag || gi[g].in_flight || gi[g].side_ready)
				settled = 0;
		}
		if (settled)
			break;
		if (itest_now_ns() > drain_end) {
			for (int g = 0; g <= NREL; g++)
				fprintf(stderr, "group %s: lag %llu in flight %llu side_ready %llu\n", group_names[g],
					(unsigned long long)gi[g].lag, (unsigned long long)gi[g].in_flight,
					(unsigned long long)gi[g].side_ready);
			fail_msg("the groups did not drain in 30 s after the producers stopped");
		}
		itest_sleep_ms(20);
	}
	atomic_store(&S->stop_consuming, 1);
	failed = itest_wait_all(cons, NCONS, 30);
	assert_int_equal(failed, 0);
	for (int g = 0; g <= NREL; g++)
		assert_int_equal(pmq_group_stats(q, group_names[g], &gi[g]), 0);

	/* the invariants */
	uint64_t confirmed = 0, missing[NREL] = {0}, dup_first[NREL] = {0};
	for (uint32_t p = 0; p < NPROD; p++) {
		for (uint32_t s = 0; s < MAXSEQ; s++) {
			int conf = atomic_load(&S->confirmed[p][s]);
			if (atomic_load(&S->attempted[p][s]) && !conf) {
				fprintf(stderr, "message %u/%u attempted but not confirmed (no producer died)\n", p, s);
				atomic_fetch_add(&S->child_fail, 1);
			}
			confirmed += conf;
			for (int g = 0; g < NREL; g++) {
				uint32_t f = atomic_load(&S->firsts[g][p][s]), a = atomic_load(&S->agains[g][p][s]);
				if (conf && f + a == 0) {
					if (missing[g]++ < 10)
						fprintf(stderr, "group %s never got message %u/%u (ticket %llu)\n",
							group_names[g], p, s,
							(unsigned long long)atomic_load(&S->ticket[p][s]) - 1);
				}
				if (f > 1 && dup_first[g]++ < 10)
					fprintf(stderr, "group %s got message %u/%u %u times with delivery_count 1\n",
						group_names[g], p, s, f);
			}
		}
	}
	uint64_t sent = atomic_load(&S->sent[0]) + atomic_load(&S->sent[1]);
	printf("torture: %llu messages confirmed (%llu by the producers' count), kills A %u B %u C %u\n",
	       (unsigned long long)confirmed, (unsigned long long)sent, kills[0], kills[1], kills[2]);
	for (int g = 0; g < NREL; g++)
		printf("torture: group %s: %llu redeliveries seen, stat redelivered %llu, missing %llu, "
		       "uncounted duplicates %llu\n",
		       group_names[g], (unsigned long long)atomic_load(&S->again_total[g]),
		       (unsigned long long)gi[g].redelivered, (unsigned long long)missing[g],
		       (unsigned long long)dup_first[g]);
	assert_int_equal(confirmed, sent);
	assert_int_equal(atomic_load(&S->child_fail), 0);
	assert_int_equal(atomic_load(&S->bad_payload), 0);
	assert_int_equal(atomic_load(&S->phantom), 0);
	assert_int_equal(atomic_load(&S->reticketed), 0);
	for (int g = 0; g < NREL; g++) {
		assert_int_equal(missing[g], 0);
		assert_int_equal(dup_first[g], 0);
		/* every redelivery seen was counted by the group (some were taken by victims) */
		assert_true(atomic_load(&S->again_total[g]) <= gi[g].redelivered);
		assert_int_equal(gi[g].dead_letters, 0);
	}
	assert_int_equal(verify_lossy(&gi[NREL]), 0);

	/* nothing left for A or B */
	for (int g = 0; g < NREL; g++) {
		struct pmq_open_opts o;
		pmq_open_opts_init(&o);
		o.group = group_names[g];
		pmq_t *c = NULL;
		assert_int_equal(pmq_open_ex(QNAME, PMQ_CONSUMER, &o, &c), 0);
		struct pmq_msg m;
		assert_int_equal(pmq_recv(c, &m, PMQ_NONBLOCK), -EAGAIN);
		assert_int_equal(pmq_close(c), 0);
	}
	struct pmq_stats st;
	assert_int_equal(pmq_stats(q, &st), 0);
	assert_int_equal(st.sent, sent);
	assert_int_equal(st.aborted, 0);
	assert_int_equal(st.attachments, 1); /* every victim was recovered, every survivor closed */
	assert_int_equal(pmq_close(q), 0);
	munmap(S, sizeof(*S));
	itest_dir_remove();
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_groups_sigkill_torture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
