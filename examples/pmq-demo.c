/*
 * pmq-demo - the main job in one program: producers and consumers in
 * separate processes, one consumer SIGKILLed while it holds messages, the
 * messages coming back (redelivered, delivery count 2), every message
 * accounted for, and a latency summary.
 *
 * Recovery is done by whoever runs it: pmqd when it runs (--no-recover),
 * otherwise this program's parent calls pmq_recover() after the kill.
 *
 *   pmq-demo [--messages N] [--producers P] [--consumers C] [--no-recover] [--keep]
 *
 * --keep leaves the queue in place at the end (for `pmqctl stat demo`).
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pmq.h"

struct payload {
	uint32_t producer;
	uint32_t seq;
	uint64_t sent_ns;
};

struct shared {
	_Atomic uint64_t acked;        /* acks that succeeded */
	_Atomic uint64_t redelivered;  /* acked messages with delivery_count > 1 */
	_Atomic uint64_t nsamples;
	_Atomic uint32_t victim_holding;
	_Atomic uint32_t stop;
	uint64_t samples[];            /* one-way latency, ns */
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "pmq-demo: %s: %s (%s)\n", what, pmq_strerror(rc), pmq_errmsg());
	exit(1);
}

static void producer(int id, uint32_t count)
{
	pmq_t *q;
	int rc = pmq_open("demo", PMQ_PRODUCER, &q);
	if (rc)
		die("producer open", rc);
	for (uint32_t i = 0; i < count; i++) {
		struct payload p = {.producer = (uint32_t)id, .seq = i, .sent_ns = now_ns()};
		if ((rc = pmq_send(q, &p, sizeof(p), 0)))
			die("send", rc);
		if ((i & 255) == 0)
			usleep(200); /* a paced feed, as market data is */
	}
	pmq_close(q);
}

