/*
 * report.c - the terminal table (one line per run, then a summary per
 * transport with the targets of the issue, reported, never asserted) and the
 * CSV. Latencies print in nanoseconds; ratios are to the floor measured in
 * the same run (the floor-ring row of the same repetition).
 */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const double report_pct[NPCT] = { 50, 90, 99, 99.9, 99.99 };

static const char *regime_of(uint64_t p50)
{
	return p50 == 0 ? "-" : p50 < REGIME_SPLIT_NS ? "fast" : "slow";
}

void row_compare(struct row *r)
{
	r->ratio_p50 = r->ratio_p999 = r->ratio_tput = NAN;
	if (r->probe_p50[0] && r->probe_p50[1] &&
	    strcmp(regime_of(r->probe_p50[0]), regime_of(r->probe_p50[1])) != 0)
		snprintf(r->regime, sizeof(r->regime), "%s>%s", regime_of(r->probe_p50[0]),
			 regime_of(r->probe_p50[1]));
	else
		snprintf(r->regime, sizeof(r->regime), "%s", regime_of(r->probe_p50[0] ? r->probe_p50[0] : r->probe_p50[1]));
	if (r->res.status != RUN_OK)
		return;
	if (r->mode == MODE_TPUT) {
		if (r->ref && r->ref->res.status == RUN_OK && r->ref->res.mps > 0)
			r->ratio_tput = r->res.mps / r->ref->res.mps;
		return;
	}
	const struct hist *fl = r->ref ? (r->ref->res.status == RUN_OK ? &r->ref->res.hist : NULL)
				       : (r->probe.count ? &r->probe : NULL);
	if (!fl || !fl->count || !r->res.hist.count)
		return;
	r->ratio_p50 = (double)hist_percentile(&r->res.hist, 50) / (double)hist_percentile(fl, 50);
	r->ratio_p999 = (double)hist_percentile(&r->res.hist, 99.9) / (double)hist_percentile(fl, 99.9);
}

/* 1234 -> "1234", 123456 -> "123.5u", 12345678 -> "12.35m" (ns) */
static const char *fmt_ns(char *b, uint64_t v)
{
	if (v < 100000)
		snprintf(b, 16, "%llu", (unsigned long long)v);
	else if (v < 100000000)
		snprintf(b, 16, "%.1fu", (double)v / 1e3);
	else
		snprintf(b, 16, "%.2fm", (double)v / 1e6);
	return b;
}

static const char *fmt_ratio(char *b, double r)
{
	if (isnan(r))
		snprintf(b, 16, "-");
	else
		snprintf(b, 16, r < 10 ? "%.2fx" : r < 1000 ? "%.0fx" : "%.0fx", r);
	return b;
}

void report_row(FILE *f, const struct row *r, int header)
{
	char a[8][16], x[2][16];
	if (header) {
		if (r->mode == MODE_TPUT)
			fprintf(f, "%-6s %6s %3s %-10s %-9s %12s %9s %8s %9s  %s\n", "mode", "size", "rep",
				"transport", "regime", "msgs/s", "GB/s", "xfloor", "msgs", "note");
		else
			fprintf(f, "%-6s %6s %3s %-10s %-9s %7s %7s %7s %7s %7s %7s %7s %7s %7s  %s\n",
				"mode", "size", "rep", "transport", "regime", "min", "p50", "p90", "p99",
				"p99.9", "p99.99", "max", "p50/fl", "p999/fl", "note (ns; u=us m=ms)");
	}
	if (r->res.status == RUN_SKIPPED) {
		fprintf(f, "%-6s %6u %3u %-10s skipped: %s\n", mode_name(r->mode), r->size, r->rep, r->t->name,
			r->res.note);
		return;
	}
	if (r->res.status == RUN_FAILED) {
		fprintf(f, "%-6s %6u %3u %-10s FAILED: %s\n", mode_name(r->mode), r->size, r->rep, r->t->name,
			r->res.note);
		return;
	}
	if (r->mode == MODE_TPUT) {
		fprintf(f, "%-6s %6u %3u %-10s %-9s %12.0f %9.3f %8s %9llu  %s\n", mode_name(r->mode), r->size,
			r->rep, r->t->name, r->regime, r->res.mps, r->res.gbps, fmt_ratio(x[0], r->ratio_tput),
			(unsigned long long)r->res.msgs, r->res.note);
		return;
	}
	const struct hist *h = &r->res.hist;
	fprintf(f, "%-6s %6u %3u %-10s %-9s %7s %7s %7s %7s %7s %7s %7s %7s %7s  %s\n", mode_name(r->mode),
		r->size, r->rep, r->t->name, r->regime, fmt_ns(a[0], h->min),
		fmt_ns(a[1], hist_percentile(h, 50)), fmt_ns(a[2], hist_percentile(h, 90)),
		fmt_ns(a[3], hist_percentile(h, 99)), fmt_ns(a[4], hist_percentile(h, 99.9)),
		fmt_ns(a[5], hist_percentile(h, 99.99)), fmt_ns(a[6], h->max), fmt_ratio(x[0], r->ratio_p50),
		fmt_ratio(x[1], r->ratio_p999), r->res.note);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* median of the non-NaN values; NaN if none */
static double median(double *v, unsigned n)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++)
		if (!isnan(v[i]))
			v[k++] = v[i];
	if (!k)
		return NAN;
	qsort(v, k, sizeof(*v), cmp_double);
	return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

