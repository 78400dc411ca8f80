/*
 * config.c - pmq-shovel's settings: a "key = value" file (--config) and
 * flags of the same names (flags win), then the credentials file.
 * Secrets never come from the command line: a password in the URI is refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "shovel.h"

void cfg_usage(FILE *f)
{
	fprintf(f,
		"usage: pmq-shovel [--config FILE] [options]   (docs/bridge.md, pmq-shovel(1))\n"
		"  --uri amqp[s]://[user@]host[:port][/vhost]  the broker (no password here)\n"
		"  --direction pmq-to-amqp|amqp-to-pmq\n"
		"  --pmq-queue NAME [--pmq-dir DIR]         the pmq side (must exist)\n"
		"  --pmq-group NAME  pmq-to-amqp on a queue with consumer groups: the group to consume\n"
		"  --amqp-queue NAME                        the RabbitMQ side\n"
		"  --credentials-file FILE                  'username = ..' and 'password = ..';\n"
		"                                           a regular file, mode 0600/0400, owned by you\n"
		"  --prefetch N     basic.qos window, amqp-to-pmq (default 256)\n"
		"  --batch N        publishes in flight (pmq-to-amqp; capped by the pmq consumer quota)\n"
		"                   or deliveries per basic.ack (amqp-to-pmq) (default 64)\n"
		"  --declare quorum|classic|passive|none    how to declare the queue (default quorum)\n"
		"  --dead-letter-exchange X [--dead-letter-routing-key K]  added to the declare\n"
		"  --replicated     pmq_send with PMQ_REPLICATED (amqp-to-pmq)\n"
		"  --envelope yes|no   amqp-to-pmq: prefix the identity envelope (default yes)\n"
		"  --single-active-consumer yes|no  amqp-to-pmq: declare the queue with\n"
		"                   x-single-active-consumer, which keeps the order across restarts (yes)\n"
		"  --tls-ca F --tls-cert F --tls-key F --tls-verify yes|no   for amqps://\n"
		"  --heartbeat S    AMQP heartbeat seconds (default 30, 0 = off)\n"
		"  --backoff-min-ms N --backoff-max-ms N    reconnect backoff (default 100, 10000)\n"
		"  --name NAME      names the status file and log (default QUEUE-DIRECTION)\n"
		"  --status-file F  default $PMQ_DIR or /dev/shm/pmq, .pmq-shovel.NAME.json\n"
		"  --status         print the status file and exit\n"
		"  --verbose        debug log lines\n"
		"exit: 0 stopped by a signal, 1 runtime error, 2 bad configuration,\n"
		"      3 the broker refused the login or vhost on the first connection\n");
}

static int set_str(char *dst, size_t cap, const char *key, const char *v)
{
	if (strlen(v) >= cap) {
		fprintf(stderr, "pmq-shovel: %s is too long (at most %zu bytes)\n", key, cap - 1);
		return -1;
	}
	strcpy(dst, v);
	return 0;
}

static int set_uint(unsigned *dst, const char *key, const char *v, unsigned lo, unsigned hi)
{
	char *end;
	errno = 0;
	unsigned long x = strtoul(v, &end, 10);
	if (errno || end == v || *end || x < lo || x > hi) {
		fprintf(stderr, "pmq-shovel: %s \"%s\" is not a number in %u..%u\n", key, v, lo, hi);
		return -1;
	}
	*dst = (unsigned)x;
	return 0;
}

static int set_bool(bool *dst, const char *key, const char *v)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) {
		*dst = true;
		return 0;
	}
	if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) {
		*dst = false;
		return 0;
	}
	fprintf(stderr, "pmq-shovel: %s \"%s\": use yes or no\n", key, v);
	return -1;
}

/* One setting by its long name ("-" and "_" alike); 0 ok, -1 bad (printed). */
static int cfg_set(struct shovel_cfg *c, const char *key, const char *v)
{
	char k[64];
	size_t i;
	for (i = 0; key[i] && i < sizeof(k) - 1; i++)
		k[i] = key[i] == '_' ? '-' : key[i];
	k[i] = '\0';

	if (!strcmp(k, "uri"))
		return set_str(c->uri, sizeof(c->uri), k, v);
	if (!strcmp(k, "pmq-queue"))
		return set_str(c->pmq_queue, sizeof(c->pmq_queue), k, v);
	if (!strcmp(k, "pmq-dir"))
		return set_str(c->pmq_dir, sizeof(c->pmq_dir), k, v);
	if (!strcmp(k, "pmq-group"))
		return set_str(c->pmq_group, sizeof(c->pmq_group), k, v);
	if (!strcmp(k, "amqp-queue"))
		return set_str(c->amqp_queue, sizeof(c->amqp_queue), k, v);
	if (!strcmp(k, "direction")) {
		if (!strcmp(v, "pmq-to-amqp"))
			c->direction = DIR_PMQ_TO_AMQP;
		else if (!strcmp(v, "amqp-to-pmq"))
			c->direction = DIR_AMQP_TO_PMQ;
		else {
			fprintf(stderr, "pmq-shovel: direction \"%s\": use pmq-to-amqp or amqp-to-pmq\n", v);
			return -1;
		}
		return 0;
	}
	if (!strcmp(k, "prefetch"))
		return set_uint(&c->prefetch, k, v, 1, 65535);
	if (!strcmp(k, "batch"))
		return set_uint(&c->batch, k, v, 1, 65535);
	if (!strcmp(k, "credentials-file"))
		return set_str(c->credentials_file, sizeof(c->credentials_file), k, v);
	if (!strcmp(k, "tls-ca"))
		return set_str(c->tls_ca, sizeof(c->tls_ca), k, v);
	if (!strcmp(k, "tls-cert"))
		return set_str(c->tls_cert, sizeof(c->tls_cert), k, v);
	if (!strcmp(k, "tls-key"))
		return set_str(c->tls_key, sizeof(c->tls_key), k, v);
	if (!strcmp(k, "tls-verify"))
		return set_bool(&c->tls_verify, k, v);
	if (!strcmp(k, "declare")) {
		static const char *names[] = {"quorum", "classic", "passive", "none"};
		for (unsigned d = 0; d < 4; d++)
			if (!strcmp(v, names[d])) {
				c->declare = (enum shovel_declare)d;
				return 0;
			}
		fprintf(stderr, "pmq-shovel: declare \"%s\": use quorum, classic, passive or none\n", v);
		return -1;
	}
	if (!strcmp(k, "dead-letter-exchange"))
		return set_str(c->dlx, sizeof(c->dlx), k, v);
	if (!strcmp(k, "dead-letter-routing-key"))
		return set_str(c->dlx_key, sizeof(c->dlx_key), k, v);
	if (!strcmp(k, "replicated"))
		return set_bool(&c->replicated, k, v);
	if (!strcmp(k, "envelope"))
		return set_bool(&c->envelope, k, v);
	if (!strcmp(k, "single-active-consumer"))
		return set_bool(&c->single_active, k, v);
	if (!strcmp(k, "status-file"))
		return set_str(c->status_file, sizeof(c->status_file), k, v);
	if (!strcmp(k, "heartbeat"))
		return set_uint(&c->heartbeat_s, k, v, 0, 3600);
	if (!strcmp(k, "backoff-min-ms"))
		return set_uint(&c->backoff_min_ms, k, v, 1, 3600000);
	if (!strcmp(k, "backoff-max-ms"))
		return set_uint(&c->backoff_max_ms, k, v, 1, 3600000);
	if (!strcmp(k, "name"))
		return set_str(c->name, sizeof(c->name), k, v);
	if (!strcmp(k, "verbose")) {
		bool b;
		if (set_bool(&b, k, v))
			return -1;
		c->log_level = b ? LOG_DEBUG : LOG_INFO;
		return 0;
	}
	if (!strcmp(k, "username") || !strcmp(k, "password")) {
		fprintf(stderr, "pmq-shovel: %s belongs in the credentials file (credentials_file = ...), "
				"never in the configuration or on the command line\n", k);
		return -1;
	}
	fprintf(stderr, "pmq-shovel: unknown setting \"%s\" (see --help)\n", key);
	return -1;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* Calls fn(key, value) per "key = value" line; '#' starts a comment line. */
static int read_kv_file(const char *path, FILE *f, int (*fn)(void *, const char *, const char *),
			void *arg)
{
	char line[2048];
	int lineno = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			fprintf(stderr, "pmq-shovel: %s:%d: expected \"key = value\"\n", path, lineno);
			return -1;
		}
		*eq = '\0';
		if (fn(arg, trim(s), trim(eq + 1))) {
			fprintf(stderr, "pmq-shovel: ... in %s:%d\n", path, lineno);
			return -1;
		}
	}
	return 0;
}

