/*
 * test_pmqd_torture: crash torture with pmqd running.
 *
 * P producers and C consumers (each its own process) run flat out while we
 * SIGKILL a random one at a random moment, KILLS times, and respawn it;
 * every RESTART_EVERY kills pmqd itself is killed -9 and started again.
 * Bookkeeping lives in a shared anonymous mapping that survives the kills:
 *   attempted[k][s]  producer k was about to send seq s (may or may not be sent)
 *   confirmed[k][s]  pmq_send returned 0 for it
 *   seen[k][s]       deliveries recorded (before the ack), firsts[k][s] those
 *                    with delivery_count == 1.
 * A producer respawns at one past its last attempt, so a seq is never sent
 * twice by us. At the end we drain the queue and its dead letters and check:
 * every confirmed message was delivered at least once; nothing we never
 * attempted appeared and every payload is intact; no message was delivered
 * twice as a first delivery (duplicates only as redeliveries).
 * Environment: PMQ_TORTURE_KILLS (default 500), PMQ_TORTURE_SEED, PMQ_TORTURE_FAST.
 */
#include <stdatomic.h>
#include <sys/mman.h>

#include "harness.h"

#define P 3
#define C 3
#define MAXSEQ (1u << 20)
#define RESTART_EVERY 125

struct payload {
	uint32_t k, seq;
	uint64_t check;
	char pad[48];
};

struct shared {
	_Atomic int stop_producing, stop_consuming;
	_Atomic uint32_t next_seq[P];
	_Atomic uint64_t deliveries, redeliveries;
	_Atomic uint8_t attempted[P][MAXSEQ];
	_Atomic uint8_t confirmed[P][MAXSEQ];
	_Atomic uint8_t seen[P][MAXSEQ];
	_Atomic uint8_t firsts[P][MAXSEQ];
	_Atomic uint32_t bad_payload, never_sent, stale_acks;
};

static struct shared *sh;
static int fast; /* PMQ_TORTURE_FAST=1: no holding, no throttling (different interleavings) */

static uint64_t check_of(uint32_t k, uint32_t s)
{
	uint64_t x = ((uint64_t)k << 32 | s) * 0x9e3779b97f4a7c15ull;
	return x ^ (x >> 29);
}

static void tune(struct pmq_config *c)
{
	c->slot_count = 256;
	c->max_payload = 64;
	c->max_attach = 32;
	c->consumer_quota = 4;
	c->max_deliveries = 50;
	c->dlq_capacity = 256;
}

static void producer(uint32_t k)
{
	pmq_t *q = h_open("t", PMQ_PRODUCER);
	srand((unsigned)getpid());
	while (!sh->stop_producing) {
		uint32_t s = atomic_fetch_add(&sh->next_seq[k], 1);
		if (s >= MAXSEQ) { /* enough: idle until killed or told to stop */
			while (!sh->stop_producing)
				usleep(10000);
			break;
		}
		struct payload pl = { .k = k, .seq = s, .check = check_of(k, s) };
		sh->attempted[k][s] = 1;
		int r = pmq_send(q, &pl, sizeof(pl), 0);
		if (r != 0)
			_exit(3);
		sh->confirmed[k][s] = 1;
		if (!fast && s % 16 == 0)
			usleep(1000); /* about 16k messages/s per producer: the run stays within MAXSEQ */
	}
	pmq_close(q);
	_exit(0);
}

static void record(const struct pmq_msg *m)
{
	const struct payload *pl = m->data;
	if (m->len != sizeof(*pl) || pl->k >= P || pl->seq >= MAXSEQ || pl->check != check_of(pl->k, pl->seq)) {
		sh->bad_payload++;
		return;
	}
	if (!sh->attempted[pl->k][pl->seq])
		sh->never_sent++;
	if (sh->seen[pl->k][pl->seq] < 255)
		sh->seen[pl->k][pl->seq]++;
	if (m->delivery_count == 1 && sh->firsts[pl->k][pl->seq] < 255)
		sh->firsts[pl->k][pl->seq]++;
	sh->deliveries++;
	if (m->delivery_count > 1)
		sh->redeliveries++;
}

static void consumer(void)
{
	pmq_t *q = h_open("t", PMQ_CONSUMER);
	srand((unsigned)getpid());
	while (!sh->stop_consuming) {
		struct pmq_msg m;
		int r = pmq_recv_timeout(q, &m, 50000000ull);
		if (r == -ETIMEDOUT || r == -EAGAIN)
			continue;
		if (r != 0)
			_exit(4);
		record(&m);
		if (!fast && rand() % 4 == 0)
			usleep((useconds_t)(rand() % 3000)); /* hold it a while: kills then land on held messages */
		r = pmq_ack(q, &m);
		if (r == -ESTALE)
			sh->stale_acks++; /* no lease here: only if a live holder was recovered */
		else if (r != 0)
			_exit(5);
	}
	pmq_close(q);
	_exit(0);
}

static pid_t spawn(int who)
{
	pid_t p = fork();
	if (p == 0) {
		if (who < P)
			producer((uint32_t)who);
		consumer();
	}
	return p;
}

static void drain(const char *name)
{
	pmq_t *q = h_open(name, PMQ_CONSUMER);
	struct pmq_msg m;
	while (pmq_recv_timeout(q, &m, 200000000ull) == 0) {
		record(&m);
		pmq_ack(q, &m);
	}
	pmq_close(q);
}

