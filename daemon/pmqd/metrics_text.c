/*
 * metrics_text.c - the /metrics page in the Prometheus text exposition format
 * (version 0.0.4): HELP and TYPE once per family, then one sample per queue.
 *
 * The registry is walked once, inside an RCU read section, into a snapshot
 * array; the text is written afterwards, so the read section lasts as long as
 * the copies and not as long as the formatting. Per queue the snapshot holds
 * pmq_stats (and pmq_repl_info when this node replicates), taken under the
 * queue's mutex because pmqd's observer handle is one-thread-at-a-time; that
 * mutex belongs to pmqd's threads, never to a producer or consumer. A queue
 * made with consumer groups adds one pmq_group_list per scrape (relaxed reads
 * of the group table, like pmq_stats) and the pmq_group_* series.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "latency_hist.h"
#include "metrics.h"
#include "pmqd.h"
#include "witness.h"

struct qsnap {
	char name[PMQ_NAME_MAX + 1];
	bool have_stats;
	struct pmq_stats st;
	uint64_t lease_requeues, lease_kills, lease_alarms;
	uint64_t recoveries, recovered_attachments;
	struct latency_snap lat;
	bool have_repl;          /* replication touches this queue (see snap_queue) */
	bool primary_on;         /* a primary whose slot reuse waits for a standby */
	bool standby, fenced, in_sync;
	uint64_t lag_entries, lag_ns, epoch;
	struct pmq_group_info *groups; /* malloc'd, ngroups entries (NULL: none) */
	int ngroups;
};

/* ---- the growable text buffer (the metrics thread's, never the data path's) ---- */

static void mt_printf(struct mtext *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mt_printf(struct mtext *t, const char *fmt, ...)
{
	for (int tries = 0; tries < 2 && !t->oom; tries++) {
		va_list ap;
		va_start(ap, fmt);
		size_t room = t->cap - t->len;
		int n = vsnprintf(t->p ? t->p + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->oom = true;
			return;
		}
		if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap ? t->cap : 16384;
		while (cap - t->len <= (size_t)n)
			cap *= 2;
		char *p = realloc(t->p, cap);
		if (!p) {
			t->oom = true;
			return;
		}
		t->p = p;
		t->cap = cap;
	}
}

void mtext_free(struct mtext *t)
{
	free(t->p);
	memset(t, 0, sizeof(*t));
}

/* A label value: backslash, double quote and newline escaped (names are plain
 * already, but the format must hold whatever a file name brings). */
static const char *label(const char *s, char *out, size_t cap)
{
	size_t o = 0;
	for (; *s && o + 3 < cap; s++) {
		if (*s == '\\' || *s == '"') {
			out[o++] = '\\';
			out[o++] = *s;
		} else if (*s == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
	return out;
}

static void family(struct mtext *t, const char *name, const char *type, const char *help)
{
	mt_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ---- the snapshot ---------------------------------------------------------------- */

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* false: out of memory for the queue's groups (the page is then refused, as for a queue) */
static bool snap_queue(struct reg_queue *rq, struct qsnap *s)
{
	snprintf(s->name, sizeof(s->name), "%s", rq->name);
	struct pmq_repl_info ri;
	pthread_mutex_lock(&rq->mu);
	s->have_stats = pmq_stats(rq->q, &s->st) == 0;
	int rr = pmq_repl_info(rq->q, &ri); /* relaxed loads of header words, like pmq_stats */
	struct pmq_group_info g[PMQ_GROUPS_MAX];
	int ng = pmq_group_list(rq->q, g, PMQ_GROUPS_MAX); /* -EOPNOTSUPP: a queue without groups */
	pthread_mutex_unlock(&rq->mu);
	if (ng > PMQ_GROUPS_MAX)
		ng = PMQ_GROUPS_MAX; /* never past the array, whatever the count says */
	if (ng > 0) {
		if (!(s->groups = malloc((size_t)ng * sizeof(*s->groups))))
			return false;
		memcpy(s->groups, g, (size_t)ng * sizeof(*s->groups));
		for (int k = 0; k < ng; k++)
			s->groups[k].name[PMQ_GROUP_NAME_MAX] = '\0';
		s->ngroups = ng;
	}
	/* relaxed: independent event counters, each read once */
	s->lease_requeues = atomic_load_explicit(&rq->lease_requeues, memory_order_relaxed);
	s->lease_kills = atomic_load_explicit(&rq->lease_kills, memory_order_relaxed);
	s->lease_alarms = atomic_load_explicit(&rq->lease_alarms, memory_order_relaxed);
	s->recoveries = atomic_load_explicit(&rq->recoveries, memory_order_relaxed);
	s->recovered_attachments = atomic_load_explicit(&rq->recovered_attachments, memory_order_relaxed);
	latency_hist_read(&rq->recovery_latency, &s->lat);
	if (rr < 0)
		return true;
	s->primary_on = ri.role == PMQ_ROLE_PRIMARY && (ri.repl_flags & PMQ_REPL_ON);
	s->standby = ri.role == PMQ_ROLE_STANDBY;
	s->fenced = ri.fenced != 0;
	s->have_repl = s->primary_on || s->standby || s->fenced;
	s->epoch = ri.epoch;
	if (s->primary_on) {
		uint64_t now = realtime_ns();
		s->lag_entries = ri.tail > ri.replicated ? ri.tail - ri.replicated : 0;
		s->lag_ns = ri.oldest_unconfirmed_ns && now > ri.oldest_unconfirmed_ns ? now - ri.oldest_unconfirmed_ns : 0;
		s->in_sync = !(ri.repl_flags & PMQ_REPL_DEGRADED);
	}
	return true;
}

/* Fills *out (malloc'd) with one entry per registered queue; returns the count.
 * *short_of_memory: some queues are missing (the page is then refused, not partial). */
static size_t snapshot(struct qsnap **out, bool *short_of_memory)
{
	size_t n = 0, cap = 0;
	struct qsnap *v = NULL;
	struct cds_lfht_iter it;
	struct reg_queue *rq;
	rcu_read_lock();
	cds_lfht_for_each_entry(registry_queues(), &it, rq, node) {
		if (n == cap) {
			/* The registry can grow while we walk it; growing the array under the
			 * read section only delays reclamation, it blocks nobody. */
			size_t ncap = cap ? cap * 2 : 16;
			struct qsnap *nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				*short_of_memory = true;
				break;
			}
			v = nv;
			cap = ncap;
		}
		memset(&v[n], 0, sizeof(v[n]));
		bool fit = snap_queue(rq, &v[n]);
		n++;
		if (!fit) {
			*short_of_memory = true;
			break;
		}
	}
	rcu_read_unlock();
	*out = v;
	return n;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct qsnap *)a)->name, ((const struct qsnap *)b)->name);
}