static int cfg_kv(void *arg, const char *k, const char *v)
{
	return cfg_set(arg, k, v);
}

static int cred_kv(void *arg, const char *k, const char *v)
{
	struct shovel_cfg *c = arg;
	if (!strcmp(k, "username"))
		return set_str(c->user, sizeof(c->user), k, v);
	if (!strcmp(k, "password"))
		return set_str(c->password, sizeof(c->password), k, v);
	fprintf(stderr, "pmq-shovel: unknown credentials key \"%s\" (username, password)\n", k);
	return -1;
}

/* The credentials file: opened without following a link, then checked on the
 * open descriptor (no race with a rename): regular, ours, no group/other bits. */
static int read_credentials(struct shovel_cfg *c)
{
	const char *p = c->credentials_file;
	int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		fprintf(stderr, "pmq-shovel: credentials file %s: %s\n", p, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "pmq-shovel: credentials file %s is not a regular file\n", p);
		close(fd);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		fprintf(stderr, "pmq-shovel: credentials file %s is owned by uid %u, not by us (%u): chown it\n",
			p, (unsigned)st.st_uid, (unsigned)geteuid());
		close(fd);
		return -1;
	}
	if (st.st_mode & 077) {
		fprintf(stderr, "pmq-shovel: credentials file %s has mode %04o: others may read it; chmod 600 %s\n",
			p, (unsigned)(st.st_mode & 07777), p);
		close(fd);
		return -1;
	}
	FILE *f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -1;
	}
	int r = read_kv_file(p, f, cred_kv, c);
	fclose(f);
	if (!r && (!c->user[0] || !c->password[0])) {
		fprintf(stderr, "pmq-shovel: credentials file %s needs both username and password\n", p);
		return -1;
	}
	return r;
}

