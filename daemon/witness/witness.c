/*
 * witness.c - automatic failover with etcd as the witness.
 *
 * One thread. On the primary it holds the leader key (--witness-key) under
 * an etcd lease of --witness-ttl-ms, created with a "create if absent" txn,
 * and renews the lease every TTL/3 (more often when the margin leaves less:
 * three renewals fit before the fence deadline). It fences this node (repl_fence_node:
 * producers get ESHUTDOWN) as soon as it cannot prove it still holds the
 * lease: at last successful renewal + TTL - margin, margin = max(TTL/3,
 * 500 ms) (capped at TTL/2), so the fence comes before etcd can expire the lease and
 * let a standby in (the renewal's send time is used, so the proof is never
 * later than etcd's clock). Also fenced: the lease is gone at etcd, or the key
 * is no longer ours (deleted or overwritten by something else).
 *
 * On a standby it polls the key every min(TTL/3, 100 ms). When the key is
 * gone and this standby is in sync (repl_view), it campaigns with the same
 * txn and, when it wins, promotes itself (repl_promote_at) at the key's
 * create_revision: etcd's revision only grows, so every promotion has a
 * higher epoch than the last. Then it holds the key as a primary.
 *
 * etcd down while both hosts are healthy: the primary fences after the
 * margin (availability lost, never two primaries); see docs/failover.md.
 *
 * A clean stop of the holder hands over (release_on_stop): fence, let the
 * standby confirm everything, revoke the lease.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "etcd.h"
#include "log.h"
#include "parse_num.h"
#include "repl.h"
#include "witness.h"

static struct {
	char spec[2048];                /* --witness etcd://H:P[,H:P] */
	unsigned ttl_ms;                /* --witness-ttl-ms */
	char key[512];                  /* --witness-key */
	char name[256];                 /* --witness-name: this node's value in the key */
	bool allow_unsynced;            /* --witness-promote-unsynced */
	bool handover;                  /* --witness-handover-on-stop (default yes) */
	char cacert[4096], cert[4096], keyfile[4096], user[128], password_file[4096];
} cfg = { .ttl_ms = 3000, .handover = true };

enum wstate { W_START, W_HOLDING, W_FOLLOWING, W_CAMPAIGN_BLOCKED, W_FENCED, W_ERROR };
static const char *const state_name[] = { "starting", "holding", "following", "not-in-sync", "fenced", "error" };
const char *const witness_states[] = { "starting", "holding", "following", "not-in-sync", "fenced", "error", NULL };

/* Status for repl-stat, written by the witness thread, read by the control thread under mu. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	enum wstate state;
	char holder[ETCD_VALUE_MAX + 1];
	bool holder_known;
	int64_t lease, epoch;
	uint64_t last_renew_ns;  /* when the last successful renewal was sent */
	unsigned ttl_eff_ms;
	bool started;            /* the thread runs: witness_view answers */
	char err[2048];
} st;

static pthread_t th;
static bool running;
static struct etcd E;

int witness_config_set(const char *k, const char *v)
{
	size_t l = strlen(v);
	if (!strcmp(k, "witness")) {
		if (l >= sizeof(cfg.spec) || strncmp(v, "etcd://", 7))
			return -EINVAL;
		memcpy(cfg.spec, v, l + 1);
	} else if (!strcmp(k, "witness-ttl-ms")) {
		uint32_t x; /* the one strict parser (daemon/common/parse_num.c) */
		if (parse_u32(v, 10, 1000, 600000, &x, NULL, 0) || x % 1000)
			return -EINVAL; /* etcd leases are whole seconds */
		cfg.ttl_ms = (unsigned)x;
	} else if (!strcmp(k, "witness-key")) {
		if (l >= sizeof(cfg.key) || v[0] != '/')
			return -EINVAL;
		memcpy(cfg.key, v, l + 1);
	} else if (!strcmp(k, "witness-name")) {
		if (!l || l >= sizeof(cfg.name))
			return -EINVAL;
		memcpy(cfg.name, v, l + 1);
	} else if (!strcmp(k, "witness-promote-unsynced")) {
		cfg.allow_unsynced = !strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "true");
	} else if (!strcmp(k, "witness-handover-on-stop")) {
		bool yes = !strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "true");
		if (!yes && strcmp(v, "0") && strcmp(v, "no") && strcmp(v, "false"))
			return -EINVAL;
		cfg.handover = yes;
	} else if (!strcmp(k, "witness-cacert") || !strcmp(k, "witness-cert") || !strcmp(k, "witness-key-file") ||
		   !strcmp(k, "witness-password-file")) {
		char *dst = !strcmp(k, "witness-cacert") ? cfg.cacert : !strcmp(k, "witness-cert") ? cfg.cert :
			    !strcmp(k, "witness-key-file") ? cfg.keyfile : cfg.password_file;
		if (l >= 4096)
			return -EINVAL;
		memcpy(dst, v, l + 1);
	} else if (!strcmp(k, "witness-user")) {
		if (!l || l >= sizeof(cfg.user))
			return -EINVAL;
		memcpy(cfg.user, v, l + 1);
	} else {
		return -ENOENT;
	}
	return 0;
}

