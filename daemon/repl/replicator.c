/*
 * replicator.c - the primary's side of replication: one thread per standby
 * link (`--replicate-to HOST:PORT`).
 *
 * Each thread keeps its own observer handle on every queue of the directory
 * (rescanned twice a second), connects, authenticates (HMAC-SHA256
 * challenge-response, repl_proto.h), describes each queue, learns from the
 * standby where its mirror stands, and then streams committed entries in
 * ticket order in batches, the cumulative-ack floor after them. The
 * standby's acknowledgements become the queue's replicated-up-to ticket
 * (pmq_repl_confirm): producers reuse a slot only after it, PMQ_REPLICATED
 * sends return on it.
 *
 * Out of sync: a standby not connected, or not progressing while behind, for
 * longer than --repl-timeout-ms. Under the degrade policy the queue is then
 * flagged DEGRADED (replicated sends fail fast with -ENOLINK, reuse is not
 * gated); under block it stays ON and producers wait. Back in sync (the
 * standby acknowledged everything committed) clears the flag.
 *
 * Meeting a node with a higher epoch (a promoted standby) fences this node:
 * every queue refuses producers, DIR/.pmqd.repl says "fenced", and only
 * `pmqctl rejoin` turns it into a standby again.
 *
 * This file runs the links (connect, handshake, the stream loop, acks,
 * policy, fencing, status); what a batch for one queue holds (QUEUE
 * description, side-area sync, entries, floor) is built in replicator_ship.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "repl_node.h"
#include "replicator.h"

/* after activity the stream loop looks again without sleeping for this long */
#define REPL_SPIN_NS 200000ull

static struct link *links[REPL_MAX_LINKS];
static unsigned n_links;
static _Atomic int rp_stop;

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void set_flags(struct rqueue *r, bool degraded, struct link *l, const char *why)
{
	if (r->degraded == degraded)
		return;
	r->degraded = degraded;
	pmq_repl_set(r->q, PMQ_REPL_ON | (degraded ? PMQ_REPL_DEGRADED : 0));
	if (degraded)
		log_msg(LOG_WARNING, "replicator: queue \"%s\": standby %s out of sync (%s) --> PMQ_REPLICATED sends "
			"fail fast with ENOLINK until it catches up", r->name, l->addr, why);
	else
		log_msg(LOG_NOTICE, "replicator: queue \"%s\": standby %s back in sync at ticket %llu", r->name,
			l->addr, (unsigned long long)r->acked);
}

/* Fence every queue of the directory (this node met a newer primary). */
void fence_all(void)
{
	static char names[REPL_MAX_QUEUES][PMQ_NAME_MAX + 1];
	int n = repl_list_queues(g_repl.dir, names, REPL_MAX_QUEUES);
	for (int i = 0; i < n; i++) {
		pmq_t *q;
		struct pmq_open_opts o;
		pmq_open_opts_init(&o);
		o.dir = g_repl.dir;
		o.owner_uid = PMQ_OWNER_ANY; /* users' queues: pmqd's scan checked the directory */
		if (pmq_open_ex(names[i], 0, &o, &q))
			continue;
		struct pmq_repl_info in;
		pmq_repl_info(q, &in);
		if (!in.fenced) {
			pmq_repl_fence(q, 1);
			log_msg(LOG_WARNING, "fenced: queue \"%s\" refuses producers (ESHUTDOWN); %llu message(s) above "
				"the replicated ticket %llu may be divergent --> pmqctl rejoin", names[i],
				(unsigned long long)(in.tail > in.replicated ? in.tail - in.replicated : 0),
				(unsigned long long)in.replicated);
		}
		pmq_close(q);
	}
}

