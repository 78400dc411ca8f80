/*
 * standby.c - the standby receiver: `pmqd --standby --listen ADDR:PORT`.
 *
 * One thread, one poll over the listener, the session and up to SB_PENDING
 * connections in their handshake. A new connection gets the challenge and 3 s
 * for the whole handshake; only once it proved the key (HMAC) does it become
 * the session, replacing the old one, so a peer without the key never cuts
 * replication. The session's bytes then come in authenticated records
 * (repl_seal.h); frames are applied to mirror queue files that have the
 * primary's geometry. Each frame is checked whole (record tag, magic, type,
 * length, CRC32C, session epoch, queue id, ticket order) before anything is
 * written; any fault is one log line and the connection is dropped. After
 * each batch (when no more bytes are buffered, or every 256 entries) it
 * persists the mirrors and acknowledges, per queue, the next ticket it
 * expects: every ticket below it is persisted here.
 *
 * `pmqctl promote` runs standby_promote() on the control thread under sb_mu,
 * which this thread holds while it applies frames, so a promotion never
 * interleaves with a write.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "log.h"
#include "repl_node.h"
#include "standby.h"

struct mirror {
	char name[PMQ_NAME_MAX + 1];
	pmq_t *q;
	uint64_t expected;   /* next ticket; all below are applied */
	uint64_t acked;      /* last acknowledged to the primary */
	bool dirty;
};

static pthread_t sb_thread;
static bool sb_running;
static _Atomic int sb_stop;
static pthread_mutex_t sb_mu = PTHREAD_MUTEX_INITIALIZER;
static int listen_fd = -1;
static struct mirror mirrors[REPL_MAX_QUEUES]; /* by name, kept across sessions */
static int n_mirrors;
static int qmap[REPL_MAX_QUEUES];              /* session qid -> mirrors[] index, -1 none */
/* status for repl-stat (read under sb_mu) */
static bool sb_connected;
static char sb_peer[64];
static uint64_t sb_session_epoch, sb_frames;
static _Atomic uint64_t sb_refused; /* standby_refuse() runs with and without sb_mu held */
static uint64_t sb_left_ns; /* when the last session ended (0: none yet) */

static struct mirror *mirror_find(const char *name)
{
	for (int i = 0; i < n_mirrors; i++)
		if (!strcmp(mirrors[i].name, name))
			return &mirrors[i];
	return NULL;
}

/* Open (or create with the primary's geometry) the mirror of `d`. Returns 0 or errno. */
static int mirror_open(const struct rp_queue_desc *d, uint64_t epoch, struct mirror **out)
{
	struct mirror *m = mirror_find(d->name);
	if (!m) {
		if (n_mirrors == REPL_MAX_QUEUES)
			return ENOSPC;
		m = &mirrors[n_mirrors];
		memset(m, 0, sizeof(*m));
		snprintf(m->name, sizeof(m->name), "%s", d->name);
	}
	if (!m->q) {
		struct pmq_open_opts o;
		pmq_open_opts_init(&o);
		o.dir = g_repl.dir;
		o.owner_uid = PMQ_OWNER_ANY; /* mirrors in pmqd's own directory */
		int r = pmq_open_ex(d->name, 0, &o, &m->q);
		if (r == -ENOENT) {
			struct pmq_config c;
			pmq_config_init(&c);
			c.flags = d->flags;
			c.slot_count = d->slot_count;
			c.max_payload = d->max_payload;
			c.max_attach = d->max_attach;
			c.consumer_quota = d->consumer_quota;
			c.max_deliveries = d->max_deliveries;
			c.dlq_capacity = d->dlq_capacity;
			c.side_slots = d->side_slots;
			c.durability = d->durability;
			c.lease_ns = d->lease_ns;
			c.lease_action = d->lease_action;
			c.max_groups = d->max_groups; /* no groups yet: RP_GROUPS frames make them */
			c.dir = g_repl.dir;
			pmq_t *cq;
			r = pmq_create(d->name, &c, &cq);
			if (r == 0) {
				/* pmq_create attaches as producer+consumer: keep an observer instead */
				pmq_repl_make_standby(cq, epoch);
				pmq_close(cq);
				r = pmq_open_ex(d->name, 0, &o, &m->q);
				if (r == 0)
					log_msg(LOG_NOTICE, "standby: created mirror \"%s\" (%u slots x %u B)", d->name,
						d->slot_count, d->max_payload);
			}
		}
		if (r) {
			log_msg(LOG_ERR, "standby: cannot open mirror \"%s\": %s (%s)", d->name, pmq_strerror(r),
				pmq_errmsg());
			return -r;
		}
	}
	/* QSTATE tells the primary that every ticket below the mirror's tail is persisted here
	 * (it counts as a confirmation): entries applied in a session that then dropped before
	 * its batch was persisted and acknowledged are persisted now. */
	pmq_repl_persist(m->q);
	struct pmq_repl_info in;
	pmq_repl_info(m->q, &in);
	if (in.slot_count != d->slot_count || in.max_payload != d->max_payload) {
		log_msg(LOG_ERR, "standby: mirror \"%s\" has %u slots x %u B, the primary %u x %u --> delete the "
			"mirror file (pmqctl delete %s) and let it resync", d->name, in.slot_count, in.max_payload,
			d->slot_count, d->max_payload, d->name);
		pmq_close(m->q);
		m->q = NULL;
		return EINVAL;
	}
	struct pmq_config mc;
	pmq_config_init(&mc);
	if (pmq_get_config(m->q, &mc) || mc.max_groups != d->max_groups) {
		log_msg(LOG_ERR, "standby: mirror \"%s\" has room for %u consumer groups, the primary's queue %u --> "
			"delete the mirror file (pmqctl delete %s) and let it resync", d->name, mc.max_groups,
			d->max_groups, d->name);
		pmq_close(m->q);
		m->q = NULL;
		return EINVAL;
	}
	pmq_repl_make_standby(m->q, epoch);
	m->expected = in.tail;
	m->acked = in.tail;
	m->dirty = false;
	if (m == &mirrors[n_mirrors])
		n_mirrors++;
	*out = m;
	return 0;
}

