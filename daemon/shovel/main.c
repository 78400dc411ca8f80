/*
 * main.c - pmq-shovel: settings, the pmq queue, and the connection loop
 * (connect, run one direction until the connection is lost, back off, again).
 * One thread: the pmq handle and the AMQP connection are used by it alone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "shovel.h"

volatile sig_atomic_t g_shovel_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_shovel_stop = 1;
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: blocking calls return EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int open_queue(struct shovel *s)
{
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	if (s->cfg.pmq_dir[0])
		o.dir = s->cfg.pmq_dir;
	unsigned flags = s->cfg.direction == DIR_PMQ_TO_AMQP ? PMQ_CONSUMER : PMQ_PRODUCER;
	if (s->cfg.pmq_group[0] && flags == PMQ_CONSUMER)
		o.group = s->cfg.pmq_group; /* a consumer of a queue with groups names its group */
	int r = pmq_open_ex(s->cfg.pmq_queue, flags, &o, &s->q);
	if (r < 0) {
		fprintf(stderr, "pmq-shovel: cannot open pmq queue %s as %s: %s: %s%s\n", s->cfg.pmq_queue,
			flags == PMQ_CONSUMER ? "consumer" : "producer", pmq_strerror(r), pmq_errmsg(),
			r == -ENOENT ? " (create it first, e.g. pmqctl create)"
			: r == -EINVAL && !s->cfg.pmq_group[0] ? " (a queue with consumer groups needs --pmq-group NAME)"
							      : "");
		return -1;
	}
	struct pmq_config qc;
	pmq_config_init(&qc);
	r = pmq_get_config(s->q, &qc);
	if (r < 0) {
		fprintf(stderr, "pmq-shovel: pmq queue %s: %s\n", s->cfg.pmq_queue, pmq_strerror(r));
		return -1;
	}
	s->max_payload = qc.max_payload;
	s->consumer_quota = qc.consumer_quota ? qc.consumer_quota : 1;
	if (s->cfg.direction == DIR_PMQ_TO_AMQP && s->cfg.batch > s->consumer_quota)
		log_msg(LOG_NOTICE, "batch %u is above pmq queue %s's consumer quota %u: %u in flight at most",
			s->cfg.batch, s->cfg.pmq_queue, s->consumer_quota, s->consumer_quota);
	s->buf = malloc(s->max_payload ? s->max_payload : 1);
	return s->buf ? 0 : -1;
}

/* Connect and run until stopped; the exit code. */
static int run(struct shovel *s)
{
	unsigned attempt = 0;
	while (!g_shovel_stop) {
		status_set_state(s, "connecting");
		int r = broker_connect(s);
		if (r == -2 && !s->ever_connected) {
			fprintf(stderr, "pmq-shovel: the broker refused us: %s\n", s->last_error);
			return SHOVEL_EXIT_REFUSED;
		}
		if (r == 0) {
			s->ever_connected = true;
			s->n.connects++;
			attempt = 0;
			log_msg(LOG_NOTICE, "connected to %s:%d vhost \"%s\" as \"%s\"%s", s->cfg.host, s->cfg.port,
				s->cfg.vhost, s->cfg.user, s->cfg.tls ? " (TLS)" : "");
			status_set_state(s, "connected");
			r = s->cfg.direction == DIR_PMQ_TO_AMQP ? run_pmq_to_amqp(s) : run_amqp_to_pmq(s);
			broker_close(s);
			s->in_flight = 0;
			if (r == -3)
				return SHOVEL_EXIT_RUNTIME;
			if (g_shovel_stop)
				break;
			s->n.disconnects++;
		}
		uint64_t ms = backoff_next_ms(&attempt, s->cfg.backoff_min_ms, s->cfg.backoff_max_ms);
		status_set_state(s, "backoff");
		log_msg(LOG_INFO, "reconnecting in %llu ms", (unsigned long long)ms);
		shovel_sleep_ms(ms);
	}
	return SHOVEL_EXIT_OK;
}

int main(int argc, char **argv)
{
	static struct shovel s;
	int rc = cfg_parse(&s.cfg, argc, argv);
	if (rc)
		return rc;
	if (s.cfg.show_status)
		return status_print(s.cfg.status_file);
	log_init(s.cfg.log_level);
	log_set_name("pmq-shovel");
	srandom((unsigned)(realtime_ns() ^ (uint64_t)getpid()));
	install_signals();
	if (open_queue(&s))
		return SHOVEL_EXIT_RUNTIME;
	status_set_state(&s, "starting");
	rc = run(&s);
	status_set_state(&s, "stopping");
	broker_close(&s);
	int cr = pmq_close(s.q); /* gives back whatever is still held */
	if (cr < 0)
		log_msg(LOG_WARNING, "closing pmq queue %s: %s", s.cfg.pmq_queue, pmq_strerror(cr));
	status_set_state(&s, rc ? "failed" : "stopped");
	free(s.buf);
	/* the password is not needed any more */
	explicit_bzero(s.cfg.password, sizeof(s.cfg.password));
	return rc;
}
