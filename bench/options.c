/*
 * options.c - the command line of pmq-bench, parsed into struct bench_opts.
 * Pure: no I/O but the usage text, so that tests can call it many times.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pmq.h"

static const char *const mode_names[MODE_COUNT] = { "rt", "oneway", "rate", "tput", "fanout" };

const char *mode_name(int mode)
{
	return mode >= 0 && mode < MODE_COUNT ? mode_names[mode] : "?";
}

const char *wait_name(int wait)
{
	switch (wait) {
	case WAIT_SPIN: return "spin";
	case WAIT_SPIN_FUTEX: return "spin-futex";
	case WAIT_BLOCK: return "futex";
	}
	return "?";
}

void opts_defaults(struct bench_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->modes = 1u << MODE_RT;
	o->sizes[0] = 64;
	o->nsizes = 1;
	o->count = 100000;
	o->duration = 2.0;
	o->cpu[0] = 0;
	o->cpu[1] = 1;
	o->durability = PMQ_DURABLE_PROCESS;
	o->wait = WAIT_SPIN;
	o->producers = 1;
	o->consumers = 1;
	o->slots = 1024;
	o->batch = 1;
	o->rate = 100000.0;
	o->reps = 3;
	o->blocks = 250;
	o->block_len = 2000;
	o->regime_split[0] = 110;
	o->regime_split[1] = 300;
	o->probe = 20000;
	o->transports = "all";
}

void opts_usage(FILE *f)
{
	fputs(
"usage: pmq-bench [options]\n"
"  -m, --mode LIST        rt,oneway,rate,tput,fanout (default rt; all = the first four)\n"
"                         fanout: 1 publisher x 4 subscribers, round trip to all 4 and throughput;\n"
"                         -t pmq,pmq-group1,pmq-groups,iceoryx,zmq (docs/benchmarks.md, Fan-out)\n"
"  -s, --size LIST        message sizes, 8..64k (default 64)\n"
"  -n, --count N          measured samples / messages per run (default 100000)\n"
"  -w, --warmup N         samples excluded first (default count/10, at most 10000)\n"
"  -d, --duration SEC     stop a run after SEC seconds even if count is not reached (default 2)\n"
"  -c, --cpus A,B         the two CPUs: sender/producers on A, receiver/consumers on B (default 0,1)\n"
"  -D, --durability MODE  process|power (power on tmpfs sets PMEM_IS_PMEM_FORCE=1)\n"
"  -W, --wait MODE        spin|spin-futex|futex (default spin; peers: spin = non-blocking poll)\n"
"  -P, --pc PxC           producers x consumers in tput mode (default 1x1)\n"
"  -S, --slots N          ring slots of pmq and the floor ring, power of two (default 1024)\n"
"  -b, --batch N          tput batch size for transports that batch (default 1; fanout: pmq's throughput phase)\n"
"  -R, --rate N           messages/s in rate mode (default 100000)\n"
"  -r, --reps N           rate/tput: interleaved repetitions; rt/oneway: fresh sets of files (default 3)\n"
"      --blocks N         rt/oneway: cycles of blocks per set (default 250)\n"
"      --block-len N      rt/oneway: round trips per block (default 2000; first tenth is warm-up)\n"
"      --regimes A,B      rt/oneway: floor-8 p50 ns splitting fast|mid|slow (default 110,300)\n"
"      --probe N          rate/tput: floor-8 round trips before and after each run (default 20000; 0 = off)\n"
"      --queue-dir DIR    where pmq's queue files go (default /dev/shm; e.g. a tmpfs mounted huge=always)\n"
"  -t, --transports LIST  floor-8,floor-2l,floor-2r,floor-8p,floor-ring,pmq,pmq-spsc,pmq-group1,pmq-group2,pmq-group4,pipe,unix,mq,zmq,iceoryx or all\n"
"                         (default all; rt/oneway always run floor-8 and floor-2l)\n"
"      --csv FILE         write one CSV row per run\n"
"      --plot FILE.png    plot the latency percentile distributions (gnuplot)\n"
"  -q, --quiet            table only\n"
"  -h, --help\n", f);
}

static int fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!s || !*s || *s == '-')
		return -EINVAL;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	unsigned long long mul = 1;
	switch (*end) {
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	}
	if (*end)
		return -EINVAL;
	if (v && mul > UINT64_MAX / v)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

static int parse_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0.0))
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_u(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t v;
	if (parse_size(s, &v) < 0 || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_modes(const char *s, unsigned *modes)
{
	char buf[128];
	unsigned m = 0;
	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int found = -1;
		if (!strcmp(tok, "all")) {
			m = (1u << MODE_FANOUT) - 1u;   /* fanout only when named */
			continue;
		}
		for (int i = 0; i < MODE_COUNT; i++)
			if (!strcmp(tok, mode_names[i]))
				found = i;
		if (found < 0)
			return -EINVAL;
		m |= 1u << found;
	}
	if (!m)
		return -EINVAL;
	*modes = m;
	return 0;
}