void standby_refuse(const char *peer, const char *what, const struct rp_frame *f)
{
	atomic_fetch_add(&sb_refused, 1);
	if (f)
		log_msg(LOG_WARNING, "standby: refused %s from %s (type %s, queue id %u, ticket %llu, epoch %llu) "
			"--> connection dropped, nothing written", what, peer, rp_type_name(f->type), f->qid,
			(unsigned long long)f->ticket, (unsigned long long)f->epoch);
	else
		log_msg(LOG_WARNING, "standby: refused %s from %s --> connection dropped, nothing written", what, peer);
}

/* Persist the dirty mirrors, then acknowledge them. */
static int ack_batch(struct rp_conn *c, uint64_t epoch)
{
	bool any = false;
	for (int i = 0; i < n_mirrors; i++)
		if (mirrors[i].dirty && mirrors[i].q)
			pmq_repl_persist(mirrors[i].q); /* persisted before acknowledged */
	for (int qid = 0; qid < REPL_MAX_QUEUES; qid++) {
		if (qmap[qid] < 0)
			continue;
		struct mirror *m = &mirrors[qmap[qid]];
		if (!m->dirty)
			continue;
		m->dirty = false;
		m->acked = m->expected;
		if (rp_send(c, RP_ACK, (unsigned)qid, epoch, m->expected, 0, NULL, 0))
			return -EPIPE;
		any = true;
	}
	return any || c->wlen ? rp_flush(c, 5000) : 0; /* also a queued PING answer */
}

