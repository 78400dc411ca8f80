/*
 * repl_api.c - what the witness (daemon/witness) may ask of replication
 * through repl.h: the node's role, epoch and whether the standby is in sync;
 * promote at an epoch it got from etcd; fence; and the hook that puts the
 * witness's status into `repl-stat` and makes `promote` need --force; the
 * handover of a clean stop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "repl_node.h"

void (*g_witness_status)(struct jbuf *j);

void repl_set_witness(void (*status)(struct jbuf *j))
{
	g_witness_status = status;
}

void repl_view(struct repl_view *v)
{
	int role = atomic_load(&g_node_role);
	memset(v, 0, sizeof(*v));
	v->primary = role == NODE_PRIMARY;
	v->standby = role == NODE_STANDBY;
	v->fenced = role == NODE_FENCED;
	v->epoch = atomic_load(&g_node_epoch);
	v->contact_age_ms = -1;
	if (v->standby && g_repl.listen[0]) {
		standby_contact(&v->contact_age_ms);
		v->in_sync = v->contact_age_ms >= 0 && v->contact_age_ms < (long long)g_repl.timeout_ms;
	}
}

int repl_promote_at(unsigned long long epoch, unsigned long long *used, char *err, size_t errlen)
{
	if (atomic_load(&g_node_role) != NODE_STANDBY) {
		snprintf(err, errlen, "this node is %s, not a standby", repl_role_name(atomic_load(&g_node_role)));
		return EALREADY;
	}
	uint64_t cur = atomic_load(&g_node_epoch);
	if (epoch <= cur)
		epoch = cur + 1; /* an etcd revision below our epoch (a fresh etcd): still grow */
	static char buf[PMQD_REPLY_MAX]; /* only the witness thread promotes this way */
	struct jbuf j;
	jb_init(&j, buf, sizeof(buf));
	int r = standby_promote(epoch, &j, err, errlen);
	*used = atomic_load(&g_node_epoch);
	return r;
}

void repl_fence_node(const char *why)
{
	if (atomic_load(&g_node_role) != NODE_FENCED) {
		log_msg(LOG_WARNING, "witness: fencing this node: %s --> producers get ESHUTDOWN; run pmqctl rejoin "
			"to bring it back as a standby (docs/failover.md)", why);
		atomic_store(&g_node_role, NODE_FENCED);
		repl_state_save();
	}
	fence_all();
}

int repl_handover(unsigned timeout_ms, char *why, size_t whylen)
{
	if (atomic_load(&g_node_role) != NODE_PRIMARY) {
		snprintf(why, whylen, "this node is %s, not a primary", repl_role_name(atomic_load(&g_node_role)));
		return -EALREADY;
	}
	if (!replicator_handover_ready()) {
		snprintf(why, whylen, "no standby is connected and streaming every queue");
		return -ENOLINK;
	}
	/* The queues refuse producers first (the role stays primary so that the replicator
	 * keeps shipping), then every committed ticket must be confirmed: a clean cut. */
	log_msg(LOG_NOTICE, "handover: fencing the queues and waiting up to %u ms for the standby to confirm "
		"every committed message", timeout_ms);
	fence_all();
	uint64_t t0 = repl_now_ns(), left = 0;
	bool done;
	while (!(done = replicator_all_confirmed(&left)) && repl_now_ns() - t0 < (uint64_t)timeout_ms * 1000000ull) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	atomic_store(&g_node_role, NODE_FENCED);
	repl_state_save();
	if (!done) {
		snprintf(why, whylen, "%llu committed message(s) not confirmed by the standby within %u ms",
			 (unsigned long long)left, timeout_ms);
		return -ETIMEDOUT;
	}
	return 0;
}