static int parse_sizes(const char *s, struct bench_opts *o)
{
	char buf[256];
	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	o->nsizes = 0;
	for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;
		if (o->nsizes == BENCH_MAX_SIZES || parse_u(tok, BENCH_MIN_SIZE, BENCH_MAX_SIZE, &v) < 0)
			return -EINVAL;
		o->sizes[o->nsizes++] = (unsigned)v;
	}
	return o->nsizes ? 0 : -EINVAL;
}

static int parse_pair(const char *s, char sep, unsigned long *a, unsigned long *b)
{
	char *end;
	errno = 0;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	*a = strtoul(s, &end, 10);
	if (errno || *end != sep || end[1] < '0' || end[1] > '9')
		return -EINVAL;
	s = end + 1;
	*b = strtoul(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	return 0;
}

enum { OPT_PROBE = 256, OPT_CSV, OPT_PLOT, OPT_BLOCKS, OPT_BLOCK_LEN, OPT_REGIMES, OPT_QUEUE_DIR };

int opts_parse(struct bench_opts *o, int argc, char **argv, char *err, size_t errlen)
{
	static const struct option longs[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "size", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "duration", required_argument, NULL, 'd' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "durability", required_argument, NULL, 'D' },
		{ "wait", required_argument, NULL, 'W' },
		{ "pc", required_argument, NULL, 'P' },
		{ "slots", required_argument, NULL, 'S' },
		{ "batch", required_argument, NULL, 'b' },
		{ "rate", required_argument, NULL, 'R' },
		{ "reps", required_argument, NULL, 'r' },
		{ "probe", required_argument, NULL, OPT_PROBE },
		{ "blocks", required_argument, NULL, OPT_BLOCKS },
		{ "block-len", required_argument, NULL, OPT_BLOCK_LEN },
		{ "regimes", required_argument, NULL, OPT_REGIMES },
		{ "queue-dir", required_argument, NULL, OPT_QUEUE_DIR },
		{ "transports", required_argument, NULL, 't' },
		{ "csv", required_argument, NULL, OPT_CSV },
		{ "plot", required_argument, NULL, OPT_PLOT },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	unsigned long a, b;
	int c;

	err[0] = '\0';
	optind = 0;     /* full re-initialisation: tests parse many vectors */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "m:s:n:w:d:c:D:W:P:S:b:R:r:t:qh", longs, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_modes(optarg, &o->modes) < 0)
				return fail(err, errlen, "--mode %s: expected a list of rt, oneway, rate, tput, fanout", optarg);
			break;
		case 's':
			if (parse_sizes(optarg, o) < 0)
				return fail(err, errlen, "--size %s: expected up to %d sizes in %u..%u (k suffix allowed)",
					    optarg, BENCH_MAX_SIZES, BENCH_MIN_SIZE, BENCH_MAX_SIZE);
			break;
		case 'n':
			if (parse_u(optarg, 1, UINT64_MAX / 2, &o->count) < 0)
				return fail(err, errlen, "--count %s: expected a positive number", optarg);
			break;
		case 'w':
			if (parse_u(optarg, 0, UINT64_MAX / 2, &o->warmup) < 0)
				return fail(err, errlen, "--warmup %s: expected a number", optarg);
			o->warmup_set = 1;
			break;
		case 'd':
			if (parse_double(optarg, &o->duration) < 0)
				return fail(err, errlen, "--duration %s: expected seconds > 0", optarg);
			break;
		case 'c':
			if (parse_pair(optarg, ',', &a, &b) < 0 || a >= CPU_SETSIZE || b >= CPU_SETSIZE)
				return fail(err, errlen, "--cpus %s: expected two CPU numbers A,B", optarg);
			o->cpu[0] = (int)a;
			o->cpu[1] = (int)b;
			break;
		case 'D':
			if (!strcmp(optarg, "process"))
				o->durability = PMQ_DURABLE_PROCESS;
			else if (!strcmp(optarg, "power"))
				o->durability = PMQ_DURABLE_POWER;
			else
				return fail(err, errlen, "--durability %s: expected process or power", optarg);
			break;
		case 'W':
			if (!strcmp(optarg, "spin"))
				o->wait = WAIT_SPIN;
			else if (!strcmp(optarg, "spin-futex"))
				o->wait = WAIT_SPIN_FUTEX;
			else if (!strcmp(optarg, "futex") || !strcmp(optarg, "block"))
				o->wait = WAIT_BLOCK;
			else
				return fail(err, errlen, "--wait %s: expected spin, spin-futex or futex", optarg);
			break;
		case 'P':
			if (parse_pair(optarg, 'x', &a, &b) < 0 || a < 1 || b < 1 || a + b > BENCH_MAX_PROCS)
				return fail(err, errlen, "--pc %s: expected PxC with P, C >= 1 and P + C <= %d",
					    optarg, BENCH_MAX_PROCS);
			o->producers = (unsigned)a;
			o->consumers = (unsigned)b;
			break;
		case 'S':
			if (parse_u(optarg, 2, 1u << 24, &v) < 0 || (v & (v - 1)))
				return fail(err, errlen, "--slots %s: expected a power of two in 2..16M", optarg);
			o->slots = (unsigned)v;
			break;
		case 'b':
			if (parse_u(optarg, 1, 4096, &v) < 0)
				return fail(err, errlen, "--batch %s: expected 1..4096", optarg);
			o->batch = (unsigned)v;
			break;
		case 'R':
			if (parse_double(optarg, &o->rate) < 0)
				return fail(err, errlen, "--rate %s: expected messages/s > 0", optarg);
			break;
		case 'r':
			if (parse_u(optarg, 1, 1000, &v) < 0)
				return fail(err, errlen, "--reps %s: expected 1..1000", optarg);
			o->reps = (unsigned)v;
			break;
		case OPT_PROBE:
			if (parse_u(optarg, 0, UINT64_MAX / 2, &o->probe) < 0)
				return fail(err, errlen, "--probe %s: expected a number", optarg);
			break;
		case OPT_BLOCKS:
			if (parse_u(optarg, 1, 100000, &v) < 0)
				return fail(err, errlen, "--blocks %s: expected 1..100000 cycles", optarg);
			o->blocks = (unsigned)v;
			break;
		case OPT_BLOCK_LEN:
			if (parse_u(optarg, 50, 100000, &v) < 0)
				return fail(err, errlen, "--block-len %s: expected 50..100000 round trips", optarg);
			o->block_len = (unsigned)v;
			break;
		case OPT_REGIMES:
			if (parse_pair(optarg, ',', &a, &b) < 0 || a < 1 || b <= a)
				return fail(err, errlen, "--regimes %s: expected two ns values A,B with 0 < A < B", optarg);
			o->regime_split[0] = (double)a;
			o->regime_split[1] = (double)b;
			break;
		case OPT_QUEUE_DIR:
			if (optarg[0] != '/' || strlen(optarg) > 40)
				return fail(err, errlen, "--queue-dir %s: expected an absolute path of at most 40 bytes",
					    optarg);
			o->queue_dir = optarg;
			break;
		case 't':
			o->transports = optarg;
			break;
		case OPT_CSV:
			o->csv = optarg;
			break;
		case OPT_PLOT:
			o->plot = optarg;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'h':
			return 1;
		default:
			return fail(err, errlen, "unknown or incomplete option %s",
				    argv[optind - 1] ? argv[optind - 1] : "?");
		}
	}
	if (optind < argc)
		return fail(err, errlen, "unexpected argument %s", argv[optind]);
	if (o->cpu[0] == o->cpu[1])
		return fail(err, errlen, "--cpus %d,%d: the two sides need two different CPUs", o->cpu[0], o->cpu[1]);
	if (o->reps > BENCH_MAX_SETS && (o->modes & ((1u << MODE_RT) | (1u << MODE_ONEWAY))))
		return fail(err, errlen, "--reps %u: rt and oneway take at most %d sets of files", o->reps,
			    BENCH_MAX_SETS);
	if (o->batch > o->slots)
		return fail(err, errlen, "--batch %u is larger than --slots %u", o->batch, o->slots);
	if (!o->warmup_set) {
		o->warmup = o->count / 10;
		if (o->warmup > 10000)
			o->warmup = 10000;
	}
	return 0;
}
