/*
 * pmqctl - the operator's command line for pmq queues.
 *
 * Works on the queue files directly through libpmq (pmqd need not run) and
 * asks pmqd, when its control socket answers, for what only pmqd knows (how
 * each attachment is watched, its recovery counters). One function per
 * sub-command; every read command has --json. Exit codes (docs/pmqd.md):
 *   0 ok, 1 operation failed, 2 usage, 3 no such queue, 4 permission denied,
 *   5 pmqd unreachable (only where pmqd is required), 6 nothing received
 *   (timeout or empty), 7 queue already exists.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdarg.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "pmq_admin.h"

enum { EX_OK = 0, EX_FAIL = 1, EX_USAGE = 2, EX_NOQUEUE = 3, EX_PERM = 4, EX_NODAEMON = 5, EX_EMPTY = 6,
       EX_EXISTS = 7 };

static const char *opt_dir;     /* NULL: library default */
static char opt_socket[4096];
static bool opt_json;

static const char *qdir(void)
{
	if (opt_dir)
		return opt_dir;
	const char *d = getenv("PMQ_DIR");
	return d && *d ? d : "/dev/shm/pmq";
}

static int exit_for(int err)
{
	switch (-err) {
	case ENOENT: return EX_NOQUEUE;
	case EACCES:
	case EPERM: return EX_PERM;
	case EEXIST: return EX_EXISTS;
	case EAGAIN:
	case ETIMEDOUT: return EX_EMPTY;
	default: return EX_FAIL;
	}
}

static const char *hint_for(int err)
{
	switch (-err) {
	case ENOENT: return "pmqctl list shows the queues";
	case EACCES:
	case EPERM: return "run as the queue's owner or root";
	case EEXIST: return "pmqctl delete it first, or pick another name";
	case EPROTO: return "the file is not a valid pmq queue (corrupt or foreign)";
	case EUSERS: return "the attachment table is full: close some handles or pmqctl recover";
	case EINVAL: return "check the name and the values";
	default: return "see pmqd's log and docs/pmqd.md";
	}
}

/* "pmqctl: <verb> "<queue>": <cause> (<detail>) --> <hint>" */
static int fail(const char *verb, const char *name, int err)
{
	const char *d = pmq_errmsg();
	fprintf(stderr, "pmqctl: %s \"%s\": %s%s%s%s --> %s\n", verb, name, pmq_strerror(err), d && *d ? " (" : "",
		d && *d ? d : "", d && *d ? ")" : "", hint_for(err));
	return exit_for(err);
}

static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("pmqctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" --> pmqctl help\n", stderr);
	va_end(ap);
	return EX_USAGE;
}

static int open_queue(const char *name, unsigned flags, pmq_t **q)
{
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.dir = opt_dir;
	return pmq_open_ex(name, flags, &o, q);
}

static double now_s(void)
{
	return (double)mono_ns() / 1e9;
}

/* ---- talking to pmqd ------------------------------------------------------------ */

/* Send one request; the reply (without "ok ") goes to out. Returns 0, -errno
 * when pmqd is unreachable, or 1 when pmqd answered "err ..." (out holds it). */
static int pmqd_request(const char *req, char *out, size_t cap)
{
	const char *path = opt_socket[0] ? opt_socket : NULL;
	char def[4200];
	if (!path) {
		snprintf(def, sizeof(def), "%s/%s", qdir(), PMQD_SOCK_NAME);
		path = def;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1); /* length checked above */
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || send(fd, req, strlen(req), MSG_NOSIGNAL) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	ssize_t n = recv(fd, out, cap - 1, 0);
	int e = errno;
	close(fd);
	if (n <= 0)
		return n == 0 ? -ECONNRESET : -e;
	out[n] = '\0';
	if (n && out[n - 1] == '\n')
		out[n - 1] = '\0';
	if (!strncmp(out, "ok ", 3)) {
		memmove(out, out + 3, strlen(out + 3) + 1);
		return 0;
	}
	return 1;
}