/* ---- the page ------------------------------------------------------------------------ */

#define FOR_QUEUES for (size_t i = 0; i < n; i++)
#define QL(i) label(v[i].name, lb, sizeof(lb))

static void stats_family(struct mtext *t, struct qsnap *v, size_t n, const char *name, const char *type,
			 const char *help, size_t offset)
{
	char lb[2 * PMQ_NAME_MAX + 8];
	family(t, name, type, help);
	FOR_QUEUES {
		if (!v[i].have_stats)
			continue;
		uint64_t x;
		memcpy(&x, (const char *)&v[i].st + offset, sizeof(x));
		mt_printf(t, "%s{queue=\"%s\"} %" PRIu64 "\n", name, QL(i), x);
	}
}

#define STAT(name, type, help, field) \
	stats_family(t, v, n, name, type, help, offsetof(struct pmq_stats, field))

static void u32_gauges(struct mtext *t, struct qsnap *v, size_t n)
{
	char lb[2 * PMQ_NAME_MAX + 8];
	family(t, "pmq_queue_attachments", "gauge", "Handles attached to the queue (producers, consumers, observers).");
	FOR_QUEUES if (v[i].have_stats)
		mt_printf(t, "pmq_queue_attachments{queue=\"%s\"} %u\n", QL(i), v[i].st.attachments);
	family(t, "pmq_queue_slots", "gauge", "Main ring capacity, in messages.");
	FOR_QUEUES if (v[i].have_stats)
		mt_printf(t, "pmq_queue_slots{queue=\"%s\"} %u\n", QL(i), v[i].st.slot_count);
	family(t, "pmq_queue_max_payload_bytes", "gauge", "Largest message the queue accepts, in bytes.");
	FOR_QUEUES if (v[i].have_stats)
		mt_printf(t, "pmq_queue_max_payload_bytes{queue=\"%s\"} %u\n", QL(i), v[i].st.max_payload);
}