static void rescan(struct link *l)
{
	static __thread char names[REPL_MAX_QUEUES][PMQ_NAME_MAX + 1];
	int n = repl_list_queues(g_repl.dir, names, REPL_MAX_QUEUES);
	uint64_t epoch = atomic_load(&g_node_epoch);
	for (int i = 0; i < n; i++) {
		int k;
		for (k = 0; k < l->n; k++)
			if (!strcmp(l->rq[k].name, names[i]))
				break;
		if (k < l->n)
			continue;
		if (l->n == REPL_MAX_QUEUES)
			break;
		struct pmq_open_opts o;
		pmq_open_opts_init(&o);
		o.dir = g_repl.dir;
		o.owner_uid = PMQ_OWNER_ANY; /* users' queues: pmqd's scan checked the directory */
		pmq_t *q;
		if (pmq_open_ex(names[i], 0, &o, &q))
			continue;
		struct pmq_repl_info in;
		pmq_repl_info(q, &in);
		if (in.role != PMQ_ROLE_PRIMARY) {
			pmq_close(q); /* a mirror left over: not ours to ship */
			continue;
		}
		struct rqueue *r = &l->rq[l->n];
		memset(r, 0, sizeof(*r));
		memcpy(r->name, names[i], sizeof(r->name)); /* both PMQ_NAME_MAX + 1, NUL-terminated */
		r->q = q;
		r->policy = repl_policy_of(names[i]);
		r->progress_ns = repl_now_ns();
		r->degraded = (in.repl_flags & PMQ_REPL_DEGRADED) != 0;
		if (in.epoch != epoch)
			pmq_repl_set_epoch(q, epoch);
		/* gate reuse from now on; a standby never seen degrades after the timeout */
		pmq_repl_set(q, PMQ_REPL_ON | (r->degraded ? PMQ_REPL_DEGRADED : 0));
		pthread_mutex_lock(&l->mu);
		l->n++;
		pthread_mutex_unlock(&l->mu);
		log_msg(LOG_INFO, "replicator: queue \"%s\" joins link %s (tail %llu, policy %s)", names[i], l->addr,
			(unsigned long long)in.tail, r->policy == REPL_BLOCK ? "block" : "degrade");
	}
}

/* Out-of-sync clock, for every queue. */
static void check_policy(struct link *l, uint64_t now)
{
	for (int i = 0; i < l->n; i++) {
		struct rqueue *r = &l->rq[i];
		struct pmq_repl_info in;
		pmq_repl_info(r->q, &in);
		/* caught up: the standby holds every committed ticket and the queue knows it
		 * (`replicated`, what senders wait for), not only this thread's r->acked */
		bool caught_up = l->connected && r->known && !r->broken && r->acked >= in.tail && in.replicated >= in.tail;
		if (caught_up) {
			r->progress_ns = now;
			if (r->degraded)
				set_flags(r, false, l, "");
		}
		pthread_mutex_lock(&l->mu);
		r->caught_up = caught_up;
		r->lag_entries = in.tail > in.replicated ? in.tail - in.replicated : 0;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t rt = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		r->lag_us = in.oldest_unconfirmed_ns && rt > in.oldest_unconfirmed_ns ? (rt - in.oldest_unconfirmed_ns) / 1000
										      : 0;
		pthread_mutex_unlock(&l->mu);
		/* progress_ns may be a little later than `now` (an ack read after it was taken) */
		if (!r->degraded && r->policy == REPL_DEGRADE && now > r->progress_ns &&
		    now - r->progress_ns > g_repl.timeout_ms * 1000000ull)
			set_flags(r, true, l, l->connected ? "no progress" : "not connected");
	}
}

static int do_connect(struct link *l)
{
	struct sockaddr_storage ss;
	unsigned sl;
	if (rp_parse_addr(l->addr, &ss, &sl, false))
		return -EINVAL;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, sl) && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		return -e;
	}
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int err = 0;
	socklen_t el = sizeof(err);
	if (poll(&p, 1, 2000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) || err) {
		close(fd);
		return err ? -err : -ETIMEDOUT;
	}
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return fd;
}