/* for pmqctl_repl.c (replication sub-commands) */
int pmqctl_request(const char *req, char *out, size_t cap) { return pmqd_request(req, out, cap); }
const char *pmqctl_qdir(void) { return qdir(); }
bool pmqctl_json(void) { return opt_json; }
int cmd_promote(int argc, char **argv);
int cmd_rejoin(int argc, char **argv);
int cmd_repl(int argc, char **argv);
int pmqctl_repl_print(const char *queue);
/* pmqctl_peek.c: peek, tail and the dead-letter listing (non-destructive, pmq_peek) */
int cmd_peek(int argc, char **argv);
int pmqctl_dlq_print(pmq_t *q, const char *name, unsigned max);

/* ---- create / delete ------------------------------------------------------------- */

static int cmd_create(int argc, char **argv)
{
	static const struct option o[] = {
		{ "slots", 1, 0, 's' },  { "payload", 1, 0, 'p' },       { "max-attach", 1, 0, 'a' },
		{ "quota", 1, 0, 'q' },  { "max-deliveries", 1, 0, 'm' }, { "dlq", 1, 0, 'd' },
		{ "lease-ms", 1, 0, 'l' }, { "lease-action", 1, 0, 'A' }, { "mode", 1, 0, 'M' },
		{ "sp", 0, 0, 'P' },     { "sc", 0, 0, 'C' },             { "durability", 1, 0, 'D' },
		{ "side-slots", 1, 0, 'S' }, { "crash-not-delivery", 0, 0, 'N' }, { 0, 0, 0, 0 },
	};
	struct pmq_config c;
	pmq_config_init(&c);
	c.dir = opt_dir;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", o, NULL)) != -1) {
		unsigned long v = optarg ? strtoul(optarg, NULL, 0) : 0;
		switch (ch) {
		case 's': c.slot_count = (uint32_t)v; break;
		case 'p': c.max_payload = (uint32_t)v; break;
		case 'a': c.max_attach = (uint32_t)v; break;
		case 'q': c.consumer_quota = (uint32_t)v; break;
		case 'm': c.max_deliveries = (uint32_t)v; break;
		case 'd': c.dlq_capacity = (uint32_t)v; break;
		case 'S': c.side_slots = (uint32_t)v; break;
		case 'l': c.lease_ns = (uint64_t)v * 1000000ull; break;
		case 'M': c.mode = (uint32_t)strtoul(optarg, NULL, 8); break;
		case 'P': c.flags |= PMQ_F_SP; break;
		case 'C': c.flags |= PMQ_F_SC; break;
		case 'N': c.flags |= PMQ_F_CRASH_NOT_DELIVERY; break;
		case 'A':
			if (!strcmp(optarg, "requeue")) c.lease_action = 0;
			else if (!strcmp(optarg, "kill")) c.lease_action = 1;
			else if (!strcmp(optarg, "alarm")) c.lease_action = 2;
			else return usage_err("--lease-action is requeue, kill or alarm, not \"%s\"", optarg);
			break;
		case 'D':
			if (!strcmp(optarg, "process")) c.durability = PMQ_DURABLE_PROCESS;
			else if (!strcmp(optarg, "power")) c.durability = PMQ_DURABLE_POWER;
			else return usage_err("--durability is process or power, not \"%s\"", optarg);
			break;
		default: return EX_USAGE;
		}
	}
	if (optind != argc - 1)
		return usage_err("create needs exactly one queue name");
	pmq_t *q;
	int r = pmq_create(argv[optind], &c, &q);
	if (r < 0)
		return fail("create", argv[optind], r);
	pmq_close(q);
	if (!opt_json)
		printf("created \"%s\" in %s\n", argv[optind], qdir());
	return EX_OK;
}

static int cmd_delete(int argc, char **argv)
{
	if (argc != 2)
		return usage_err("delete needs exactly one queue name");
	int r = pmq_unlink(argv[1], opt_dir);
	if (r < 0)
		return fail("delete", argv[1], r);
	return EX_OK;
}

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

static int cmd_list(int argc, char **argv)
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

static int cmd_stat(int argc, char **argv)
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

static int cmd_top(int argc, char **argv)
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

/* ---- send / recv ------------------------------------------------------------------- */

