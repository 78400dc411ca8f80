/*
 * latency_hist.h - a fixed-bucket latency histogram that one thread adds to and
 * any thread reads without a lock (pmqd's recovery latency, for /metrics).
 *
 * Each bucket counts the observations in (bound[i-1], bound[i]]; the last one
 * is the overflow (+Inf). Counters are independent relaxed atomics: a reader
 * may see an observation in its bucket before its share of sum_ns (or the
 * reverse), which Prometheus tolerates; the count is derived from the buckets,
 * so a scrape's +Inf bucket always equals its _count.
 */
#ifndef PMQD_LATENCY_HIST_H
#define PMQD_LATENCY_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define LAT_BUCKETS 16 /* finite bounds; bucket[LAT_BUCKETS] is +Inf */

/* 100 us .. 10 s: a recovery is a few syscalls plus a walk of the dead holder's messages */
static const uint64_t lat_bound_ns[LAT_BUCKETS] = {
	100000ull,    250000ull,    500000ull,     1000000ull,    2500000ull,    5000000ull,
	10000000ull,  25000000ull,  50000000ull,   100000000ull,  250000000ull,  500000000ull,
	1000000000ull, 2500000000ull, 5000000000ull, 10000000000ull,
};

struct latency_hist {
	_Atomic uint64_t bucket[LAT_BUCKETS + 1];
	_Atomic uint64_t sum_ns;
};

static inline void latency_hist_observe(struct latency_hist *h, uint64_t ns)
{
	unsigned i = 0;
	while (i < LAT_BUCKETS && ns > lat_bound_ns[i])
		i++;
	/* relaxed: plain event counters, no other memory is published through them */
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

/* A copy for rendering: each counter read once. */
struct latency_snap {
	uint64_t bucket[LAT_BUCKETS + 1];
	uint64_t sum_ns;
};

static inline void latency_hist_read(struct latency_hist *h, struct latency_snap *s)
{
	for (unsigned i = 0; i <= LAT_BUCKETS; i++) /* relaxed: see the header comment */
		s->bucket[i] = atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
	s->sum_ns = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
}

#endif
