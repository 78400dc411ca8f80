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

static void print_jstr(const char *v)
{
	struct jbuf j;
	char b[4096 * 6 + 8];
	jb_init(&j, b, sizeof(b));
	jb_str(&j, v);
	fputs(b, stdout);
}

int cmd_list(int argc, char **argv)
{
	if (argc > 1)
		return usage_err("list takes no arguments, not \"%s\"", argv[1]);
	char **names;
	int n = list_names(&names);
	if (n < 0) {
		fprintf(stderr, "pmqctl: list %s: %s --> is this the queue directory? (--dir or $PMQ_DIR)\n", qdir(),
			strerror(-n));
		return n == -ENOENT ? EX_NOQUEUE : n == -EACCES ? EX_PERM : EX_FAIL;
	}
	qsort(names, (size_t)n, sizeof(char *), cmp_str);
	if (opt_json) {
		printf("{\"dir\":");
		print_jstr(qdir());
		printf(",\"queues\":[");
	} else {
		printf("%-24s %10s %9s %8s %8s %8s\n", "QUEUE", "DEPTH", "INFLIGHT", "REDELIV", "DLQ", "ATTACH");
	}
	for (int i = 0; i < n; i++) {
		pmq_t *q;
		struct pmq_stats st;
		int r = open_queue(names[i], 0, &q);
		if (r == 0) {
			r = pmq_stats(q, &st);
			pmq_close(q);
		}
		if (opt_json) {
			printf("%s{\"queue\":", i ? "," : "");
			print_jstr(names[i]);
			if (r < 0) {
				printf(",\"error\":");
				print_jstr(pmq_strerror(r));
				printf("}");
			} else {
				printf(",\"depth\":%" PRIu64 ",\"in_flight\":%" PRIu64 ",\"redelivered\":%" PRIu64
				       ",\"dead_letters\":%" PRIu64 ",\"attachments\":%u}",
				       st.depth, st.in_flight, st.redelivered, st.dead_letters,
				       st.attachments > 0 ? st.attachments - 1 : 0);
			}
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

static const char *lease_action_str(uint32_t a)
{
	return a == 1 ? "kill" : a == 2 ? "alarm" : "requeue";
}

static const char *role_str(uint32_t r)
{
	return (r & 3) == 3 ? "prod+cons" : (r & 1) ? "producer" : (r & 2) ? "consumer" : "observer";
}

int cmd_stat(int argc, char **argv)
{
	static const struct option o[] = { { "interval", 1, 0, 'i' }, { 0, 0, 0, 0 } };
	uint32_t interval_ms = 200;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", o, NULL)) != -1) {
		if (ch != 'i')
			return usage_err("stat: unknown option");
		if (!arg_u32("--interval", optarg, 0, 3600000, &interval_ms))
			return EX_USAGE;
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
	/* every group's lag, taken after the second sample like the attachments */
	struct pmq_group_info grp[PMQ_GROUPS_MAX];
	int ng = c.max_groups ? groups_read(q, grp) : 0;
	pmq_close(q);
	if (ng < 0) {
		fprintf(stderr, "pmqctl: stat \"%s\": the groups could not be read: %s --> pmqctl group list %s\n", name,
			pmq_strerror(ng), name);
		ng = 0;
	}
	if (na < 0)
		na = 0;
	if (na > PMQD_MAX_ATTACH)
		na = PMQD_MAX_ATTACH;
	double dt = b.t - a.t > 0 ? b.t - a.t : 1;
	double send_rate = (double)(b.st.sent - a.st.sent) / dt, recv_rate = (double)(b.st.received - a.st.received) / dt;
	static char reply[PMQD_REPLY_MAX];
	char req[300];
	snprintf(req, sizeof(req), "stat %s", name);
	int pr = pmqd_request(req, reply, sizeof(reply));
	bool have_pmqd = pr == 0;
	/* what the PMQD column says when pmqd has no view to give */
	const char *no_view = pr == 1 ? "(pmqd refused: not root or owner)"
			      : pr == -EACCES || pr == -EPERM ? "(pmqd's socket refused this user)"
							      : "(pmqd not running)";
	pid_t me = getpid();
	const struct pmq_stats *s = &b.st;

	if (opt_json) {
		struct jbuf j;
		char nb[PMQ_NAME_MAX * 6 + 16];
		jb_init(&j, nb, sizeof(nb));
		jb_str(&j, name);
		printf("{\"queue\":%s,\"depth\":%" PRIu64 ",\"in_flight\":%" PRIu64 ",\"side_ready\":%" PRIu64
		       ",\"dead_letters\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"received\":%" PRIu64
		       ",\"redelivered\":%" PRIu64 ",\"dead_lettered\":%" PRIu64 ",\"aborted\":%" PRIu64
		       ",\"send_rate\":%.1f,\"recv_rate\":%.1f,\"slot_count\":%u,\"max_payload\":%u,\"side_slots\":%u"
		       ",\"durability\":\"%s\",\"max_deliveries\":%u,\"lease_ns\":%" PRIu64 ",\"lease_action\":\"%s\"",
		       nb, s->depth, s->in_flight, s->side_ready, s->dead_letters, s->sent, s->received, s->redelivered,
		       s->dead_lettered, s->aborted, send_rate, recv_rate, s->slot_count, s->max_payload, s->side_slots,
		       s->durability ? "power" : "process", c.max_deliveries, c.lease_ns, lease_action_str(c.lease_action));
		/* a group object is under 700 bytes (a 31-character name escaped, 11 numbers) */
		static char gb[PMQ_GROUPS_MAX * 1024 + 64];
		struct jbuf gj;
		jb_init(&gj, gb, sizeof(gb));
		groups_json(&gj, grp, ng);
		printf(",\"max_groups\":%u,\"groups\":%s", c.max_groups, gb);
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
	       lease_action_str(c.lease_action));
	if (c.max_groups) {
		printf("  groups: %d of at most %u\n", ng, c.max_groups);
		if (ng)
			groups_print_table(grp, ng, "    ");
	}
	printf("  attachments:\n  %5s %4s %8s %-10s %-6s %8s %12s %s\n", "INDEX", "INC", "PID", "ROLE", "ALIVE", "INFLIGHT",
	       "HEARTBEAT", "PMQD");
	for (int i = 0; i < na; i++) {
		char wb[16];
		if (at[i].pid == me && !at[i].role)
			continue;
		printf("  %5u %4u %8d %-10s %-6s %8u %12" PRIu64 " %s\n", at[i].index, at[i].incarnation, at[i].pid,
		       role_str(at[i].role), at[i].alive ? "yes" : "DEAD", at[i].in_flight, at[i].heartbeat,
		       have_pmqd ? pmqd_watch_of(reply, at[i].index, at[i].incarnation, wb) : no_view);
	}
	if (have_pmqd)
		pmqctl_repl_print(name); /* per standby: connected, lag, confirmed ticket, epoch (if replicated) */
	return EX_OK;
}

int cmd_top(int argc, char **argv)
{
	static const struct option o[] = { { "interval", 1, 0, 'i' }, { "iterations", 1, 0, 'n' }, { 0, 0, 0, 0 } };
	uint32_t interval_ms = 1000, iters = 0;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "n:", o, NULL)) != -1) {
		if (ch == 'i') {
			if (!arg_u32("--interval", optarg, 1, 3600000, &interval_ms))
				return EX_USAGE;
		} else if (ch == 'n') {
			if (!arg_u32("--iterations", optarg, 1, UINT32_MAX, &iters))
				return EX_USAGE;
		} else {
			return usage_err("top: unknown option");
		}
	}
	if (optind != argc)
		return usage_err("top takes no arguments, not \"%s\"", argv[optind]);
	if (opt_json && !iters)
		iters = 1; /* one document needs an end */
	/* clearing the screen is for a terminal; a pipe or file gets plain tables */
	bool tty = isatty(STDOUT_FILENO);
	enum { MAXQ = 1024 };
	static char *nm[MAXQ];
	static struct qsample prev[MAXQ];
	static bool have_prev[MAXQ];
	int nprev = 0;
	if (opt_json) {
		printf("{\"dir\":");
		print_jstr(qdir());
		printf(",\"interval_ms\":%u,\"samples\":[", interval_ms);
	}
	for (unsigned it = 0; !iters || it < iters; it++) {
		char **names;
		int n = list_names(&names);
		if (n < 0) {
			if (opt_json)
				printf("]}\n");
			fprintf(stderr, "pmqctl: top %s: %s --> is this the queue directory? (--dir or $PMQ_DIR)\n",
				qdir(), strerror(-n));
			return n == -ENOENT ? EX_NOQUEUE : n == -EACCES ? EX_PERM : EX_FAIL;
		}
		qsort(names, (size_t)n, sizeof(char *), cmp_str);
		if (opt_json || opt_jsonl)
			printf("%s{\"t\":%.3f,\"queues\":[", opt_json && it ? "," : "", now_s());
		else
			printf("%spmq top  %s  every %u ms\n%-24s %10s %9s %10s %10s %8s %6s %6s\n",
			       tty ? "\033[H\033[2J" : it ? "\n" : "", qdir(), interval_ms, "QUEUE", "DEPTH", "INFLIGHT",
			       "SEND/s", "RECV/s", "REDELIV", "DLQ", "ATTACH");
		static struct qsample cur[MAXQ];
		static bool have_cur[MAXQ];
		int shown = 0;
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
			if (opt_json || opt_jsonl) {
				printf("%s{\"queue\":", shown ? "," : "");
				print_jstr(names[i]);
				printf(",\"depth\":%" PRIu64 ",\"in_flight\":%" PRIu64
				       ",\"send_rate\":%.1f,\"recv_rate\":%.1f,\"redelivered\":%" PRIu64
				       ",\"dead_letters\":%" PRIu64 ",\"attachments\":%u}",
				       s->depth, s->in_flight, sr, rr, s->redelivered, s->dead_letters,
				       s->attachments ? s->attachments - 1 : 0);
			} else {
				printf("%-24s %10" PRIu64 " %9" PRIu64 " %10.0f %10.0f %8" PRIu64 " %6" PRIu64 " %6u\n",
				       names[i], s->depth, s->in_flight, sr, rr, s->redelivered, s->dead_letters,
				       s->attachments ? s->attachments - 1 : 0);
			}
			shown++;
		}
		if (opt_json)
			printf("]}");
		else if (opt_jsonl)
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
	if (opt_json)
		printf("]}\n");
	return EX_OK;
}


