/*
 * main.c - pmq-bench: latency and throughput of pmq next to the physical
 * floors and the peers (docs/benchmarks.md).
 *
 * rt and oneway: per size, one long-lived pinned pair alternates short
 * blocks of the floors and every subject, over --reps fresh sets of files
 * (interleave.c); each subject block is compared with its neighbouring floor
 * blocks only, per regime of the floor (blocks.c).
 * rate and tput: per size and repetition, every transport runs once, in
 * table order (floor first), each bracketed by two floor-8 probes, and is set
 * against the floor-ring run of the same repetition.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"
#include "fanout.h"
#include "il_report.h"
#include "interleave.h"
#include "report.h"
#include "tsc.h"

static void on_int(int sig)
{
	(void)sig;
	run_interrupted = 1;
}

static int selected(const struct bench_opts *o, const char *name)
{
	if (!strcmp(o->transports, "all"))
		return 1;
	size_t len = strlen(name);
	for (const char *p = o->transports; (p = strstr(p, name)); p += len)
		if ((p == o->transports || p[-1] == ',') && (p[len] == ',' || p[len] == '\0'))
			return 1;
	return 0;
}

static int fan_known(const char *name);

static int check_transports(const struct bench_opts *o, char *err, size_t n)
{
	if (!strcmp(o->transports, "all"))
		return 0;
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", o->transports);
	for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (!tp_find(tok) && !((o->modes & (1u << MODE_FANOUT)) && fan_known(tok))) {
			snprintf(err, n, "--transports: unknown transport %s", tok);
			return -EINVAL;
		}
	return 0;
}

/* a subject of the fan-out comparison (pmq-group1, pmq-groups are only there) */
static int fan_known(const char *name)
{
	for (int i = 0; fan_all[i]; i++)
		if (!strcmp(fan_all[i]->name, name))
			return 1;
	return 0;
}