/* Apply one frame (sb_mu held). 0 to go on, -1 to drop the session. */
static int apply_frame(struct rp_conn *c, const struct rp_frame *f, uint64_t epoch, unsigned *since_ack)
{
	if (f->epoch != epoch) {
		standby_refuse(c->peer, f->epoch < epoch ? "a frame from an old epoch" : "a frame from another epoch", f);
		return -1;
	}
	if (f->type == RP_PING) {
		/* answered: the primary counts silence as a dead link, and an idle link is silent */
		if (f->aux == 0 && rp_send(c, RP_PING, 0, epoch, f->ticket, 1, NULL, 0))
			return -1;
		return 0;
	}
	if (f->qid >= REPL_MAX_QUEUES) {
		standby_refuse(c->peer, "a frame with a queue id out of range", f);
		return -1;
	}
	if (f->type == RP_QUEUE) {
		struct rp_queue_desc d;
		int r = rp_queue_decode(f, &d);
		if (r) {
			standby_refuse(c->peer, r == -EINVAL ? "a queue description out of bounds" : "a malformed queue description", f);
			return -1;
		}
		struct mirror *m = NULL;
		int e = mirror_open(&d, epoch, &m);
		if (e) {
			rp_send(c, RP_QSTATE, f->qid, epoch, 0, (uint64_t)e, NULL, 0);
			return rp_flush(c, 5000) ? -1 : 0;
		}
		for (int i = 0; i < REPL_MAX_QUEUES; i++)
			if (qmap[i] == (int)(m - mirrors))
				qmap[i] = -1; /* a queue has one id per session */
		qmap[f->qid] = (int)(m - mirrors);
		log_msg(LOG_INFO, "standby: queue \"%s\" (id %u) resumes at ticket %llu (primary tail %llu)", m->name,
			f->qid, (unsigned long long)m->expected, (unsigned long long)f->ticket);
		rp_send(c, RP_QSTATE, f->qid, epoch, m->expected, 0, NULL, 0);
		return rp_flush(c, 5000) ? -1 : 0;
	}
	if (qmap[f->qid] < 0) {
		standby_refuse(c->peer, "a frame for a queue id never described", f);
		return -1;
	}
	struct mirror *m = &mirrors[qmap[f->qid]];
	struct pmq_repl_entry e;
	const void *data = NULL;
	int r = 0;
	switch (f->type) {
	case RP_ENTRY:
	case RP_HOLE:
		if (f->ticket != m->expected) {
			standby_refuse(c->peer, "a frame out of ticket order (gap or duplicate)", f);
			return -1;
		}
		if (f->type == RP_ENTRY) {
			struct pmq_repl_info in;
			pmq_repl_info(m->q, &in);
			if (rp_entry_decode(f, in.max_payload, &e, &data)) {
				standby_refuse(c->peer, "an entry larger than the queue's max_payload or shorter than its header", f);
				return -1;
			}
		} else {
			if (f->len) {
				standby_refuse(c->peer, "a hole frame with a payload", f);
				return -1;
			}
			memset(&e, 0, sizeof(e));
			e.ticket = f->ticket;
			e.flags = PMQ_REPL_E_HOLE | (f->aux ? PMQ_REPL_E_ACKED : 0);
		}
		r = pmq_repl_apply(m->q, &e, data);
		if (r == 0) {
			m->expected++;
			(*since_ack)++;
		}
		break;
	case RP_SKIP:
		if (f->ticket != m->expected || f->len || f->aux == 0 || f->aux > (1ull << 48)) {
			standby_refuse(c->peer, "a skip frame out of order or out of bounds", f);
			return -1;
		}
		r = pmq_repl_skip(m->q, f->ticket, f->aux);
		if (r == 0) {
			m->expected += f->aux;
			(*since_ack)++;
		}
		break;
	case RP_FLOOR:
		if (f->len) {
			standby_refuse(c->peer, "a floor frame with a payload", f);
			return -1;
		}
		r = pmq_repl_apply_floor(m->q, f->ticket, f->aux);
		break;
	case RP_SIDE: {
		struct pmq_repl_info in;
		pmq_repl_info(m->q, &in);
		struct pmq_repl_side sd;
		if (rp_side_decode(f, in.max_payload, &sd, &data) || sd.index >= in.side_count) {
			standby_refuse(c->peer, "a side entry out of the side area, larger than max_payload or malformed", f);
			return -1;
		}
		r = pmq_repl_side_apply(m->q, &sd, data);
		(*since_ack)++;
		break;
	}
	case RP_SIDE_FREE: {
		struct pmq_repl_info in;
		pmq_repl_info(m->q, &in);
		uint32_t idx, gen;
		if (rp_side_free_decode(f, &idx, &gen) || idx >= in.side_count) {
			standby_refuse(c->peer, "a side free out of the side area or malformed", f);
			return -1;
		}
		r = pmq_repl_side_free(m->q, idx, gen);
		break;
	}
	case RP_GROUPS: {
		/* the whole frame is checked before any entry is applied */
		struct pmq_repl_group g[PMQ_GROUPS_MAX];
		struct pmq_config mc;
		pmq_config_init(&mc);
		pmq_get_config(m->q, &mc);
		unsigned n = f->ticket <= PMQ_GROUPS_MAX ? (unsigned)f->ticket : 0;
		bool ok = n > 0;
		for (unsigned k = 0; ok && k < n; k++)
			ok = rp_group_decode(f, k, &g[k]) == 0 && g[k].index < mc.max_groups;
		if (!ok) {
			standby_refuse(c->peer, "a group table frame out of the queue's table or malformed", f);
			return -1;
		}
		for (unsigned k = 0; !r && k < n; k++)
			r = pmq_repl_group_apply(m->q, &g[k]);
		break;
	}
	default:
		standby_refuse(c->peer, "a frame of a type the primary never sends", f);
		return -1;
	}
	if (r) {
		log_msg(LOG_ERR, "standby: queue \"%s\": cannot apply ticket %llu: %s (%s) --> connection dropped",
			m->name, (unsigned long long)f->ticket, pmq_strerror(r), pmq_errmsg());
		return -1;
	}
	m->dirty = true;
	return 0;
}