static const struct row *find(const struct row *rows, unsigned n, int mode, unsigned size, unsigned rep,
			      const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (rows[i].mode == mode && rows[i].size == size && rows[i].rep == rep &&
		    !strcmp(rows[i].t->name, name) && rows[i].res.status == RUN_OK)
			return &rows[i];
	return NULL;
}

/* target lines: each run's ratio, their median, and whether the median meets it */
static void target(FILE *f, const char *what, double *v, unsigned k, double goal, int at_least)
{
	if (!k)
		return;     /* not measured in this run */
	fprintf(f, "  %-58s", what);
	for (unsigned i = 0; i < k; i++)
		fprintf(f, " %.2f", v[i]);
	double m = median(v, k);
	int met = at_least ? m >= goal : m <= goal;
	fprintf(f, "  -> median %.2f (target %s %gx): %s\n", m, at_least ? ">=" : "<=", goal,
		met ? "met" : "NOT met");
}

void report_summary(FILE *f, const struct row *rows, unsigned n, const struct bench_opts *o)
{
	double v[3][256];
	fprintf(f, "\nsummary: medians over %u repetitions (each ratio is to the floor of its own run)\n", o->reps);
	for (unsigned i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		int first = 1;
		for (unsigned j = 0; j < i; j++)
			if (rows[j].mode == r->mode && rows[j].size == r->size && rows[j].t == r->t)
				first = 0;
		if (!first)
			continue;
		unsigned k = 0, fast = 0, slow = 0, other = 0;
		const char *why = NULL;
		for (unsigned j = i; j < n && k < 256; j++) {
			const struct row *q = &rows[j];
			if (q->mode != r->mode || q->size != r->size || q->t != r->t)
				continue;
			if (q->res.status != RUN_OK) {
				why = q->res.note;
				continue;
			}
			if (q->mode == MODE_TPUT) {
				v[0][k] = q->res.mps;
				v[1][k] = q->res.gbps;
				v[2][k] = q->ratio_tput;
			} else {
				v[0][k] = (double)hist_percentile(&q->res.hist, 50);
				v[1][k] = (double)hist_percentile(&q->res.hist, 99.9);
				v[2][k] = q->ratio_p50;
			}
			if (!strcmp(q->regime, "fast"))
				fast++;
			else if (!strcmp(q->regime, "slow"))
				slow++;
			else if (strcmp(q->regime, "-"))
				other++;
			k++;
		}
		if (!k) {
			fprintf(f, "  %-6s %6u %-10s %s\n", mode_name(r->mode), r->size, r->t->name,
				why ? why : "no result");
			continue;
		}
		double a = median(v[0], k), b = median(v[1], k), c = median(v[2], k);
		char cr[16];
		fmt_ratio(cr, c);
		if (r->mode == MODE_TPUT)
			fprintf(f, "  %-6s %6u %-10s %12.0f msgs/s %8.3f GB/s  x floor-ring %7s   runs: %u fast, %u slow, %u mixed\n",
				mode_name(r->mode), r->size, r->t->name, a, b, cr, fast, slow, other);
		else
			fprintf(f, "  %-6s %6u %-10s p50 %9.0f ns  p99.9 %9.0f ns  p50 x floor %7s   runs: %u fast, %u slow, %u mixed\n",
				mode_name(r->mode), r->size, r->t->name, a, b, cr, fast, slow, other);
	}

	fprintf(f, "\ntargets (reported, not asserted; rt and oneway targets are in their block tables):\n");
	for (unsigned s = 0; s < o->nsizes; s++) {
		unsigned size = o->sizes[s];
		const char *subj[2] = { "pmq", "pmq-spsc" };
		for (int q = 0; q < 2; q++) {
			unsigned k = 0;
			double t[256];
			for (unsigned rep = 1; rep <= o->reps && k < 256; rep++) {
				const struct row *pt = find(rows, n, MODE_TPUT, size, rep, subj[q]);
				if (pt && !isnan(pt->ratio_tput))
					t[k++] = pt->ratio_tput;
			}
			if (!k)
				continue;
			char what[100];
			snprintf(what, sizeof(what), "%u B %s tput (batch %u) / floor-ring, per rep", size, subj[q],
				 o->batch);
			target(f, what, t, k, o->batch > 1 ? 1.1 : 0.9, 1);
		}
	}
}

