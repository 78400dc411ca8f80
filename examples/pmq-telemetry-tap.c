/*
 * pmq-telemetry-tap - a lossy tap on a telemetry stream: the sampler publishes
 * as fast as it measures and must never wait; the tap (a dashboard, a debug
 * console) reads when it can. Its group is lossy: when it falls a lap behind it
 * is told exactly how many samples it missed and goes on with the oldest one
 * still there. The sampler never sees -EAGAIN. See docs/patterns.md.
 *
 *   pmq-telemetry-tap [--samples N] [--redraw-us U]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pmq.h"

#define QNAME "example-telemetry"

struct sample {
	uint64_t seq;
	uint32_t sensor;
	float value;
};

static void die(const char *what, int rc)
{
	fprintf(stderr, "pmq-telemetry-tap: %s: %s (%s)\n", what, pmq_strerror(rc), pmq_errmsg());
	exit(1);
}

static void tap(uint64_t samples, unsigned redraw_us)
{
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.group = "tap";
	pmq_t *q;
	int rc = pmq_open_ex(QNAME, PMQ_CONSUMER, &o, &q);
	if (rc)
		die("tap open", rc);
	uint64_t got = 0, gaps = 0, lost_total = 0, last = 0;
	for (;;) {
		struct pmq_msg m;
		uint64_t lost = 0;
		rc = pmq_recv_lossy(q, &m, PMQ_NONBLOCK, &lost);
		if (rc == -EAGAIN) {
			if (got && last + 1 >= samples)
				break; /* the sampler's last sample seen */
			usleep(1000);
			continue;
		}
		if (rc)
			die("recv", rc);
		struct sample s;
		memcpy(&s, m.data, sizeof(s)); /* m.data is the handle's copy: valid until the next receive */
		if (lost) {
			gaps++;
			lost_total += lost;
			if (gaps <= 5)
				printf("tap: missed %llu samples before #%llu\n", (unsigned long long)lost,
				       (unsigned long long)s.seq);
		}
		got++;
		last = s.seq;
		if (got % 64 == 0)
			usleep(redraw_us); /* redrawing the dashboard takes time */
	}
	struct pmq_group_info gi;
	if ((rc = pmq_group_stats(q, "tap", &gi)))
		die("group stats", rc);
	printf("tap: read %llu of %llu samples, %llu gaps, %llu missed in all (group stat lost: %llu)\n",
	       (unsigned long long)got, (unsigned long long)samples, (unsigned long long)gaps,
	       (unsigned long long)lost_total, (unsigned long long)gi.lost);
	pmq_close(q);
	exit(got + lost_total == samples && gi.lost == lost_total ? 0 : 1);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	uint64_t samples = 100000;
	unsigned redraw_us = 1000;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--samples"))
			samples = strtoull(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--redraw-us"))
			redraw_us = (unsigned)atoi(argv[i + 1]);
	}
	pmq_unlink(QNAME, NULL);
	struct pmq_config cfg;
	pmq_config_init(&cfg);
	cfg.slot_count = 256;
	cfg.max_payload = sizeof(struct sample);
	cfg.max_groups = 4;
	cfg.groups = "tap:lossy"; /* lossy: never holds the sampler back */
	pmq_t *q;
	int rc = pmq_create(QNAME, &cfg, &q);
	if (rc)
		die("create", rc);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		tap(samples, redraw_us);
	usleep(20000); /* let the tap start */
	for (uint64_t i = 0; i < samples; i++) {
		struct sample s = {.seq = i, .sensor = (uint32_t)(i % 8), .value = (float)(i % 1000) / 10.0f};
		rc = pmq_send(q, &s, sizeof(s), PMQ_NONBLOCK);
		if (rc) /* -EAGAIN would mean the tap held us back: it never does */
			die("send", rc);
		if ((i & 511) == 511)
			usleep(5000); /* samples come in bursts of 512 */
	}
	printf("sampler: sent %llu samples, never blocked\n", (unsigned long long)samples);
	int st;
	waitpid(pid, &st, 0);
	pmq_close(q);
	pmq_unlink(QNAME, NULL);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
