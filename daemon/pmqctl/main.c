/*
 * pmqctl - the operator's command line for pmq queues.
 *
 * Works on the queue files directly through libpmq (pmqd need not run) and
 * asks pmqd, when its control socket answers, for what only pmqd knows (how
 * each attachment is watched, its recovery counters). One function per
 * sub-command; every read command has --json. This file holds the options,
 * the shared helpers (pmqctl.h) and the dispatch; the command families are in
 * queue_admin.c (create, delete, recover), status.c (list, stat, top, status,
 * request), messages.c (send, recv), peek.c (peek, tail), dlq.c and repl.c.
 * Exit codes (docs/pmqd.md):
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
#include "pmqctl.h"

const char *opt_dir;     /* NULL: library default */
static char opt_socket[4096];
bool opt_json;

const char *qdir(void)
{
	if (opt_dir)
		return opt_dir;
	const char *d = getenv("PMQ_DIR");
	return d && *d ? d : "/dev/shm/pmq";
}

int exit_for(int err)
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
int fail(const char *verb, const char *name, int err)
{
	const char *d = pmq_errmsg();
	fprintf(stderr, "pmqctl: %s \"%s\": %s%s%s%s --> %s\n", verb, name, pmq_strerror(err), d && *d ? " (" : "",
		d && *d ? d : "", d && *d ? ")" : "", hint_for(err));
	return exit_for(err);
}

int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int usage_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("pmqctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" --> pmqctl help\n", stderr);
	va_end(ap);
	return EX_USAGE;
}

int open_queue(const char *name, unsigned flags, pmq_t **q)
{
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.dir = opt_dir;
	if (!flags)
		o.owner_uid = PMQ_OWNER_ANY; /* an observer only reads: any user's queue may be looked at */
	return pmq_open_ex(name, flags, &o, q);
}

double now_s(void)
{
	return (double)mono_ns() / 1e9;
}

/* ---- talking to pmqd ------------------------------------------------------------ */

/* Send one request; the reply (without "ok ") goes to out. Returns 0, -errno
 * when pmqd is unreachable, or 1 when pmqd answered "err ..." (out holds it). */
int pmqd_request(const char *req, char *out, size_t cap)
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

/* the spellings repl.c and peek.c use */
int pmqctl_request(const char *req, char *out, size_t cap) { return pmqd_request(req, out, cap); }
const char *pmqctl_qdir(void) { return qdir(); }
bool pmqctl_json(void) { return opt_json; }

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

