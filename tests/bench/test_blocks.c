/*
 * test_blocks.c - the analysis of the block comparison on synthetic blocks:
 * regime classification by the floor's p50, pairing of each subject block
 * with its neighbouring floor blocks only (same set), per-regime medians,
 * per-set medians and their range, pooled tails.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "blocks.h"

#define F8 0u
#define F2 1u
#define SUBJ 2u
#define NS 9        /* samples per synthetic block */

static uint32_t pool[4096][NS];
static unsigned used;

/* a block whose every sample is v (so p50 = p99.9 = mean = v), or with one outlier */
static struct blk mk(unsigned set, unsigned kind, uint32_t v, uint32_t outlier)
{
	uint32_t *s = pool[used++];
	for (unsigned i = 0; i < NS; i++)
		s[i] = v;
	if (outlier)
		s[NS - 1] = outlier;
	struct blk b = { .set = set, .kind = kind, .n = NS, .ticks = s };
	blk_stats(&b, 1.0);
	return b;
}

static void test_regime_split_at_the_thresholds(void **state)
{
	(void)state;
	struct blk_regimes rg;
	blk_regimes_default(&rg);
	assert_int_equal(blk_regime(&rg, 80), 0);
	assert_int_equal(blk_regime(&rg, 109.9), 0);
	assert_int_equal(blk_regime(&rg, 110), 1);
	assert_int_equal(blk_regime(&rg, 140), 1);
	assert_int_equal(blk_regime(&rg, 299), 1);
	assert_int_equal(blk_regime(&rg, 300), 2);
	assert_int_equal(blk_regime(&rg, 480), 2);
	assert_string_equal(rg.name[blk_regime(&rg, 480)], "slow");
}

static void test_block_stats_are_ranks_of_the_samples(void **state)
{
	(void)state;
	uint32_t s[10] = { 10, 1, 9, 2, 8, 3, 7, 4, 6, 5 };
	struct blk b = { .n = 10, .ticks = s };
	blk_stats(&b, 2.0);     /* ticks of 2 ns */
	assert_true(b.p50 == 10.0);   /* rank 5 of 1..10 is 5 ticks */
	assert_true(b.p99 == 20.0);
	assert_true(b.mean == 11.0);
	assert_int_equal(s[0], 10);   /* the samples are not reordered */
}

static void test_neighbours_stay_in_their_set(void **state)
{
	(void)state;
	used = 0;
	struct blk b[] = {
		mk(1, F8, 100, 0), mk(1, F2, 120, 0), mk(1, SUBJ, 200, 0),  /* 0 1 2 */
		mk(2, SUBJ, 300, 0), mk(2, F8, 150, 0),                     /* 3 4 */
	};
	int p, q;
	assert_int_equal(blk_neighbours(b, 5, 2, F8, &p, &q), 1);
	assert_int_equal(p, 0);
	assert_int_equal(q, -1);      /* block 4 is in set 2 */
	assert_int_equal(blk_neighbours(b, 5, 3, F8, &p, &q), 1);
	assert_int_equal(p, -1);      /* block 0 is in set 1 */
	assert_int_equal(q, 4);
	assert_int_equal(blk_neighbours(b, 5, 2, F2, &p, &q), 1);
	assert_int_equal(p, 1);
}

static void test_pair_divides_by_the_mean_of_the_two_neighbours(void **state)
{
	(void)state;
	used = 0;
	struct blk_regimes rg;
	blk_regimes_default(&rg);
	/* far away floor blocks of 480 must not count: only the neighbours (80, 120) */
	struct blk b[] = {
		mk(1, F8, 480, 0), mk(1, F8, 80, 0), mk(1, F2, 96, 0), mk(1, SUBJ, 200, 0),
		mk(1, F8, 120, 0), mk(1, F2, 104, 0), mk(1, F8, 480, 0),
	};
	struct blk_pair pr;
	blk_pair(b, 7, 3, F8, F8, &rg, &pr);
	assert_true(fabs(pr.floor_p50 - 100.0) < 1e-9);
	assert_true(fabs(pr.ratio - 2.0) < 1e-9);
	/* 80 is fast, 120 is mid: the neighbours disagree */
	assert_int_equal(pr.regime, BLK_MIXED);
	blk_pair(b, 7, 3, F2, F8, &rg, &pr);
	assert_true(fabs(pr.ratio - 2.0) < 1e-9);   /* (96 + 104) / 2 = 100 */
}