int cmd_status(int argc, char **argv)
{
	static char reply[PMQD_REPLY_MAX];
	bool queues = argc == 2 && !strcmp(argv[1], "--queues");
	if (argc > 2 || (argc == 2 && !queues))
		return usage_err("status takes only --queues");
	int r = pmqd_request(queues ? "list" : "ping", reply, sizeof(reply));
	if (r < 0)
		return pmqd_unreachable("status", r);
	if (r == 1) {
		fprintf(stderr, "pmqctl: status: pmqd on %s answered: %s\n", socket_path(), reply);
		return strstr(reply, "EPERM") ? EX_PERM : EX_FAIL;
	}
	printf("%s\n", reply); /* pmqd's reply is one JSON object */
	return EX_OK;
}

/* Raw request to pmqd (for scripts and tests): pmqctl request 'stat orders' */
int cmd_request(int argc, char **argv)
{
	static char reply[PMQD_REPLY_MAX];
	if (argc != 2)
		return usage_err("request needs one quoted request line");
	int r = pmqd_request(argv[1], reply, sizeof(reply));
	if (r < 0)
		return pmqd_unreachable("request", r);
	if (r == 1 && opt_json) {
		printf("{\"error\":");
		print_jstr(reply);
		printf("}\n");
	} else {
		printf("%s\n", reply);
	}
	return r == 0 ? EX_OK : (strstr(reply, "EPERM") ? EX_PERM : strstr(reply, "ENOENT") ? EX_NOQUEUE : EX_FAIL);
}