/* ---- connections: several being authenticated, at most one session ----------- */

#define SB_IDLE_NS 10000000000ull      /* a session silent this long is dropped */

static struct {
	bool on;
	struct rp_conn c;
	uint64_t epoch, last_rx;
	unsigned since_ack;
} sess;

static void session_end(const char *why)
{
	if (!sess.on)
		return;
	if (why)
		log_msg(LOG_NOTICE, "standby: %s", why);
	pthread_mutex_lock(&sb_mu);
	sb_connected = false;
	sb_left_ns = repl_now_ns(); /* the witness's "in sync": how long ago a primary was here */
	pthread_mutex_unlock(&sb_mu);
	rp_conn_free(&sess.c);
	sess.on = false;
}

/* An authenticated primary (standby_accept.c handed over its connection,
 * secured): it becomes the session, replacing the current one only now. */
static void session_begin(struct sb_auth *a)
{
	if (sess.on) {
		char why[200];
		snprintf(why, sizeof(why), "primary %s authenticated: it replaces the session with %s", a->c.peer,
			 sess.c.peer);
		session_end(why);
	}
	if (a->peer_epoch > atomic_load(&g_node_epoch)) {
		atomic_store(&g_node_epoch, a->peer_epoch);
		repl_state_save();
	}
	sess.c = a->c; /* the buffers and keys move to the session */
	sess.on = true;
	sess.epoch = a->peer_epoch;
	sess.last_rx = repl_now_ns();
	sess.since_ack = 0;
	log_msg(LOG_NOTICE, "standby: primary %s connected at epoch %llu (records %s)", sess.c.peer,
		(unsigned long long)a->peer_epoch, a->encrypt ? "encrypted and authenticated" : "authenticated");
	pthread_mutex_lock(&sb_mu);
	for (int i = 0; i < REPL_MAX_QUEUES; i++)
		qmap[i] = -1;
	sb_connected = true;
	snprintf(sb_peer, sizeof(sb_peer), "%s", sess.c.peer);
	sb_session_epoch = a->peer_epoch;
	pthread_mutex_unlock(&sb_mu);
}

/* Apply what the session has buffered or readable now (frames, then the batch's
 * ACK). Bounded, so that handshakes and the listener are served in between. */
static void session_frames(bool *got)
{
	for (int k = 0; k < 4096; k++) {
		struct rp_frame f;
		const char *why = "";
		int r = rp_recv(&sess.c, &f, 0, &why);
		if (r < 0) {
			if (r == -ECONNRESET)
				log_msg(LOG_NOTICE, "standby: primary %s closed the connection", sess.c.peer);
			else if (r == -EPROTO || r == -EBADMSG || r == -EMSGSIZE || r == -EPIPE)
				standby_refuse(sess.c.peer, why, NULL);
			else
				log_msg(LOG_WARNING, "standby: connection from %s failed: %s (%s)", sess.c.peer, why,
					strerror(-r));
			session_end(NULL);
			return;
		}
		pthread_mutex_lock(&sb_mu);
		if (atomic_load(&g_node_role) != NODE_STANDBY) {
			pthread_mutex_unlock(&sb_mu);
			session_end("promoted: closing the session with the old primary");
			return;
		}
		int bad = 0;
		if (r == 1) {
			*got = true;
			sb_frames++;
			bad = apply_frame(&sess.c, &f, sess.epoch, &sess.since_ack);
		}
		if (!bad && (r == 0 || !rp_has_buffered(&sess.c) || sess.since_ack >= 256)) {
			bad = ack_batch(&sess.c, sess.epoch) ? -1 : 0;
			sess.since_ack = 0;
		}
		pthread_mutex_unlock(&sb_mu);
		if (bad) {
			session_end(NULL);
			return;
		}
		if (r == 0)
			return;
	}
}