static void supervisor_families(struct mtext *t, struct qsnap *v, size_t n)
{
	char lb[2 * PMQ_NAME_MAX + 8];
	family(t, "pmq_queue_lease_expiries_total", "counter",
	       "Consumer leases that expired, by the action pmqd took (requeue, kill, alarm).");
	FOR_QUEUES {
		mt_printf(t, "pmq_queue_lease_expiries_total{queue=\"%s\",action=\"requeue\"} %" PRIu64 "\n", QL(i),
			  v[i].lease_requeues);
		mt_printf(t, "pmq_queue_lease_expiries_total{queue=\"%s\",action=\"kill\"} %" PRIu64 "\n", QL(i),
			  v[i].lease_kills);
		mt_printf(t, "pmq_queue_lease_expiries_total{queue=\"%s\",action=\"alarm\"} %" PRIu64 "\n", QL(i),
			  v[i].lease_alarms);
	}
	family(t, "pmq_queue_recoveries_total", "counter",
	       "Recoveries pmqd ran on the queue that found at least one dead attachment.");
	FOR_QUEUES mt_printf(t, "pmq_queue_recoveries_total{queue=\"%s\"} %" PRIu64 "\n", QL(i), v[i].recoveries);
	family(t, "pmq_queue_recovered_attachments_total", "counter", "Dead attachments pmqd recovered.");
	FOR_QUEUES mt_printf(t, "pmq_queue_recovered_attachments_total{queue=\"%s\"} %" PRIu64 "\n", QL(i),
			     v[i].recovered_attachments);
	family(t, "pmq_queue_recovery_duration_seconds", "histogram",
	       "Time from noticing a dead attachment to the end of its recovery.");
	FOR_QUEUES {
		uint64_t cum = 0;
		for (unsigned b = 0; b < LAT_BUCKETS; b++) {
			cum += v[i].lat.bucket[b];
			mt_printf(t, "pmq_queue_recovery_duration_seconds_bucket{queue=\"%s\",le=\"%g\"} %" PRIu64 "\n",
				  QL(i), (double)lat_bound_ns[b] / 1e9, cum);
		}
		cum += v[i].lat.bucket[LAT_BUCKETS];
		mt_printf(t, "pmq_queue_recovery_duration_seconds_bucket{queue=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", QL(i),
			  cum);
		mt_printf(t, "pmq_queue_recovery_duration_seconds_sum{queue=\"%s\"} %.9f\n", QL(i),
			  (double)v[i].lat.sum_ns / 1e9);
		mt_printf(t, "pmq_queue_recovery_duration_seconds_count{queue=\"%s\"} %" PRIu64 "\n", QL(i), cum);
	}
}

static void repl_families(struct mtext *t, struct qsnap *v, size_t n)
{
	char lb[2 * PMQ_NAME_MAX + 8];
	bool any = false, any_primary = false;
	FOR_QUEUES {
		any |= v[i].have_repl;
		any_primary |= v[i].primary_on;
	}
	if (!any)
		return; /* no replication here: no series, rather than zeros that look healthy */
	if (any_primary) {
		family(t, "pmq_queue_replication_lag_entries", "gauge",
		       "Committed messages the standby has not confirmed yet (replicated primaries).");
		FOR_QUEUES if (v[i].primary_on)
			mt_printf(t, "pmq_queue_replication_lag_entries{queue=\"%s\"} %" PRIu64 "\n", QL(i),
				  v[i].lag_entries);
		family(t, "pmq_queue_replication_lag_seconds", "gauge",
		       "Age of the oldest committed message the standby has not confirmed (0 when caught up).");
		FOR_QUEUES if (v[i].primary_on)
			mt_printf(t, "pmq_queue_replication_lag_seconds{queue=\"%s\"} %.6f\n", QL(i),
				  (double)v[i].lag_ns / 1e9);
		family(t, "pmq_queue_replication_in_sync", "gauge",
		       "1 while the standby keeps up, 0 when the queue is degraded (replicated sends fail).");
		FOR_QUEUES if (v[i].primary_on)
			mt_printf(t, "pmq_queue_replication_in_sync{queue=\"%s\"} %d\n", QL(i), v[i].in_sync ? 1 : 0);
	}
	family(t, "pmq_queue_replication_role", "gauge", "The queue's replication role: 1 for the current one.");
	FOR_QUEUES if (v[i].have_repl) {
		mt_printf(t, "pmq_queue_replication_role{queue=\"%s\",role=\"primary\"} %d\n", QL(i), !v[i].standby);
		mt_printf(t, "pmq_queue_replication_role{queue=\"%s\",role=\"standby\"} %d\n", QL(i), v[i].standby);
	}
	family(t, "pmq_queue_replication_fenced", "gauge", "1 when the queue refuses producers (a newer primary exists).");
	FOR_QUEUES if (v[i].have_repl)
		mt_printf(t, "pmq_queue_replication_fenced{queue=\"%s\"} %d\n", QL(i), v[i].fenced);
	family(t, "pmq_queue_replication_epoch", "gauge", "Replication epoch stamped on the queue's new messages.");
	FOR_QUEUES if (v[i].have_repl)
		mt_printf(t, "pmq_queue_replication_epoch{queue=\"%s\"} %" PRIu64 "\n", QL(i), v[i].epoch);
}

