/*
 * repl.c - replication glue in pmqd: the settings (flags and config keys),
 * the node's epoch and role kept in DIR/.pmqd.repl, starting the standby
 * receiver and the replicator threads, and the control requests
 * `repl-stat [QUEUE]` and `promote`.
 *
 * The node file is the source of truth across restarts: a promoted node
 * stays primary, a fenced node stays fenced until `pmqctl rejoin`.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "safe_file.h"
#include "parse_num.h"
#include "repl_node.h"

struct repl_config g_repl = { .timeout_ms = 5000, .policy = REPL_DEGRADE, .encrypt = true };
_Atomic uint64_t g_node_epoch = 1;
_Atomic int g_node_role = NODE_PRIMARY;
static bool started;

uint64_t repl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *repl_role_name(int role)
{
	return role == NODE_PRIMARY ? "primary" : role == NODE_STANDBY ? "standby" : "fenced";
}

static int parse_policy(const char *v)
{
	if (!strcmp(v, "degrade"))
		return REPL_DEGRADE;
	if (!strcmp(v, "block"))
		return REPL_BLOCK;
	return -1;
}

int repl_config_set(const char *k, const char *v, char *why, size_t whylen)
{
	if (started)
		return 0; /* a reload does not change replication: restart pmqd for that */
	if (!strcmp(k, "standby")) {
		g_repl.standby = !strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "true");
	} else if (!strcmp(k, "repl-encrypt")) {
		/* the primary decides; the standby follows what the authenticated AUTH asks */
		bool yes = !strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "true");
		if (!yes && strcmp(v, "0") && strcmp(v, "no") && strcmp(v, "false"))
			return -EINVAL;
		g_repl.encrypt = yes;
	} else if (!strcmp(k, "listen")) {
		if (strlen(v) >= sizeof(g_repl.listen))
			return -EINVAL;
		snprintf(g_repl.listen, sizeof(g_repl.listen), "%s", v);
	} else if (!strcmp(k, "replicate-to")) {
		if (strlen(v) >= sizeof(g_repl.to[0]) || g_repl.n_to >= REPL_MAX_LINKS)
			return -EINVAL;
		for (unsigned i = 0; i < g_repl.n_to; i++)
			if (!strcmp(g_repl.to[i], v))
				return 0; /* the file and the flags may both name it */
		snprintf(g_repl.to[g_repl.n_to++], sizeof(g_repl.to[0]), "%s", v);
	} else if (!strcmp(k, "repl-key-file")) {
		if (strlen(v) >= sizeof(g_repl.key_file))
			return -EINVAL;
		snprintf(g_repl.key_file, sizeof(g_repl.key_file), "%s", v);
	} else if (!strcmp(k, "repl-timeout-ms")) {
		uint32_t x;
		if (parse_u32(v, 10, 10, 3600000, &x, why, whylen))
			return -EINVAL;
		g_repl.timeout_ms = x;
	} else if (!strcmp(k, "repl-policy")) {
		/* "degrade" | "block", then optional ",QUEUE=POLICY" overrides */
		char buf[1024];
		if (strlen(v) >= sizeof(buf))
			return -EINVAL;
		snprintf(buf, sizeof(buf), "%s", v);
		char *save = NULL;
		for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(t, '=');
			if (!eq) {
				int p = parse_policy(t);
				if (p < 0)
					return -EINVAL;
				g_repl.policy = p;
				continue;
			}
			*eq = '\0';
			int p = parse_policy(eq + 1);
			if (p < 0 || !*t || strlen(t) > PMQ_NAME_MAX || g_repl.n_over >= REPL_MAX_OVERRIDES)
				return -EINVAL;
			snprintf(g_repl.over[g_repl.n_over].name, sizeof(g_repl.over[0].name), "%s", t);
			g_repl.over[g_repl.n_over++].policy = p;
		}
	} else {
		return -ENOENT;
	}
	return 0;
}

int repl_policy_of(const char *queue)
{
	for (unsigned i = 0; i < g_repl.n_over; i++)
		if (!strcmp(g_repl.over[i].name, queue))
			return g_repl.over[i].policy;
	return g_repl.policy;
}

int repl_state_load(const char *dir, uint64_t *epoch, int *role, char *why, size_t whylen)
{
	char path[4200], body[256];
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", dir, REPL_STATE_FILE);
	/* pmqd acts on what it says (become primary, stay fenced): only a regular file of
	 * pmqd's own uid, which nobody else may write, is believed */
	int rc = safe_file_read(path, SAFE_FILE_OWNED | SAFE_FILE_TEXT, body, sizeof(body), &len, why, whylen);
	if (rc)
		return rc;
	unsigned long long e = 0;
	char r[32] = "";
	for (char *save = NULL, *line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "epoch %llu", &e) == 1)
			continue;
		sscanf(line, "role %31s", r);
	}
	if (!e || (strcmp(r, "primary") && strcmp(r, "standby") && strcmp(r, "fenced"))) {
		snprintf(why, whylen, "does not say \"epoch N\" and \"role primary|standby|fenced\"");
		return -EPROTO;
	}
	*epoch = e;
	*role = !strcmp(r, "primary") ? NODE_PRIMARY : !strcmp(r, "standby") ? NODE_STANDBY : NODE_FENCED;
	return 0;
}

bool repl_may_see(uid_t uid, const char *name)
{
	if (uid == 0)
		return true;
	char path[4400];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s.pmq", g_repl.dir, name);
	return lstat(path, &st) == 0 && st.st_uid == uid;
}