static void header(FILE *f, const struct bench_opts *o, const struct tsc_cal *cal, int argc, char **argv)
{
	struct utsname u;
	char model[512] = "?", line[512];
	FILE *c = fopen("/proc/cpuinfo", "r");
	while (c && fgets(line, sizeof(line), c))
		if (!strncmp(line, "model name", 10)) {
			char *v = strchr(line, ':');
			snprintf(model, sizeof(model), "%.500s", v ? v + 2 : line);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	if (c)
		fclose(c);
	uname(&u);
	double load[3] = { 0 };
	if (getloadavg(load, 3) < 0)
		load[0] = -1;
	uint64_t t0 = now_ns();
	for (int i = 0; i < 1000000; i++)
		(void)now_ns();
	double clk = (double)(now_ns() - t0) / 1e6;
	fprintf(f, "pmq-bench:");
	for (int i = 1; i < argc; i++)
		fprintf(f, " %s", argv[i]);
	fprintf(f, "\nhost: %s, %ld CPUs online, %s %s; load %.2f %.2f %.2f\n", model, sysconf(_SC_NPROCESSORS_ONLN),
		u.sysname, u.release, load[0], load[1], load[2]);
	fprintf(f, "cpus %d,%d  wait %s  durability %s%s  slots %u  batch %u  pxc %ux%u  count %llu  warmup %llu  "
		   "duration %.1fs  reps %u  probe %llu\n",
		o->cpu[0], o->cpu[1], wait_name(o->wait), o->durability ? "power" : "process",
		o->durability ? " (PMEM_IS_PMEM_FORCE=1 on tmpfs)" : "", o->slots, o->batch, o->producers,
		o->consumers, (unsigned long long)o->count, (unsigned long long)o->warmup, o->duration, o->reps,
		(unsigned long long)o->probe);
	fprintf(f, "clock: CLOCK_MONOTONIC read costs %.1f ns (rate mode: two reads per sample); ", clk);
	if (cal->tsc)
		fprintf(f, "rt/oneway: invariant TSC at %.4f GHz, a read pair costs %.1f ns\n\n", 1.0 / cal->ns_per_tick,
			cal->pair_ns);
	else
		fprintf(f, "rt/oneway: %s\n\n", cal->why);
}

/* floor-8 round trips at this size, merged into r->probe; p50 into r->probe_p50[k] */
static void probe(const struct bench_opts *o, unsigned size, struct row *r, int k)
{
	struct run_result *pr;
	if (!o->probe || !(pr = malloc(sizeof(*pr))))
		return;
	uint64_t warm = o->probe / 10 < 2000 ? o->probe / 10 : 2000;
	run_one(&tp_floor_8, MODE_RT, o, size, o->probe, warm, pr);
	if (pr->status == RUN_OK) {
		r->probe_p50[k] = hist_percentile(&pr->hist, 50);
		hist_merge(&r->probe, &pr->hist);
	}
	free(pr);
}

static const struct row *floor_ref(const struct row *rows, unsigned n, const struct row *r)
{
	const char *want = "floor-ring";    /* rate, tput: the per-message ring */
	(void)r->mode;
	for (unsigned i = 0; i < n; i++)
		if (rows[i].mode == r->mode && rows[i].size == r->size && rows[i].rep == r->rep &&
		    !strcmp(rows[i].t->name, want))
			return &rows[i];
	return NULL;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	char err[256];
	const struct transport *use[BENCH_MAX_TRANSPORTS];
	unsigned nuse = 0;

	opts_defaults(&o);
	int r = opts_parse(&o, argc, argv, err, sizeof(err));
	if (r == 1) {
		opts_usage(stdout);
		return 0;
	}
	if (r < 0 || check_transports(&o, err, sizeof(err)) < 0) {
		fprintf(stderr, "pmq-bench: %s\n", err);
		opts_usage(stderr);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct sigaction sa = { .sa_handler = on_int };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	struct tsc_cal cal;
	tsc_calibrate(&cal);
	header(stdout, &o, &cal, argc, argv);
	int fan_failed = 0;
	if (o.modes & (1u << MODE_FANOUT)) {
		fan_failed = fan_main(&o);
		if (!(o.modes &= ~(1u << MODE_FANOUT)))
			return run_interrupted ? 130 : fan_failed;
	}
	for (int i = 0; tp_all[i]; i++) {
		if (!selected(&o, tp_all[i]->name))
			continue;
		char why[256] = "";
		if (tp_all[i]->probe(why, sizeof(why)) < 0) {
			printf("skip %s: %s\n", tp_all[i]->name, why);
			continue;
		}
		use[nuse++] = tp_all[i];
	}
	if (!nuse) {
		fprintf(stderr, "pmq-bench: no transport to run\n");
		return 1;
	}

	unsigned nmodes = (unsigned)__builtin_popcount(o.modes);
	unsigned cap = o.nsizes * nmodes * o.reps * nuse, n = 0;
	struct row *rows = calloc(cap, sizeof(*rows));
	if (!rows) {
		fprintf(stderr, "pmq-bench: out of memory for %u rows\n", cap);
		return 1;
	}
	int printed_header = -1, failed = 0;
	for (unsigned s = 0; s < o.nsizes && !run_interrupted; s++)
		for (int m = 0; m < MODE_COUNT && !run_interrupted; m++) {
			if (!(o.modes & (1u << m)))
				continue;
			if (m == MODE_RT || m == MODE_ONEWAY) {
				struct il_result *ir = calloc(1, sizeof(*ir));
				if (!ir) {
					fprintf(stderr, "pmq-bench: out of memory\n");
					return 1;
				}
				if (il_run(m, o.sizes[s], use, nuse, &o, &cal, ir) < 0)
					failed = 1;
				il_report(stdout, m, o.sizes[s], ir, &o, &cal);
				if (o.csv && il_csv(o.csv, m, o.sizes[s], ir, &o, &cal) < 0) {
					fprintf(stderr, "pmq-bench: cannot append to the CSVs next to %s\n", o.csv);
					failed = 1;
				}
				il_free(ir);
				free(ir);
				continue;
			}
			for (unsigned rep = 1; rep <= o.reps && !run_interrupted; rep++)
				for (unsigned t = 0; t < nuse && !run_interrupted; t++) {
					struct row *rw = &rows[n++];
					rw->mode = m;
					rw->size = o.sizes[s];
					rw->rep = rep;
					rw->t = use[t];
					hist_init(&rw->probe);
					probe(&o, rw->size, rw, 0);
					run_one(rw->t, m, &o, rw->size, o.count, o.warmup, &rw->res);
					probe(&o, rw->size, rw, 1);
					rw->ref = floor_ref(rows, n, rw);
					row_compare(rw);
					if (!o.quiet || rw->res.status == RUN_FAILED) {
						report_row(stdout, rw, printed_header != m);
						printed_header = m;
					}
				}
		}
	if (n)
		report_summary(stdout, rows, n, &o);
	for (unsigned i = 0; i < n; i++)
		failed |= rows[i].res.status == RUN_FAILED;
	if (o.csv && n) {
		int e = report_csv(o.csv, rows, n, &o);
		if (e < 0)
			fprintf(stderr, "pmq-bench: cannot write %s: %s\n", o.csv, strerror(-e));
		else
			printf("csv: %s\n", o.csv);
	}
	if (o.plot && n && report_plot(o.plot, rows, n, &o) < 0)
		failed = 1;
	free(rows);
	if (run_interrupted) {
		fprintf(stderr, "pmq-bench: interrupted\n");
		return 130;
	}
	return failed || fan_failed ? 1 : 0;
}
