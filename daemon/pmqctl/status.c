/*
 * status.c - pmqctl's views of state: list, stat (counters, rates, each
 * attachment with pmqd's view of how it is watched), top (refreshing), and
 * pmqd's own answers (status, raw request).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "pmq_admin.h"
#include "pmqctl.h"

/* ---- list / stat / top ------------------------------------------------------------- */

struct qsample {
	struct pmq_stats st;
	double t;
};

static int sample(pmq_t *q, struct qsample *s)
{
	s->t = now_s();
	return pmq_stats(q, &s->st);
}

static int list_names(char ***out)
{
	DIR *d = opendir(qdir());
	if (!d)
		return -errno;
	int n = 0, cap = 16;
	char **v = malloc(sizeof(char *) * (size_t)cap);
	struct dirent *de;
	while (v && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l <= 4 || de->d_name[0] == '.' || strcmp(de->d_name + l - 4, ".pmq"))
			continue;
		if (n == cap)
			v = realloc(v, sizeof(char *) * (size_t)(cap *= 2));
		if (!v)
			break;
		v[n++] = strndup(de->d_name, l - 4);
	}
	closedir(d);
	*out = v;
	return v ? n : -ENOMEM;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int cmd_list(int argc, char **argv)
{
	char **names;
	int n = list_names(&names);
	if (n < 0) {
		fprintf(stderr, "pmqctl: list %s: %s --> is this the queue directory? (--dir or $PMQ_DIR)\n", qdir(),
			strerror(-n));
		return EX_FAIL;
	}
	qsort(names, (size_t)n, sizeof(char *), cmp_str);
	if (opt_json)
		printf("{\"dir\":\"%s\",\"queues\":[", qdir());
	else
		printf("%-24s %10s %9s %8s %8s %8s\n", "QUEUE", "DEPTH", "INFLIGHT", "REDELIV", "DLQ", "ATTACH");
	for (int i = 0; i < n; i++) {
		pmq_t *q;
		struct pmq_stats st;
		int r = open_queue(names[i], 0, &q);
		if (r == 0) {
			r = pmq_stats(q, &st);
			pmq_close(q);
		}
		if (opt_json) {
			struct jbuf j;
			char b[1024];
			jb_init(&j, b, sizeof(b));
			jb_str(&j, names[i]);
			if (r < 0)
				printf("%s{\"name\":%s,\"error\":\"%s\"}", i ? "," : "", b, pmq_strerror(r));
			else
				printf("%s{\"name\":%s,\"depth\":%" PRIu64 ",\"in_flight\":%" PRIu64
				       ",\"redelivered\":%" PRIu64 ",\"dead_letters\":%" PRIu64 ",\"attachments\":%u}",
				       i ? "," : "", b, st.depth, st.in_flight, st.redelivered, st.dead_letters,
				       st.attachments > 0 ? st.attachments - 1 : 0);
		} else if (r < 0) {
			printf("%-24s %s\n", names[i], pmq_strerror(r));
		} else {
			printf("%-24s %10" PRIu64 " %9" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8u\n", names[i], st.depth,
			       st.in_flight, st.redelivered, st.dead_letters, st.attachments > 0 ? st.attachments - 1 : 0);
		}
		free(names[i]);
	}
	if (opt_json)
		printf("]}\n");
	free(names);
	(void)argc;
	(void)argv;
	return EX_OK;
}

/* How pmqd watches attachment idx.inc, from its stat reply ("" if unknown). */
static const char *pmqd_watch_of(const char *reply, uint32_t idx, uint32_t inc, char *buf)
{
	const char *p = reply;
	buf[0] = '\0';
	while (p && (p = strstr(p, "{\"index\":"))) {
		unsigned i, n, role;
		int pid, lpid;
		if (sscanf(p, "{\"index\":%u,\"incarnation\":%u,\"pid\":%d,\"local_pid\":%d,\"role\":%u,\"watch\":\"%15[a-z]",
			   &i, &n, &pid, &lpid, &role, buf) == 6 &&
		    i == idx && n == inc)
			return buf;
		buf[0] = '\0';
		p++;
	}
	return buf;
}