/* marks[] records every (producer, seq) seen and acked, so the parent can check */
static void consumer(int id, struct shared *sh, _Atomic uint8_t *marks, uint32_t per_producer, int victim)
{
	pmq_t *q;
	int rc = pmq_open("demo", PMQ_CONSUMER, &q);
	if (rc)
		die("consumer open", rc);
	struct pmq_msg held[3];
	int nheld = 0;
	for (;;) {
		struct pmq_msg m;
		rc = pmq_recv_timeout(q, &m, 200000000ull);
		if (rc == -ETIMEDOUT) {
			if (atomic_load(&sh->stop))
				break;
			continue;
		}
		if (rc)
			die("recv", rc);
		struct payload p;
		memcpy(&p, m.data, sizeof(p));
		uint64_t lat = now_ns() - p.sent_ns;
		if (victim && nheld < 3) {
			/* the victim takes three messages and sits on them until it is killed */
			held[nheld++] = m;
			if (nheld == 3) {
				atomic_store(&sh->victim_holding, 1);
				for (;;)
					pause();
			}
			continue;
		}
		if (m.delivery_count == 1) {
			uint64_t k = atomic_fetch_add(&sh->nsamples, 1);
			sh->samples[k] = lat;
		}
		if (pmq_ack(q, &m) == 0) {
			atomic_fetch_add(&marks[p.producer * per_producer + p.seq], 1);
			atomic_fetch_add(&sh->acked, 1);
			if (m.delivery_count > 1) {
				atomic_fetch_add(&sh->redelivered, 1);
				printf("consumer %d: redelivered message (producer %u, seq %u), delivery count %u\n", id,
				       p.producer, p.seq, m.delivery_count);
			}
		}
	}
	(void)held;
	pmq_close(q);
	exit(0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	uint32_t total = 200000, producers = 2, consumers = 3;
	int self_recover = 1, keep = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--messages") && i + 1 < argc)
			total = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--producers") && i + 1 < argc)
			producers = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--consumers") && i + 1 < argc)
			consumers = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--no-recover"))
			self_recover = 0;
		else if (!strcmp(argv[i], "--keep"))
			keep = 1;
		else {
			fprintf(stderr, "usage: pmq-demo [--messages N] [--producers P] [--consumers C] [--no-recover] [--keep]\n");
			return 2;
		}
	}
	if (producers < 1 || consumers < 2 || total < producers * 16) {
		fprintf(stderr, "pmq-demo: need >= 1 producer, >= 2 consumers, >= 16 messages per producer\n");
		return 2;
	}
	uint32_t per = total / producers;
	total = per * producers;

	pmq_unlink("demo", NULL);
	struct pmq_config cfg;
	pmq_config_init(&cfg);
	cfg.slot_count = 4096;
	cfg.max_payload = 64;
	pmq_t *q;
	int rc = pmq_create("demo", &cfg, &q);
	if (rc)
		die("create queue \"demo\"", rc);

	size_t shsz = sizeof(struct shared) + sizeof(uint64_t) * total;
	struct shared *sh = mmap(NULL, shsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	_Atomic uint8_t *marks = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || marks == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	printf("pmq-demo: queue \"demo\" (%u slots), %u producers x %u messages, %u consumers\n", cfg.slot_count,
	       producers, per, consumers);
	fflush(stdout);

	pid_t cons[64], prods[64];
	for (uint32_t c = 0; c < consumers && c < 64; c++)
		if ((cons[c] = fork()) == 0)
			consumer((int)c, sh, marks, per, c == 0);
	/* let the victim take its three messages before the flood */
	for (uint32_t p = 0; p < producers && p < 64; p++)
		if ((prods[p] = fork()) == 0) {
			producer((int)p, per);
			exit(0);
		}
	while (!atomic_load(&sh->victim_holding))
		usleep(1000);
	printf("pmq-demo: consumer 0 (pid %d) holds 3 messages: SIGKILL\n", (int)cons[0]);
	fflush(stdout);
	kill(cons[0], SIGKILL);
	waitpid(cons[0], NULL, 0);
	if (!self_recover) {
		printf("pmq-demo: recovery is pmqd's job: waiting for the 3 messages to come back\n");
		fflush(stdout);
	}
	if (self_recover) {
		uint64_t t0 = now_ns();
		rc = pmq_recover(q);
		printf("pmq-demo: pmq_recover: %d dead attachment(s) recovered in %.1f us\n", rc,
		       (double)(now_ns() - t0) / 1000.0);
		fflush(stdout);
	}
	for (uint32_t p = 0; p < producers; p++)
		waitpid(prods[p], NULL, 0);
	uint64_t deadline = now_ns() + 30000000000ull;
	while (atomic_load(&sh->acked) < total && now_ns() < deadline)
		usleep(2000);
	atomic_store(&sh->stop, 1);
	for (uint32_t c = 1; c < consumers; c++)
		waitpid(cons[c], NULL, 0);

	uint64_t lost = 0, dup = 0;
	for (uint32_t i = 0; i < total; i++) {
		if (marks[i] == 0)
			lost++;
		else if (marks[i] > 1)
			dup++;
	}
	struct pmq_stats st;
	pmq_stats(q, &st);
	printf("pmq-demo: sent %u, acked %llu, lost %llu, acked twice %llu, redelivered %llu, queue depth %llu\n",
	       total, (unsigned long long)atomic_load(&sh->acked), (unsigned long long)lost, (unsigned long long)dup,
	       (unsigned long long)atomic_load(&sh->redelivered), (unsigned long long)st.depth);
	uint64_t n = atomic_load(&sh->nsamples);
	qsort(sh->samples, n, sizeof(uint64_t), cmp_u64);
	if (n) {
		printf("latency (one-way, send to recv, %llu samples, spin-then-futex, shared 2-core host):\n",
		       (unsigned long long)n);
		double ps[] = {50, 90, 99, 99.9, 99.99};
		printf("  min %8.2f us\n", sh->samples[0] / 1000.0);
		for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
			size_t k = (size_t)((ps[i] / 100.0) * (double)(n - 1));
			printf("  p%-5g %7.2f us\n", ps[i], sh->samples[k] / 1000.0);
		}
		printf("  max %8.2f us\n", sh->samples[n - 1] / 1000.0);
	}
	pmq_close(q);
	if (!keep)
		pmq_unlink("demo", NULL);
	int ok = lost == 0 && atomic_load(&sh->redelivered) >= 3;
	printf("pmq-demo: %s\n", ok ? "OK: nothing lost, the dead consumer's messages came back"
				    : "FAILED: messages missing or not redelivered");
	return ok ? 0 : 1;
}
