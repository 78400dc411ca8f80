/*
 * fanout.h - the fan-out comparison (pmq-bench -m fanout; docs/benchmarks.md
 * "Fan-out"): one publisher, N subscribers that each see every message, and a
 * return path on which every subscriber echoes what it got.
 *
 * One run of a subject forks 1 + N processes: the publisher pinned to the first
 * CPU, every subscriber to the second. With 2 CPUs the subscribers share one,
 * so every wait blocks (futex, kernel, iceoryx wait set): a busy-polling
 * subscriber would keep its CPU from the other three for a time slice
 * (docs/decisions.md, "Fan-out bench: blocking waits").
 *
 * Round trip: the publisher sends message i and stops the clock when it has
 * taken the echo of i from every one of the N subscribers. Throughput: the
 * publisher sends as fast as the subject lets it (a reliable subject holds it
 * back when the slowest subscriber is a ring behind), the subscribers count
 * and read; the time runs from the first send to the last subscriber seeing
 * the stop, and every subscriber must have received every message.
 */
#ifndef PMQ_BENCH_FANOUT_H
#define PMQ_BENCH_FANOUT_H

#include <stddef.h>
#include <stdint.h>

#include "bench.h"
#include "transport.h"

#define FAN_MAX_SUBS 4u
#define FAN_FOREVER UINT64_MAX
#define FAN_MAX_BATCH 64u

struct fan_params {
	unsigned size;          /* every message is exactly this long (>= 16: word 0 and word 1) */
	unsigned slots;         /* ring / queue / high-water mark */
	unsigned nsubs;         /* subscribers of this subject */
	unsigned run_id;        /* unique per run: names of queues, sockets, services */
	unsigned batch;         /* throughput phase: messages per batch call, where the subject has them */
	const char *queue_dir;  /* pmq: where the private directory of queue files goes */
};

/*
 * A subject of the fan-out comparison. The parent calls setup() before the
 * fork and teardown() after the children exit; the publisher calls
 * open_pub(), each subscriber open_sub(idx). take() on the publisher's end
 * reads the return path, on a subscriber's end the fan-out; echo() is a
 * subscriber's send on the return path.
 */
struct fan_tp {
	const char *name;
	const char *what;       /* one line: what the subject is */
	unsigned nsubs;
	int (*probe)(char *why, size_t n);
	int (*setup)(const struct fan_params *p, char *why, size_t n);
	void (*teardown)(void);
	int (*open_pub)(const struct fan_params *p, void **ep);
	int (*open_sub)(const struct fan_params *p, unsigned idx, void **ep);
	void (*close)(void *ep);
	/* 0, or -EAGAIN when nonblock and the subject has no room now, or -errno */
	int (*publish)(void *ep, const void *buf, size_t len, int nonblock);
	/* 0, -ETIMEDOUT after timeout_ns (FAN_FOREVER: wait as long as it takes), or -errno;
	 * m stays valid until release() */
	int (*take)(void *ep, struct tp_msg *m, uint64_t timeout_ns);
	void (*release)(void *ep);
	int (*echo)(void *ep, const void *buf, size_t len);
	void (*proc_exit)(void);   /* optional: after the ends are closed */
	/* optional batch calls, used in the throughput phase when --batch > 1: publish up to n
	 * (returns how many, >= 1, or -errno); take up to n, waiting for the first only
	 * (returns how many, >= 1, or -errno), all released by the next release() */
	int (*publish_batch)(void *ep, const struct iovec *iov, unsigned n);
	int (*take_batch)(void *ep, struct tp_msg *m, unsigned n);
};

extern const struct fan_tp fan_pmq_default, fan_pmq_group1, fan_pmq_groups, fan_iceoryx, fan_zmq;

/* The subjects in table order; NULL-terminated. */
extern const struct fan_tp *const fan_all[];

/* Run the comparison with o's options (-t selects subjects by name); prints
 * the tables (and o->csv). 0, or 1 if a run failed. */
int fan_main(const struct bench_opts *o);

#endif
