/*
 * pmq-fanout-feed - a market-data feed: one publisher, several subscribers that
 * each see every tick, in order. Each subscriber is its own reliable consumer
 * group (a durable cursor); one of them ("archive") is deliberately slow, and
 * because a reliable group never loses a message, the publisher waits for it:
 * back-pressure. The publisher tries a non-blocking send first and counts the
 * -EAGAINs (ring full for the slow group) before it blocks. See docs/patterns.md.
 *
 *   pmq-fanout-feed [--ticks N] [--slow-us U]
 *
 * While it runs: `pmqctl group list example-feed` shows each group's lag.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pmq.h"

#define QNAME "example-feed"
#define NSUB 3

static const char *const subscribers[NSUB] = {"risk", "pricing", "archive"};

struct tick {
	uint64_t seq;
	uint32_t instrument;
	int32_t price_cents;
};

static void die(const char *what, int rc)
{
	fprintf(stderr, "pmq-fanout-feed: %s: %s (%s)\n", what, pmq_strerror(rc), pmq_errmsg());
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A subscriber: its group sees every tick; it checks they come in order. */
static void subscriber(const char *group, uint64_t ticks, unsigned slow_us)
{
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.group = group; /* join this group: its own cursor on the feed */
	pmq_t *q;
	int rc = pmq_open_ex(QNAME, PMQ_CONSUMER, &o, &q);
	if (rc)
		die("subscriber open", rc);
	uint64_t next = 0;
	double t0 = now_s();
	while (next < ticks) {
		struct pmq_msg m;
		if ((rc = pmq_recv(q, &m, 0)))
			die("recv", rc);
		struct tick t;
		memcpy(&t, m.data, sizeof(t));
		if (t.seq != next) {
			fprintf(stderr, "%s: tick %llu, expected %llu\n", group, (unsigned long long)t.seq,
				(unsigned long long)next);
			exit(1);
		}
		next++;
		if (slow_us)
			usleep(slow_us); /* a slow subscriber: a disk, a network, a long computation */
		if ((rc = pmq_ack(q, &m))) /* settled: the slot may be reused once every group did */
			die("ack", rc);
	}
	printf("%-8s got all %llu ticks in order in %.2f s%s\n", group, (unsigned long long)ticks, now_s() - t0,
	       slow_us ? " (the slow one)" : "");
	pmq_close(q);
	exit(0);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	uint64_t ticks = 10000;
	unsigned slow_us = 100;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--ticks"))
			ticks = strtoull(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--slow-us"))
			slow_us = (unsigned)atoi(argv[i + 1]);
	}
	pmq_unlink(QNAME, NULL);
	struct pmq_config cfg;
	pmq_config_init(&cfg);
	cfg.slot_count = 1024;
	cfg.max_payload = sizeof(struct tick);
	cfg.max_groups = 8;                    /* room for more subscribers later */
	cfg.groups = "risk,pricing,archive"; /* reliable groups made with the queue */
	pmq_t *q;
	int rc = pmq_create(QNAME, &cfg, &q);
	if (rc)
		die("create", rc);

	pid_t pids[NSUB];
	for (int s = 0; s < NSUB; s++) {
		fflush(NULL);
		if ((pids[s] = fork()) == 0)
			subscriber(subscribers[s], ticks, s == NSUB - 1 ? slow_us : 0);
	}
	uint64_t pushed_back = 0;
	double t0 = now_s();
	for (uint64_t i = 0; i < ticks; i++) {
		struct tick t = {.seq = i, .instrument = (uint32_t)(i % 50), .price_cents = 10000 + (int32_t)(i % 97)};
		rc = pmq_send(q, &t, sizeof(t), PMQ_NONBLOCK);
		if (rc == -EAGAIN) {
			/* the ring is full for the slowest reliable group: wait for it */
			pushed_back++;
			rc = pmq_send(q, &t, sizeof(t), 0);
		}
		if (rc)
			die("send", rc);
		if (i == ticks / 2) {
			struct pmq_group_info gi[NSUB];
			int n = pmq_group_list(q, gi, NSUB);
			printf("half way, lag per group:");
			for (int g = 0; g < n && g < NSUB; g++)
				printf(" %s %llu", gi[g].name, (unsigned long long)gi[g].lag);
			printf("\n");
		}
	}
	printf("publisher sent %llu ticks in %.2f s; %llu sends found the ring full (back-pressure from the slow "
	       "group)\n",
	       (unsigned long long)ticks, now_s() - t0, (unsigned long long)pushed_back);
	int bad = 0;
	for (int s = 0; s < NSUB; s++) {
		int st;
		waitpid(pids[s], &st, 0);
		bad += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	pmq_close(q);
	pmq_unlink(QNAME, NULL);
	return bad ? 1 : 0;
}
