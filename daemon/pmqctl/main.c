/*
 * pmqctl - the operator's command line for pmq queues.
 *
 * Works on the queue files directly through libpmq (pmqd need not run) and
 * asks pmqd, when its control socket answers, for what only pmqd knows (how
 * each attachment is watched, its recovery counters). One function per
 * sub-command; every command has --help, and --json prints exactly one JSON
 * document (the streaming forms have --jsonl instead). This file holds the
 * options, the shared helpers (pmqctl.h) and the dispatch; the command
 * families are in queue_admin.c (create, delete, recover), status.c (list,
 * stat, top, status, request), messages.c (send, recv), peek.c (peek, tail),
 * dlq.c, groups.c (group create|delete|list|stat) and repl.c; the help texts and the exit-code table in help.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common.h"
#include "parse_num.h"
#include "pmq_admin.h"
#include "pmqctl.h"

const char *opt_dir;     /* NULL: library default */
static char opt_socket[4096];
static char default_socket[4200];
bool opt_json;
bool opt_jsonl;
const char *cur_cmd = "pmqctl";

const char *qdir(void)
{
	if (opt_dir)
		return opt_dir;
	const char *d = getenv("PMQ_DIR");
	return d && *d ? d : "/dev/shm/pmq";
}

const char *socket_path(void)
{
	if (opt_socket[0])
		return opt_socket;
	snprintf(default_socket, sizeof(default_socket), "%s/%s", qdir(), PMQD_SOCK_NAME);
	return default_socket;
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
	case EINVAL: return "check the name and the values (pmqctl CMD --help)";
	default: return "see pmqd's log and docs/pmqd.md";
	}
}

/* "pmqctl: <verb> "<queue>": <cause> (<detail>) --> <hint>" */
int fail(const char *verb, const char *name, int err)
{
	return fail_detail(verb, name, err, pmq_errmsg());
}

int fail_detail(const char *verb, const char *name, int err, const char *d)
{
	fprintf(stderr, "pmqctl: %s \"%s\": %s%s%s%s --> %s\n", verb, name, pmq_strerror(err), d && *d ? " (" : "",
		d && *d ? d : "", d && *d ? ")" : "", hint_for(err));
	return exit_for(err);
}

int usage_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("pmqctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " --> pmqctl %s --help\n", cur_cmd);
	va_end(ap);
	return EX_USAGE;
}

bool arg_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char why[256];
	if (parse_u64(s, 10, lo, hi, out, why, sizeof(why)) == 0)
		return true;
	usage_err("%s %s: %s", cur_cmd, opt, why);
	return false;
}

bool arg_u32(const char *opt, const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	uint64_t v;
	if (!arg_u64(opt, s, lo, hi, &v))
		return false;
	*out = (uint32_t)v; /* hi is a uint32_t */
	return true;
}

int open_queue(const char *name, unsigned flags, pmq_t **q)
{
	/* an observer only reads: any user's queue may be looked at */
	return open_queue_ex(name, flags, NULL, !flags, q);
}

int open_queue_ex(const char *name, unsigned flags, const char *group, bool any_owner, pmq_t **q)
{
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.dir = opt_dir;
	o.group = group;
	if (any_owner)
		o.owner_uid = PMQ_OWNER_ANY;
	return pmq_open_ex(name, flags, &o, q);
}

double now_s(void)
{
	return (double)mono_ns() / 1e9;
}

int json_print(struct jbuf *j)
{
	if (j->overflow) {
		fprintf(stderr, "pmqctl: %s: the JSON output is larger than pmqctl's buffer --> report it\n", cur_cmd);
		return EX_FAIL;
	}
	printf("%s\n", j->buf);
	return EX_OK;
}

/* ---- talking to pmqd ------------------------------------------------------------ */

/* Send one request; the reply (without "ok ") goes to out. Returns 0, -errno
 * when pmqd is unreachable, or 1 when pmqd answered "err ..." (out holds it). */
