/*
 * plot.c - the percentile distribution plot: for each latency mode and size,
 * one curve per transport (its runs merged), latency against percentile on
 * the "1/(1-p)" axis that HdrHistogram made familiar, both logarithmic, so
 * the median, the tail and the floor can be read at a glance. Writes a data
 * file and a gnuplot script next to the PNG and runs gnuplot.
 */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int plot_one(const char *png, int mode, unsigned size, const struct row *rows, unsigned n,
		    const struct bench_opts *o)
{
	char dat[4200], gp[4200], cmd[8600];
	const struct transport *names[BENCH_MAX_TRANSPORTS];
	unsigned nt = 0;
	FILE *f;

	snprintf(dat, sizeof(dat), "%.4096s.dat", png);
	snprintf(gp, sizeof(gp), "%.4096s.gp", png);
	if (!(f = fopen(dat, "w")))
		return -errno;
	for (unsigned i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		if (r->mode != mode || r->size != size || r->res.status != RUN_OK || !r->res.hist.count)
			continue;
		unsigned k;
		for (k = 0; k < nt && names[k] != r->t; k++)
			;
		if (k < nt || nt == BENCH_MAX_TRANSPORTS)
			continue;
		names[nt++] = r->t;
		struct hist *h = malloc(sizeof(*h));
		if (!h) {
			fclose(f);
			return -ENOMEM;
		}
		hist_init(h);
		for (unsigned j = i; j < n; j++)
			if (rows[j].mode == mode && rows[j].size == size && rows[j].t == r->t &&
			    rows[j].res.status == RUN_OK)
				hist_merge(h, &rows[j].res.hist);
		fprintf(f, "# %s: %llu samples\n", r->t->name, (unsigned long long)h->count);
		/* q = 1 - 10^(-k/20): 90 % at k = 20, 99.99 % at k = 80; stop where samples run out */
		double top = log10((double)h->count) * 20.0;
		for (int k2 = 0; k2 <= (int)top; k2++) {
			double q = 1.0 - pow(10.0, -k2 / 20.0);
			fprintf(f, "%.6f %.3f\n", 1.0 / (1.0 - q), (double)hist_percentile(h, q * 100.0) / 1e3);
		}
		fprintf(f, "%.6f %.3f\n\n\n", (double)h->count, (double)h->max / 1e3);
		free(h);
	}
	fclose(f);
	if (!nt)
		return 0;
	if (!(f = fopen(gp, "w")))
		return -errno;
	fprintf(f,
		"set terminal pngcairo size 1100,700 font 'sans,11' noenhanced\n"
		"set output '%s'\n"
		"set title 'pmq-bench %s latency, %u B messages, CPUs %d,%d, wait %s, %u slots (all repetitions merged)'\n"
		"set logscale x\nset logscale y\n"
		"set xlabel 'percentile'\nset ylabel 'latency (us)'\n"
		"set xtics ('0%%%%' 1, '90%%%%' 10, '99%%%%' 100, '99.9%%%%' 1000, '99.99%%%%' 10000, '99.999%%%%' 100000, '99.9999%%%%' 1000000)\n"
		"set grid xtics ytics mytics\nset key outside right top\n"
		"plot \\\n",
		png, mode_name(mode), size, o->cpu[0], o->cpu[1], wait_name(o->wait), o->slots);
	for (unsigned k = 0; k < nt; k++)
		fprintf(f, "  '%s' index %u using 1:2 with linespoints pt 7 ps 0.5 lw 2 title '%s'%s\n", dat, k,
			names[k]->name, k + 1 < nt ? ", \\" : "");
	fclose(f);
	snprintf(cmd, sizeof(cmd), "gnuplot '%s'", gp);
	int st = system(cmd);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "pmq-bench: gnuplot failed on %s (is gnuplot installed? data kept in %s)\n", gp, dat);
		return -EIO;
	}
	return 1;
}

int report_plot(const char *png, const struct row *rows, unsigned n, const struct bench_opts *o)
{
	unsigned combos = 0;
	int err = 0;
	for (int m = 0; m < MODE_TPUT; m++)
		if (o->modes & (1u << m))
			combos += o->nsizes;
	for (int m = 0; m < MODE_TPUT; m++) {
		if (!(o->modes & (1u << m)))
			continue;
		for (unsigned s = 0; s < o->nsizes; s++) {
			char name[4096];
			const char *dot = strrchr(png, '.');
			size_t stem = dot && !strcmp(dot, ".png") ? (size_t)(dot - png) : strlen(png);
			if (combos > 1)
				snprintf(name, sizeof(name), "%.*s-%s-%u.png", (int)stem, png, mode_name(m), o->sizes[s]);
			else
				snprintf(name, sizeof(name), "%.*s.png", (int)stem, png);
			int r = plot_one(name, m, o->sizes[s], rows, n, o);
			if (r < 0)
				err = r;
			else if (r > 0)
				printf("plot: %s\n", name);
		}
	}
	return err;
}
