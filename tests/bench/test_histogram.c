/*
 * test_histogram.c - the bench's log-linear histogram against a sorted
 * reference: every percentile lands in the bucket of the exact sample of
 * that rank, so it is never below it and at most 1/64 above it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "histogram.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic, so a failure reproduces */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static const double pcts[] = { 0, 0.1, 1, 10, 25, 50, 75, 90, 99, 99.5, 99.9, 99.99, 99.999, 100 };

/* percentile p of h equals, up to bucket precision, the sorted sample of rank ceil(p n) */
static void check_against_reference(struct hist *h, uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	assert_int_equal(h->count, n);
	assert_int_equal(h->min, v[0]);
	assert_int_equal(h->max, v[n - 1]);
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
		uint64_t ref = pcts[i] <= 0 ? v[0] : v[hist_rank(pcts[i], n) - 1];
		uint64_t got = hist_percentile(h, pcts[i]);
		assert_true(got >= ref);
		assert_true(got - ref <= ref / 64);
		assert_int_equal(hist_bucket(got), hist_bucket(ref));
	}
}

static void test_percentiles_match_sorted_reference_on_uniform_data(void **state)
{
	(void)state;
	size_t n = 100000;
	uint64_t *v = malloc(n * sizeof(*v));
	struct hist *h = malloc(sizeof(*h));
	hist_init(h);
	for (size_t i = 0; i < n; i++) {
		v[i] = rng() % 1000000;
		hist_record(h, v[i]);
	}
	check_against_reference(h, v, n);
	free(v);
	free(h);
}

static void test_percentiles_match_sorted_reference_on_heavy_tail(void **state)
{
	(void)state;
	/* latency-like: a body near 200 ns and a tail over many decades */
	for (int round = 0; round < 20; round++) {
		size_t n = 1 + rng() % 50000;
		uint64_t *v = malloc(n * sizeof(*v));
		struct hist *h = malloc(sizeof(*h));
		hist_init(h);
		for (size_t i = 0; i < n; i++) {
			unsigned shift = (unsigned)(rng() % 100 < 95 ? 0 : rng() % 40);
			v[i] = (150 + rng() % 100) << shift;
			hist_record(h, v[i]);
		}
		check_against_reference(h, v, n);
		free(v);
		free(h);
	}
}

static void test_small_values_are_exact(void **state)
{
	(void)state;
	struct hist h;
	hist_init(&h);
	for (uint64_t v = 0; v < 128; v++)
		hist_record(&h, v);
	for (uint64_t v = 1; v <= 128; v++)
		assert_int_equal(hist_percentile(&h, (double)v * 100.0 / 128.0), v - 1);
}

static void test_buckets_are_contiguous_and_cover_every_value(void **state)
{
	(void)state;
	uint64_t prev_hi = 0;
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		uint64_t lo, hi;
		hist_bucket_range(b, &lo, &hi);
		if (b)
			assert_int_equal(lo, prev_hi + 1);
		assert_true(hi >= lo);
		assert_int_equal(hist_bucket(lo), b);
		assert_int_equal(hist_bucket(hi), b);
		prev_hi = hi;
	}
	assert_int_equal(prev_hi, UINT64_MAX);
	assert_int_equal(hist_bucket(UINT64_MAX), HIST_BUCKETS - 1);
}

static void test_merge_equals_recording_everything_in_one(void **state)
{
	(void)state;
	struct hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b)), *all = malloc(sizeof(*all));
	hist_init(a);
	hist_init(b);
	hist_init(all);
	for (int i = 0; i < 10000; i++) {
		uint64_t v = rng() % 100000;
		hist_record(i % 3 ? a : b, v);
		hist_record(all, v);
	}
	hist_merge(a, b);
	assert_memory_equal(a, all, sizeof(*a));
	free(a);
	free(b);
	free(all);
}

static void test_empty_histogram_reports_zero(void **state)
{
	(void)state;
	struct hist h;
	hist_init(&h);
	assert_int_equal(hist_percentile(&h, 50), 0);
	assert_int_equal(hist_percentile(&h, 100), 0);
	assert_true(hist_mean(&h) == 0.0);
}

static void test_rank_is_exact_for_decimal_percentiles(void **state)
{
	(void)state;
	assert_int_equal(hist_rank(99.9, 1000), 999);
	assert_int_equal(hist_rank(50, 1000), 500);
	assert_int_equal(hist_rank(50, 1001), 501);
	assert_int_equal(hist_rank(99.99, 20000), 19998);
	assert_int_equal(hist_rank(0.001, 10), 1);
	assert_int_equal(hist_rank(100, 7), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_percentiles_match_sorted_reference_on_uniform_data),
		cmocka_unit_test(test_percentiles_match_sorted_reference_on_heavy_tail),
		cmocka_unit_test(test_small_values_are_exact),
		cmocka_unit_test(test_buckets_are_contiguous_and_cover_every_value),
		cmocka_unit_test(test_merge_equals_recording_everything_in_one),
		cmocka_unit_test(test_empty_histogram_reports_zero),
		cmocka_unit_test(test_rank_is_exact_for_decimal_percentiles),
	};
	return cmocka_run_group_tests_name("bench histogram", tests, NULL, NULL);
}