int report_csv(const char *path, const struct row *rows, unsigned n, const struct bench_opts *o)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "mode,size,transport,rep,status,regime,floor_before_p50_ns,floor_after_p50_ns,samples,"
		   "min_ns,p50_ns,p90_ns,p99_ns,p999_ns,p9999_ns,max_ns,mean_ns,ratio_p50,ratio_p999,"
		   "msgs_per_s,gb_per_s,ratio_tput,wait,durability,slots,batch,producers,consumers,note\n");
	for (unsigned i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		const struct hist *h = &r->res.hist;
		int lat = r->mode != MODE_TPUT && r->res.status == RUN_OK;
		fprintf(f, "%s,%u,%s,%u,%s,%s,%llu,%llu,", mode_name(r->mode), r->size, r->t->name, r->rep,
			r->res.status == RUN_OK ? "ok" : r->res.status == RUN_SKIPPED ? "skipped" : "failed",
			r->regime, (unsigned long long)r->probe_p50[0], (unsigned long long)r->probe_p50[1]);
		if (lat) {
			fprintf(f, "%llu,%llu,", (unsigned long long)h->count, (unsigned long long)h->min);
			for (int p = 0; p < NPCT; p++)
				fprintf(f, "%llu,", (unsigned long long)hist_percentile(h, report_pct[p]));
			fprintf(f, "%llu,%.1f,", (unsigned long long)h->max, hist_mean(h));
		} else {
			fprintf(f, ",,,,,,,,,");
		}
		if (!isnan(r->ratio_p50))
			fprintf(f, "%.3f,%.3f,", r->ratio_p50, r->ratio_p999);
		else
			fprintf(f, ",,");
		if (r->mode == MODE_TPUT && r->res.status == RUN_OK)
			fprintf(f, "%.0f,%.4f,", r->res.mps, r->res.gbps);
		else
			fprintf(f, ",,");
		if (!isnan(r->ratio_tput))
			fprintf(f, "%.3f,", r->ratio_tput);
		else
			fprintf(f, ",");
		fprintf(f, "%s,%s,%u,%u,%u,%u,\"", wait_name(o->wait), o->durability ? "power" : "process",
			o->slots, r->mode == MODE_TPUT ? o->batch : 1, r->mode == MODE_TPUT ? o->producers : 1,
			r->mode == MODE_TPUT ? o->consumers : 1);
		for (const char *c = r->res.note; *c; c++)
			fputs(*c == '"' ? "\"\"" : (char[]){ *c, 0 }, f);
		fprintf(f, "\"\n");
	}
	return fclose(f) == 0 ? 0 : -errno;
}