/* 0 ok, -1 failed (logged), 1 fenced. The whole handshake has one deadline. */
static int handshake(struct link *l, struct rp_conn *c)
{
	struct rp_frame f;
	const char *why = "";
	int r = rp_recv(c, &f, 5000, &why);
	if (r <= 0 || f.type != RP_CHALLENGE || f.len != RP_NONCE) {
		log_msg(LOG_WARNING, "replicator: %s sent no valid challenge (%s) --> is it a pmqd --standby?", l->addr,
			r < 0 ? why : r == 0 ? "timeout" : rp_type_name(f.type));
		return -1;
	}
	if (f.ticket != RP_VERSION) {
		log_msg(LOG_ERR, "replicator: standby %s speaks replication protocol version %llu, this pmqd speaks %u "
			"--> run the same pmqd release on both hosts", l->addr,
			(unsigned long long)(f.ticket ? f.ticket : 1), RP_VERSION);
		return -1;
	}
	uint8_t ns[RP_NONCE], np[RP_NONCE], mac[RP_MAC], want[RP_MAC], pay[RP_NONCE + RP_MAC];
	memcpy(ns, f.payload, RP_NONCE);
	uint64_t epoch = atomic_load(&g_node_epoch);
	uint64_t flags = g_repl.encrypt ? RP_F_ENCRYPT : 0;
	if (rp_random(np, sizeof(np)) ||
	    rp_mac(g_repl.key, g_repl.keylen, "pmq-repl-2 primary", ns, np, epoch, flags, mac))
		return -1;
	memcpy(pay, np, RP_NONCE);
	memcpy(pay + RP_NONCE, mac, RP_MAC);
	if (rp_send(c, RP_AUTH, 0, epoch, RP_VERSION, flags, pay, sizeof(pay)) || rp_flush(c, 5000))
		return -1;
	r = rp_recv(c, &f, 5000, &why);
	if (r <= 0 || f.type != RP_AUTH_OK || f.len != RP_MAC) {
		log_msg(LOG_WARNING, "replicator: %s refused us (%s) --> check that both hosts use the same "
			"--repl-key-file and see the standby's log", l->addr, r < 0 ? why : r == 0 ? "timeout" : "no auth-ok");
		return -1;
	}
	if (rp_mac(g_repl.key, g_repl.keylen, "pmq-repl-2 standby", np, ns, f.epoch, f.aux, want) ||
	    !rp_mac_equal(f.payload, want)) {
		log_msg(LOG_WARNING, "replicator: %s answered with a wrong HMAC --> it does not hold our key; not "
			"trusted", l->addr);
		return -1;
	}
	l->peer_epoch = f.epoch;
	if (f.aux != RP_NODE_STANDBY && f.epoch < epoch) {
		/* an old primary (fenced, or not yet told) listening where our standby was: it is
		 * the one that must step down, not us (it fences itself when it meets us) */
		log_msg(LOG_WARNING, "replicator: %s is a primary at epoch %llu, older than this node's %llu --> "
			"not replicating to it; run pmqctl rejoin there to make it a standby", l->addr,
			(unsigned long long)f.epoch, (unsigned long long)epoch);
		return -1;
	}
	if (f.aux != RP_NODE_STANDBY || f.epoch > epoch) {
		log_msg(LOG_ERR, "replicator: %s is a %s at epoch %llu, this node is at epoch %llu: a newer primary "
			"exists --> fencing this node (producers get ESHUTDOWN); run pmqctl rejoin here to make it "
			"a standby", l->addr, f.aux == RP_NODE_STANDBY ? "standby" : "primary",
			(unsigned long long)f.epoch, (unsigned long long)epoch);
		return 1;
	}
	if (rp_conn_secure(c, g_repl.key, g_repl.keylen, ns, np, true, g_repl.encrypt)) {
		log_msg(LOG_ERR, "replicator: cannot derive the session keys for %s (OpenSSL failed)", l->addr);
		return -1;
	}
	return 0;
}

