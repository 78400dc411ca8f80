/*
 * il_report.c - the block comparison as tables: per subject, per regime of
 * the neighbouring floor-8 blocks (fast, mid, slow) and pooled ("all"):
 * the median of the per-block-pair ratios to floor-8 and to floor-2l, the
 * per-set medians (median and range over the fresh sets of files), and the
 * pooled tail against the floor's pooled tail. Then, for queue files, where
 * their pages landed, set by set, next to that set's ratio.
 */
#define _GNU_SOURCE
#include "il_report.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

void il_regimes(const struct bench_opts *o, int mode, struct blk_regimes *rg)
{
	/* the splits are round trips; a oneway floor block measures one hop */
	double f = mode == MODE_ONEWAY ? 0.5 : 1.0;
	blk_regimes_default(rg);
	rg->split[0] = o->regime_split[0] * f;
	rg->split[1] = o->regime_split[1] * f;
}

static const char *regime_name(const struct blk_regimes *rg, int r)
{
	return r == BLK_ALL ? "all" : r == BLK_MIXED ? "mixed" : r == BLK_NONE ? "-" : rg->name[r];
}

static const char *num(char *b, double v, const char *fmt)
{
	if (isnan(v))
		snprintf(b, 24, "-");
	else
		snprintf(b, 24, fmt, v);
	return b;
}

/* median ratio to floor-8 of kind k's blocks of one set and regime */
static double set_ratio(const struct il_result *r, const struct blk_regimes *rg, unsigned set, unsigned k, int reg)
{
	double v[4096];
	unsigned n = 0;
	for (unsigned i = 0; i < r->nblocks && n < 4096; i++) {
		if (r->blocks[i].set != set || r->blocks[i].kind != k)
			continue;
		struct blk_pair p;
		blk_pair(r->blocks, r->nblocks, i, IL_FLOOR8, IL_FLOOR8, rg, &p);
		if (!isnan(p.ratio) && p.regime == reg)
			v[n++] = p.ratio;
	}
	return blk_median(v, n);
}