static int cmd_send(int argc, char **argv)
{
	static const struct option o[] = { { "count", 1, 0, 'c' }, { "nonblock", 0, 0, 'n' }, { 0, 0, 0, 0 } };
	unsigned long count = 1;
	unsigned flags = 0;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "c:n", o, NULL)) != -1) {
		if (ch == 'c') count = strtoul(optarg, NULL, 10);
		else if (ch == 'n') flags |= PMQ_NONBLOCK;
		else return EX_USAGE;
	}
	if (optind >= argc)
		return usage_err("send needs a queue name (then messages, or lines on stdin)");
	const char *name = argv[optind++];
	pmq_t *q;
	int r = open_queue(name, PMQ_PRODUCER, &q);
	if (r < 0)
		return fail("send", name, r);
	unsigned long sent = 0;
	if (optind < argc) {
		for (unsigned long k = 0; k < count && r >= 0; k++)
			for (int i = optind; i < argc && r >= 0; i++, sent++)
				r = pmq_send(q, argv[i], strlen(argv[i]), flags);
	} else {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while (r >= 0 && (n = getline(&line, &cap, stdin)) > 0) {
			if (line[n - 1] == '\n')
				n--;
			r = pmq_send(q, line, (size_t)n, flags);
			sent += r >= 0;
		}
		free(line);
	}
	if (r < 0) {
		int ex = fail("send", name, r);
		pmq_close(q);
		return ex;
	}
	pmq_close(q);
	if (!opt_json)
		fprintf(stderr, "sent %lu message(s) to \"%s\"\n", sent, name);
	return EX_OK;
}

static void print_msg(const struct pmq_msg *m, bool json)
{
	const unsigned char *p = m->data;
	if (json) {
		struct jbuf j;
		static char b[1 << 20];
		char *txt = strndup((const char *)p, m->len); /* NULs end the text; --json is for text payloads */
		jb_init(&j, b, sizeof(b));
		jb_str(&j, txt ? txt : "");
		free(txt);
		printf("{\"ticket\":%" PRIu64 ",\"epoch\":%" PRIu64 ",\"delivery_count\":%u,\"len\":%u,\"timestamp_ns\":%" PRIu64
		       ",\"data\":%s}\n",
		       m->ticket, m->epoch, m->delivery_count, m->len, m->timestamp_ns, b);
		return;
	}
	for (uint32_t i = 0; i < m->len; i++) {
		if (isprint(p[i]) || p[i] == '\t')
			putchar(p[i]);
		else
			printf("\\x%02x", p[i]);
	}
	putchar('\n');
}

static int recv_loop(const char *verb, const char *name, unsigned flags, int argc, char **argv)
{
	static const struct option o[] = { { "count", 1, 0, 'n' }, { "timeout", 1, 0, 't' }, { "nack", 0, 0, 'N' },
					   { "deadletter", 0, 0, 'D' }, { "follow", 0, 0, 'f' }, { "json", 0, 0, 'j' },
					   { 0, 0, 0, 0 } };
	unsigned long count = 1;
	long timeout_ms = 0;
	int settle = 0; /* 0 ack, 1 nack, 2 dead-letter */
	bool follow = false;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "n:t:f", o, NULL)) != -1) {
		switch (ch) {
		case 'n': count = strtoul(optarg, NULL, 10); break;
		case 't': timeout_ms = strtol(optarg, NULL, 10); break;
		case 'N': settle = 1; break;
		case 'D': settle = 2; break;
		case 'f': follow = true; break;
		case 'j': opt_json = true; break;
		default: return EX_USAGE;
		}
	}
	pmq_t *q;
	int r = open_queue(name, flags, &q);
	if (r < 0)
		return fail(verb, name, r);
	unsigned long got = 0;
	while (follow || got < count) {
		struct pmq_msg m;
		if (follow)
			r = pmq_recv(q, &m, 0);
		else if (timeout_ms > 0)
			r = pmq_recv_timeout(q, &m, (uint64_t)timeout_ms * 1000000ull);
		else
			r = pmq_recv(q, &m, PMQ_NONBLOCK);
		if (r < 0)
			break;
		print_msg(&m, opt_json);
		fflush(stdout);
		r = settle == 0 ? pmq_ack(q, &m) : pmq_nack(q, &m, settle == 2 ? PMQ_NACK_DEADLETTER : PMQ_NACK_REQUEUE);
		if (r < 0) {
			fail(settle ? "nack" : "ack", name, r);
			break;
		}
		got++;
	}
	pmq_close(q);
	if (got == 0 && (r == -EAGAIN || r == -ETIMEDOUT)) {
		if (!opt_json)
			fprintf(stderr, "pmqctl: %s \"%s\": nothing to receive%s\n", verb, name,
				timeout_ms > 0 ? " before the timeout" : " (use --timeout MS to wait)");
		return EX_EMPTY;
	}
	if (r < 0 && r != -EAGAIN && r != -ETIMEDOUT && got < count)
		return fail(verb, name, r);
	return EX_OK;
}