int main(void)
{
	const char *e = getenv("PMQ_TORTURE_KILLS");
	int kills = e ? atoi(e) : 500;
	fast = getenv("PMQ_TORTURE_FAST") && atoi(getenv("PMQ_TORTURE_FAST"));
	unsigned seed = getenv("PMQ_TORTURE_SEED") ? (unsigned)atoi(getenv("PMQ_TORTURE_SEED")) : (unsigned)time(NULL);
	printf("torture: seed %u (PMQ_TORTURE_SEED to repeat the kill schedule)%s\n", seed, fast ? ", fast mode" : "");
	h_setup("torture");
	H_CHECK(h_create("t", tune) == 0, "create");
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	H_CHECK(sh != MAP_FAILED, "shared bookkeeping");
	h_start_pmqd();

	pid_t pids[P + C];
	for (int i = 0; i < P + C; i++)
		pids[i] = spawn(i);
	srand(seed);
	uint64_t t0 = h_now_ns();
	int restarts = 0, pk = 0, ck = 0, early_exit = 0;
	for (int n = 1; n <= kills; n++) {
		usleep(20000 + (useconds_t)(rand() % 60000));
		int v = rand() % (P + C);
		kill(pids[v], SIGKILL);
		int st;
		waitpid(pids[v], &st, 0);
		if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
			early_exit++;
		if (v < P)
			pk++;
		else
			ck++;
		pids[v] = spawn(v);
		if (n % RESTART_EVERY == 0) {
			h_kill9_pmqd();
			usleep(20000);
			h_start_pmqd();
			restarts++;
		}
	}
	double tk = (double)(h_now_ns() - t0) / 1e9;

	sh->stop_producing = 1;
	for (int i = 0; i < P; i++) {
		int done = 0;
		for (int w = 0; w < 1000 && !done; w++) { /* 10 s */
			done = waitpid(pids[i], NULL, WNOHANG) == pids[i];
			if (!done)
				usleep(10000);
		}
		if (!done) {
			printf("torture: producer %d stuck in pmq_send for 10 s after %d kills (stale acks %u): "
			       "queue dir kept for inspection\n", i, kills, sh->stale_acks);
			setenv("PMQ_TEST_KEEP", "1", 1);
			for (int j = 0; j < P + C; j++)
				kill(pids[j], SIGKILL);
			H_FAIL("the ring is wedged (a slot one lap behind the cursors is still held)");
		}
	}
	/* let the consumers catch up with every confirmed message */
	for (int w = 0; w < 300; w++) {
		uint64_t missing = 0;
		for (int k = 0; k < P; k++)
			for (uint32_t s = 0; s < sh->next_seq[k] && s < MAXSEQ; s++)
				missing += sh->confirmed[k][s] && !sh->seen[k][s];
		if (!missing)
			break;
		usleep(100000);
	}
	sh->stop_consuming = 1;
	for (int i = P; i < P + C; i++)
		waitpid(pids[i], NULL, 0);
	drain("t");
	drain("t.dlq");

	uint64_t confirmed = 0, attempted = 0, lost = 0, dup_first = 0, delivered_unconfirmed = 0;
	for (int k = 0; k < P; k++)
		for (uint32_t s = 0; s < MAXSEQ; s++) {
			attempted += sh->attempted[k][s];
			confirmed += sh->confirmed[k][s];
			if (sh->confirmed[k][s] && !sh->seen[k][s])
				lost++;
			if (sh->firsts[k][s] > 1)
				dup_first++;
			if (!sh->confirmed[k][s] && sh->seen[k][s])
				delivered_unconfirmed++;
		}
	struct pmq_stats st;
	pmq_t *o = h_open("t", 0);
	pmq_stats(o, &st);
	pmq_close(o);
	printf("torture: %d kills (%d producers, %d consumers) in %.1f s, %d pmqd kill -9/restarts\n", kills, pk, ck, tk,
	       restarts);
	printf("torture: attempted %llu, confirmed sent %llu, delivered %llu times (%llu redeliveries), "
	       "in-doubt sends delivered %llu, dead-lettered %llu, aborted %llu\n",
	       (unsigned long long)attempted, (unsigned long long)confirmed, (unsigned long long)sh->deliveries,
	       (unsigned long long)sh->redeliveries, (unsigned long long)delivered_unconfirmed,
	       (unsigned long long)st.dead_lettered, (unsigned long long)st.aborted);
	printf("torture: lost %llu, never-sent seen %u, corrupt %u, duplicate first deliveries %llu, stale acks %u\n",
	       (unsigned long long)lost, sh->never_sent, sh->bad_payload, (unsigned long long)dup_first, sh->stale_acks);
	H_CHECK(early_exit == 0, "%d workers had exited on their own (error) before their kill", early_exit);
	H_CHECK(lost == 0, "%llu confirmed messages never delivered", (unsigned long long)lost);
	H_CHECK(sh->never_sent == 0 && sh->bad_payload == 0, "never-sent or corrupt messages appeared");
	H_CHECK(dup_first == 0, "%llu messages delivered twice as first deliveries", (unsigned long long)dup_first);
	printf("PASS test_pmqd_torture\n");
	h_done();
	return 0;
}