/* Consumer groups (docs/groups.md): one sample per group, labelled queue and
 * group; only when some queue has groups (no empty families otherwise). */
static void group_family(struct mtext *t, struct qsnap *v, size_t n, const char *name, const char *type,
			 const char *help, size_t offset)
{
	char lb[2 * PMQ_NAME_MAX + 8], gl[2 * PMQ_GROUP_NAME_MAX + 8];
	family(t, name, type, help);
	FOR_QUEUES for (int k = 0; k < v[i].ngroups; k++) {
		uint64_t x;
		memcpy(&x, (const char *)&v[i].groups[k] + offset, sizeof(x));
		mt_printf(t, "%s{queue=\"%s\",group=\"%s\"} %" PRIu64 "\n", name, QL(i),
			  label(v[i].groups[k].name, gl, sizeof(gl)), x);
	}
}

#define GROUP(name, type, help, field) \
	group_family(t, v, n, name, type, help, offsetof(struct pmq_group_info, field))

static void group_families(struct mtext *t, struct qsnap *v, size_t n)
{
	char lb[2 * PMQ_NAME_MAX + 8], gl[2 * PMQ_GROUP_NAME_MAX + 8];
	bool any = false;
	FOR_QUEUES any |= v[i].ngroups > 0;
	if (!any)
		return;
	GROUP("pmq_group_lag", "gauge", "Messages sent that the consumer group has not taken yet (sent - head).", lag);
	GROUP("pmq_group_in_flight", "gauge", "Messages the group's consumers hold, not yet acked or nacked.",
	      in_flight);
	GROUP("pmq_group_redeliveries_waiting", "gauge", "The group's requeued messages waiting to be delivered again.",
	      side_ready);
	GROUP("pmq_group_dead_letters", "gauge", "The group's dead letters now.", dead_letters);
	GROUP("pmq_group_redelivered_total", "counter", "Messages requeued in the group (nack, holder death, lease).",
	      redelivered);
	GROUP("pmq_group_dead_lettered_total", "counter", "Messages the group ever moved to its dead letters.",
	      dead_lettered);
	GROUP("pmq_group_lost_total", "counter",
	      "Messages a lossy group skipped after falling a lap behind (0 for a reliable group).", lost);
	family(t, "pmq_group_consumers", "gauge", "Consumers attached to the group.");
	FOR_QUEUES for (int k = 0; k < v[i].ngroups; k++)
		mt_printf(t, "pmq_group_consumers{queue=\"%s\",group=\"%s\"} %u\n", QL(i),
			  label(v[i].groups[k].name, gl, sizeof(gl)), v[i].groups[k].consumers);
	family(t, "pmq_group_lease_seconds", "gauge",
	       "The group's own lease (pmqd's lease check for its members); 0: the queue's lease applies.");
	FOR_QUEUES for (int k = 0; k < v[i].ngroups; k++)
		mt_printf(t, "pmq_group_lease_seconds{queue=\"%s\",group=\"%s\"} %.3f\n", QL(i),
			  label(v[i].groups[k].name, gl, sizeof(gl)), (double)v[i].groups[k].lease_ms / 1e3);
	family(t, "pmq_group_lossy", "gauge", "1 for a lossy (at-most-once) group, 0 for a reliable one.");
	FOR_QUEUES for (int k = 0; k < v[i].ngroups; k++)
		mt_printf(t, "pmq_group_lossy{queue=\"%s\",group=\"%s\"} %d\n", QL(i),
			  label(v[i].groups[k].name, gl, sizeof(gl)), (v[i].groups[k].flags & PMQ_GROUP_LOSSY) ? 1 : 0);
}