static int cmd_recv(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-')
		return usage_err("recv needs a queue name first");
	return recv_loop("recv", argv[1], PMQ_CONSUMER, argc - 1, argv + 1);
}

/* ---- dead letters --------------------------------------------------------------------- */

static int cmd_dlq(int argc, char **argv)
{
	if (argc < 3)
		return usage_err("usage: dlq list|replay|purge|recv QUEUE [--max N]");
	const char *sub = argv[1], *name = argv[2];
	unsigned max = 0xffffffffu;
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			opt_json = true;
		else if (!strcmp(argv[i], "--max") && i + 1 < argc)
			max = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(sub, "recv"))
			return usage_err("unknown dlq option \"%s\"", argv[i]);
	}
	if (!strcmp(sub, "recv")) {
		char dl[PMQ_NAME_MAX + 8];
		snprintf(dl, sizeof(dl), "%s.dlq", name);
		return recv_loop("dlq recv", dl, PMQ_CONSUMER, argc - 2, argv + 2);
	}
	pmq_t *q;
	int r = open_queue(name, 0, &q);
	if (r < 0)
		return fail("dlq", name, r);
	if (!strcmp(sub, "list")) {
		struct pmq_stats st;
		r = pmq_stats(q, &st);
		if (r >= 0)
			pmqctl_dlq_print(q, name, max); /* each dead letter, without taking it */
		pmq_close(q);
		if (r < 0)
			return fail("dlq list", name, r);
		if (opt_json)
			printf("{\"name\":\"%s\",\"dead_letters\":%" PRIu64 ",\"dead_lettered_total\":%" PRIu64 "}\n", name,
			       st.dead_letters, st.dead_lettered);
		else
			printf("queue \"%s\": %" PRIu64 " dead letter(s) now, %" PRIu64 " dead-lettered in all\n"
			       "(pmqctl dlq replay %s makes them deliverable; dlq recv removes them)\n",
			       name, st.dead_letters, st.dead_lettered, name);
		return EX_OK;
	}
	if (!strcmp(sub, "replay") || !strcmp(sub, "purge")) {
		bool replay = sub[0] == 'r';
		r = replay ? pmq_dlq_replay(q, max) : pmq_dlq_purge(q, max);
		pmq_close(q);
		if (r < 0)
			return fail(replay ? "dlq replay" : "dlq purge", name, r);
		if (opt_json)
			printf("{\"name\":\"%s\",\"%s\":%d}\n", name, replay ? "replayed" : "purged", r);
		else
			printf("%s %d dead letter(s) of \"%s\"\n", replay ? "replayed" : "purged", r, name);
		return EX_OK;
	}
	pmq_close(q);
	return usage_err("unknown dlq command \"%s\" (list, replay, purge, recv)", sub);
}

/* ---- recovery and the daemon ------------------------------------------------------------- */

static int cmd_recover(int argc, char **argv)
{
	if (argc != 2)
		return usage_err("recover needs exactly one queue name");
	const char *name = argv[1];
	char req[300], reply[4096];
	snprintf(req, sizeof(req), "recover %s", name);
	int r = pmqd_request(req, reply, sizeof(reply));
	if (r == 0) { /* pmqd did it (and logged it) */
		if (opt_json)
			printf("%s\n", reply);
		else
			printf("recovery of \"%s\" by pmqd: %s\n", name, reply);
		return EX_OK;
	}
	if (r == 1 && strncmp(reply, "err ENOENT", 10)) {
		fprintf(stderr, "pmqctl: recover \"%s\": pmqd refused: %s\n", name, reply);
		return strstr(reply, "EPERM") ? EX_PERM : EX_FAIL;
	}
	pmq_t *q; /* pmqd is not running: recover here, with the same library code */
	r = open_queue(name, 0, &q);
	if (r < 0)
		return fail("recover", name, r);
	r = pmq_recover(q);
	pmq_close(q);
	if (r < 0)
		return fail("recover", name, r);
	if (opt_json)
		printf("{\"queue\":\"%s\",\"recovered\":%d,\"by\":\"pmqctl\"}\n", name, r);
	else
		printf("recovered %d dead attachment(s) of \"%s\"\n", r, name);
	return EX_OK;
}

