/*
 * histogram.h - a log-linear latency histogram of fixed size, so that it can
 * live in a MAP_SHARED page and be filled by one process and read by another.
 *
 * Values below 128 have a bucket each; above, every power of two is cut into
 * 64 linear buckets, so a reported value is at most 1/64 (1.6 %) above the
 * true one. Recording is a shift and an add: no allocation, no system call.
 */
#ifndef PMQ_BENCH_HISTOGRAM_H
#define PMQ_BENCH_HISTOGRAM_H

#include <stdint.h>

#define HIST_SUB_BITS 7u
#define HIST_SUB (1u << HIST_SUB_BITS)        /* 128 exact buckets */
#define HIST_HALF (HIST_SUB / 2u)              /* 64 buckets per power of two */
#define HIST_BUCKETS ((64u - HIST_SUB_BITS + 1u) * HIST_HALF + HIST_HALF)

struct hist {
	uint64_t count;
	uint64_t min;
	uint64_t max;
	uint64_t sum;       /* saturates instead of wrapping */
	uint64_t bucket[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t v);
/* Add every sample of `src` to `dst`. */
void hist_merge(struct hist *dst, const struct hist *src);
/* Bucket index of v, and the range [lo, hi] of values a bucket holds. */
unsigned hist_bucket(uint64_t v);
void hist_bucket_range(unsigned b, uint64_t *lo, uint64_t *hi);
/*
 * Value at percentile p (0..100): the highest value equivalent to the
 * sample of rank ceil(p/100 * count), clamped to [min, max]; p = 0 gives
 * min and p = 100 gives max. 0 when empty.
 */
uint64_t hist_percentile(const struct hist *h, double p);
/* Rank (1-based) of percentile p among n sorted samples: ceil(p/100 * n),
 * computed so that 99.9 % of 1000 is 999, not 1000 through rounding. */
uint64_t hist_rank(double p, uint64_t n);
double hist_mean(const struct hist *h);

#endif /* PMQ_BENCH_HISTOGRAM_H */
