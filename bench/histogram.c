/*
 * histogram.c - the log-linear histogram of histogram.h.
 *
 * Bucket layout: v < 128 lands in bucket v. Otherwise let s be the shift that
 * brings v into [64, 128): bucket = s * 64 + (v >> s). Shift 1 starts at
 * bucket 128, right after the exact ones, so the index is continuous.
 */
#include "histogram.h"

#include <math.h>
#include <string.h>

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned hist_bucket(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - (HIST_SUB_BITS - 1u);
	return shift * HIST_HALF + (unsigned)(v >> shift);
}

void hist_bucket_range(unsigned b, uint64_t *lo, uint64_t *hi)
{
	if (b < HIST_SUB) {
		*lo = *hi = b;
		return;
	}
	unsigned shift = b / HIST_HALF - 1u;
	uint64_t m = b - shift * HIST_HALF;     /* in [64, 128) */
	*lo = m << shift;
	*hi = ((m + 1) << shift) - 1;           /* wraps to UINT64_MAX for the top bucket */
}

void hist_record(struct hist *h, uint64_t v)
{
	h->bucket[hist_bucket(v)]++;
	h->count++;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->sum = (h->sum + v < h->sum) ? UINT64_MAX : h->sum + v;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	if (src->count == 0)
		return;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
	dst->count += src->count;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->sum = (dst->sum + src->sum < dst->sum) ? UINT64_MAX : dst->sum + src->sum;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	if (h->count == 0)
		return 0;
	if (p <= 0.0)
		return h->min;
	if (p >= 100.0)
		return h->max;
	uint64_t rank = hist_rank(p, h->count);
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			uint64_t lo, hi;
			hist_bucket_range(i, &lo, &hi);
			if (hi > h->max)
				hi = h->max;
			if (hi < h->min)
				hi = h->min;
			return hi;
		}
	}
	return h->max;
}

uint64_t hist_rank(double p, uint64_t n)
{
	/* p in hundredths of a thousandth, an integer, so the product is exact */
	uint64_t pp = (uint64_t)llround(p * 100000.0);
	unsigned __int128 num = (unsigned __int128)pp * n;
	uint64_t rank = (uint64_t)((num + 10000000u - 1u) / 10000000u);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return rank;
}

double hist_mean(const struct hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
