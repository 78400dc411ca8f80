/* report.h - the rows of a bench session, and how they are shown. */
#ifndef PMQ_BENCH_REPORT_H
#define PMQ_BENCH_REPORT_H

#include <stdio.h>

#include "run.h"

/* rate/tput probes: floor-8 round trip p50 below this labels a run "fast" (docs/benchmarks.md) */
#define REGIME_SPLIT_NS 300u

struct row {
	int mode;
	unsigned size;
	unsigned rep;
	const struct transport *t;
	struct run_result res;
	struct hist probe;          /* floor-8 round trips just before and just after */
	uint64_t probe_p50[2];      /* before, after; 0 = no probe */
	char regime[16];
	const struct row *ref;      /* floor row this one is compared with (NULL: the probe) */
	double ratio_p50, ratio_p999, ratio_tput;   /* NAN when there is nothing to compare */
};

/* The percentiles every table and CSV shows. */
#define NPCT 5
extern const double report_pct[NPCT];   /* 50, 90, 99, 99.9, 99.99 */

void row_compare(struct row *r);         /* fills regime and ratios */
void report_row(FILE *f, const struct row *r, int header);
void report_summary(FILE *f, const struct row *rows, unsigned n, const struct bench_opts *o);
int report_csv(const char *path, const struct row *rows, unsigned n, const struct bench_opts *o);
/* gnuplot: one PNG per latency mode and size; 0 or -errno */
int report_plot(const char *png, const struct row *rows, unsigned n, const struct bench_opts *o);

#endif
