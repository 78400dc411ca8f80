/*
 * test_options.c - pmq-bench's command line: defaults, every option, and
 * the mistakes it must refuse with a message naming the option.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "bench.h"
#include "pmq.h"

#define ARGV(...) ((char *[]){ "pmq-bench", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "pmq-bench", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(o, err, ...) opts_parse(o, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), err, sizeof(err))

static void test_defaults_are_rt_64_bytes_spin_cpus_0_1(void **state)
{
	(void)state;
	struct bench_opts o;
	char err[256];
	opts_defaults(&o);
	assert_int_equal(opts_parse(&o, 1, (char *[]){ "pmq-bench", NULL }, err, sizeof(err)), 0);
	assert_int_equal(o.modes, 1u << MODE_RT);
	assert_int_equal(o.nsizes, 1);
	assert_int_equal(o.sizes[0], 64);
	assert_int_equal(o.cpu[0], 0);
	assert_int_equal(o.cpu[1], 1);
	assert_int_equal(o.wait, WAIT_SPIN);
	assert_int_equal(o.warmup, 10000);   /* count/10, capped */
	assert_int_equal(o.probe, 20000);
	assert_string_equal(o.transports, "all");
}

static void test_every_option_is_parsed(void **state)
{
	(void)state;
	struct bench_opts o;
	char err[256];
	opts_defaults(&o);
	assert_int_equal(PARSE(&o, err, "--mode", "rt,tput,rate", "-s", "8,1k,64K", "-n", "5000", "-w", "7",
			       "-d", "0.5", "--cpus", "1,0", "-D", "power", "-W", "futex", "--pc", "2x3",
			       "-S", "256", "-b", "32", "-R", "20000", "-r", "5", "--probe", "0", "-t", "pmq,zmq",
			       "--csv", "x.csv", "--plot", "x.png", "-q"), 0);
	assert_int_equal(o.modes, (1u << MODE_RT) | (1u << MODE_TPUT) | (1u << MODE_RATE));
	assert_int_equal(o.nsizes, 3);
	assert_int_equal(o.sizes[1], 1024);
	assert_int_equal(o.sizes[2], 65536);
	assert_int_equal(o.count, 5000);
	assert_int_equal(o.warmup, 7);
	assert_true(o.duration == 0.5);
	assert_int_equal(o.cpu[0], 1);
	assert_int_equal(o.cpu[1], 0);
	assert_int_equal(o.durability, PMQ_DURABLE_POWER);
	assert_int_equal(o.wait, WAIT_BLOCK);
	assert_int_equal(o.producers, 2);
	assert_int_equal(o.consumers, 3);
	assert_int_equal(o.slots, 256);
	assert_int_equal(o.batch, 32);
	assert_true(o.rate == 20000.0);
	assert_int_equal(o.reps, 5);
	assert_int_equal(o.probe, 0);
	assert_string_equal(o.transports, "pmq,zmq");
	assert_string_equal(o.csv, "x.csv");
	assert_string_equal(o.plot, "x.png");
	assert_int_equal(o.quiet, 1);
}

static void test_mode_all_selects_every_mode(void **state)
{
	(void)state;
	struct bench_opts o;
	char err[256];
	opts_defaults(&o);
	assert_int_equal(PARSE(&o, err, "-m", "all"), 0);
	/* every pair mode; fanout (five processes) only when named */
	assert_int_equal(o.modes, (1u << MODE_RT) | (1u << MODE_ONEWAY) | (1u << MODE_RATE) | (1u << MODE_TPUT));
	assert_int_equal(PARSE(&o, err, "-m", "all,fanout"), 0);
	assert_int_equal(o.modes, (1u << MODE_COUNT) - 1);
	assert_int_equal(PARSE(&o, err, "-m", "fanout"), 0);
	assert_int_equal(o.modes, 1u << MODE_FANOUT);
}

static void test_warmup_defaults_to_a_tenth_of_count(void **state)
{
	(void)state;
	struct bench_opts o;
	char err[256];
	opts_defaults(&o);
	assert_int_equal(PARSE(&o, err, "-n", "300"), 0);
	assert_int_equal(o.warmup, 30);
}

static void test_help_returns_one(void **state)
{
	(void)state;
	struct bench_opts o;
	char err[256];
	opts_defaults(&o);
	assert_int_equal(PARSE(&o, err, "--help"), 1);
}

/* each bad vector is refused with -EINVAL and a message naming the culprit */
static void refuse(const char *opt, const char *val, const char *needle)
{
	struct bench_opts o;
	char err[256];
	char *argv[] = { "pmq-bench", (char *)opt, (char *)val, NULL };
	opts_defaults(&o);
	int r = opts_parse(&o, val ? 3 : 2, argv, err, sizeof(err));
	assert_true(r < 0);
	if (!strstr(err, needle))
		fail_msg("'%s %s': message '%s' does not mention '%s'", opt, val ? val : "", err, needle);
}

