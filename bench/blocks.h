/*
 * blocks.h - the analysis of an interleaved block comparison (pure: no I/O,
 * so that tests feed it synthetic blocks).
 *
 * One long-lived pinned pair runs, per fresh set of files, cycles of blocks:
 * floor-8, floor-2l, subject 1, floor-8, floor-2l, subject 2, ... and a
 * closing floor-8, floor-2l. A subject block is compared only with its
 * neighbouring floor blocks (the nearest one before and after it of the same
 * floor kind, in the same set): ratio = subject p50 / mean of their p50s. Its
 * regime is that of its neighbouring floor-8 blocks (by their p50); when the
 * two disagree the block is "mixed": it counts in the pooled figures only.
 */
#ifndef PMQ_BENCH_BLOCKS_H
#define PMQ_BENCH_BLOCKS_H

#include <stdint.h>

#define BLK_MAX_REGIMES 4
#define BLK_ALL (-1)         /* every block, mixed ones included */
#define BLK_MIXED (-2)       /* neighbouring floor blocks in different regimes */
#define BLK_NONE (-3)        /* no neighbouring floor block */

struct blk {
	unsigned set;            /* which fresh set of files (1, 2, ...) */
	unsigned kind;           /* index into the comparison's list of kinds */
	unsigned n;              /* samples kept (the block's first ones are warm-up, not here) */
	const uint32_t *ticks;   /* n samples in clock ticks (not owned) */
	double p50, p99, p999, mean;    /* ns; filled by blk_stats() */
};

struct blk_regimes {
	unsigned n;                          /* 1 .. BLK_MAX_REGIMES */
	double split[BLK_MAX_REGIMES - 1];   /* ns, ascending: p50 < split[0] is regime 0 ... */
	const char *name[BLK_MAX_REGIMES];
};

/* The default regimes of this VM's 8 B line floor: ~80, ~140, ~480 ns round trips. */
void blk_regimes_default(struct blk_regimes *r);

/* Regime index of a floor p50 (ns). */
int blk_regime(const struct blk_regimes *r, double p50_ns);

/* p50, p99, p99.9 and mean of one block, in ns (ticks * ns_per_tick). */
void blk_stats(struct blk *b, double ns_per_tick);

/* The nearest block of floor_kind before and after block i in the same set
 * (-1 where there is none); returns how many were found. */
int blk_neighbours(const struct blk *b, unsigned nb, unsigned i, unsigned floor_kind, int *prev, int *next);

struct blk_pair {
	double ratio;            /* p50 / mean of the neighbouring floor p50s; NAN without a floor */
	double ratio_mean;       /* the same with block means (whole-block timing) */
	double floor_p50;        /* that denominator */
	int regime;              /* regime index, BLK_MIXED or BLK_NONE (by the regime_kind neighbours) */
};

/* Pair block i with its neighbouring floor_kind blocks; classify it by its
 * neighbouring regime_kind blocks. */
void blk_pair(const struct blk *b, unsigned nb, unsigned i, unsigned floor_kind, unsigned regime_kind,
	      const struct blk_regimes *rg, struct blk_pair *out);

struct blk_summary {
	unsigned blocks;         /* blocks of the subject in this regime */
	unsigned sets;           /* sets with at least one such block */
	double ratio;            /* median over blocks of the per-pair ratio (p50) */
	double ratio_mean;       /* median over blocks of the per-pair ratio of block means */
	double set_med, set_lo, set_hi;   /* per-set medians of `ratio`: median, min, max */
	double subj_p50, floor_p50;       /* medians of the block p50s (subject; neighbouring floor) */
	/* pooled over every sample of the regime's blocks (ns) */
	double pool_p50, pool_p99, pool_p999, pool_p9999;
	double floor_pool_p50, floor_pool_p999;   /* the floor_kind blocks of the same regime */
	double ratio_p999;       /* pool_p999 / floor_pool_p999 */
};

/*
 * Summarise subject `kind` against floor_kind for one regime (an index, or
 * BLK_ALL). Blocks are classified by their regime_kind neighbours; floor
 * blocks by their own p50. Returns 0, or -ENOMEM.
 */
int blk_summarise(const struct blk *b, unsigned nb, unsigned kind, unsigned floor_kind, unsigned regime_kind,
		  const struct blk_regimes *rg, int regime, double ns_per_tick, struct blk_summary *out);

/* median of v[0..n) (reorders v); NAN if n == 0 */
double blk_median(double *v, unsigned n);

#endif