static void test_a_block_with_one_neighbour_uses_it(void **state)
{
	(void)state;
	used = 0;
	struct blk_regimes rg;
	blk_regimes_default(&rg);
	struct blk b[] = { mk(1, SUBJ, 300, 0), mk(1, F8, 150, 0) };
	struct blk_pair pr;
	blk_pair(b, 2, 0, F8, F8, &rg, &pr);
	assert_true(fabs(pr.ratio - 2.0) < 1e-9);
	assert_int_equal(pr.regime, 1);
	struct blk lone[] = { mk(1, SUBJ, 300, 0) };
	blk_pair(lone, 1, 0, F8, F8, &rg, &pr);
	assert_true(isnan(pr.ratio));
	assert_int_equal(pr.regime, BLK_NONE);
}

/*
 * Two sets; the floor switches regime between cycles (80 fast, 480 slow) as
 * the VM does. The subject costs 2x the floor in the fast regime and 1.25x in
 * the slow one. A per-run division by an average floor would blur these; the
 * pairing must recover each exactly, and put the one straddling block in
 * neither regime.
 */
static void test_summary_per_regime_recovers_each_regimes_ratio(void **state)
{
	(void)state;
	used = 0;
	struct blk_regimes rg;
	blk_regimes_default(&rg);
	struct blk b[64];
	unsigned n = 0;
	/* set 1: fast, fast, then the switch, then slow, slow */
	uint32_t floors1[] = { 80, 80, 80, 480, 480, 480 };
	for (unsigned c = 0; c < 5; c++) {
		b[n++] = mk(1, F8, floors1[c], 0);
		b[n++] = mk(1, F2, floors1[c] * 6 / 5, 0);
		uint32_t f = floors1[c], g = floors1[c + 1];
		uint32_t subj = f == g ? (f == 80 ? 160 : 600) : 1000;  /* straddler: anything */
		b[n++] = mk(1, SUBJ, subj, c == 0 ? 5000 : 0);
	}
	b[n++] = mk(1, F8, 480, 0);
	b[n++] = mk(1, F2, 576, 0);
	/* set 2: slow only, subject 1.5x (a worse set of files) */
	for (unsigned c = 0; c < 3; c++) {
		b[n++] = mk(2, F8, 480, 0);
		b[n++] = mk(2, F2, 576, 0);
		b[n++] = mk(2, SUBJ, 720, 0);
	}
	b[n++] = mk(2, F8, 480, 0);

	struct blk_summary s;
	assert_int_equal(blk_summarise(b, n, SUBJ, F8, F8, &rg, 0, 1.0, &s), 0);
	assert_int_equal(s.blocks, 2);
	assert_int_equal(s.sets, 1);
	assert_true(fabs(s.ratio - 2.0) < 1e-9);
	assert_true(fabs(s.subj_p50 - 160) < 1e-9);
	assert_true(fabs(s.floor_p50 - 80) < 1e-9);

	assert_int_equal(blk_summarise(b, n, SUBJ, F8, F8, &rg, 2, 1.0, &s), 0);
	assert_int_equal(s.blocks, 5);        /* 2 of set 1, 3 of set 2; not the straddler */
	assert_int_equal(s.sets, 2);
	assert_true(fabs(s.set_lo - 1.25) < 1e-9);
	assert_true(fabs(s.set_hi - 1.5) < 1e-9);
	assert_true(fabs(s.set_med - 1.375) < 1e-9);
	assert_true(fabs(s.ratio - 1.5) < 1e-9);   /* median of 1.25 1.25 1.5 1.5 1.5 */

	/* the mid regime has no block */
	assert_int_equal(blk_summarise(b, n, SUBJ, F8, F8, &rg, 1, 1.0, &s), 0);
	assert_int_equal(s.blocks, 0);
	assert_true(isnan(s.ratio));

	/* pooled: all 8 blocks; the outlier of 5000 ns is in the subject's tail, not the floor's */
	assert_int_equal(blk_summarise(b, n, SUBJ, F8, F8, &rg, BLK_ALL, 1.0, &s), 0);
	assert_int_equal(s.blocks, 8);
	assert_true(s.pool_p9999 >= 4900);
	assert_true(s.floor_pool_p999 <= 490);
	assert_true(s.ratio_p999 > 1.0);

	/* against the two-line floor of the same neighbours: fast 160 / 96 */
	assert_int_equal(blk_summarise(b, n, SUBJ, F2, F8, &rg, 0, 1.0, &s), 0);
	assert_true(fabs(s.ratio - 160.0 / 96.0) < 1e-9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regime_split_at_the_thresholds),
		cmocka_unit_test(test_block_stats_are_ranks_of_the_samples),
		cmocka_unit_test(test_neighbours_stay_in_their_set),
		cmocka_unit_test(test_pair_divides_by_the_mean_of_the_two_neighbours),
		cmocka_unit_test(test_a_block_with_one_neighbour_uses_it),
		cmocka_unit_test(test_summary_per_regime_recovers_each_regimes_ratio),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