int pmqd_request(const char *req, char *out, size_t cap)
{
	const char *path = socket_path();
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

int pmqd_unreachable(const char *verb, int err)
{
	const char *path = socket_path();
	struct stat st;
	bool exists = stat(path, &st) == 0;
	switch (-err) {
	case EACCES:
	case EPERM:
		if (exists)
			fprintf(stderr,
				"pmqctl: %s: pmqd's socket %s refused this user (%s; the socket is uid %u gid %u mode "
				"%04o) --> run as root or in the socket's group (pmqd --socket-group G)\n",
				verb, path, strerror(-err), (unsigned)st.st_uid, (unsigned)st.st_gid,
				(unsigned)(st.st_mode & 07777));
		else
			fprintf(stderr, "pmqctl: %s: cannot reach %s: %s (a directory on the way is closed to this "
				"user) --> run as root, or check --dir/--socket\n", verb, path, strerror(-err));
		return EX_PERM;
	case ENOENT:
		fprintf(stderr, "pmqctl: %s: no pmqd socket at %s --> start pmqd (systemctl start pmqd), or name "
			"the socket of the one that runs (--socket PATH or --dir DIR)\n", verb, path);
		return EX_NODAEMON;
	case ECONNREFUSED:
		fprintf(stderr, "pmqctl: %s: nobody listens on %s (pmqd stopped and left its socket) --> start pmqd "
			"(systemctl start pmqd)\n", verb, path);
		return EX_NODAEMON;
	case ENAMETOOLONG:
		fprintf(stderr, "pmqctl: %s: the socket path %s is too long for a Unix socket (107 bytes at most) "
			"--> use a shorter --socket or --dir\n", verb, path);
		return EX_NODAEMON;
	default:
		fprintf(stderr, "pmqctl: %s: pmqd on %s did not answer: %s --> see pmqd's log (journalctl -u pmqd)\n",
			verb, path, strerror(-err));
		return EX_NODAEMON;
	}
}

/* the spellings repl.c and peek.c use */
int pmqctl_request(const char *req, char *out, size_t cap) { return pmqd_request(req, out, cap); }
const char *pmqctl_qdir(void) { return qdir(); }
bool pmqctl_json(void) { return opt_json; }

/* Does the command's own argument list ask for help (before a "--")? */
static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return false;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	static const struct option o[] = { { "dir", 1, 0, 'd' },  { "socket", 1, 0, 's' },  { "json", 0, 0, 'j' },
					   { "jsonl", 0, 0, 'J' }, { "help", 0, 0, 'h' },    { "version", 0, 0, 'V' },
					   { 0, 0, 0, 0 } };
	int ch;
	while ((ch = getopt_long(argc, argv, "+d:s:jhV", o, NULL)) != -1) {
		switch (ch) {
		case 'd': opt_dir = optarg; break;
		case 's':
			if (strlen(optarg) >= sizeof(opt_socket))
				return usage_err("--socket: the path is too long");
			snprintf(opt_socket, sizeof(opt_socket), "%s", optarg);
			break;
		case 'j': opt_json = true; break;
		case 'J': opt_jsonl = true; break;
		case 'h': usage(stdout); return EX_OK;
		case 'V': printf("pmqctl %s (libpmq %s)\n", PMQD_VERSION, pmq_version()); return EX_OK;
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
		{ "tail", cmd_peek },     { "promote", cmd_promote }, { "rejoin", cmd_rejoin }, { "repl", cmd_repl },
		{ "shovel", cmd_shovel }, { "group", cmd_group },
	};
	const char *cmd = argv[optind];
	if (!strcmp(cmd, "help")) {
		if (optind + 1 < argc) {
			if (print_cmd_help(argv[optind + 1], stdout))
				return EX_OK;
			return usage_err("no command \"%s\" (pmqctl --help lists them)", argv[optind + 1]);
		}
		usage(stdout);
		return EX_OK;
	}
	if (!strcmp(cmd, "version")) {
		printf("pmqctl %s (libpmq %s)\n", PMQD_VERSION, pmq_version());
		return EX_OK;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmd, cmds[i].name))
			continue;
		cur_cmd = cmd;
		int cargc = argc - optind;
		char **cargv = argv + optind;
		if (wants_help(cargc, cargv)) {
			print_cmd_help(cmd, stdout);
			return EX_OK;
		}
		/* --json / --jsonl may also come after the command (before a "--"):
		 * taken here and removed, so no command parses them itself */
		int w = 1, k = 1;
		for (; k < cargc && strcmp(cargv[k], "--"); k++) {
			if (!strcmp(cargv[k], "--json"))
				opt_json = true;
			else if (!strcmp(cargv[k], "--jsonl"))
				opt_jsonl = true;
			else
				cargv[w++] = cargv[k];
		}
		while (k < cargc)
			cargv[w++] = cargv[k++];
		cargv[w] = NULL;
		cargc = w;
		if (opt_json && opt_jsonl)
			return usage_err("--json (one document) and --jsonl (one object per line) exclude each other");
		return cmds[i].fn(cargc, cargv);
	}
	return usage_err("unknown command \"%s\" (pmqctl --help lists them)", cmd);
}
