/* il_report.h - tables and CSV of the block comparison (interleave.h). */
#ifndef PMQ_BENCH_IL_REPORT_H
#define PMQ_BENCH_IL_REPORT_H

#include <stdio.h>

#include "interleave.h"

/* The regimes of o (round-trip splits; halved for oneway). */
void il_regimes(const struct bench_opts *o, int mode, struct blk_regimes *rg);
void il_report(FILE *f, int mode, unsigned size, const struct il_result *r, const struct bench_opts *o,
	       const struct tsc_cal *cal);
/* Append every block (path-blocks.csv) and every subject x regime (path-summary.csv)
 * of this comparison; the header goes in when a file is empty. 0 or -errno. */
int il_csv(const char *path, int mode, unsigned size, const struct il_result *r, const struct bench_opts *o,
	   const struct tsc_cal *cal);

#endif