static void session_step(void)
{
	bool got = false;
	session_frames(&got);
	if (got)
		sess.last_rx = repl_now_ns(); /* once per step, not a clock read per frame */
}

static void *standby_main(void *arg)
{
	(void)arg;
	prctl(PR_SET_TIMERSLACK, 1UL); /* poll timeouts as asked, not 50 us late */
	while (!atomic_load(&sb_stop)) {
		struct pollfd p[2 + SB_PENDING];
		int map[2 + SB_PENDING], n = 0, sidx = -1;
		p[n] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
		map[n++] = -1;
		if (sess.on) {
			p[n] = (struct pollfd){ .fd = sess.c.fd, .events = POLLIN };
			sidx = n;
			map[n++] = -1;
		}
		n += sb_pending_fds(p + n, map + n);
		int timeout = sess.on && rp_has_buffered(&sess.c) ? 0 : 100;
		if (poll(p, (nfds_t)n, timeout) < 0 && errno != EINTR)
			continue;
		uint64_t now = repl_now_ns();
		if (sess.on && ((sidx >= 0 && p[sidx].revents) || rp_has_buffered(&sess.c)))
			session_step();
		for (int k = 0; k < n; k++) {
			struct sb_auth a;
			if (map[k] >= 0 && sb_pending_step(map[k], p[k].revents != 0, now, &a) == 1)
				session_begin(&a);
		}
		if (p[0].revents & POLLIN)
			sb_accept(listen_fd);
		if (sess.on && now > sess.last_rx && now - sess.last_rx > SB_IDLE_NS) {
			char why[160];
			snprintf(why, sizeof(why), "nothing from primary %s for 10 s --> dropping the session", sess.c.peer);
			session_end(why);
		}
	}
	session_end(NULL);
	sb_pending_drop_all();
	return NULL;
}

int standby_start(void)
{
	struct sockaddr_storage ss;
	unsigned sl;
	if (rp_parse_addr(g_repl.listen, &ss, &sl, true)) {
		log_msg(LOG_ERR, "standby: cannot parse --listen %s --> use ADDR:PORT, e.g. 10.0.0.2:7411", g_repl.listen);
		return -1;
	}
	listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (listen_fd < 0 || setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(listen_fd, (struct sockaddr *)&ss, sl) || listen(listen_fd, 4)) {
		log_msg(LOG_ERR, "standby: cannot listen on %s: %s --> is the address local and the port free?",
			g_repl.listen, strerror(errno));
		return -1;
	}
	for (int i = 0; i < REPL_MAX_QUEUES; i++)
		qmap[i] = -1;
	if (pthread_create(&sb_thread, NULL, standby_main, NULL)) {
		log_msg(LOG_ERR, "standby: cannot start the receiver thread");
		return -1;
	}
	sb_running = true;
	log_msg(LOG_NOTICE, "standby: listening on %s for the primary's replicator", g_repl.listen);
	return 0;
}

void standby_stop(void)
{
	if (!sb_running)
		return;
	atomic_store(&sb_stop, 1);
	pthread_join(sb_thread, NULL);
	sb_running = false;
	close(listen_fd);
	for (int i = 0; i < n_mirrors; i++)
		if (mirrors[i].q)
			pmq_close(mirrors[i].q);
	n_mirrors = 0;
}

