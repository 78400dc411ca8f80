/*
 * pmq_py_probe - the C side of the Python binding's tests.
 *   pmq_py_probe layout            sizes and field offsets of the public structs,
 *                                  as the C compiler lays them out (test_layout.py)
 *   pmq_py_probe send QUEUE N      send N binary messages "c-producer <i>\0\xff<i as u32>"
 *                                  from C (test_interop.py)
 *   pmq_py_probe drain QUEUE N     receive and ack N messages, print the rate
 *                                  (bench_metrics.py: the data path while scraped)
 */
#include <stdint.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>

#include "pmq.h"
#if __has_include("pmq_admin.h")
#include "pmq_admin.h" /* the supervision declarations, once they move there */
#endif

#define SIZE(s) printf("%s size %zu\n", #s, sizeof(struct s))
#define FIELD(s, f) printf("%s.%s offset %zu\n", #s, #f, offsetof(struct s, f))

static void layout(void)
{
	SIZE(pmq_config);
	FIELD(pmq_config, size); FIELD(pmq_config, flags); FIELD(pmq_config, slot_count);
	FIELD(pmq_config, max_payload); FIELD(pmq_config, max_attach); FIELD(pmq_config, consumer_quota);
	FIELD(pmq_config, max_deliveries); FIELD(pmq_config, dlq_capacity); FIELD(pmq_config, side_slots);
	FIELD(pmq_config, durability); FIELD(pmq_config, lease_ns); FIELD(pmq_config, lease_action);
	FIELD(pmq_config, mode); FIELD(pmq_config, dir); FIELD(pmq_config, max_groups); FIELD(pmq_config, groups);
	SIZE(pmq_open_opts);
	FIELD(pmq_open_opts, size); FIELD(pmq_open_opts, wait); FIELD(pmq_open_opts, spin_ns);
	FIELD(pmq_open_opts, owner_uid); FIELD(pmq_open_opts, dir); FIELD(pmq_open_opts, group);
	SIZE(pmq_msg);
	FIELD(pmq_msg, data); FIELD(pmq_msg, len); FIELD(pmq_msg, delivery_count); FIELD(pmq_msg, ticket);
	FIELD(pmq_msg, epoch); FIELD(pmq_msg, timestamp_ns); FIELD(pmq_msg, cookie);
	SIZE(pmq_stats);
	FIELD(pmq_stats, depth); FIELD(pmq_stats, in_flight); FIELD(pmq_stats, side_ready);
	FIELD(pmq_stats, dead_letters); FIELD(pmq_stats, sent); FIELD(pmq_stats, received);
	FIELD(pmq_stats, redelivered); FIELD(pmq_stats, dead_lettered); FIELD(pmq_stats, aborted);
	FIELD(pmq_stats, attachments); FIELD(pmq_stats, slot_count); FIELD(pmq_stats, max_payload);
	FIELD(pmq_stats, side_slots); FIELD(pmq_stats, durability); FIELD(pmq_stats, is_pmem);
	SIZE(pmq_attach_info);
	FIELD(pmq_attach_info, index); FIELD(pmq_attach_info, role); FIELD(pmq_attach_info, incarnation);
	FIELD(pmq_attach_info, pid); FIELD(pmq_attach_info, start_time); FIELD(pmq_attach_info, heartbeat);
	FIELD(pmq_attach_info, in_flight); FIELD(pmq_attach_info, alive);
}

static int send_n(const char *name, long n)
{
	pmq_t *q;
	int r = pmq_open(name, PMQ_PRODUCER, &q);
	if (r < 0) {
		fprintf(stderr, "pmq_py_probe: open %s: %s (%s)\n", name, pmq_strerror(r), pmq_errmsg());
		return 1;
	}
	for (long i = 0; i < n && r >= 0; i++) {
		unsigned char buf[64];
		int len = snprintf((char *)buf, sizeof(buf), "c-producer %ld", i);
		uint32_t le = (uint32_t)i;
		buf[len++] = 0;
		buf[len++] = 0xff;
		memcpy(buf + len, &le, sizeof(le)); /* host order: the reader is on the same host */
		len += (int)sizeof(le);
		r = pmq_send(q, buf, (size_t)len, 0);
	}
	if (r < 0)
		fprintf(stderr, "pmq_py_probe: send %s: %s (%s)\n", name, pmq_strerror(r), pmq_errmsg());
	pmq_close(q);
	return r < 0;
}

static int drain_n(const char *name, long n)
{
	pmq_t *q;
	int r = pmq_open(name, PMQ_CONSUMER, &q);
	if (r < 0) {
		fprintf(stderr, "pmq_py_probe: open %s: %s (%s)\n", name, pmq_strerror(r), pmq_errmsg());
		return 1;
	}
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	long got = 0;
	while (got < n) {
		struct pmq_msg m;
		r = pmq_recv_timeout(q, &m, 10000000000ull);
		if (r < 0 || (r = pmq_ack(q, &m)) < 0)
			break;
		got++;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	printf("%ld messages in %.3f s: %.0f msg/s\n", got, s, (double)got / s);
	pmq_close(q);
	if (r < 0)
		fprintf(stderr, "pmq_py_probe: drain %s: %s (%s)\n", name, pmq_strerror(r), pmq_errmsg());
	return r < 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "layout")) {
		layout();
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "send"))
		return send_n(argv[2], strtol(argv[3], NULL, 10));
	if (argc == 4 && !strcmp(argv[1], "drain"))
		return drain_n(argv[2], strtol(argv[3], NULL, 10));
	fprintf(stderr, "usage: pmq_py_probe layout | send QUEUE N | drain QUEUE N\n");
	return 2;
}
