/*
 * status.c - the operator's view: one JSON object in a file, replaced
 * atomically (write a temporary in the same directory, then rename), at most
 * once a second and at every state change. Readers (pmq-shovel --status,
 * monitoring) never see a torn file. State changes and errors are log lines.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "shovel.h"

uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void status_default_path(const struct shovel_cfg *c, char *out, size_t cap)
{
	const char *dir = c->pmq_dir[0] ? c->pmq_dir : getenv("PMQ_DIR");
	if (!dir || !*dir)
		dir = "/dev/shm/pmq";
	snprintf(out, cap, "%s/.pmq-shovel.%s.json", dir, c->name);
}

void status_set_state(struct shovel *s, const char *state)
{
	if (s->state && !strcmp(s->state, state))
		return;
	log_msg(LOG_NOTICE, "state %s -> %s%s%s", s->state ? s->state : "none", state,
		!strcmp(state, "backoff") && s->last_error[0] ? ": " : "",
		!strcmp(state, "backoff") ? s->last_error : "");
	s->state = state;
	s->state_since_ns = realtime_ns();
	status_write(s, true);
}

void status_error(struct shovel *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof(s->last_error), fmt, ap);
	va_end(ap);
	s->last_error_ns = realtime_ns();
	log_msg(LOG_ERR, "%s", s->last_error);
}

static void counters_json(struct jbuf *b, const struct shovel_counters *n)
{
	jb_printf(b, "\"received\":%llu,\"published\":%llu,\"confirmed\":%llu,\"broker_nacked\":%llu,",
		  (unsigned long long)n->received, (unsigned long long)n->published,
		  (unsigned long long)n->confirmed, (unsigned long long)n->broker_nacked);
	jb_printf(b, "\"pmq_requeued\":%llu,\"sent_to_pmq\":%llu,\"acked_to_broker\":%llu,",
		  (unsigned long long)n->pmq_requeued, (unsigned long long)n->sent_to_pmq,
		  (unsigned long long)n->acked_to_broker);
	jb_printf(b, "\"redelivered\":%llu,\"rejected_oversize\":%llu,\"connects\":%llu,\"disconnects\":%llu",
		  (unsigned long long)n->redelivered, (unsigned long long)n->rejected_oversize,
		  (unsigned long long)n->connects, (unsigned long long)n->disconnects);
}

void status_write(struct shovel *s, bool force)
{
	uint64_t now = mono_ns();
	if (!force && now - s->last_status_ns < 1000000000ull)
		return;
	s->last_status_ns = now;
	const struct shovel_cfg *c = &s->cfg;
	if (!c->status_file[0])
		return;
	char text[4096];
	struct jbuf b;
	jb_init(&b, text, sizeof(text));
	jb_raw(&b, "{\"name\":");
	jb_str(&b, c->name);
	jb_printf(&b, ",\"pid\":%d,\"direction\":\"%s\",\"state\":", (int)getpid(),
		  c->direction == DIR_PMQ_TO_AMQP ? "pmq-to-amqp" : "amqp-to-pmq");
	jb_str(&b, s->state ? s->state : "starting");
	jb_printf(&b, ",\"connected\":%s,\"state_since_ns\":%llu,\"updated_ns\":%llu,\"pmq_queue\":",
		  s->state && !strcmp(s->state, "connected") ? "true" : "false",
		  (unsigned long long)s->state_since_ns, (unsigned long long)realtime_ns());
	jb_str(&b, c->pmq_queue);
	jb_raw(&b, ",\"amqp_queue\":");
	jb_str(&b, c->amqp_queue);
	jb_printf(&b, ",\"broker\":\"%s://%s:%d\",\"vhost\":", c->tls ? "amqps" : "amqp", c->host, c->port);
	jb_str(&b, c->vhost);
	jb_printf(&b, ",\"in_flight\":%llu,", (unsigned long long)s->in_flight);
	counters_json(&b, &s->n);
	jb_raw(&b, ",\"last_error\":");
	jb_str(&b, s->last_error);
	jb_printf(&b, ",\"last_error_ns\":%llu}\n", (unsigned long long)s->last_error_ns);
	if (b.overflow)
		return;

	char tmp[SHOVEL_STR_MAX + 32];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", c->status_file, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		static int warned;
		if (!warned++)
			log_msg(LOG_WARNING, "status file %s: %s (status not written)", tmp, strerror(errno));
		return;
	}
	ssize_t w = write(fd, text, b.len);
	close(fd);
	if (w != (ssize_t)b.len || rename(tmp, c->status_file))
		unlink(tmp);
}

int status_print(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "pmq-shovel: status file %s: %s (is the shovel running, with this name?)\n",
			path, strerror(errno));
		return 1;
	}
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stdout);
	fclose(f);
	return 0;
}
