/* blocks.c - see blocks.h. */
#include "blocks.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "histogram.h"

void blk_regimes_default(struct blk_regimes *r)
{
	memset(r, 0, sizeof(*r));
	r->n = 3;
	r->split[0] = 110;
	r->split[1] = 300;
	r->name[0] = "fast";
	r->name[1] = "mid";
	r->name[2] = "slow";
}

int blk_regime(const struct blk_regimes *r, double p50_ns)
{
	unsigned i = 0;
	while (i + 1 < r->n && p50_ns >= r->split[i])
		i++;
	return (int)i;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double blk_median(double *v, unsigned n)
{
	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* the sample of rank ceil(p/100 * n) among sorted s */
static double rank_of(const uint32_t *s, unsigned n, double p)
{
	uint64_t r = hist_rank(p, n);
	return (double)s[r ? r - 1 : 0];
}

void blk_stats(struct blk *b, double ns_per_tick)
{
	b->p50 = b->p99 = b->p999 = b->mean = NAN;
	if (!b->n)
		return;
	uint32_t *s = malloc(b->n * sizeof(*s));
	if (!s)
		return;
	memcpy(s, b->ticks, b->n * sizeof(*s));
	qsort(s, b->n, sizeof(*s), cmp_u32);
	double sum = 0;
	for (unsigned i = 0; i < b->n; i++)
		sum += s[i];
	b->p50 = rank_of(s, b->n, 50) * ns_per_tick;
	b->p99 = rank_of(s, b->n, 99) * ns_per_tick;
	b->p999 = rank_of(s, b->n, 99.9) * ns_per_tick;
	b->mean = sum / b->n * ns_per_tick;
	free(s);
}

int blk_neighbours(const struct blk *b, unsigned nb, unsigned i, unsigned floor_kind, int *prev, int *next)
{
	*prev = *next = -1;
	for (unsigned j = i; j-- > 0 && b[j].set == b[i].set;)
		if (b[j].kind == floor_kind && b[j].n) {
			*prev = (int)j;
			break;
		}
	for (unsigned j = i + 1; j < nb && b[j].set == b[i].set; j++)
		if (b[j].kind == floor_kind && b[j].n) {
			*next = (int)j;
			break;
		}
	return (*prev >= 0) + (*next >= 0);
}

void blk_pair(const struct blk *b, unsigned nb, unsigned i, unsigned floor_kind, unsigned regime_kind,
	      const struct blk_regimes *rg, struct blk_pair *out)
{
	int p, q;
	out->ratio = out->ratio_mean = out->floor_p50 = NAN;
	out->regime = BLK_NONE;
	if (blk_neighbours(b, nb, i, floor_kind, &p, &q)) {
		double f50 = p >= 0 && q >= 0 ? (b[p].p50 + b[q].p50) / 2 : b[p >= 0 ? p : q].p50;
		double fmean = p >= 0 && q >= 0 ? (b[p].mean + b[q].mean) / 2 : b[p >= 0 ? p : q].mean;
		out->floor_p50 = f50;
		out->ratio = b[i].p50 / f50;
		out->ratio_mean = b[i].mean / fmean;
	}
	if (blk_neighbours(b, nb, i, regime_kind, &p, &q)) {
		int rp = p >= 0 ? blk_regime(rg, b[p].p50) : -1;
		int rq = q >= 0 ? blk_regime(rg, b[q].p50) : -1;
		out->regime = rp < 0 ? rq : rq < 0 ? rp : rp == rq ? rp : BLK_MIXED;
	}
}

static int in_regime(int want, int have)
{
	return want == BLK_ALL ? have != BLK_NONE : have == want;
}

static void record_ticks(struct hist *h, const struct blk *b, double ns_per_tick)
{
	for (unsigned k = 0; k < b->n; k++)
		hist_record(h, (uint64_t)llround(b->ticks[k] * ns_per_tick));
}

int blk_summarise(const struct blk *b, unsigned nb, unsigned kind, unsigned floor_kind, unsigned regime_kind,
		  const struct blk_regimes *rg, int regime, double ns_per_tick, struct blk_summary *out)
{
	double *ratio = calloc(nb + 1, sizeof(double)), *rmean = calloc(nb + 1, sizeof(double));
	double *s50 = calloc(nb + 1, sizeof(double)), *f50 = calloc(nb + 1, sizeof(double));
	double *per_set = calloc(nb + 1, sizeof(double)), *tmp = calloc(nb + 1, sizeof(double));
	struct hist *hs = malloc(sizeof(*hs)), *hf = malloc(sizeof(*hf));
	int err = -ENOMEM;
	unsigned k = 0, nsets = 0, max_set = 0;

	memset(out, 0, sizeof(*out));
	if (!ratio || !rmean || !s50 || !f50 || !per_set || !tmp || !hs || !hf)
		goto out;
	hist_init(hs);
	hist_init(hf);
	for (unsigned i = 0; i < nb; i++)
		max_set = b[i].set > max_set ? b[i].set : max_set;
	for (unsigned set = 0; set <= max_set; set++) {
		unsigned m = 0;
		for (unsigned i = 0; i < nb; i++) {
			if (b[i].set != set || !b[i].n)
				continue;
			if (b[i].kind == floor_kind) {
				if (regime == BLK_ALL || blk_regime(rg, b[i].p50) == regime)
					record_ticks(hf, &b[i], ns_per_tick);
				continue;
			}
			if (b[i].kind != kind)
				continue;
			struct blk_pair pr;
			blk_pair(b, nb, i, floor_kind, regime_kind, rg, &pr);
			if (!in_regime(regime, pr.regime) || isnan(pr.ratio))
				continue;
			ratio[k] = pr.ratio;
			rmean[k] = pr.ratio_mean;
			s50[k] = b[i].p50;
			f50[k] = pr.floor_p50;
			tmp[m++] = pr.ratio;
			k++;
			record_ticks(hs, &b[i], ns_per_tick);
		}
		if (m)
			per_set[nsets++] = blk_median(tmp, m);
	}
	out->blocks = k;
	out->sets = nsets;
	out->ratio = blk_median(ratio, k);
	out->ratio_mean = blk_median(rmean, k);
	out->subj_p50 = blk_median(s50, k);
	out->floor_p50 = blk_median(f50, k);
	out->set_lo = nsets ? per_set[0] : NAN;
	out->set_hi = nsets ? per_set[0] : NAN;
	for (unsigned s = 0; s < nsets; s++) {
		out->set_lo = per_set[s] < out->set_lo ? per_set[s] : out->set_lo;
		out->set_hi = per_set[s] > out->set_hi ? per_set[s] : out->set_hi;
	}
	out->set_med = blk_median(per_set, nsets);
	out->pool_p50 = hs->count ? (double)hist_percentile(hs, 50) : NAN;
	out->pool_p99 = hs->count ? (double)hist_percentile(hs, 99) : NAN;
	out->pool_p999 = hs->count ? (double)hist_percentile(hs, 99.9) : NAN;
	out->pool_p9999 = hs->count ? (double)hist_percentile(hs, 99.99) : NAN;
	out->floor_pool_p50 = hf->count ? (double)hist_percentile(hf, 50) : NAN;
	out->floor_pool_p999 = hf->count ? (double)hist_percentile(hf, 99.9) : NAN;
	out->ratio_p999 = out->pool_p999 / out->floor_pool_p999;
	err = 0;
out:
	free(ratio);
	free(rmean);
	free(s50);
	free(f50);
	free(per_set);
	free(tmp);
	free(hs);
	free(hf);
	return err;
}