/* The URI's parts; a password in it is refused (it would be on the command line). */
static int parse_uri(struct shovel_cfg *c)
{
	char tmp[SHOVEL_STR_MAX];
	struct amqp_connection_info ci;
	strcpy(tmp, c->uri);
	/* user:password@ : a ':' before the '@' of the authority */
	const char *auth = strstr(c->uri, "://");
	if (auth) {
		auth += 3;
		const char *at = strchr(auth, '@'), *slash = strchr(auth, '/');
		if (at && (!slash || at < slash)) {
			const char *colon = memchr(auth, ':', (size_t)(at - auth));
			if (colon) {
				fprintf(stderr, "pmq-shovel: the URI carries a password: remove it and put it in "
						"the credentials file (--credentials-file)\n");
				return -1;
			}
		}
	}
	if (amqp_parse_url(tmp, &ci) != AMQP_STATUS_OK) {
		fprintf(stderr, "pmq-shovel: URI \"%s\" is not amqp://host[:port][/vhost] or amqps://...\n",
			c->uri);
		return -1;
	}
	snprintf(c->host, sizeof(c->host), "%s", ci.host);
	snprintf(c->vhost, sizeof(c->vhost), "%s", ci.vhost);
	c->port = ci.port;
	c->tls = ci.ssl;
	/* a user name in the URI is allowed (not secret); the file's wins */
	bool user_in_uri = auth && strchr(auth, '@') && (!strchr(auth, '/') || strchr(auth, '@') < strchr(auth, '/'));
	if (user_in_uri && !c->user[0])
		snprintf(c->user, sizeof(c->user), "%s", ci.user);
	return 0;
}

