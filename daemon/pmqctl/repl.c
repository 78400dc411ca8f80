/*
 * repl.c - pmqctl's replication sub-commands (docs/failover.md):
 *   promote            make this standby the primary (epoch + 1)
 *   rejoin [--yes]     turn a fenced old primary into an empty standby: its
 *                      queue files are moved aside (never deleted) and the
 *                      divergent tickets of each are reported
 *   repl [QUEUE]       replication status: per standby link connected, lag in
 *                      entries and microseconds, last confirmed ticket, epochs
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "pmq_admin.h"
#include "pmqctl.h"

/* Value after "key": in s (numbers, true/false, or a quoted string without escapes). */
static bool jget(const char *s, const char *key, char *out, size_t cap)
{
	char k[64];
	snprintf(k, sizeof(k), "\"%s\":", key);
	const char *p = strstr(s, k);
	if (!p)
		return false;
	p += strlen(k);
	size_t n = 0;
	if (*p == '"') {
		p++;
		while (p[n] && p[n] != '"')
			n++;
	} else {
		while (p[n] && p[n] != ',' && p[n] != '}' && p[n] != ']')
			n++;
	}
	if (n >= cap)
		n = cap - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

/* The JSON string after "key": in s, unescaped into out (\uXXXX becomes '?');
 * false when the key is absent or its value is not a string (null). */
static bool jget_str(const char *s, const char *key, char *out, size_t cap)
{
	char k[64];
	snprintf(k, sizeof(k), "\"%s\":", key);
	const char *p = strstr(s, k);
	if (!p || p[strlen(k)] != '"')
		return false;
	p += strlen(k) + 1;
	size_t n = 0;
	while (*p && *p != '"') {
		char c = *p++;
		if (c == '\\' && *p) {
			c = *p++;
			if (c == 'u') {
				for (int i = 0; i < 4 && *p; i++)
					p++;
				c = '?';
			} else if (c == 'n' || c == 't' || c == 'r') {
				c = ' ';
			}
		}
		if (n + 1 < cap)
			out[n++] = c;
	}
	out[n] = '\0';
	return true;
}

/* The witness object of repl-stat in text: who holds the key, the lease, the last error. */
static void witness_show(const char *w)
{
	char key[600] = "?", state[32] = "?", holder[600], us[8] = "", ttl[32] = "?", left[32] = "-1", ago[32] = "-1",
	     epoch[32] = "0", lease[32] = "0", err[2100] = "";
	jget_str(w, "key", key, sizeof(key));
	jget_str(w, "state", state, sizeof(state));
	bool held = jget_str(w, "holder", holder, sizeof(holder));
	jget(w, "holder_is_us", us, sizeof(us));
	jget(w, "ttl_ms", ttl, sizeof(ttl));
	jget(w, "lease_left_ms", left, sizeof(left));
	jget(w, "last_renewal_ms_ago", ago, sizeof(ago));
	jget(w, "epoch", epoch, sizeof(epoch));
	jget_str(w, "lease_id", lease, sizeof(lease));
	jget_str(w, "error", err, sizeof(err));
	printf("  witness: etcd key %s, state %s, TTL %s ms\n", key, state, ttl);
	if (held)
		printf("    held by \"%s\"%s\n", holder, !strcmp(us, "true") ? " (this node)" : "");
	else
		printf("    held by nobody (the key is free)\n");
	if (strcmp(left, "-1"))
		printf("    lease %s: %s ms left, last renewal %s ms ago, epoch %s\n", lease, left, ago, epoch);
	else if (strcmp(ago, "-1"))
		printf("    no lease held now; last renewal %s ms ago, epoch %s\n", ago, epoch);
	else
		printf("    no lease held by this node\n");
	if (err[0])
		printf("    last error: %s\n", err);
}

int cmd_promote(int argc, char **argv)
{
	static char reply[PMQD_REPLY_MAX];
	bool force = argc == 2 && !strcmp(argv[1], "--force");
	if (argc > 1 && !force)
		return usage_err("promote takes only --force (pmqctl promote --help)");
	/* with an etcd witness configured pmqd refuses a manual promote unless forced */
	int r = pmqctl_request(force ? "promote --force" : "promote", reply, sizeof(reply));
	if (r < 0)
		return pmqd_unreachable("promote", r);
	if (r > 0) {
		fprintf(stderr, "pmqctl: promote: pmqd refused: %s%s\n", reply,
			strstr(reply, "EBUSY") ? " --> a witness decides promotion here; --force overrides it (risk: two "
						 "primaries if the old one still holds the lease, docs/failover.md)" : "");
		return strstr(reply, "EPERM") ? EX_PERM : EX_FAIL;
	}
	if (pmqctl_json()) {
		printf("%s\n", reply);
		return 0;
	}
	char ep[32] = "?";
	jget(reply, "epoch", ep, sizeof(ep));
	printf("promoted: this node is the primary at epoch %s; its queues accept producers\n", ep);
	for (const char *p = strstr(reply, "{\"name\":"); p; p = strstr(p + 1, "{\"name\":")) {
		char name[PMQ_NAME_MAX + 1], d[32], h[32], t[32];
		jget(p, "name", name, sizeof(name));
		jget(p, "deliverable", d, sizeof(d));
		jget(p, "head", h, sizeof(h));
		jget(p, "tail", t, sizeof(t));
		printf("  %-24s %s message(s) deliverable (tickets %s..%s)\n", name, d, h, t);
	}
	return 0;
}

int cmd_rejoin(int argc, char **argv)
{
	bool yes = argc == 2 && !strcmp(argv[1], "--yes");
	if (argc > 2 || (argc == 2 && !yes))
		return usage_err("rejoin takes only --yes");
	if (pmqctl_json())
		return usage_err("rejoin reports in text only (it moves files; read its lines), drop --json");
	const char *dir = pmqctl_qdir();
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, PMQD_LOCK_NAME);
	int lfd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (lfd >= 0) {
		if (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
			fprintf(stderr, "pmqctl: rejoin: pmqd is running on %s --> stop it first (systemctl stop pmqd)\n",
				dir);
			close(lfd);
			return 1;
		}
	}
	snprintf(path, sizeof(path), "%s/.pmqd.repl", dir);
	FILE *f = fopen(path, "re");
	unsigned long long epoch = 0;
	char role[32] = "primary", line[128];
	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "epoch %llu", &epoch) != 1)
				sscanf(line, "role %31s", role);
		fclose(f);
	}
	if (strcmp(role, "fenced") && !yes) {
		fprintf(stderr, "pmqctl: rejoin: this node is a %s (epoch %llu), not fenced --> add --yes if you "
			"really mean to turn it into a standby\n", role, epoch);
		return 1;
	}
	char aside[4300];
	snprintf(aside, sizeof(aside), "%s/diverged-e%llu-%lld", dir, epoch, (long long)time(NULL));
	if (mkdir(aside, 0700) && errno != EEXIST) {
		fprintf(stderr, "pmqctl: rejoin: cannot create %s: %s\n", aside, strerror(errno));
		return 1;
	}
	static char names[256][PMQ_NAME_MAX + 1];
	int n = 0;
	/* the queue files of the directory */
	{
		DIR *d = opendir(dir);
		struct dirent *de;
		while (d && (de = readdir(d)) && n < 256) {
			size_t l = strlen(de->d_name);
			if (l < 5 || l - 4 > PMQ_NAME_MAX || de->d_name[0] == '.' || strcmp(de->d_name + l - 4, ".pmq"))
				continue;
			memcpy(names[n], de->d_name, l - 4);
			names[n++][l - 4] = '\0';
		}
		if (d)
			closedir(d);
	}
	printf("rejoin: moving %d queue file(s) of the old primary (epoch %llu) to %s\n", n, epoch, aside);
	for (int i = 0; i < n; i++) {
		pmq_t *q;
		struct pmq_open_opts o;
		pmq_open_opts_init(&o);
		o.dir = dir;
		o.owner_uid = PMQ_OWNER_ANY; /* an observer only reads */
		struct pmq_repl_info in = { 0 };
		if (pmq_open_ex(names[i], 0, &o, &q) == 0) {
			pmq_repl_info(q, &in);
			pmq_close(q);
		}
		char from[4300], to[4600];
		snprintf(from, sizeof(from), "%.4000s/%.200s.pmq", dir, names[i]);
		snprintf(to, sizeof(to), "%.4300s/%.200s.pmq", aside, names[i]);
		if (rename(from, to)) {
			fprintf(stderr, "pmqctl: rejoin: cannot move %s: %s\n", from, strerror(errno));
			return 1;
		}
		uint64_t div = in.tail > in.replicated ? in.tail - in.replicated : 0;
		printf("  %-24s tail %" PRIu64 ", confirmed by the standby below %" PRIu64 ": %" PRIu64
		       " ticket(s) possibly divergent%s\n", names[i], in.tail, in.replicated, div,
		       div ? " (inspect them: PMQ_DIR=<that dir> pmqctl peek QUEUE)" : "");
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "pmqctl: rejoin: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}
	dprintf(fd, "epoch %llu\nrole standby\n", epoch ? epoch : 1);
	fsync(fd);
	close(fd);
	printf("rejoin: this node is a standby now --> start pmqd --standby --listen ADDR:PORT here, and "
	       "--replicate-to this host on the new primary; it resyncs from the live entries\n");
	if (lfd >= 0)
		close(lfd);
	return 0;
}