static int on_frame(struct link *l, const struct rp_frame *f, uint64_t epoch)
{
	if (f->epoch != l->peer_epoch && f->epoch != epoch) {
		log_msg(LOG_WARNING, "replicator: %s sent a %s frame at epoch %llu --> dropping the connection", l->addr,
			rp_type_name(f->type), (unsigned long long)f->epoch);
		return -1;
	}
	if (f->type == RP_PING)
		return 0;
	if ((f->type != RP_ACK && f->type != RP_QSTATE) || f->qid >= l->n || f->len) {
		log_msg(LOG_WARNING, "replicator: %s sent an unexpected %s frame (queue id %u) --> dropping the "
			"connection", l->addr, rp_type_name(f->type), f->qid);
		return -1;
	}
	struct rqueue *r = &l->rq[f->qid];
	struct pmq_repl_info in;
	pmq_repl_info(r->q, &in);
	if (f->type == RP_QSTATE) {
		if (f->aux) {
			log_msg(LOG_ERR, "replicator: %s cannot mirror queue \"%s\": %s --> see the standby's log",
				l->addr, r->name, strerror((int)(f->aux & 0xffff)));
			r->broken = true;
			return 0;
		}
		if (f->ticket > in.tail) {
			log_msg(LOG_ERR, "replicator: queue \"%s\": the standby's mirror is ahead (ticket %llu, our tail "
				"%llu): diverged --> delete the mirror on the standby (pmqctl delete %s) to resync",
				r->name, (unsigned long long)f->ticket, (unsigned long long)in.tail, r->name);
			r->broken = true;
			return 0;
		}
		r->known = true;
		r->next_send = f->ticket;
		r->acked = f->ticket;
		r->progress_ns = repl_now_ns();
		/* The standby persisted every ticket below f->ticket (mirror_open persists before it
		 * answers): that is a confirmation. Its ACK for the last batch of the old session may
		 * have been lost in the cut; without this, a PMQ_REPLICATED sender waiting for those
		 * tickets waits until some later send makes the standby acknowledge again. */
		if (f->ticket > in.replicated)
			pmq_repl_confirm(r->q, f->ticket);
		if (f->ticket < in.replicated)
			log_msg(LOG_WARNING, "replicator: queue \"%s\": the standby has up to %llu, we had it confirmed "
				"up to %llu (the standby lost data?) --> resending", r->name, (unsigned long long)f->ticket,
				(unsigned long long)in.replicated);
		log_msg(LOG_INFO, "replicator: queue \"%s\" resumes at ticket %llu on %s (tail %llu)", r->name,
			(unsigned long long)f->ticket, l->addr, (unsigned long long)in.tail);
		return 0;
	}
	if (!r->known || f->ticket > r->next_send || f->ticket < r->acked) {
		log_msg(LOG_WARNING, "replicator: %s acknowledged ticket %llu of \"%s\" (sent up to %llu, acked %llu) "
			"--> dropping the connection", l->addr, (unsigned long long)f->ticket, r->name,
			(unsigned long long)r->next_send, (unsigned long long)r->acked);
		return -1;
	}
	if (f->ticket > r->acked) {
		r->acked = f->ticket;
		r->progress_ns = repl_now_ns();
		pmq_repl_confirm(r->q, f->ticket);
	}
	return 0;
}

static void stream(struct link *l, struct rp_conn *c)
{
	uint64_t epoch = atomic_load(&g_node_epoch);
	uint64_t last_scan = 0, last_tx = repl_now_ns(), last_active = repl_now_ns(), last_rx = repl_now_ns();
	uint64_t last_policy = 0;
	for (;;) {
		if (atomic_load(&rp_stop) || atomic_load(&g_node_role) != NODE_PRIMARY)
			return;
		uint64_t now = repl_now_ns();
		if (now - last_scan > 500000000ull) {
			rescan(l);
			last_scan = now;
		}
		int work = 0;
		for (int i = 0; i < l->n; i++) {
			struct rqueue *r = &l->rq[i];
			if (r->broken)
				continue;
			int e = 0;
			if (!r->described)
				e = replicator_describe(l, c, r, epoch, (unsigned)i);
			else if (r->known)
				e = replicator_ship(l, c, r, epoch, (unsigned)i);
			if (e < 0) {
				log_msg(LOG_WARNING, "replicator: sending to %s failed: %s --> reconnecting", l->addr,
					strerror(-e));
				return;
			}
			work += e;
		}
		if (now - last_tx > 1000000000ull && !work) {
			if (rp_send(c, RP_PING, 0, epoch, 0, 0, NULL, 0))
				return;
			work = 1;
		}
		if (work || c->wlen) {
			int e = rp_flush(c, 5000);
			if (e) {
				log_msg(LOG_WARNING, "replicator: sending to %s failed: %s --> reconnecting", l->addr,
					strerror(-e));
				return;
			}
			last_tx = now;
			last_active = now;
		}
		/* read acknowledgements: wait a little only when there was nothing to send */
		int timeout = work ? 0 : -1;
		for (;;) {
			struct rp_frame f;
			const char *why = "";
			int r;
			if (timeout < 0) {
				/* idle: right after activity, look again at once (a closed-loop producer's next
				 * commit, or the ack for what went out, comes within a round trip, and a sleep
				 * would add a wake-up to each); then a short sleep in poll, longer when idle
				 * for a while. No shared word tells us of a commit, so this is the wait. */
				uint64_t idle = now - last_active;
				if (idle >= REPL_SPIN_NS) {
					struct pollfd p = { .fd = c->fd, .events = POLLIN };
					struct timespec ts = { 0, idle < 50000000ull ? 20000 : 1000000 };
					ppoll(&p, 1, &ts, NULL);
				} else {
					sched_yield(); /* a producer or the standby on this CPU runs first */
				}
				timeout = 0;
			}
			r = rp_recv(c, &f, 0, &why);
			if (r == 0)
				break;
			if (r < 0) {
				log_msg(LOG_WARNING, "replicator: connection to %s lost: %s --> reconnecting", l->addr, why);
				return;
			}
			last_rx = now;
			last_active = now;
			if (on_frame(l, &f, epoch))
				return;
		}
		if (now - last_policy >= 1000000ull) { /* the out-of-sync clock needs ms, not every look */
			check_policy(l, now);
			last_policy = now;
		}
		if (now > last_rx && now - last_rx > (uint64_t)(g_repl.timeout_ms > 3000 ? g_repl.timeout_ms : 3000) * 1000000ull) {
			log_msg(LOG_WARNING, "replicator: nothing from %s for %u ms --> reconnecting", l->addr,
				g_repl.timeout_ms > 3000 ? g_repl.timeout_ms : 3000);
			return;
		}
	}
}

