/*
 * config.c - pmqd's settings: defaults, then the config file, then flags.
 *
 * The file is "key = value" lines, '#' starts a comment; keys are the long
 * flag names with '-' or '_'. On SIGHUP main.c rebuilds the settings the same
 * way; only the intervals and the log level change on a live daemon.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse_num.h"
#include "pmqd.h"
#include "metrics.h"
#include "safe_file.h"
#include "repl.h"
#include "witness.h"

void config_defaults(struct pmqd_config *c)
{
	const char *d = getenv("PMQ_DIR");
	memset(c, 0, sizeof(*c));
	snprintf(c->dir, sizeof(c->dir), "%s", d && *d ? d : "/dev/shm/pmq");
	c->socket_mode = 0660;
	c->socket_gid = -1;
	c->scan_ms = 1000;
	c->probe_ms = 1000;
	c->retry_ms = 1;
	c->log_level = LOG_INFO;
	c->foreground = true;
}

static int parse_level(const char *v)
{
	static const struct { const char *n; int l; } t[] = {
		{ "err", LOG_ERR }, { "error", LOG_ERR }, { "warning", LOG_WARNING }, { "warn", LOG_WARNING },
		{ "notice", LOG_NOTICE }, { "info", LOG_INFO }, { "debug", LOG_DEBUG },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(v, t[i].n))
			return t[i].l;
	return -1;
}

/* Why the last value was refused (parse_num's sentence), for the error message. */
static char value_why[256];

static int parse_uint(const char *v, unsigned base, unsigned lo, unsigned hi, unsigned *out)
{
	uint32_t x;
	int r = parse_u32(v, base, lo, hi, &x, value_why, sizeof(value_why));
	if (r == 0)
		*out = x;
	return r ? -EINVAL : 0;
}