static uint64_t now_ns(void)
{
	return mono_ns();
}

static _Atomic int stop_flag;

/* A sleep that ends early on witness_stop: a clean stop hands over at once, not after
 * the rest of a renewal period. */
static void sleep_ms(unsigned ms)
{
	while (ms && !atomic_load(&stop_flag)) {
		unsigned step = ms < 20 ? ms : 20;
		struct timespec ts = { 0, (long)step * 1000000L };
		nanosleep(&ts, NULL);
		ms -= step;
	}
}

static unsigned margin_ms(unsigned ttl)
{
	unsigned m = ttl / 3 > 500 ? ttl / 3 : 500;
	return m > ttl / 2 ? ttl / 2 : m;
}

static void set_state(enum wstate s, const char *err)
{
	pthread_mutex_lock(&mu);
	st.state = s;
	if (err)
		snprintf(st.err, sizeof(st.err), "%s", err);
	pthread_mutex_unlock(&mu);
}

static void set_holder(const struct etcd_kv *kv)
{
	pthread_mutex_lock(&mu);
	st.holder_known = kv->found;
	snprintf(st.holder, sizeof(st.holder), "%s", kv->found ? kv->value : "");
	pthread_mutex_unlock(&mu);
}

int witness_view(struct witness_view *v)
{
	pthread_mutex_lock(&mu);
	int rc = st.started ? 0 : -ENOENT;
	if (!rc) {
		long long ago = st.last_renew_ns ? (long long)((now_ns() - st.last_renew_ns) / 1000000) : -1;
		v->state = state_name[st.state];
		v->renewal_age_ms = ago;
		v->lease_left_ms = st.state == W_HOLDING && ago >= 0 ? (long long)st.ttl_eff_ms - ago : -1;
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

static void status(struct jbuf *j)
{
	pthread_mutex_lock(&mu);
	uint64_t now = now_ns();
	long long left = -1, ago = -1;
	if (st.last_renew_ns) {
		ago = (long long)((now - st.last_renew_ns) / 1000000);
		left = st.state == W_HOLDING ? (long long)st.ttl_eff_ms - ago : -1;
	}
	jb_raw(j, "{\"endpoints\":");
	jb_str(j, cfg.spec);
	jb_raw(j, ",\"key\":");
	jb_str(j, cfg.key);
	jb_raw(j, ",\"name\":");
	jb_str(j, cfg.name);
	jb_printf(j, ",\"ttl_ms\":%u,\"state\":\"%s\",\"holder\":", st.ttl_eff_ms ? st.ttl_eff_ms : cfg.ttl_ms,
		  state_name[st.state]);
	if (st.holder_known)
		jb_str(j, st.holder);
	else
		jb_raw(j, "null");
	jb_printf(j, ",\"holder_is_us\":%s,\"lease_id\":\"%llx\",\"lease_left_ms\":%lld,\"last_renewal_ms_ago\":%lld,"
		  "\"epoch\":%lld,\"error\":",
		  st.holder_known && !strcmp(st.holder, cfg.name) ? "true" : "false", (unsigned long long)st.lease, left,
		  ago, (long long)st.epoch);
	jb_str(j, st.err);
	jb_raw(j, "}");
	pthread_mutex_unlock(&mu);
}

/* Log a repeating condition once per change of text. */
static void note(int level, const char *msg)
{
	static char last[2048];
	if (!strcmp(last, msg))
		return;
	snprintf(last, sizeof(last), "%s", msg);
	log_msg(level, "witness: %s", msg);
}

/* ---- the primary: hold the key, renew, fence ---------------------------------------- */

struct hold {
	int64_t lease;
	unsigned ttl_eff;     /* ms: min(requested, granted) */
	uint64_t proven_ns;   /* send time of the last successful grant or renewal */
};

static void fence(const char *why)
{
	repl_fence_node(why);
	set_state(W_FENCED, why);
}

/* Try to become the holder: 1 won (h filled, *rev the key's create_revision),
 * 0 the key is someone else's (kv), <0 etcd error. */
static int campaign(struct hold *h, int64_t *rev, struct etcd_kv *kv, unsigned timeout)
{
	int64_t id, granted;
	/* not holding yet: the password check may take its time (bcrypt on a busy etcd) */
	int r = etcd_authenticate(&E, cfg.ttl_ms > 2000 ? cfg.ttl_ms : 2000);
	if (r < 0)
		return r;
	uint64_t t0 = now_ns();
	r = etcd_lease_grant(&E, cfg.ttl_ms / 1000, &id, &granted, timeout);
	if (r < 0)
		return r;
	bool won = false;
	r = etcd_create(&E, cfg.key, cfg.name, id, &won, rev, kv, timeout);
	if (r < 0 || !won) {
		etcd_lease_revoke(&E, id, timeout); /* best effort: it would expire anyway */
		return r < 0 ? r : 0;
	}
	h->lease = id;
	h->ttl_eff = granted * 1000 < cfg.ttl_ms ? (unsigned)granted * 1000 : cfg.ttl_ms;
	h->proven_ns = t0;
	if (granted * 1000 > cfg.ttl_ms)
		log_msg(LOG_WARNING, "witness: etcd granted a %lld s lease for --witness-ttl-ms %u --> a standby waits "
			"that long; etcd's minimum lease TTL depends on its --election-timeout", (long long)granted,
			cfg.ttl_ms);
	return 1;
}

static void publish_hold(const struct hold *h, int64_t epoch)
{
	pthread_mutex_lock(&mu);
	st.state = W_HOLDING;
	st.lease = h->lease;
	st.ttl_eff_ms = h->ttl_eff;
	st.last_renew_ns = h->proven_ns;
	if (epoch)
		st.epoch = epoch;
	st.holder_known = true;
	snprintf(st.holder, sizeof(st.holder), "%s", cfg.name);
	st.err[0] = '\0';
	pthread_mutex_unlock(&mu);
}

/* Hold the key until we cannot prove it, then fence. Returns when fenced or stopping. */
static void hold_loop(struct hold *h)
{
	/* every TTL/3, and often enough that three renewals fit before the fence deadline */
	unsigned period = h->ttl_eff / 3, fit = (h->ttl_eff - margin_ms(h->ttl_eff)) / 3;
	if (fit < period)
		period = fit;
	uint64_t deadline = h->proven_ns + (uint64_t)(h->ttl_eff - margin_ms(h->ttl_eff)) * 1000000ull;
	while (!atomic_load(&stop_flag)) {
		uint64_t now = now_ns();
		if (now >= deadline) {
			char why[1400];
			snprintf(why, sizeof(why), "cannot prove this node still holds %.500s: no lease renewal for %llu ms "
				 "(TTL %u ms, margin %u ms; last error: %.500s)", cfg.key,
				 (unsigned long long)((now - h->proven_ns) / 1000000), h->ttl_eff, margin_ms(h->ttl_eff),
				 E.err[0] ? E.err : "none");
			fence(why);
			etcd_lease_revoke(&E, h->lease, 200);
			return;
		}
		/* never block past the fence deadline */
		unsigned left = (unsigned)((deadline - now) / 1000000);
		unsigned timeout = left < period ? (left > 20 ? left : 20) : period;
		uint64_t t0 = now_ns();
		int64_t ttl = 0;
		int r = etcd_lease_keepalive(&E, h->lease, &ttl, timeout);
		if (r == 0 && ttl <= 0) {
			char why[1400];
			snprintf(why, sizeof(why), "etcd no longer knows lease %llx of %s (expired or revoked)",
				 (unsigned long long)h->lease, cfg.key);
			fence(why);
			return;
		}
		if (r == 0) {
			struct etcd_kv kv;
			r = etcd_get(&E, cfg.key, &kv, timeout);
			if (r == 0 && (!kv.found || kv.lease != h->lease)) {
				char why[1400];
				snprintf(why, sizeof(why), "the leader key %s was %s by something else%s%s --> not ours any more",
					 cfg.key, kv.found ? "overwritten" : "deleted", kv.found ? ": now " : "",
					 kv.found ? kv.value : "");
				fence(why);
				etcd_lease_revoke(&E, h->lease, 200);
				return;
			}
			if (r == 0) {
				h->proven_ns = t0;
				deadline = t0 + (uint64_t)(h->ttl_eff - margin_ms(h->ttl_eff)) * 1000000ull;
				publish_hold(h, 0);
			}
		}
		if (r < 0) {
			set_state(W_HOLDING, E.err);
			note(LOG_WARNING, E.err);
		}
		uint64_t spent = (now_ns() - t0) / 1000000;
		if (spent < period)
			sleep_ms((unsigned)(period - spent));
	}
}

/* ---- the loop -------------------------------------------------------------------------- */

static void *witness_main(void *arg)
{
	(void)arg;
	uint64_t start = now_ns();
	unsigned poll = cfg.ttl_ms / 3 < 100 ? cfg.ttl_ms / 3 : 100; /* etcd revokes expired leases every 500 ms: poll well below */
	unsigned timeout = cfg.ttl_ms / 3;
	bool seen_held = false; /* a standby saw the key held under a lease since it started */
	while (!atomic_load(&stop_flag)) {
		struct repl_view v;
		repl_view(&v);
		char msg[1800];
		if (v.fenced) {
			set_state(W_FENCED, NULL);
			note(LOG_NOTICE, "this node is fenced: the witness does nothing until pmqctl rejoin");
			sleep_ms(500);
			continue;
		}
		struct hold h = { 0 };
		struct etcd_kv kv;
		int64_t rev = 0;
		if (v.primary) {
			int r = campaign(&h, &rev, &kv, timeout);
			if (r == 1) {
				log_msg(LOG_NOTICE, "witness: this primary holds %s (lease %llx, TTL %u ms, create revision %lld)",
					cfg.key, (unsigned long long)h.lease, h.ttl_eff, (long long)rev);
				publish_hold(&h, rev);
				hold_loop(&h);
				continue;
			}
			if (r == 0 && kv.lease && !strcmp(kv.value, cfg.name)) {
				/* ours from before a restart of pmqd: renew that lease if etcd still has it */
				uint64_t t0 = now_ns();
				int64_t ttl = 0;
				if (etcd_lease_keepalive(&E, kv.lease, &ttl, timeout) == 0 && ttl > 0) {
					h.lease = kv.lease;
					h.ttl_eff = ttl * 1000 < cfg.ttl_ms ? (unsigned)ttl * 1000 : cfg.ttl_ms;
					h.proven_ns = t0;
					log_msg(LOG_NOTICE, "witness: this primary still holds %s from before (lease %llx)", cfg.key,
						(unsigned long long)h.lease);
					publish_hold(&h, kv.create_revision);
					hold_loop(&h);
					continue;
				}
			}
			if (r == 0) {
				set_holder(&kv);
				snprintf(msg, sizeof(msg), "%s is held by \"%s\" (not this node, \"%s\")%s", cfg.key, kv.value,
					 cfg.name, kv.lease ? "" : " without a lease: something else wrote it");
			} else {
				snprintf(msg, sizeof(msg), "cannot reach etcd to take %s: %s", cfg.key, E.err);
			}
			set_state(W_ERROR, msg);
			note(LOG_ERR, msg);
			/* a primary that cannot take the key within a TTL of starting must not serve */
			if (now_ns() - start > (uint64_t)cfg.ttl_ms * 1000000ull) {
				fence(msg);
				continue;
			}
			sleep_ms(poll);
			continue;
		}
		/* a standby: follow the key, campaign when it is gone */
		int r = etcd_authenticate(&E, cfg.ttl_ms > 2000 ? cfg.ttl_ms : 2000);
		if (r == 0)
			r = etcd_get(&E, cfg.key, &kv, timeout);
		if (r < 0) {
			snprintf(msg, sizeof(msg), "cannot reach etcd: %s --> no promotion while etcd is unreachable", E.err);
			set_state(W_ERROR, msg);
			note(LOG_WARNING, msg);
			sleep_ms(poll);
			continue;
		}
		set_holder(&kv);
		if (kv.found && kv.lease)
			seen_held = true;
		if (!kv.found && !seen_held && v.contact_age_ms == 0) {
			/* at start-up the primary's replicator can connect before its witness takes
			 * the key: a free key that nobody held yet, while a primary streams to us, is
			 * no reason to take over from it (its session ends when it fences itself) */
			snprintf(msg, sizeof(msg), "%s is free but the primary is connected and has not taken it yet --> "
				 "waiting", cfg.key);
			set_state(W_FOLLOWING, "");
			note(LOG_INFO, msg);
			sleep_ms(poll);
			continue;
		}
		if (kv.found) {
			if (!kv.lease) {
				snprintf(msg, sizeof(msg), "%s holds \"%s\" without a lease: something else wrote it --> no "
					 "promotion until it is deleted", cfg.key, kv.value);
				set_state(W_ERROR, msg);
				note(LOG_ERR, msg);
			} else {
				set_state(W_FOLLOWING, "");
				snprintf(msg, sizeof(msg), "following: %s is held by \"%s\"", cfg.key, kv.value);
				note(LOG_INFO, msg);
			}
			sleep_ms(poll);
			continue;
		}
		if (!v.in_sync && !cfg.allow_unsynced) {
			snprintf(msg, sizeof(msg), "%s is free but this standby is not in sync (%s) --> not promoting; "
				 "--witness-promote-unsynced allows it (may lose messages)", cfg.key,
				 v.contact_age_ms < 0 ? "never had a primary" : "no primary session for longer than --repl-timeout-ms");
			set_state(W_CAMPAIGN_BLOCKED, msg);
			note(LOG_WARNING, msg);
			sleep_ms(poll);
			continue;
		}
		r = campaign(&h, &rev, &kv, timeout);
		if (r <= 0) {
			if (r < 0)
				note(LOG_WARNING, E.err);
			sleep_ms(poll);
			continue;
		}
		unsigned long long used = 0;
		char err[512];
		int pr = repl_promote_at((unsigned long long)rev, &used, err, sizeof(err));
		if (pr) {
			log_msg(LOG_ERR, "witness: won %s but cannot promote: %s --> giving the key back", cfg.key, err);
			etcd_lease_revoke(&E, h.lease, timeout);
			sleep_ms(poll);
			continue;
		}
		log_msg(LOG_NOTICE, "witness: promoted this node at epoch %llu (won %s, create revision %lld, %s)", used,
			cfg.key, (long long)rev, v.in_sync ? "in sync" : "NOT in sync: --witness-promote-unsynced");
		publish_hold(&h, rev);
		hold_loop(&h);
	}
	return NULL;
}

static int read_password(const char *path, char *out, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb)) {
		log_msg(LOG_ERR, "witness: cannot open --witness-password-file %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if ((sb.st_mode & 077) || (sb.st_uid != geteuid() && sb.st_uid != 0)) {
		log_msg(LOG_ERR, "witness: --witness-password-file %s is mode %03o owned by uid %u --> chmod 600 and "
			"own it by pmqd's user", path, (unsigned)(sb.st_mode & 0777), (unsigned)sb.st_uid);
		close(fd);
		return -1;
	}
	ssize_t n = read(fd, out, cap - 1);
	close(fd);
	if (n <= 0) {
		log_msg(LOG_ERR, "witness: --witness-password-file %s is empty", path);
		return -1;
	}
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

int witness_start(const char *dir)
{
	if (!cfg.spec[0]) {
		if (cfg.key[0] || cfg.user[0] || cfg.cacert[0])
			log_msg(LOG_WARNING, "witness: witness settings without --witness etcd://... --> ignored");
		return 0;
	}
	if (!cfg.key[0])
		snprintf(cfg.key, sizeof(cfg.key), "/pmq/default/leader");
	if (!cfg.name[0]) {
		char host[200] = "?";
		gethostname(host, sizeof(host) - 1);
		snprintf(cfg.name, sizeof(cfg.name), "%.100s:%.140s", host, dir);
	}
	if (etcd_init(&E, cfg.spec, cfg.cacert[0] != '\0') < 0) {
		log_msg(LOG_ERR, "witness: %s", E.err);
		return -1;
	}
	snprintf(E.cacert, sizeof(E.cacert), "%s", cfg.cacert);
	snprintf(E.cert, sizeof(E.cert), "%s", cfg.cert);
	snprintf(E.keyfile, sizeof(E.keyfile), "%s", cfg.keyfile);
	if (cfg.user[0]) {
		if (!cfg.password_file[0]) {
			log_msg(LOG_ERR, "witness: --witness-user without --witness-password-file --> give both");
			return -1;
		}
		if (read_password(cfg.password_file, E.password, sizeof(E.password)) < 0)
			return -1;
		snprintf(E.user, sizeof(E.user), "%s", cfg.user);
	}
	struct repl_view v;
	repl_view(&v);
	if (v.standby && !v.in_sync && v.contact_age_ms < 0 && !cfg.allow_unsynced)
		log_msg(LOG_NOTICE, "witness: this standby promotes only once it has been in sync with a primary");
	repl_set_witness(status);
	st.ttl_eff_ms = cfg.ttl_ms;
	if (pthread_create(&th, NULL, witness_main, NULL)) {
		log_msg(LOG_ERR, "witness: cannot start its thread");
		return -1;
	}
	running = true;
	pthread_mutex_lock(&mu);
	st.started = true;
	pthread_mutex_unlock(&mu);
	log_msg(LOG_NOTICE, "witness: etcd %s, key %s as \"%s\", TTL %u ms, fence margin %u ms", cfg.spec, cfg.key,
		cfg.name, cfg.ttl_ms, margin_ms(cfg.ttl_ms));
	return 0;
}

/* A clean stop (SIGTERM) of the primary that holds the key: hand over, as Patroni
 * does on a clean shutdown of its leader. The queues are fenced and the standby
 * confirms every committed message (repl_handover), then the lease is revoked, which
 * deletes the key: the standby wins it at its next poll instead of after the TTL.
 * Without a connected standby nothing is done: the key stays until the TTL, and a
 * pmqd restarted within it keeps it (docs/failover.md "Clean stop"). */
static void release_on_stop(void)
{
	pthread_mutex_lock(&mu);
	bool holding = st.state == W_HOLDING;
	int64_t lease = st.lease;
	pthread_mutex_unlock(&mu);
	if (!holding || !lease)
		return;
	if (!cfg.handover) {
		log_msg(LOG_NOTICE, "witness: stopping; keeping %s (--witness-handover-on-stop no): it expires after the "
			"TTL unless pmqd restarts within it", cfg.key);
		return;
	}
	char why[512];
	int r = repl_handover(cfg.ttl_ms, why, sizeof(why));
	if (r == -ENOLINK || r == -EALREADY) {
		log_msg(LOG_NOTICE, "witness: stopping without a handover (%s) --> keeping %s: it expires after the TTL "
			"unless pmqd restarts within it", why, cfg.key);
		return;
	}
	if (r)
		log_msg(LOG_WARNING, "witness: handover: %s --> handing over anyway (the queues are fenced; pmqctl "
			"rejoin reports those messages as divergent)", why);
	r = etcd_lease_revoke(&E, lease, cfg.ttl_ms / 2);
	if (r)
		log_msg(LOG_WARNING, "witness: cannot revoke lease %llx: %s --> the standby takes over when it expires "
			"(TTL %u ms)", (unsigned long long)lease, E.err, cfg.ttl_ms);
	else
		log_msg(LOG_NOTICE, "witness: handed over: lease %llx revoked, %s is free for the standby; this node is "
			"fenced --> pmqctl rejoin --yes to bring it back as a standby", (unsigned long long)lease,
			cfg.key);
}

void witness_stop(void)
{
	if (!running)
		return;
	atomic_store(&stop_flag, 1);
	pthread_join(th, NULL);
	running = false;
	release_on_stop();
	etcd_fini(&E);
}