static void *link_main(void *arg)
{
	struct link *l = arg;
	prctl(PR_SET_TIMERSLACK, 1UL); /* the 20 us idle poll is 20 us, not 70 (default slack 50 us) */
	uint64_t last_log = 0;
	unsigned backoff = 100;
	l->disconnected_since = repl_now_ns();
	while (!atomic_load(&rp_stop)) {
		int role = atomic_load(&g_node_role);
		if (role == NODE_FENCED) {
			fence_all();
			sleep_ms(500);
			continue;
		}
		if (role != NODE_PRIMARY) {
			sleep_ms(200); /* a standby replicates once promoted */
			continue;
		}
		rescan(l);
		check_policy(l, repl_now_ns());
		int fd = do_connect(l);
		if (fd < 0) {
			uint64_t now = repl_now_ns();
			if (now - last_log > 10000000000ull) {
				log_msg(LOG_WARNING, "replicator: cannot connect to standby %s: %s --> retrying", l->addr,
					strerror(-fd));
				last_log = now;
			}
			sleep_ms(backoff);
			backoff = backoff < 1000 ? backoff * 2 : 1000;
			continue;
		}
		struct rp_conn c;
		if (rp_conn_init(&c, fd, 1u << 16, 4u << 20)) {
			close(fd);
			sleep_ms(1000);
			continue;
		}
		snprintf(c.peer, sizeof(c.peer), "%.63s", l->addr);
		rp_tune_socket(fd, g_repl.timeout_ms);
		int h = handshake(l, &c);
		if (h == 1) {
			atomic_store(&g_node_role, NODE_FENCED);
			repl_state_save();
			fence_all();
			rp_conn_free(&c);
			continue;
		}
		if (h < 0) {
			rp_conn_free(&c);
			sleep_ms(1000);
			continue;
		}
		backoff = 100;
		log_msg(LOG_NOTICE, "replicator: connected to standby %s (its epoch %llu, ours %llu)", l->addr,
			(unsigned long long)l->peer_epoch, (unsigned long long)atomic_load(&g_node_epoch));
		pthread_mutex_lock(&l->mu);
		l->connected = true;
		l->connected_since = repl_now_ns();
		for (int i = 0; i < l->n; i++) {
			l->rq[i].described = false; /* one by one: a chain through the atomics is an error to clang */
			l->rq[i].known = false;
			l->rq[i].broken = false;
			l->rq[i].side_synced = false; /* the mirror's side area is unknown: resend it */
			l->rq[i].groups_synced = false; /* and its group table */
			l->rq[i].floor_sent = l->rq[i].head_sent = UINT64_MAX;
			l->rq[i].progress_ns = repl_now_ns(); /* the clock restarts with a live link */
		}
		pthread_mutex_unlock(&l->mu);
		stream(l, &c);
		pthread_mutex_lock(&l->mu);
		l->connected = false;
		l->disconnected_since = repl_now_ns();
		pthread_mutex_unlock(&l->mu);
		rp_conn_free(&c);
	}
	for (int i = 0; i < l->n; i++) {
		/* a clean stop: under degrade, producers must not wait for a replicator that is gone */
		if (l->rq[i].policy == REPL_DEGRADE && l->rq[i].q)
			pmq_repl_set(l->rq[i].q, PMQ_REPL_ON | PMQ_REPL_DEGRADED);
		pmq_close(l->rq[i].q);
		free(l->rq[i].side_shadow);
		free(l->rq[i].group_sent);
	}
	return NULL;
}