void il_report(FILE *f, int mode, unsigned size, const struct il_result *r, const struct bench_opts *o,
	       const struct tsc_cal *cal)
{
	struct blk_regimes rg;
	char a[12][24];
	il_regimes(o, mode, &rg);
	fprintf(f, "\n%s %u B: %u set(s) of fresh files x %u cycles; blocks of <= %u round trips (first tenth warm-up), "
		   "timed per sample with %s%s\n",
		mode_name(mode), size, r->sets_done, o->blocks, o->block_len,
		cal->tsc ? "the TSC" : "CLOCK_MONOTONIC", cal->tsc ? "" : cal->why);
	fprintf(f, "  regimes by the neighbouring floor-8 blocks' p50: %s < %.0f ns <= %s < %.0f ns <= %s\n", rg.name[0],
		rg.split[0], rg.name[1], rg.split[1], rg.name[2]);
	fprintf(f, "  clock: %.3f ns/tick, one read pair %.1f ns inside every sample (floors included)\n",
		cal->ns_per_tick, cal->pair_ns);
	for (unsigned k = 0; k < r->nkinds; k++)
		if (r->note[k][0])
			fprintf(f, "  skipped %s: %s\n", r->kind[k]->name, r->note[k]);
	if (r->failure[0])
		fprintf(f, "  FAILED: %s\n", r->failure);
	fprintf(f, "  %-10s %-6s %6s %8s %8s %8s %20s %8s %20s %8s %9s %9s %8s\n", "subject", "regime", "blocks",
		"fl8 p50", "p50", "x fl8", "sets: med [lo..hi]", "x fl2l", "sets: med [lo..hi]", "mean x8", "p99.9",
		"fl8 p99.9", "p99.9x");
	for (unsigned k = IL_FLOOR2; k < r->nkinds; k++) {
		for (int reg = BLK_ALL; reg < (int)rg.n; reg++) {
			struct blk_summary s8, s2;
			if (blk_summarise(r->blocks, r->nblocks, k, IL_FLOOR8, IL_FLOOR8, &rg, reg, cal->ns_per_tick,
					  &s8) < 0 ||
			    blk_summarise(r->blocks, r->nblocks, k, IL_FLOOR2, IL_FLOOR8, &rg, reg, cal->ns_per_tick,
					  &s2) < 0)
				continue;
			if (!s8.blocks && reg != BLK_ALL)
				continue;
			char sets[80], sets2[80];
			snprintf(sets, sizeof(sets), "%s [%s..%s]", num(a[0], s8.set_med, "%.2f"),
				 num(a[1], s8.set_lo, "%.2f"), num(a[2], s8.set_hi, "%.2f"));
			if (k == IL_FLOOR2)
				snprintf(sets2, sizeof(sets2), "-");
			else
				snprintf(sets2, sizeof(sets2), "%s [%s..%s]", num(a[0], s2.set_med, "%.2f"),
					 num(a[1], s2.set_lo, "%.2f"), num(a[2], s2.set_hi, "%.2f"));
			fprintf(f, "  %-10s %-6s %6u %8s %8s %8s %20s %8s %20s %8s %9s %9s %8s\n", r->kind[k]->name,
				regime_name(&rg, reg), s8.blocks, num(a[3], s8.floor_p50, "%.0f"),
				num(a[4], s8.subj_p50, "%.0f"), num(a[5], s8.ratio, "%.2fx"), sets,
				k == IL_FLOOR2 ? "(1.00x)" : num(a[6], s2.ratio, "%.2fx"), sets2,
				num(a[7], s8.ratio_mean, "%.2fx"), num(a[8], s8.pool_p999, "%.0f"),
				num(a[9], s8.floor_pool_p999, "%.0f"), num(a[10], s8.ratio_p999, "%.2fx"));
		}
	}
	/* blocks the regime split left out */
	unsigned mixed = 0, total = 0;
	for (unsigned i = 0; i < r->nblocks; i++) {
		if (r->blocks[i].kind <= IL_FLOOR2)
			continue;
		struct blk_pair p;
		blk_pair(r->blocks, r->nblocks, i, IL_FLOOR8, IL_FLOOR8, &rg, &p);
		total++;
		mixed += p.regime == BLK_MIXED;
	}
	fprintf(f, "  %u of %u subject blocks sat between floor blocks of different regimes (only in \"all\")\n",
		mixed, total);
	/* where the queue files' pages are, per set and regime, with that set's
	 * median ratio; floor-2l's in the same set and regime is the control (its
	 * memory is not a queue file): a file effect moves pmq and not it */
	for (unsigned k = IL_FLOOR2 + 1; k < r->nkinds; k++) {
		if (!r->kind[k]->file_path)
			continue;
		for (unsigned set = 1; set <= r->sets_done; set++)
			for (int reg = 0; reg < (int)rg.n; reg++) {
				double x = set_ratio(r, &rg, set, k, reg), c = set_ratio(r, &rg, set, IL_FLOOR2, reg);
				if (isnan(x))
					continue;
				char pl[128];
				placement_format(&r->place[set - 1][k], pl, sizeof(pl));
				fprintf(f, "  files %-8s set %u %-4s: x fl8 %s (floor-2l %s)  %s\n", r->kind[k]->name, set,
					rg.name[reg], num(a[10], x, "%.2fx"), num(a[11], c, "%.2fx"), pl);
			}
	}
}

static FILE *open_append(const char *base, const char *suffix, const char *header)
{
	char path[512];
	const char *dot = strrchr(base, '.');
	int stem = dot && !strcmp(dot, ".csv") ? (int)(dot - base) : (int)strlen(base);
	snprintf(path, sizeof(path), "%.*s-%s.csv", stem, base, suffix);
	FILE *f = fopen(path, "a");
	if (!f)
		return NULL;
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && st.st_size == 0)
		fputs(header, f);
	return f;
}