static void daemon_families(struct mtext *t, size_t n)
{
	family(t, "pmqd_build_info", "gauge", "Versions of pmqd and of the libpmq it runs on (always 1).");
	mt_printf(t, "pmqd_build_info{version=\"%s\",libpmq=\"%s\"} 1\n", PMQD_VERSION, pmq_version());
	family(t, "pmqd_queues", "gauge", "Queues pmqd supervises.");
	mt_printf(t, "pmqd_queues %zu\n", n);
	family(t, "pmqd_watched_attachments", "gauge", "Attachments pmqd watches for death (its own excluded).");
	mt_printf(t, "pmqd_watched_attachments %u\n", registry_attach_count());
}

/* The etcd witness (docs/failover.md), only when one is configured. */
static void witness_families(struct mtext *t)
{
	struct witness_view w;
	if (witness_view(&w))
		return;
	family(t, "pmq_witness_state", "gauge", "The etcd witness's state (docs/failover.md): 1 for the current one.");
	for (const char *const *s = witness_states; *s; s++)
		mt_printf(t, "pmq_witness_state{state=\"%s\"} %d\n", *s, !strcmp(*s, w.state));
	if (w.lease_left_ms >= 0) {
		family(t, "pmq_witness_lease_remaining_seconds", "gauge",
		       "Time left on the leader lease this node holds, from its last renewal.");
		mt_printf(t, "pmq_witness_lease_remaining_seconds %.3f\n", (double)w.lease_left_ms / 1e3);
	}
	if (w.renewal_age_ms >= 0) {
		family(t, "pmq_witness_last_renewal_age_seconds", "gauge", "Time since the last successful lease renewal.");
		mt_printf(t, "pmq_witness_last_renewal_age_seconds %.3f\n", (double)w.renewal_age_ms / 1e3);
	}
}

void metrics_render(struct mtext *t)
{
	struct qsnap *v = NULL;
	bool short_of_memory = false;
	size_t n = snapshot(&v, &short_of_memory);
	if (short_of_memory) {
		t->oom = true; /* a page without some queues would read as "those queues are gone" */
		for (size_t i = 0; i < n; i++)
			free(v[i].groups);
		free(v);
		return;
	}
	if (n)
		qsort(v, n, sizeof(*v), by_name);

	daemon_families(t, n);
	witness_families(t);
	STAT("pmq_queue_depth", "gauge", "Committed messages not yet taken by a consumer (main ring).", depth);
	STAT("pmq_queue_in_flight", "gauge", "Messages taken by consumers and not yet acked or nacked.", in_flight);
	STAT("pmq_queue_redeliveries_waiting", "gauge", "Requeued messages waiting to be delivered again.", side_ready);
	STAT("pmq_queue_dead_letters", "gauge", "Messages in the dead-letter area now.", dead_letters);
	STAT("pmq_queue_sent_total", "counter", "Messages producers ever sent (tickets claimed).", sent);
	STAT("pmq_queue_received_total", "counter", "Messages consumers ever took from the main ring.", received);
	STAT("pmq_queue_redelivered_total", "counter", "Messages requeued (nack, holder death, lease expiry).",
	     redelivered);
	STAT("pmq_queue_dead_lettered_total", "counter", "Messages ever moved to the dead letters.", dead_lettered);
	STAT("pmq_queue_aborted_total", "counter", "Tickets abandoned by aborts or by producers that died mid-send.",
	     aborted);
	u32_gauges(t, v, n);
	supervisor_families(t, v, n);
	repl_families(t, v, n);
	group_families(t, v, n);
	for (size_t i = 0; i < n; i++)
		free(v[i].groups);
	free(v);
}
