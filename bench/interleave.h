/*
 * interleave.h - the block comparison of rt and oneway: one long-lived pair
 * of processes pinned to the two CPUs, alternating short blocks of round
 * trips over the floors and each subject (see blocks.h for the analysis).
 */
#ifndef PMQ_BENCH_INTERLEAVE_H
#define PMQ_BENCH_INTERLEAVE_H

#include "bench.h"
#include "blocks.h"
#include "placement.h"
#include "transport.h"
#include "tsc.h"

#define IL_FLOOR8 0u     /* kind 0 is always floor-8, kind 1 floor-2l */
#define IL_FLOOR2 1u

/* Every block of every set of one comparison (one mode, one size). */
struct il_result {
	unsigned nkinds;
	const struct transport *kind[BENCH_MAX_TRANSPORTS];
	char note[BENCH_MAX_TRANSPORTS][200];     /* why a kind has no blocks ("" if it has) */
	struct blk *blocks;                       /* nblocks, in schedule order, set by set */
	unsigned nblocks, cap;
	uint32_t *samples;                        /* owned: every block's samples */
	size_t nsamples, samples_cap;
	struct placement place[BENCH_MAX_SETS][BENCH_MAX_TRANSPORTS];  /* per set, per kind (files) */
	unsigned sets_done;
	char failure[200];                        /* a set that failed, or "" */
};

/*
 * Run o->reps sets (fresh files each) of o->blocks cycles for `mode` (rt or
 * oneway) at `size` over floor-8, floor-2l and subjects[0..n). 0, or -errno
 * with res->failure filled; res is filled as far as it got. il_free() after.
 */
int il_run(int mode, unsigned size, const struct transport *const *subjects, unsigned n,
	   const struct bench_opts *o, const struct tsc_cal *cal, struct il_result *res);
void il_free(struct il_result *res);

#endif