/* Write DIR/.pmqd.repl atomically and durably (rename after fsync). */
int repl_state_save(void)
{
	char path[4200], tmp[4300], body[128];
	snprintf(path, sizeof(path), "%s/%s", g_repl.dir, REPL_STATE_FILE);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	int n = snprintf(body, sizeof(body), "epoch %llu\nrole %s\n",
			 (unsigned long long)atomic_load(&g_node_epoch), repl_role_name(atomic_load(&g_node_role)));
	/* O_EXCL: in a sticky directory the name may be someone else's file (or a link
	 * to one); never truncate or write through it: remove ours or theirs, make a new one */
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, body, (size_t)n) != n || fsync(fd)) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return -e;
	}
	close(fd);
	if (rename(tmp, path))
		return -errno;
	int dfd = open(g_repl.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int repl_list_queues(const char *dir, char (*names)[PMQ_NAME_MAX + 1], int max)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < max) {
		size_t l = strlen(de->d_name);
		if (l < 5 || l - 4 > PMQ_NAME_MAX || de->d_name[0] == '.' || strcmp(de->d_name + l - 4, ".pmq"))
			continue;
		memcpy(names[n], de->d_name, l - 4);
		names[n][l - 4] = '\0';
		n++;
	}
	closedir(d);
	return n;
}

int repl_start(const char *dir)
{
	snprintf(g_repl.dir, sizeof(g_repl.dir), "%s", dir);
	started = true;
	if (!g_repl.standby && !g_repl.n_to && !g_repl.listen[0])
		return 0; /* no replication configured */
	const char *why = "";
	if (!g_repl.key_file[0]) {
		log_msg(LOG_ERR, "replication: no --repl-key-file --> both hosts need the same pre-shared key file");
		return -1;
	}
	int r = rp_load_key(g_repl.key_file, g_repl.key, &g_repl.keylen, &why);
	if (r) {
		log_msg(LOG_ERR, "replication: key file %s %s", g_repl.key_file, why);
		return -1;
	}
	uint64_t epoch = 1;
	int role = g_repl.standby ? NODE_STANDBY : NODE_PRIMARY;
	char lwhy[300] = "";
	int lr = repl_state_load(dir, &epoch, &role, lwhy, sizeof(lwhy));
	if (lr == 0) {
		if (g_repl.standby && role == NODE_PRIMARY) {
			log_msg(LOG_ERR, "replication: this node was promoted (epoch %llu, %s/%s) and is a primary now "
				"--> start pmqd without --standby, or run pmqctl rejoin to turn it into a standby again",
				(unsigned long long)epoch, dir, REPL_STATE_FILE);
			return -1;
		}
		if (!g_repl.standby && role == NODE_STANDBY) {
			log_msg(LOG_ERR, "replication: this node is a standby (%s/%s) --> start it with --standby, "
				"or promote it (pmqctl promote) while it runs as a standby", dir, REPL_STATE_FILE);
			return -1;
		}
	} else if (lr != -ENOENT) {
		log_msg(LOG_ERR, "replication: %s/%s %s%s", dir, REPL_STATE_FILE, lwhy,
			strstr(lwhy, "-->") ? "" : " --> fix or remove it");
		return -1;
	}
	atomic_store(&g_node_epoch, epoch);
	atomic_store(&g_node_role, role);
	if ((r = repl_state_save()) < 0) {
		log_msg(LOG_ERR, "replication: cannot write %s/%s: %s", dir, REPL_STATE_FILE, strerror(-r));
		return -1;
	}
	log_msg(LOG_NOTICE, "replication: node is %s at epoch %llu; %u standby link(s); policy %s after %u ms",
		repl_role_name(role), (unsigned long long)epoch, g_repl.n_to,
		g_repl.policy == REPL_BLOCK ? "block" : "degrade", g_repl.timeout_ms);
	if (g_repl.listen[0] && standby_start() < 0)
		return -1;
	if (g_repl.n_to && replicator_start() < 0)
		return -1;
	return 0;
}

void repl_stop(void)
{
	replicator_stop();
	standby_stop();
}

int repl_control(uid_t uid, char **arg, int nargs, struct jbuf *j, char *err, size_t errlen)
{
	const char *verb = arg[0];
	if (!strcmp(verb, "repl-stat") && nargs <= 2) {
		jb_printf(j, "{\"role\":\"%s\",\"epoch\":%llu,\"standby_links\":", repl_role_name(atomic_load(&g_node_role)),
			  (unsigned long long)atomic_load(&g_node_epoch));
		replicator_status(j, nargs == 2 ? arg[1] : NULL, uid);
		jb_raw(j, ",\"receiver\":");
		standby_status(j, uid);
		if (g_witness_status) {
			jb_raw(j, ",\"witness\":");
			g_witness_status(j);
		}
		jb_raw(j, "}");
		return 0;
	}
	if (!strcmp(verb, "promote") && (nargs == 1 || (nargs == 2 && !strcmp(arg[1], "--force")))) {
		if (g_witness_status && nargs == 1) {
			snprintf(err, errlen, "a witness (etcd) decides promotion on this node --> let it, or force it "
				 "with `promote --force` (pmqctl promote --force) after making sure the primary is down");
			return EBUSY;
		}
		if (uid != 0 && uid != getuid()) {
			snprintf(err, errlen, "uid %u may not promote --> run as root or as pmqd's user", (unsigned)uid);
			return EPERM;
		}
		if (atomic_load(&g_node_role) != NODE_STANDBY) {
			snprintf(err, errlen, "this node is %s at epoch %llu, not a standby --> nothing to promote",
				 repl_role_name(atomic_load(&g_node_role)), (unsigned long long)atomic_load(&g_node_epoch));
			return EALREADY;
		}
		return standby_promote(atomic_load(&g_node_epoch) + 1, j, err, errlen);
	}
	return -1;
}