int il_csv(const char *path, int mode, unsigned size, const struct il_result *r, const struct bench_opts *o,
	   const struct tsc_cal *cal)
{
	struct blk_regimes rg;
	il_regimes(o, mode, &rg);
	FILE *b = open_append(path, "blocks",
			      "mode,size,set,block,kind,samples,p50_ns,p99_ns,p999_ns,mean_ns,regime,"
			      "floor8_p50_ns,ratio_floor8,floor2l_p50_ns,ratio_floor2l,clock\n");
	FILE *s = open_append(path, "summary",
			      "mode,size,subject,regime,blocks,sets,floor8_p50_ns,p50_ns,ratio_floor8,set_median,"
			      "set_min,set_max,ratio_floor2l,floor2l_set_median,floor2l_set_min,floor2l_set_max,ratio_mean_floor8,pooled_p50_ns,pooled_p99_ns,"
			      "pooled_p999_ns,pooled_p9999_ns,floor8_pooled_p999_ns,ratio_p999,clock\n");
	int err = 0;
	const char *clk = cal->tsc ? "tsc" : "monotonic";
	if (!b || !s) {
		err = -errno;
		goto out;
	}
	for (unsigned i = 0; i < r->nblocks; i++) {
		const struct blk *x = &r->blocks[i];
		struct blk_pair p8 = { NAN, NAN, NAN, BLK_NONE }, p2 = { NAN, NAN, NAN, BLK_NONE };
		if (x->kind > IL_FLOOR8)
			blk_pair(r->blocks, r->nblocks, i, IL_FLOOR8, IL_FLOOR8, &rg, &p8);
		if (x->kind > IL_FLOOR2)
			blk_pair(r->blocks, r->nblocks, i, IL_FLOOR2, IL_FLOOR8, &rg, &p2);
		int reg = x->kind == IL_FLOOR8 ? blk_regime(&rg, x->p50) : p8.regime;
		fprintf(b, "%s,%u,%u,%u,%s,%u,%.1f,%.1f,%.1f,%.1f,%s,%.1f,%.4f,%.1f,%.4f,%s\n", mode_name(mode), size,
			x->set, i, r->kind[x->kind]->name, x->n, x->p50, x->p99, x->p999, x->mean,
			regime_name(&rg, reg), p8.floor_p50, p8.ratio, p2.floor_p50, p2.ratio, clk);
	}
	for (unsigned k = IL_FLOOR2; k < r->nkinds; k++)
		for (int reg = BLK_ALL; reg < (int)rg.n; reg++) {
			struct blk_summary s8, s2;
			if (blk_summarise(r->blocks, r->nblocks, k, IL_FLOOR8, IL_FLOOR8, &rg, reg, cal->ns_per_tick,
					  &s8) < 0 ||
			    blk_summarise(r->blocks, r->nblocks, k, IL_FLOOR2, IL_FLOOR8, &rg, reg, cal->ns_per_tick,
					  &s2) < 0) {
				err = -ENOMEM;
				goto out;
			}
			if (!s8.blocks)
				continue;
			fprintf(s, "%s,%u,%s,%s,%u,%u,%.1f,%.1f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.0f,%.0f,%.0f,%.0f,%.0f,%.4f,%s\n",
				mode_name(mode), size, r->kind[k]->name, regime_name(&rg, reg), s8.blocks, s8.sets,
				s8.floor_p50, s8.subj_p50, s8.ratio, s8.set_med, s8.set_lo, s8.set_hi,
				k == IL_FLOOR2 ? 1.0 : s2.ratio, k == IL_FLOOR2 ? 1.0 : s2.set_med,
				k == IL_FLOOR2 ? 1.0 : s2.set_lo, k == IL_FLOOR2 ? 1.0 : s2.set_hi, s8.ratio_mean, s8.pool_p50, s8.pool_p99, s8.pool_p999,
				s8.pool_p9999, s8.floor_pool_p999, s8.ratio_p999, clk);
		}
out:
	if (b && fclose(b) != 0 && !err)
		err = -errno;
	if (s && fclose(s) != 0 && !err)
		err = -errno;
	return err;
}