/* Does the repl-stat reply mention `queue` (a link ships it or a mirror holds it)? */
static bool mentions(const char *reply, const char *queue)
{
	char k[PMQ_NAME_MAX + 16];
	snprintf(k, sizeof(k), "{\"name\":\"%s\"", queue);
	return strstr(reply, k) != NULL;
}

/* queue NULL: the whole node; quiet: print nothing for a queue that is not replicated */
static int repl_show(const char *queue, bool quiet)
{
	static char reply[PMQD_REPLY_MAX];
	char req[300];
	snprintf(req, sizeof(req), queue ? "repl-stat %s" : "repl-stat", queue ? queue : "");
	int r = pmqctl_request(req, reply, sizeof(reply));
	if (r < 0)
		return quiet ? EX_NODAEMON : pmqd_unreachable("repl", r);
	if (r) {
		if (!quiet)
			fprintf(stderr, "pmqctl: repl: pmqd answered: %s\n", reply);
		return EX_FAIL;
	}
	if (pmqctl_json() && !quiet) {
		printf("%s\n", reply); /* pmqd's repl-stat object (docs/failover.md) */
		return 0;
	}
	if (queue && !mentions(reply, queue)) {
		if (!quiet)
			printf("queue \"%s\" is not replicated (no standby link ships it, no mirror holds it)\n", queue);
		return 0;
	}
	char role[32] = "", epoch[32] = "";
	jget(reply, "role", role, sizeof(role));
	jget(reply, "epoch", epoch, sizeof(epoch));
	printf("  replication: node %s at epoch %s\n", role, epoch);
	const char *w = strstr(reply, "\"witness\":{");
	if (w)
		witness_show(w + strlen("\"witness\":"));
	for (const char *p = strstr(reply, "{\"standby\":"); p; p = strstr(p + 1, "{\"standby\":")) {
		char addr[256], conn[8], se[32], ms[32];
		jget(p, "standby", addr, sizeof(addr));
		jget(p, "connected", conn, sizeof(conn));
		jget(p, "standby_epoch", se, sizeof(se));
		jget(p, "for_ms", ms, sizeof(ms));
		printf("  standby %s: %s for %s ms, its epoch %s\n", addr, !strcmp(conn, "true") ? "connected" : "DISCONNECTED",
		       ms, se);
		const char *end = strstr(p + 1, "{\"standby\":");
		for (const char *qp = strstr(p, "{\"name\":"); qp && (!end || qp < end); qp = strstr(qp + 1, "{\"name\":")) {
			char name[PMQ_NAME_MAX + 1], c[32], le[32], lu[32], sync[8], pol[16];
			jget(qp, "name", name, sizeof(name));
			jget(qp, "confirmed", c, sizeof(c));
			jget(qp, "lag_entries", le, sizeof(le));
			jget(qp, "lag_us", lu, sizeof(lu));
			jget(qp, "in_sync", sync, sizeof(sync));
			jget(qp, "policy", pol, sizeof(pol));
			printf("    %-24s confirmed below %s, lag %s entries / %s us, %s (policy %s)\n", name, c, le, lu,
			       !strcmp(sync, "true") ? "in sync" : "OUT OF SYNC", pol);
		}
	}
	const char *rx = strstr(reply, "\"receiver\":{");
	if (rx) {
		char conn[8], peer[64], frames[32], refused[32];
		jget(rx, "connected", conn, sizeof(conn));
		jget(rx, "peer", peer, sizeof(peer));
		jget(rx, "frames", frames, sizeof(frames));
		jget(rx, "refused", refused, sizeof(refused));
		printf("  receiver: primary %s %s, %s frames, %s refused\n", peer,
		       !strcmp(conn, "true") ? "connected" : "not connected", frames, refused);
		for (const char *qp = strstr(rx, "{\"name\":"); qp; qp = strstr(qp + 1, "{\"name\":")) {
			char name[PMQ_NAME_MAX + 1], nx[32];
			jget(qp, "name", name, sizeof(name));
			jget(qp, "next", nx, sizeof(nx));
			if (!queue || !strcmp(queue, name))
				printf("    mirror %-24s has every ticket below %s\n", name, nx);
		}
	}
	return 0;
}

int pmqctl_repl_print(const char *queue)
{
	return repl_show(queue, true);
}

int cmd_repl(int argc, char **argv)
{
	if (argc > 2 || (argc == 2 && argv[1][0] == '-'))
		return usage_err("repl takes at most one queue name");
	return repl_show(argc == 2 ? argv[1] : NULL, false);
}