static void test_bad_values_are_refused_with_the_option_named(void **state)
{
	(void)state;
	refuse("--size", "4", "--size");            /* below 8 B */
	refuse("--size", "65537", "--size");        /* above 64 KiB */
	refuse("--size", "12x", "--size");
	refuse("--size", "", "--size");
	refuse("--mode", "pingpong", "--mode");
	refuse("--count", "0", "--count");
	refuse("--count", "-5", "--count");
	refuse("--cpus", "1", "--cpus");
	refuse("--cpus", "1,1", "--cpus");          /* two sides, two CPUs */
	refuse("--cpus", "a,b", "--cpus");
	refuse("--durability", "disk", "--durability");
	refuse("--wait", "sleep", "--wait");
	refuse("--pc", "0x1", "--pc");
	refuse("--pc", "2", "--pc");
	refuse("--pc", "10x10", "--pc");            /* more processes than the bench holds */
	refuse("--slots", "1000", "--slots");       /* not a power of two */
	refuse("--batch", "0", "--batch");
	refuse("--rate", "0", "--rate");
	refuse("--duration", "-1", "--duration");
	refuse("--reps", "0", "--reps");
	refuse("--blocks", "0", "--blocks");
	refuse("--block-len", "10", "--block-len");   /* too short to have a p50 after warm-up */
	refuse("--regimes", "300,110", "--regimes");   /* not ascending */
	refuse("--regimes", "110", "--regimes");
	refuse("--bogus", NULL, "--bogus");
	refuse("extra", NULL, "extra");
}

static void test_block_options_are_parsed(void **state)
{
	(void)state;
	struct bench_opts o;
	char err[256];
	opts_defaults(&o);
	assert_int_equal(o.blocks, 250);
	assert_int_equal(o.block_len, 2000);
	assert_int_equal(PARSE(&o, err, "--blocks", "300", "--block-len", "1000", "--regimes", "100,250"), 0);
	assert_int_equal(o.blocks, 300);
	assert_int_equal(o.block_len, 1000);
	assert_true(o.regime_split[0] == 100.0 && o.regime_split[1] == 250.0);
	/* rt takes at most BENCH_MAX_SETS fresh sets of files; tput alone may repeat more */
	opts_defaults(&o);
	assert_int_equal(PARSE(&o, err, "-m", "rt", "-r", "33"), -EINVAL);
	assert_non_null(strstr(err, "--reps"));
	opts_defaults(&o);
	assert_int_equal(PARSE(&o, err, "-m", "tput", "-r", "33"), 0);
}

static void test_batch_larger_than_ring_is_refused(void **state)
{
	(void)state;
	struct bench_opts o;
	char err[256];
	opts_defaults(&o);
	assert_true(PARSE(&o, err, "-S", "16", "-b", "32") < 0);
	assert_non_null(strstr(err, "--batch"));
}

static void test_parse_size_units(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(parse_size("8", &v), 0);
	assert_int_equal(v, 8);
	assert_int_equal(parse_size("4k", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(parse_size("2M", &v), 0);
	assert_int_equal(v, 2u << 20);
	assert_true(parse_size("k", &v) < 0);
	assert_true(parse_size("1kk", &v) < 0);
	assert_true(parse_size("99999999999999999999", &v) < 0);
}

static void test_parsing_twice_starts_afresh(void **state)
{
	(void)state;
	struct bench_opts o;
	char err[256];
	opts_defaults(&o);
	assert_true(PARSE(&o, err, "--bogus") < 0);
	opts_defaults(&o);
	assert_int_equal(PARSE(&o, err, "-n", "10"), 0);
	assert_int_equal(o.count, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_are_rt_64_bytes_spin_cpus_0_1),
		cmocka_unit_test(test_every_option_is_parsed),
		cmocka_unit_test(test_mode_all_selects_every_mode),
		cmocka_unit_test(test_warmup_defaults_to_a_tenth_of_count),
		cmocka_unit_test(test_help_returns_one),
		cmocka_unit_test(test_bad_values_are_refused_with_the_option_named),
		cmocka_unit_test(test_block_options_are_parsed),
		cmocka_unit_test(test_batch_larger_than_ring_is_refused),
		cmocka_unit_test(test_parse_size_units),
		cmocka_unit_test(test_parsing_twice_starts_afresh),
	};
	return cmocka_run_group_tests_name("bench options", tests, NULL, NULL);
}
