/* tsc.c - see tsc.h. */
#define _GNU_SOURCE
#include "tsc.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench.h"

static int cpu_has(const char *flag)
{
	char line[4096];
	int found = 0;
	size_t len = strlen(flag);
	FILE *f = fopen("/proc/cpuinfo", "r");
	while (f && !found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		for (char *p = line; (p = strstr(p, flag)); p += len)
			if (p[-1] == ' ' && (p[len] == ' ' || p[len] == '\n'))
				found = 1;
		break;
	}
	if (f)
		fclose(f);
	return found;
}

void tsc_calibrate(struct tsc_cal *c)
{
	memset(c, 0, sizeof(*c));
	c->ns_per_tick = 1.0;
	if (!BENCH_HAVE_TSC) {
		snprintf(c->why, sizeof(c->why), "not x86: CLOCK_MONOTONIC per sample");
	} else if (!cpu_has("constant_tsc") || !cpu_has("nonstop_tsc")) {
		snprintf(c->why, sizeof(c->why), "no invariant TSC (constant_tsc, nonstop_tsc): CLOCK_MONOTONIC per sample");
	} else {
		c->tsc = 1;
		uint64_t n0 = now_ns(), t0 = tsc_begin();
		struct timespec d = { .tv_nsec = 50 * 1000 * 1000 };
		nanosleep(&d, NULL);
		uint64_t n1 = now_ns(), t1 = tsc_end();
		c->ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
	}
	/* the pair's own cost: the shortest of many back-to-back intervals */
	uint64_t best = UINT64_MAX;
	for (int i = 0; i < 100000; i++) {
		uint64_t a = c->tsc ? tsc_begin() : now_ns();
		uint64_t b = c->tsc ? tsc_end() : now_ns();
		if (b - a < best)
			best = b - a;
	}
	c->pair_ns = (double)best * c->ns_per_tick;
}