int replicator_start(void)
{
	for (unsigned i = 0; i < g_repl.n_to; i++) {
		struct link *l = calloc(1, sizeof(*l));
		if (!l)
			return -1;
		snprintf(l->addr, sizeof(l->addr), "%s", g_repl.to[i]);
		pthread_mutex_init(&l->mu, NULL);
		if (pthread_create(&l->th, NULL, link_main, l)) {
			log_msg(LOG_ERR, "replicator: cannot start the thread for %s", l->addr);
			free(l);
			return -1;
		}
		links[n_links++] = l;
	}
	return 0;
}

void replicator_stop(void)
{
	atomic_store(&rp_stop, 1);
	for (unsigned i = 0; i < n_links; i++) {
		pthread_join(links[i]->th, NULL);
		free(links[i]);
	}
	n_links = 0;
}

bool replicator_handover_ready(void)
{
	bool ok = n_links > 0;
	for (unsigned i = 0; ok && i < n_links; i++) {
		struct link *l = links[i];
		pthread_mutex_lock(&l->mu);
		ok = l->connected && l->n > 0;
		for (int q = 0; ok && q < l->n; q++)
			ok = l->rq[q].known && !l->rq[q].broken && !l->rq[q].degraded;
		pthread_mutex_unlock(&l->mu);
	}
	return ok;
}

bool replicator_all_confirmed(uint64_t *left)
{
	*left = 0;
	bool ok = n_links > 0;
	for (unsigned i = 0; i < n_links; i++) {
		struct link *l = links[i];
		pthread_mutex_lock(&l->mu);
		ok = ok && l->connected;
		for (int q = 0; q < l->n; q++) {
			struct pmq_repl_info in;
			pmq_repl_info(l->rq[q].q, &in);
			/* `replicated` is what the standby persisted (pmq_repl_confirm after its ACK) */
			if (in.replicated < in.tail) {
				*left += in.tail - in.replicated;
				ok = false;
			}
		}
		pthread_mutex_unlock(&l->mu);
	}
	return ok;
}

/* "in sync" for humans: never while a committed ticket waits unconfirmed for longer than
 * the timeout, nor while the link is down or the queue is not streaming (l->mu held). */
static bool repl_in_sync(const struct link *l, const struct rqueue *r, uint64_t now)
{
	if (r->degraded || !l->connected || !r->known || r->broken)
		return false;
	return r->caught_up || now < r->progress_ns || now - r->progress_ns < g_repl.timeout_ms * 1000000ull;
}

void replicator_status(struct jbuf *j, const char *only, uid_t uid)
{
	jb_raw(j, "[");
	uint64_t now = repl_now_ns();
	for (unsigned i = 0; i < n_links; i++) {
		struct link *l = links[i];
		pthread_mutex_lock(&l->mu);
		jb_printf(j, "%s{\"standby\":", i ? "," : "");
		jb_str(j, l->addr);
		jb_printf(j, ",\"connected\":%s,\"for_ms\":%llu,\"standby_epoch\":%llu,\"sent_entries\":%llu,"
			  "\"sent_group_frames\":%llu,\"queues\":[",
			  l->connected ? "true" : "false",
			  (unsigned long long)((now - (l->connected ? l->connected_since : l->disconnected_since)) / 1000000),
			  (unsigned long long)l->peer_epoch, (unsigned long long)l->sent_entries,
			  (unsigned long long)l->sent_group_frames);
		int k = 0;
		for (int q = 0; q < l->n; q++) {
			struct rqueue *r = &l->rq[q];
			if ((only && strcmp(only, r->name)) || !repl_may_see(uid, r->name))
				continue; /* like `list`: only queues the peer may control */
			jb_printf(j, "%s{\"name\":", k++ ? "," : "");
			jb_str(j, r->name);
			jb_printf(j, ",\"confirmed\":%llu,\"sent\":%llu,\"lag_entries\":%llu,\"lag_us\":%llu,"
				  "\"in_sync\":%s,\"policy\":\"%s\",\"streaming\":%s}",
				  (unsigned long long)r->acked, (unsigned long long)r->next_send,
				  (unsigned long long)r->lag_entries, (unsigned long long)r->lag_us,
				  repl_in_sync(l, r, now) ? "true" : "false", r->policy == REPL_BLOCK ? "block" : "degrade",
				  r->known && !r->broken ? "true" : "false");
		}
		jb_raw(j, "]}");
		pthread_mutex_unlock(&l->mu);
	}
	jb_raw(j, "]");
}