/* One setting by name; shared by the file and the flags. */
static int config_set(struct pmqd_config *c, const char *key, const char *v)
{
	char k[64];
	size_t i;
	value_why[0] = '\0';
	for (i = 0; key[i] && i < sizeof(k) - 1; i++)
		k[i] = key[i] == '_' ? '-' : key[i];
	k[i] = '\0';

	if (!strcmp(k, "dir")) {
		if (!*v || strlen(v) >= sizeof(c->dir) - 64)
			return -EINVAL;
		snprintf(c->dir, sizeof(c->dir), "%s", v);
	} else if (!strcmp(k, "socket")) {
		if (strlen(v) >= 108) /* sun_path */
			return -ENAMETOOLONG;
		snprintf(c->socket_path, sizeof(c->socket_path), "%s", v);
	} else if (!strcmp(k, "socket-mode")) {
		return parse_uint(v, 8, 0, 0777, &c->socket_mode);
	} else if (!strcmp(k, "socket-group")) {
		struct group *g = getgrnam(v);
		unsigned gid;
		if (g)
			c->socket_gid = g->gr_gid;
		else if (parse_uint(v, 10, 0, 0x7fffffff, &gid) == 0)
			c->socket_gid = gid;
		else {
			snprintf(value_why, sizeof(value_why), "no group named \"%.64s\" (and not a gid)", v);
			return -ENOENT;
		}
	} else if (!strcmp(k, "scan-ms")) {
		return parse_uint(v, 10, 10, 3600000, &c->scan_ms);
	} else if (!strcmp(k, "probe-ms")) {
		return parse_uint(v, 10, 1, 3600000, &c->probe_ms);
	} else if (!strcmp(k, "retry-ms")) {
		return parse_uint(v, 10, 1, 10000, &c->retry_ms);
	} else if (!strcmp(k, "metrics-listen")) {
		struct sockaddr_storage ss;
		socklen_t sl;
		char err[300];
		if (strlen(v) >= sizeof(c->metrics_listen))
			return -ENAMETOOLONG;
		if (*v && metrics_parse_listen(v, &ss, &sl, err, sizeof(err)) < 0)
			return -EINVAL;
		snprintf(c->metrics_listen, sizeof(c->metrics_listen), "%s", v);
	} else if (!strcmp(k, "log-level")) {
		int l = parse_level(v);
		if (l < 0)
			return -EINVAL;
		c->log_level = l;
	} else {
		int w = witness_config_set(k, v); /* the etcd witness (daemon/witness), -ENOENT if not its key */
		if (w != -ENOENT)
			return w;
		/* replication settings (repl.c), -ENOENT if unknown */
		return repl_config_set(k, v, value_why, sizeof(value_why));
	}
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* The config file is small text: a FIFO, a device (/dev/zero), a symlink, a
 * file over this size or one with NUL bytes is refused before any parsing. */
#define CONFIG_FILE_MAX (1u << 20)

int config_load_file(struct pmqd_config *c, char *err, size_t errlen)
{
	if (!c->config_file[0])
		return 0;
	static char text[CONFIG_FILE_MAX + 1];
	char why[512];
	size_t len;
	int rc = safe_file_read(c->config_file, SAFE_FILE_TEXT, text, sizeof(text), &len, why, sizeof(why));
	if (rc) {
		snprintf(err, errlen, "config %s %s", c->config_file, why);
		return rc;
	}
	int lineno = 0;
	char *save = NULL;
	for (char *line = text; line && rc == 0; line = save) {
		save = strchr(line, '\n');
		if (save)
			*save++ = '\0';
		lineno++;
		char *h = strchr(line, '#');
		if (h)
			*h = '\0';
		char *s = trim(line);
		if (!*s)
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%d: expected \"key = value\"", c->config_file, lineno);
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		char *k = trim(s), *v = trim(eq + 1);
		int r = config_set(c, k, v);
		if (r) {
			if (value_why[0])
				snprintf(err, errlen, "%s:%d: %s: %s", c->config_file, lineno, k, value_why);
			else
				snprintf(err, errlen, "%s:%d: %s \"%s\" for %s", c->config_file, lineno,
					 r == -ENOENT ? "unknown key or group" : "bad value", v, k);
			rc = r;
		}
	}
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pmqd [options]\n"
		"  -d, --dir DIR           queue directory (default $PMQ_DIR or /dev/shm/pmq)\n"
		"  -s, --socket PATH       control socket (default DIR/.pmqd.sock)\n"
		"      --socket-mode MODE  octal permissions of the socket (default 0660)\n"
		"      --socket-group G    group of the socket\n"
		"  -c, --config FILE       config file (key = value, same names as the flags)\n"
		"      --scan-ms N         directory and attachment rescan period (default 1000)\n"
		"      --probe-ms N        token probe and lease tick per queue (default 1000)\n"
		"      --retry-ms N        first retry when a dead owner's token is still held (default 1)\n"
		"      --log-level L       err|warning|notice|info|debug (default info)\n"
		"      --metrics-listen H:P serve Prometheus /metrics there (default off; e.g. 127.0.0.1:9187)\n"
		"  -v, --verbose           same as --log-level debug\n"
		"  -f, --foreground        run in the foreground (always; for scripts)\n"
		"  -h, --help | -V, --version\n"
		"replication (docs/failover.md):\n"
		"      --standby           receive a primary's queues (with --listen)\n"
		"      --listen ADDR:PORT  address the standby receiver listens on\n"
		"      --replicate-to H:P  ship committed entries to this standby (repeatable)\n"
		"      --repl-key-file F   pre-shared key (same file on both hosts, >= 16 bytes)\n"
		"      --repl-timeout-ms N standby gone this long = out of sync (default 5000)\n"
		"      --repl-policy P     degrade|block, then ,QUEUE=P overrides (default degrade)\n"
		"automatic failover with etcd as the witness (docs/failover.md):\n"
		"      --witness etcd://H:P[,H:P]  hold / campaign for the leader key in this etcd\n"
		"      --witness-ttl-ms N  lease TTL, whole seconds (default 3000)\n"
		"      --witness-key K     leader key (default /pmq/default/leader)\n"
		"      --witness-name S    this node's value in the key (default HOST:DIR)\n"
		"      --witness-promote-unsynced  a standby not in sync may promote (may lose messages)\n"
		"      --witness-handover-on-stop yes|no  a clean stop of the primary fences it and frees\n"
		"                          the key for the standby at once (default yes)\n"
		"      --witness-cacert F, --witness-cert F, --witness-key-file F  TLS to etcd (https)\n"
		"      --witness-user U, --witness-password-file F (mode 0600)  etcd authentication\n");
}

