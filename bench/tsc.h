/*
 * tsc.h - the time-stamp counter as the per-sample clock of the block
 * comparison. A CLOCK_MONOTONIC read costs ~25 ns on this VM (vDSO, two of
 * them in every sample pulled ratios toward 1); rdtsc costs a few ns and is
 * calibrated once against CLOCK_MONOTONIC. Needs an invariant TSC
 * (constant_tsc + nonstop_tsc): tsc_usable() says whether it is.
 */
#ifndef PMQ_BENCH_TSC_H
#define PMQ_BENCH_TSC_H

#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#define BENCH_HAVE_TSC 1
/* start of an interval: earlier instructions finish before the read */
static inline uint64_t tsc_begin(void)
{
	uint32_t lo, hi;
	__asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return (uint64_t)hi << 32 | lo;
}

/* end of an interval: rdtscp waits for earlier instructions; lfence keeps
 * later ones from starting before the read */
static inline uint64_t tsc_end(void)
{
	uint32_t lo, hi, aux;
	__asm__ __volatile__("rdtscp\n\tlfence" : "=a"(lo), "=d"(hi), "=c"(aux)::"memory");
	(void)aux;
	return (uint64_t)hi << 32 | lo;
}
#else
#define BENCH_HAVE_TSC 0
#include "bench.h"
static inline uint64_t tsc_begin(void)
{
	return now_ns();
}
static inline uint64_t tsc_end(void)
{
	return now_ns();
}
#endif

struct tsc_cal {
	int tsc;                /* 1: invariant TSC; 0: the "ticks" are CLOCK_MONOTONIC ns */
	double ns_per_tick;
	double pair_ns;         /* cost of one tsc_begin() + tsc_end() pair, in every sample */
	char why[96];           /* why the TSC is not used, if it is not */
};

/* Calibrate over ~50 ms; fills c. */
void tsc_calibrate(struct tsc_cal *c);

#endif
