/*
 * control_verbs.c - the control socket's verbs (ping, list, stat, recover,
 * hello, rescan, reload, and the repl-* ones handed to daemon/repl): parse one
 * request, check the peer may do it, answer with one reply. Runs on the
 * control thread. The protocol and the permission rule are in control.c's
 * opening comment and docs/pmqd.md.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control_verbs.h"
#include "pmqd.h"
#include "repl.h"

static const char *queue_dir;
static uint64_t started_ns;
static void (*request_reload)(void);

void control_verbs_init(const char *dir, uint64_t start_ns, void (*reload)(void))
{
	queue_dir = dir;
	started_ns = start_ns;
	request_reload = reload;
}

/* ---- replies ---------------------------------------------------------------- */

static char reply_buf[PMQD_REPLY_MAX];

static void send_reply(int fd, const char *s, size_t n)
{
	if (send(fd, s, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EPIPE && errno != ECONNRESET)
		log_msg(LOG_DEBUG, "reply to fd %d failed: %s", fd, strerror(errno));
}

static void reply_err(int fd, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reply_err(int fd, int err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	const char *nm = strerrorname_np(err);
	int n = snprintf(reply_buf, sizeof(reply_buf), "err %s %s\n", nm ? nm : "EIO", msg);
	send_reply(fd, reply_buf, (size_t)n);
}

static void reply_ok(int fd, struct jbuf *j)
{
	if (j->overflow) {
		reply_err(fd, EOVERFLOW, "reply larger than %d bytes", PMQD_REPLY_MAX);
		return;
	}
	/* j was built at reply_buf + 3 */
	memcpy(reply_buf, "ok ", 3);
	reply_buf[3 + j->len] = '\n';
	send_reply(fd, reply_buf, 3 + j->len + 1);
}

static void jb_start(struct jbuf *j)
{
	jb_init(j, reply_buf + 3, sizeof(reply_buf) - 4);
}

/* ---- permissions -------------------------------------------------------------- */

static bool may_control(uid_t uid, const struct reg_queue *rq)
{
	return uid == 0 || uid == rq->owner;
}

static struct reg_queue *queue_for(int fd, uid_t uid, const char *name)
{
	if (!name || !*name || strlen(name) > PMQ_NAME_MAX || strchr(name, '/') || name[0] == '.') {
		reply_err(fd, EINVAL, "bad queue name --> one path component, no leading '.', at most %d bytes",
			  PMQ_NAME_MAX);
		return NULL;
	}
	struct reg_queue *rq = discover_queue(name);
	if (!rq) {
		reply_err(fd, ENOENT, "queue \"%s\" is not known to pmqd (no valid %s/%s.pmq)", name, queue_dir, name);
		return NULL;
	}
	if (!may_control(uid, rq)) {
		reply_err(fd, EPERM, "uid %u is neither root nor the owner (uid %u) of queue \"%s\"", (unsigned)uid,
			  (unsigned)rq->owner, name);
		return NULL;
	}
	return rq;
}

static const char *watch_name(int m)
{
	return m == WATCH_PIDFD ? "pidfd" : m == WATCH_SELF ? "self" : m == WATCH_PROBE ? "probe" : "none";
}

/* ---- verbs ---------------------------------------------------------------------- */

static void cmd_ping(int fd)
{
	struct jbuf j;
	jb_start(&j);
	jb_printf(&j, "{\"pmqd\":\"%s\",\"pid\":%d,\"dir\":", PMQD_VERSION, (int)getpid());
	jb_str(&j, queue_dir);
	jb_printf(&j, ",\"queues\":%u,\"attachments\":%u,\"uptime_s\":%.3f}", registry_queue_count(),
		  registry_attach_count(), (double)(mono_ns() - started_ns) / 1e9);
	reply_ok(fd, &j);
}

static void queue_json(struct jbuf *j, struct reg_queue *rq, bool detail)
{
	unsigned n = 0, pidfd = 0, probe = 0;
	for (unsigned i = 0; i < PMQD_MAX_ATTACH; i++) {
		struct reg_attach *a = rq->slot[i];
		if (!a || a->mode == WATCH_SELF)
			continue;
		n++;
		pidfd += a->mode == WATCH_PIDFD;
		probe += a->mode == WATCH_PROBE;
	}
	jb_raw(j, "{\"name\":");
	jb_str(j, rq->name);
	jb_printf(j, ",\"owner\":%u,\"attachments\":%u,\"watched_pidfd\":%u,\"watched_probe\":%u", (unsigned)rq->owner,
		  n, pidfd, probe);
	jb_printf(j, ",\"lease_ns\":%llu,\"lease_min_ns\":%llu,\"lease_action\":\"%s\",\"max_deliveries\":%u",
		  (unsigned long long)rq->lease_ns, (unsigned long long)rq->lease_min_ns,
		  rq->lease_action == 1 ? "kill" : rq->lease_action == 2 ? "alarm" : "requeue", rq->max_deliveries);
	jb_printf(j,
		  ",\"recoveries\":%llu,\"recovered_attachments\":%llu,\"requeued\":%llu,\"dead_lettered\":%llu,"
		  "\"aborted\":%llu,\"lease_requeues\":%llu,\"lease_kills\":%llu,\"lease_alarms\":%llu",
		  (unsigned long long)rq->recoveries, (unsigned long long)rq->recovered_attachments,
		  (unsigned long long)rq->requeued, (unsigned long long)rq->dead_lettered,
		  (unsigned long long)rq->aborted, (unsigned long long)rq->lease_requeues,
		  (unsigned long long)rq->lease_kills, (unsigned long long)rq->lease_alarms);
	if (detail) {
		jb_raw(j, ",\"attached\":[");
		bool first = true;
		for (unsigned i = 0; i < PMQD_MAX_ATTACH; i++) {
			struct reg_attach *a = rq->slot[i];
			if (!a)
				continue;
			jb_printf(j,
				  "%s{\"index\":%u,\"incarnation\":%u,\"pid\":%d,\"local_pid\":%d,\"role\":%u,"
				  "\"watch\":\"%s\",\"in_flight\":%u,\"died\":%d}",
				  first ? "" : ",", a->index, a->incarnation, a->pid, a->local_pid, a->role,
				  watch_name(a->mode), (unsigned)a->in_flight, (int)a->died);
			first = false;
		}
		jb_raw(j, "]");
	}
	jb_raw(j, "}");
}

static void cmd_list(int fd, uid_t uid)
{
	struct jbuf j;
	struct cds_lfht_iter it;
	struct reg_queue *rq;
	bool first = true;
	jb_start(&j);
	jb_raw(&j, "{\"queues\":[");
	rcu_read_lock();
	cds_lfht_for_each_entry(registry_queues(), &it, rq, node) {
		if (!may_control(uid, rq))
			continue; /* list only what the peer may control */
		if (!first)
			jb_raw(&j, ",");
		queue_json(&j, rq, false);
		first = false;
	}
	rcu_read_unlock();
	jb_raw(&j, "]}");
	reply_ok(fd, &j);
}

static void cmd_stat(int fd, uid_t uid, const char *name)
{
	struct reg_queue *rq = queue_for(fd, uid, name);
	if (!rq)
		return;
	struct jbuf j;
	jb_start(&j);
	queue_json(&j, rq, true);
	reply_ok(fd, &j);
}

static void cmd_recover(int fd, uid_t uid, const char *name)
{
	struct reg_queue *rq = queue_for(fd, uid, name);
	if (!rq)
		return;
	rcu_read_lock();
	int n = supervisor_recover(rq, "pmqctl recover", NULL, mono_ns());
	rcu_read_unlock();
	if (n < 0) {
		reply_err(fd, -n, "recovery of \"%s\" failed: %s", name, pmq_strerror(n));
		return;
	}
	discover_queue_attachments(rq);
	struct jbuf j;
	jb_start(&j);
	jb_printf(&j, "{\"queue\":");
	jb_str(&j, name);
	jb_printf(&j, ",\"recovered\":%d}", n);
	reply_ok(fd, &j);
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/*
 * hello <queue> <index> <incarnation> <pid>: an attacher announces itself.
 * This is the only way a process gets a pidfd (and so can ever be signalled
 * by a lease): the sender is named by the kernel (SO_PEERPIDFD, SO_PEERCRED),
 * never by the request or the shared table. The pid in the message is in the
 * sender's namespace and is only logged. The entry must be attached at that
 * incarnation with the sender's own start time, so a hello binds an entry to
 * the process that wrote it, or to nothing.
 */
static void cmd_hello(int fd, uid_t uid, pid_t peer_pid, char **arg, int nargs)
{
	uint32_t idx, inc, pid;
	if (nargs != 4 || parse_u32(arg[1], &idx) || parse_u32(arg[2], &inc) || parse_u32(arg[3], &pid) ||
	    idx >= PMQD_MAX_ATTACH) {
		reply_err(fd, EINVAL, "usage: hello <queue> <attach-index> <incarnation> <pid>");
		return;
	}
	if (!arg[0][0] || strlen(arg[0]) > PMQ_NAME_MAX || strchr(arg[0], '/') || arg[0][0] == '.') {
		reply_err(fd, EINVAL, "bad queue name in hello");
		return;
	}
	const char *name = arg[0];
	size_t nl = strlen(name);
	char base[PMQ_NAME_MAX + 1];
	snprintf(base, sizeof(base), "%s", name);
	if (nl > 4 && !strcmp(name + nl - 4, ".dlq")) /* a dead-letter handle lives in the queue's file */
		base[nl - 4] = '\0';
	struct reg_queue *rq = discover_queue(base);
	if (!rq) {
		reply_err(fd, ENOENT, "queue \"%s\" is not known to pmqd", base);
		return;
	}
	struct reg_attach *a = rq->slot[idx];
	if (!a || a->incarnation != inc)
		discover_queue_attachments(rq); /* a new entry: read the table once */
	a = rq->slot[idx];
	uint64_t st = 0;
	int pfd = (a && a->incarnation == inc && a->mode == WATCH_PROBE) ? watch_peer_pidfd(fd, peer_pid, &st) : -1;
	if (!a || a->incarnation != inc || (a->mode == WATCH_PROBE && (pfd < 0 || a->start_time != st))) {
		if (pfd >= 0)
			close(pfd);
		if (a && pfd == -ESRCH) { /* the sender died already: recover now, not at the next probe */
			rq->need_recover = 1;
			registry_wake(REG_WAKE_SUPERVISOR);
		}
		reply_err(fd, ESRCH, "no attachment %u.%u of pid %u on \"%s\" matches the sender", idx, inc, pid, base);
		return;
	}
	if (a->mode == WATCH_PROBE) {
		struct reg_attach *b = calloc(1, sizeof(*b));
		if (!b) {
			close(pfd);
			reply_err(fd, ENOMEM, "out of memory");
			return;
		}
		*b = (struct reg_attach){ .index = a->index, .incarnation = a->incarnation, .role = a->role,
					  .pid = a->pid, .local_pid = peer_pid, .start_time = a->start_time,
					  .pidfd = pfd, .mode = WATCH_PIDFD };
		b->last_hb = a->last_hb;
		b->last_progress_ns = a->last_progress_ns;
		b->in_flight = a->in_flight;
		registry_attach_remove(rq, a);
		if (registry_attach_add(rq, b) == 0 && supervisor_watch(b) == 0) {
			log_msg(LOG_DEBUG, "pid %u (pid %d uid %u here) on \"%s\" said hello --> watched by pidfd", pid,
				(int)peer_pid, (unsigned)uid, base);
		} else {
			if (rq->slot[idx] == b)
				registry_attach_remove(rq, b);
			else {
				close(pfd);
				free(b);
			}
			rq->need_scan = 1;
		}
	}
	struct jbuf j;
	jb_start(&j);
	jb_raw(&j, "{}");
	reply_ok(fd, &j);
}

void control_handle_request(const struct control_peer *peer, char *req, ssize_t len, size_t full)
{
	int fd = peer->fd;
	uid_t uid = peer->uid;
	pid_t pid = peer->pid;
	if (full > PMQD_REQ_MAX) {
		reply_err(fd, EMSGSIZE, "request of %zu bytes exceeds the limit of %d", full, PMQD_REQ_MAX);
		return;
	}
	if (len <= 0) {
		reply_err(fd, EINVAL, "empty request");
		return;
	}
	if (req[len - 1] == '\n')
		len--;
	req[len] = '\0';
	for (ssize_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)req[i];
		if (c < 0x20 || c == 0x7f) {
			reply_err(fd, EINVAL, "request is not one line of text (byte 0x%02x at offset %zd)", c, i);
			return;
		}
	}
	char *arg[9], *save = NULL;
	int nargs = 0;
	for (char *t = strtok_r(req, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (nargs == 9) {
			reply_err(fd, E2BIG, "too many arguments (max 8)");
			return;
		}
		arg[nargs++] = t;
	}
	if (!nargs) {
		reply_err(fd, EINVAL, "empty request");
		return;
	}
	const char *verb = arg[0];
	if (!strcmp(verb, "ping") && nargs == 1)
		cmd_ping(fd);
	else if (!strcmp(verb, "list") && nargs == 1)
		cmd_list(fd, uid);
	else if (!strcmp(verb, "stat") && nargs == 2)
		cmd_stat(fd, uid, arg[1]);
	else if (!strcmp(verb, "recover") && nargs == 2)
		cmd_recover(fd, uid, arg[1]);
	else if (!strcmp(verb, "hello"))
		cmd_hello(fd, uid, pid, arg + 1, nargs - 1);
	else if ((!strcmp(verb, "rescan") || !strcmp(verb, "reload")) && nargs == 1) {
		if (uid != 0) {
			reply_err(fd, EPERM, "uid %u may not %s pmqd --> only root may", (unsigned)uid, verb);
			return;
		}
		if (verb[2] == 'l')
			request_reload();
		else
			discover_scan_all();
		struct jbuf j;
		jb_start(&j);
		jb_raw(&j, "{}");
		reply_ok(fd, &j);
	} else if (!strncmp(verb, "repl-", 5) || !strcmp(verb, "promote")) {
		/* replication requests (repl.c) */
		char err[512] = "";
		struct jbuf j;
		jb_start(&j);
		int e = repl_control(uid, arg, nargs, &j, err, sizeof(err));
		if (e < 0)
			reply_err(fd, EINVAL, "bad replication request \"%s\" --> repl-stat [Q], promote", verb);
		else if (e)
			reply_err(fd, e, "%s", err);
		else
			reply_ok(fd, &j);
	} else {
		char shown[64];
		snprintf(shown, sizeof(shown), "%s", verb);
		reply_err(fd, EINVAL, "unknown request \"%s\" with %d argument(s) --> ping, list, stat Q, recover Q, "
			  "hello Q I N P, rescan, reload", shown, nargs - 1);
	}
}