int config_parse_args(struct pmqd_config *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, 0, 'd' },        { "socket", required_argument, 0, 's' },
		{ "socket-mode", required_argument, 0, 'M' }, { "socket-group", required_argument, 0, 'G' },
		{ "config", required_argument, 0, 'c' },     { "scan-ms", required_argument, 0, 'S' },
		{ "probe-ms", required_argument, 0, 'P' },   { "retry-ms", required_argument, 0, 'R' },
		{ "log-level", required_argument, 0, 'L' },  { "verbose", no_argument, 0, 'v' },
		{ "foreground", no_argument, 0, 'f' },       { "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' },          { "metrics-listen", required_argument, 0, 'm' },
		{ "standby", no_argument, 0, 'X' },          { "listen", required_argument, 0, 'X' },
		{ "replicate-to", required_argument, 0, 'X' }, { "repl-key-file", required_argument, 0, 'X' },
		{ "repl-timeout-ms", required_argument, 0, 'X' }, { "repl-policy", required_argument, 0, 'X' },
		{ "witness", required_argument, 0, 'X' }, { "witness-ttl-ms", required_argument, 0, 'X' },
		{ "witness-key", required_argument, 0, 'X' }, { "witness-name", required_argument, 0, 'X' },
		{ "witness-promote-unsynced", no_argument, 0, 'X' }, { "witness-cacert", required_argument, 0, 'X' },
		{ "witness-cert", required_argument, 0, 'X' }, { "witness-key-file", required_argument, 0, 'X' },
		{ "witness-handover-on-stop", required_argument, 0, 'X' },
		{ "witness-user", required_argument, 0, 'X' }, { "witness-password-file", required_argument, 0, 'X' },
		{ 0, 0, 0, 0 },
	};
	int o, li = 0;
	optind = 0;
	while ((o = getopt_long(argc, argv, "d:s:c:vfhV", opts, &li)) != -1) {
		const char *key = NULL;
		switch (o) {
		case 'd': key = "dir"; break;
		case 's': key = "socket"; break;
		case 'M': key = "socket-mode"; break;
		case 'G': key = "socket-group"; break;
		case 'S': key = "scan-ms"; break;
		case 'P': key = "probe-ms"; break;
		case 'R': key = "retry-ms"; break;
		case 'L': key = "log-level"; break;
		case 'm': key = "metrics-listen"; break;
		case 'c': snprintf(c->config_file, sizeof(c->config_file), "%s", optarg); continue;
		case 'v': c->log_level = LOG_DEBUG; continue;
		case 'f': c->foreground = true; continue;
		case 'h': usage(stdout); return 1;
		case 'X': key = opts[li].name; break; /* replication (repl.c) */
		case 'V': printf("pmqd %s (libpmq %s)\n", PMQD_VERSION, pmq_version()); return 1;
		default: usage(stderr); return -1;
		}
		if (config_set(c, key, optarg ? optarg : "1")) {
			if (value_why[0])
				fprintf(stderr, "pmqd: --%s: %s --> see pmqd --help\n", key, value_why);
			else
				fprintf(stderr, "pmqd: bad value \"%s\" for --%s --> see pmqd --help\n", optarg, key);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pmqd: unexpected argument \"%s\" --> see pmqd --help\n", argv[optind]);
		return -1;
	}
	return 0;
}

void config_finish(struct pmqd_config *c)
{
	if (!c->socket_path[0]) {
		/* dir is limited to sizeof(dir) - 64 by config_set, so this fits */
		size_t n = strlen(c->dir);
		memcpy(c->socket_path, c->dir, n);
		memcpy(c->socket_path + n, "/" PMQD_SOCK_NAME, sizeof("/" PMQD_SOCK_NAME));
	}
}