static int cmd_status(int argc, char **argv)
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
static int cmd_request(int argc, char **argv)
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


static void usage(FILE *f)
{
	fprintf(f,
		"usage: pmqctl [--dir DIR] [--socket PATH] [--json] COMMAND ...\n"
		"  create QUEUE [--slots N] [--payload B] [--max-attach N] [--quota N] [--max-deliveries N]\n"
		"               [--dlq N] [--side-slots N] [--lease-ms MS] [--lease-action requeue|kill|alarm]\n"
		"               [--mode OCTAL] [--sp] [--sc] [--durability process|power] [--crash-not-delivery]\n"
		"  delete QUEUE\n"
		"  list [--json]                       queues with depth, in flight, dead letters\n"
		"  stat QUEUE [--json] [--interval MS] counters, rates, attachments (pid, liveness, pmqd watch)\n"
		"  top [--interval MS] [-n N] [--json] refreshing view of every queue\n"
		"  send QUEUE [MSG...] [--count N] [--nonblock]   (no MSG: one message per stdin line)\n"
		"  recv QUEUE [-n N] [--timeout MS] [--follow] [--nack|--deadletter] [--json]\n"
		"  dlq list|replay|purge QUEUE [--max N] [--json];  dlq recv QUEUE [-n N] [--json]\n"
		"  recover QUEUE                       through pmqd if it runs, else here\n"
		"  status [--queues]                   pmqd's own view (JSON)\n"
		"  request 'LINE'                      raw control request to pmqd\n"
		"  promote                             make this standby the primary (docs/failover.md)\n"
		"  rejoin [--yes]                      turn a fenced old primary into an empty standby\n"
		"  repl [QUEUE] [--json]               replication: standby links, lag, confirmed ticket, epoch\n"
		"exit: 0 ok, 1 failed, 2 usage, 3 no such queue, 4 permission, 5 pmqd unreachable,\n"
		"      6 nothing received, 7 queue exists\n");
}

int main(int argc, char **argv)
{
	static const struct option o[] = { { "dir", 1, 0, 'd' }, { "socket", 1, 0, 's' }, { "json", 0, 0, 'j' },
					   { "help", 0, 0, 'h' }, { 0, 0, 0, 0 } };
	int ch;
	while ((ch = getopt_long(argc, argv, "+d:s:jh", o, NULL)) != -1) {
		switch (ch) {
		case 'd': opt_dir = optarg; break;
		case 's': snprintf(opt_socket, sizeof(opt_socket), "%s", optarg); break;
		case 'j': opt_json = true; break;
		case 'h': usage(stdout); return EX_OK;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "create", cmd_create }, { "delete", cmd_delete }, { "list", cmd_list },       { "stat", cmd_stat },
		{ "top", cmd_top },       { "send", cmd_send },     { "recv", cmd_recv },       { "dlq", cmd_dlq },
		{ "recover", cmd_recover }, { "status", cmd_status }, { "request", cmd_request }, { "peek", cmd_peek },
		{ "tail", cmd_peek },
		{ "promote", cmd_promote }, { "rejoin", cmd_rejoin }, { "repl", cmd_repl }, /* pmqctl_repl.c */
	};
	const char *cmd = argv[optind];
	if (!strcmp(cmd, "help")) {
		usage(stdout);
		return EX_OK;
	}
	/* --json may also come after the command */
	for (int i = optind + 1; i < argc; i++)
		if (!strcmp(argv[i], "--json") && strcmp(cmd, "send"))
			opt_json = true;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmd, cmds[i].name))
			return cmds[i].fn(argc - optind, argv + optind);
	return usage_err("unknown command \"%s\"", cmd);
}
