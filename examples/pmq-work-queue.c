/*
 * pmq-work-queue - competing consumers: one producer hands out jobs, W worker
 * processes take them, each job is done by exactly one worker. A queue made
 * without groups (the 1.0 queue): a second consumer shares the work, it does not
 * see a copy of it. See docs/patterns.md.
 *
 *   pmq-work-queue [--jobs N] [--workers W]
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pmq.h"

#define QNAME "example-work"
#define MAX_WORKERS 16

struct job {
	uint32_t id;
	uint32_t cost_us; /* how long the job takes */
};

struct tally {
	_Atomic uint32_t done_by[MAX_WORKERS];
	_Atomic uint8_t done[]; /* per job: times done */
};

static void die(const char *what, int rc)
{
	fprintf(stderr, "pmq-work-queue: %s: %s (%s)\n", what, pmq_strerror(rc), pmq_errmsg());
	exit(1);
}

static void worker(int w, struct tally *t, uint32_t jobs)
{
	pmq_t *q;
	int rc = pmq_open(QNAME, PMQ_CONSUMER, &q);
	if (rc)
		die("worker open", rc);
	for (;;) {
		struct pmq_msg m;
		rc = pmq_recv_timeout(q, &m, 500 * 1000000ull);
		if (rc == -ETIMEDOUT)
			break; /* no work for half a second: the producer is done */
		if (rc)
			die("recv", rc);
		struct job j;
		memcpy(&j, m.data, sizeof(j));
		usleep(j.cost_us); /* do the work */
		if (j.id < jobs)
			atomic_fetch_add(&t->done[j.id], 1);
		atomic_fetch_add(&t->done_by[w], 1);
		if ((rc = pmq_ack(q, &m))) /* done: the job leaves the queue */
			die("ack", rc);
	}
	pmq_close(q);
	exit(0);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	uint32_t jobs = 2000, workers = 3;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--jobs"))
			jobs = (uint32_t)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--workers"))
			workers = (uint32_t)atoi(argv[i + 1]);
	}
	if (workers < 1 || workers > MAX_WORKERS || jobs < 1) {
		fprintf(stderr, "usage: pmq-work-queue [--jobs N] [--workers 1..%d]\n", MAX_WORKERS);
		return 2;
	}
	pmq_unlink(QNAME, NULL); /* a previous run's queue, if any */
	struct pmq_config cfg;
	pmq_config_init(&cfg); /* max_groups 0: consumers compete */
	cfg.slot_count = 256;
	cfg.max_payload = sizeof(struct job);
	pmq_t *q;
	int rc = pmq_create(QNAME, &cfg, &q);
	if (rc)
		die("create", rc);

	struct tally *t = mmap(NULL, sizeof(*t) + jobs, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (t == MAP_FAILED)
		return perror("mmap"), 1;
	pid_t pids[MAX_WORKERS];
	for (uint32_t w = 0; w < workers; w++) {
		fflush(NULL);
		if ((pids[w] = fork()) == 0)
			worker((int)w, t, jobs);
	}
	for (uint32_t i = 0; i < jobs; i++) {
		struct job j = {.id = i, .cost_us = 50 + (i % 7) * 30};
		if ((rc = pmq_send(q, &j, sizeof(j), 0))) /* blocks while 256 jobs wait */
			die("send", rc);
	}
	for (uint32_t w = 0; w < workers; w++)
		waitpid(pids[w], NULL, 0);

	uint32_t once = 0, twice = 0, never = 0;
	for (uint32_t i = 0; i < jobs; i++) {
		uint8_t n = atomic_load(&t->done[i]);
		once += n == 1;
		twice += n > 1;
		never += n == 0;
	}
	printf("%u jobs, %u workers:", jobs, workers);
	for (uint32_t w = 0; w < workers; w++)
		printf(" worker %u did %u%s", w, atomic_load(&t->done_by[w]), w + 1 < workers ? "," : "\n");
	printf("done once: %u, more than once: %u, never: %u\n", once, twice, never);
	pmq_close(q);
	pmq_unlink(QNAME, NULL);
	return once == jobs ? 0 : 1;
}