int cfg_parse(struct shovel_cfg *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, 0, 'c'},
		{"uri", required_argument, 0, 0},
		{"pmq-queue", required_argument, 0, 0},
		{"pmq-dir", required_argument, 0, 0},
		{"pmq-group", required_argument, 0, 0},
		{"amqp-queue", required_argument, 0, 0},
		{"direction", required_argument, 0, 0},
		{"prefetch", required_argument, 0, 0},
		{"batch", required_argument, 0, 0},
		{"credentials-file", required_argument, 0, 0},
		{"tls-ca", required_argument, 0, 0},
		{"tls-cert", required_argument, 0, 0},
		{"tls-key", required_argument, 0, 0},
		{"tls-verify", required_argument, 0, 0},
		{"declare", required_argument, 0, 0},
		{"dead-letter-exchange", required_argument, 0, 0},
		{"dead-letter-routing-key", required_argument, 0, 0},
		{"replicated", no_argument, 0, 'R'},
		{"envelope", required_argument, 0, 0},
		{"single-active-consumer", required_argument, 0, 0},
		{"status-file", required_argument, 0, 0},
		{"heartbeat", required_argument, 0, 0},
		{"backoff-min-ms", required_argument, 0, 0},
		{"backoff-max-ms", required_argument, 0, 0},
		{"name", required_argument, 0, 0},
		{"status", no_argument, 0, 'S'},
		{"verbose", no_argument, 0, 'v'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	memset(c, 0, sizeof(*c));
	c->prefetch = 256;
	c->batch = 64;
	c->tls_verify = true;
	c->envelope = true;
	c->single_active = true;
	c->heartbeat_s = 30;
	c->backoff_min_ms = 100;
	c->backoff_max_ms = 10000;
	c->log_level = LOG_INFO;
	c->declare = DECLARE_QUORUM;

	/* first pass: the config file, so that flags override it */
	for (int i = 1; i < argc; i++) {
		const char *path = NULL;
		if (!strcmp(argv[i], "--config") || !strcmp(argv[i], "-c"))
			path = i + 1 < argc ? argv[i + 1] : NULL;
		else if (!strncmp(argv[i], "--config=", 9))
			path = argv[i] + 9;
		else
			continue;
		if (!path) {
			fprintf(stderr, "pmq-shovel: --config needs a file\n");
			return SHOVEL_EXIT_USAGE;
		}
		FILE *f = fopen(path, "re");
		if (!f) {
			fprintf(stderr, "pmq-shovel: config file %s: %s\n", path, strerror(errno));
			return SHOVEL_EXIT_USAGE;
		}
		int r = read_kv_file(path, f, cfg_kv, c);
		fclose(f);
		if (r)
			return SHOVEL_EXIT_USAGE;
	}
	int opt, idx;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:hv", opts, &idx)) != -1) {
		switch (opt) {
		case 0:
			if (cfg_set(c, opts[idx].name, optarg))
				return SHOVEL_EXIT_USAGE;
			break;
		case 'c':
			break;
		case 'R':
			c->replicated = true;
			break;
		case 'S':
			c->show_status = true;
			break;
		case 'v':
			c->log_level = LOG_DEBUG;
			break;
		case 'h':
			cfg_usage(stdout);
			exit(0);
		default:
			cfg_usage(stderr);
			return SHOVEL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pmq-shovel: unexpected argument \"%s\" (see --help)\n", argv[optind]);
		return SHOVEL_EXIT_USAGE;
	}
	if (!c->name[0] && c->pmq_queue[0] && c->direction)
		snprintf(c->name, sizeof(c->name), "%s-%s", c->pmq_queue,
			 c->direction == DIR_PMQ_TO_AMQP ? "to-amqp" : "from-amqp");
	if (!c->status_file[0] && c->name[0])
		status_default_path(c, c->status_file, sizeof(c->status_file));
	if (c->show_status) {
		if (!c->status_file[0]) {
			fprintf(stderr, "pmq-shovel: --status needs --status-file, or --name, "
					"or --pmq-queue and --direction\n");
			return SHOVEL_EXIT_USAGE;
		}
		return 0;
	}
	const char *missing = !c->uri[0] ? "uri" : !c->pmq_queue[0] ? "pmq-queue"
				 : !c->amqp_queue[0] ? "amqp-queue" : !c->direction ? "direction" : NULL;
	if (missing) {
		fprintf(stderr, "pmq-shovel: %s is not set (flag --%s or \"%s = ...\" in --config)\n",
			missing, missing, missing);
		return SHOVEL_EXIT_USAGE;
	}
	if (c->backoff_min_ms > c->backoff_max_ms) {
		fprintf(stderr, "pmq-shovel: backoff-min-ms %u is above backoff-max-ms %u\n",
			c->backoff_min_ms, c->backoff_max_ms);
		return SHOVEL_EXIT_USAGE;
	}
	if (parse_uri(c))
		return SHOVEL_EXIT_USAGE;
	if (c->credentials_file[0] && read_credentials(c))
		return SHOVEL_EXIT_USAGE;
	if (!c->credentials_file[0]) {
		/* RabbitMQ's default account, which it accepts from localhost only */
		if (!c->user[0])
			strcpy(c->user, "guest");
		strcpy(c->password, "guest");
	}
	if ((c->tls_cert[0] != 0) != (c->tls_key[0] != 0)) {
		fprintf(stderr, "pmq-shovel: tls-cert and tls-key go together\n");
		return SHOVEL_EXIT_USAGE;
	}
	if (!c->tls && (c->tls_ca[0] || c->tls_cert[0])) {
		fprintf(stderr, "pmq-shovel: TLS options given but the URI is amqp://: use amqps://\n");
		return SHOVEL_EXIT_USAGE;
	}
	return 0;
}