int standby_promote(uint64_t epoch, struct jbuf *j, char *err, size_t errlen)
{
	pthread_mutex_lock(&sb_mu);
	/* every queue file here, not only those this session described */
	static char names[REPL_MAX_QUEUES][PMQ_NAME_MAX + 1];
	int n = repl_list_queues(g_repl.dir, names, REPL_MAX_QUEUES);
	for (int i = 0; i < n; i++) {
		pmq_t *q;
		struct pmq_repl_info in;
		struct pmq_open_opts o;
		pmq_open_opts_init(&o);
		o.dir = g_repl.dir;
		o.owner_uid = PMQ_OWNER_ANY; /* mirrors in pmqd's own directory */
		if (pmq_open_ex(names[i], 0, &o, &q) == 0) {
			pmq_repl_info(q, &in);
			if (in.epoch > epoch - 1)
				epoch = in.epoch + 1;
			pmq_close(q);
		}
	}
	atomic_store(&g_node_epoch, epoch);
	atomic_store(&g_node_role, NODE_PRIMARY);
	int sr = repl_state_save();
	if (sr) {
		atomic_store(&g_node_role, NODE_STANDBY);
		pthread_mutex_unlock(&sb_mu);
		snprintf(err, errlen, "cannot record the promotion in %s/%s: %s", g_repl.dir, REPL_STATE_FILE,
			 strerror(-sr));
		return EIO;
	}
	jb_printf(j, "{\"epoch\":%llu,\"queues\":[", (unsigned long long)epoch);
	for (int i = 0; i < n; i++) {
		pmq_t *q;
		struct pmq_open_opts o;
		pmq_open_opts_init(&o);
		o.dir = g_repl.dir;
		o.owner_uid = PMQ_OWNER_ANY; /* mirrors in pmqd's own directory */
		int r = pmq_open_ex(names[i], 0, &o, &q);
		if (r) {
			log_msg(LOG_ERR, "promote: cannot open \"%s\": %s --> promote it by hand later", names[i],
				pmq_strerror(r));
			continue;
		}
		struct pmq_repl_info in;
		pmq_repl_info(q, &in);
		int deliverable = pmq_repl_promote(q, epoch);
		log_msg(LOG_NOTICE, "promote: queue \"%s\" is writable at epoch %llu: %d message(s) deliverable "
			"(tickets %llu..%llu)", names[i], (unsigned long long)epoch, deliverable,
			(unsigned long long)in.head, (unsigned long long)in.tail);
		jb_printf(j, "%s{\"name\":", i ? "," : "");
		jb_str(j, names[i]);
		jb_printf(j, ",\"deliverable\":%d,\"head\":%llu,\"tail\":%llu}", deliverable,
			  (unsigned long long)in.head, (unsigned long long)in.tail);
		pmq_close(q);
	}
	jb_raw(j, "]}");
	for (int i = 0; i < n_mirrors; i++)
		if (mirrors[i].q) {
			pmq_close(mirrors[i].q);
			mirrors[i].q = NULL;
		}
	n_mirrors = 0;
	log_msg(LOG_NOTICE, "promote: this node is the primary now, epoch %llu; a returning old primary will "
		"be fenced", (unsigned long long)epoch);
	pthread_mutex_unlock(&sb_mu);
	return 0;
}

void standby_status(struct jbuf *j, uid_t uid)
{
	if (!sb_running) {
		jb_raw(j, "null");
		return;
	}
	pthread_mutex_lock(&sb_mu);
	jb_printf(j, "{\"listen\":");
	jb_str(j, g_repl.listen);
	jb_printf(j, ",\"connected\":%s,\"peer\":", sb_connected ? "true" : "false");
	jb_str(j, sb_peer);
	jb_printf(j, ",\"session_epoch\":%llu,\"frames\":%llu,\"refused\":%llu,\"mirrors\":[",
		  (unsigned long long)sb_session_epoch, (unsigned long long)sb_frames, (unsigned long long)atomic_load(&sb_refused));
	for (int i = 0, k = 0; i < n_mirrors; i++) {
		if (!repl_may_see(uid, mirrors[i].name))
			continue; /* like `list`: only queues the peer may control */
		jb_printf(j, "%s{\"name\":", k++ ? "," : "");
		jb_str(j, mirrors[i].name);
		jb_printf(j, ",\"next\":%llu,\"acked\":%llu}", (unsigned long long)mirrors[i].expected,
			  (unsigned long long)mirrors[i].acked);
	}
	jb_raw(j, "]}");
	pthread_mutex_unlock(&sb_mu);
}

void standby_contact(long long *age_ms)
{
	pthread_mutex_lock(&sb_mu);
	if (sb_connected)
		*age_ms = 0;
	else if (!sb_left_ns)
		*age_ms = -1;
	else
		*age_ms = (long long)((repl_now_ns() - sb_left_ns) / 1000000) + 1;
	pthread_mutex_unlock(&sb_mu);
}