static const char *role_str(uint32_t r)
{
	return (r & 3) == 3 ? "prod+cons" : (r & 1) ? "producer" : (r & 2) ? "consumer" : "observer";
}

int cmd_stat(int argc, char **argv)
{
	static const struct option o[] = { { "json", 0, 0, 'j' }, { "interval", 1, 0, 'i' }, { 0, 0, 0, 0 } };
	unsigned interval_ms = 200;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", o, NULL)) != -1) {
		if (ch == 'j') opt_json = true;
		else if (ch == 'i') interval_ms = (unsigned)strtoul(optarg, NULL, 10);
		else return EX_USAGE;
	}
	if (optind != argc - 1)
		return usage_err("stat needs exactly one queue name");
	const char *name = argv[optind];
	pmq_t *q;
	int r = open_queue(name, 0, &q);
	if (r < 0)
		return fail("stat", name, r);
	struct qsample a, b;
	struct pmq_config c;
	pmq_config_init(&c);
	if ((r = sample(q, &a)) < 0 || (r = pmq_get_config(q, &c)) < 0) {
		pmq_close(q);
		return fail("stat", name, r);
	}
	if (interval_ms) {
		struct timespec ts = { interval_ms / 1000, (long)(interval_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	sample(q, &b);
	struct pmq_attach_info at[PMQD_MAX_ATTACH];
	int na = pmq_attachments(q, at, PMQD_MAX_ATTACH);
	pmq_close(q);
	if (na < 0)
		na = 0;
	if (na > PMQD_MAX_ATTACH)
		na = PMQD_MAX_ATTACH;
	double dt = b.t - a.t > 0 ? b.t - a.t : 1;
	double send_rate = (double)(b.st.sent - a.st.sent) / dt, recv_rate = (double)(b.st.received - a.st.received) / dt;
	static char reply[PMQD_REPLY_MAX];
	char req[300];
	snprintf(req, sizeof(req), "stat %s", name);
	int have_pmqd = pmqd_request(req, reply, sizeof(reply)) == 0;
	pid_t me = getpid();
	const struct pmq_stats *s = &b.st;

	if (opt_json) {
		struct jbuf j;
		char nb[512];
		jb_init(&j, nb, sizeof(nb));
		jb_str(&j, name);
		printf("{\"name\":%s,\"depth\":%" PRIu64 ",\"in_flight\":%" PRIu64 ",\"side_ready\":%" PRIu64
		       ",\"dead_letters\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"received\":%" PRIu64
		       ",\"redelivered\":%" PRIu64 ",\"dead_lettered\":%" PRIu64 ",\"aborted\":%" PRIu64
		       ",\"send_rate\":%.1f,\"recv_rate\":%.1f,\"slot_count\":%u,\"max_payload\":%u,\"side_slots\":%u"
		       ",\"durability\":\"%s\",\"max_deliveries\":%u,\"lease_ns\":%" PRIu64 ",\"lease_action\":%u",
		       nb, s->depth, s->in_flight, s->side_ready, s->dead_letters, s->sent, s->received, s->redelivered,
		       s->dead_lettered, s->aborted, send_rate, recv_rate, s->slot_count, s->max_payload, s->side_slots,
		       s->durability ? "power" : "process", c.max_deliveries, c.lease_ns, c.lease_action);
		printf(",\"attachments\":[");
		int k = 0;
		for (int i = 0; i < na; i++) {
			char wb[16];
			if (at[i].pid == me && !at[i].role)
				continue;
			printf("%s{\"index\":%u,\"incarnation\":%u,\"pid\":%d,\"role\":\"%s\",\"alive\":%s,"
			       "\"in_flight\":%u,\"heartbeat\":%" PRIu64 ",\"watch\":\"%s\"}",
			       k++ ? "," : "", at[i].index, at[i].incarnation, at[i].pid, role_str(at[i].role),
			       at[i].alive ? "true" : "false", at[i].in_flight, at[i].heartbeat,
			       have_pmqd ? pmqd_watch_of(reply, at[i].index, at[i].incarnation, wb) : "");
		}
		printf("],\"pmqd\":%s}\n", have_pmqd ? reply : "null");
		return EX_OK;
	}
	printf("queue \"%s\" (%s/%s.pmq)\n", name, qdir(), name);
	printf("  depth %" PRIu64 "   in flight %" PRIu64 "   redeliveries waiting %" PRIu64 "   dead letters %" PRIu64 "\n",
	       s->depth, s->in_flight, s->side_ready, s->dead_letters);
	printf("  sent %" PRIu64 " (%.0f/s)   received %" PRIu64 " (%.0f/s)\n", s->sent, send_rate, s->received, recv_rate);
	printf("  redelivered %" PRIu64 "   dead-lettered %" PRIu64 "   aborted %" PRIu64 "\n", s->redelivered,
	       s->dead_lettered, s->aborted);
	printf("  slots %u x %u B, side %u, %s, max deliveries %u, lease %.3f s (%s)\n", s->slot_count, s->max_payload,
	       s->side_slots, s->durability ? "power" : "process", c.max_deliveries, (double)c.lease_ns / 1e9,
	       c.lease_action == 1 ? "kill" : c.lease_action == 2 ? "alarm" : "requeue");
	printf("  attachments:\n  %5s %4s %8s %-10s %-6s %8s %12s %s\n", "INDEX", "INC", "PID", "ROLE", "ALIVE", "INFLIGHT",
	       "HEARTBEAT", "PMQD");
	for (int i = 0; i < na; i++) {
		char wb[16];
		if (at[i].pid == me && !at[i].role)
			continue;
		printf("  %5u %4u %8d %-10s %-6s %8u %12" PRIu64 " %s\n", at[i].index, at[i].incarnation, at[i].pid,
		       role_str(at[i].role), at[i].alive ? "yes" : "DEAD", at[i].in_flight, at[i].heartbeat,
		       have_pmqd ? pmqd_watch_of(reply, at[i].index, at[i].incarnation, wb) : "(pmqd not running)");
	}
	if (have_pmqd)
		pmqctl_repl_print(name); /* per standby: connected, lag, confirmed ticket, epoch */
	return EX_OK;
}

int cmd_top(int argc, char **argv)
{
	static const struct option o[] = { { "interval", 1, 0, 'i' }, { "iterations", 1, 0, 'n' }, { "json", 0, 0, 'j' },
					   { 0, 0, 0, 0 } };
	unsigned interval_ms = 1000, iters = 0;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "n:", o, NULL)) != -1) {
		if (ch == 'i') interval_ms = (unsigned)strtoul(optarg, NULL, 10);
		else if (ch == 'n') iters = (unsigned)strtoul(optarg, NULL, 10);
		else if (ch == 'j') opt_json = true;
		else return EX_USAGE;
	}
	enum { MAXQ = 1024 };
	static char *nm[MAXQ];
	static struct qsample prev[MAXQ];
	static bool have_prev[MAXQ];
	int nprev = 0;
	for (unsigned it = 0; !iters || it < iters; it++) {
		char **names;
		int n = list_names(&names);
		if (n < 0)
			return fail("top", qdir(), n);
		qsort(names, (size_t)n, sizeof(char *), cmp_str);
		if (!opt_json)
			printf("\033[H\033[2Jpmq top  %s  every %u ms\n%-24s %10s %9s %10s %10s %8s %6s %6s\n", qdir(),
			       interval_ms, "QUEUE", "DEPTH", "INFLIGHT", "SEND/s", "RECV/s", "REDELIV", "DLQ", "ATTACH");
		else
			printf("{\"t\":%.3f,\"queues\":[", now_s());
		static struct qsample cur[MAXQ];
		static bool have_cur[MAXQ];
		for (int i = 0; i < n && i < MAXQ; i++) {
			pmq_t *q;
			have_cur[i] = open_queue(names[i], 0, &q) == 0;
			if (have_cur[i]) {
				have_cur[i] = sample(q, &cur[i]) == 0;
				pmq_close(q);
			}
			double sr = 0, rr = 0;
			for (int k = 0; k < nprev; k++)
				if (have_prev[k] && have_cur[i] && !strcmp(nm[k], names[i])) {
					double dt = cur[i].t - prev[k].t;
					if (dt > 0) {
						sr = (double)(cur[i].st.sent - prev[k].st.sent) / dt;
						rr = (double)(cur[i].st.received - prev[k].st.received) / dt;
					}
				}
			const struct pmq_stats *s = &cur[i].st;
			if (!have_cur[i])
				continue;
			if (opt_json)
				printf("%s{\"name\":\"%s\",\"depth\":%" PRIu64 ",\"in_flight\":%" PRIu64
				       ",\"send_rate\":%.1f,\"recv_rate\":%.1f,\"redelivered\":%" PRIu64
				       ",\"dead_letters\":%" PRIu64 ",\"attachments\":%u}",
				       i ? "," : "", names[i], s->depth, s->in_flight, sr, rr, s->redelivered, s->dead_letters,
				       s->attachments ? s->attachments - 1 : 0);
			else
				printf("%-24s %10" PRIu64 " %9" PRIu64 " %10.0f %10.0f %8" PRIu64 " %6" PRIu64 " %6u\n",
				       names[i], s->depth, s->in_flight, sr, rr, s->redelivered, s->dead_letters,
				       s->attachments ? s->attachments - 1 : 0);
		}
		if (opt_json)
			printf("]}\n");
		fflush(stdout);
		for (int k = 0; k < nprev; k++)
			free(nm[k]);
		nprev = n < MAXQ ? n : MAXQ;
		for (int i = 0; i < nprev; i++) {
			nm[i] = names[i];
			prev[i] = cur[i];
			have_prev[i] = have_cur[i];
		}
		for (int i = nprev; i < n; i++)
			free(names[i]);
		free(names);
		if (!iters || it + 1 < iters) {
			struct timespec ts = { interval_ms / 1000, (long)(interval_ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	return EX_OK;
}


int cmd_status(int argc, char **argv)
{
	static char reply[PMQD_REPLY_MAX];
	const char *req = argc > 1 && !strcmp(argv[1], "--queues") ? "list" : "ping";
	int r = pmqd_request(req, reply, sizeof(reply));
	if (r < 0) {
		fprintf(stderr, "pmqctl: status: pmqd is not reachable on %s/%s: %s --> start pmqd (systemctl start pmqd)\n",
			qdir(), PMQD_SOCK_NAME, strerror(-r));
		return EX_NODAEMON;
	}
	if (r == 1) {
		fprintf(stderr, "pmqctl: status: pmqd answered: %s\n", reply);
		return EX_FAIL;
	}
	printf("%s\n", reply);
	return EX_OK;
}

/* Raw request to pmqd (for scripts and tests): pmqctl request 'stat orders' */
int cmd_request(int argc, char **argv)
{
	static char reply[PMQD_REPLY_MAX];
	if (argc != 2)
		return usage_err("request needs one quoted request line");
	int r = pmqd_request(argv[1], reply, sizeof(reply));
	if (r < 0) {
		fprintf(stderr, "pmqctl: request: pmqd is not reachable: %s\n", strerror(-r));
		return EX_NODAEMON;
	}
	printf("%s\n", reply);
	return r == 0 ? EX_OK : (strstr(reply, "EPERM") ? EX_PERM : EX_FAIL);
}
