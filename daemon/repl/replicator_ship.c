/*
 * replicator_ship.c - what the primary's replicator sends for one queue in
 * one round (replicator.c runs the link and calls these): the QUEUE
 * description, the side area's changes (redeliveries and dead letters,
 * mirrored index for index), committed entries in ticket order, and the
 * cumulative-ack floor. Frames are repl_proto.h's; all reads of the queue go
 * through libpmq's pmq_repl_* calls (pmq_admin.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "repl_node.h"
#include "replicator.h"

#define BATCH_BYTES (256u << 10)
#define BATCH_ENTRIES 1024u
#define SIDE_RESCAN_NS 200000000ull /* a full side scan at least this often, changed or not */
#define GROUP_SYNC_NS 5000000ull     /* the group table at most this often (floors move with every ack) */

/* Side shadow keys: what the standby was last told about a side entry. */
#define SH_UNKNOWN UINT64_MAX  /* nothing known (new session): ship whatever it is now */
#define SH_NONE (1ull << 63)   /* no message there (| generation in a pass-A snapshot) */
static inline uint64_t sh_key(const struct pmq_repl_side *s)
{
	return (uint64_t)s->gen | ((uint64_t)s->state << 32) | ((uint64_t)(s->flags & PMQ_REPL_SIDE_HELD) << 40);
}
static inline bool sh_none(uint64_t k) { return k != SH_UNKNOWN && (k & SH_NONE); }

int replicator_describe(struct link *l, struct rp_conn *c, struct rqueue *r, uint64_t epoch, unsigned qid)
{
	struct pmq_config cfg;
	pmq_config_init(&cfg);
	pmq_get_config(r->q, &cfg);
	struct rp_queue_desc d = { .slot_count = cfg.slot_count, .max_payload = cfg.max_payload, .flags = cfg.flags,
				   .side_slots = cfg.side_slots, .max_attach = cfg.max_attach,
				   .consumer_quota = cfg.consumer_quota, .max_deliveries = cfg.max_deliveries,
				   .dlq_capacity = cfg.dlq_capacity, .durability = cfg.durability,
				   .lease_action = cfg.lease_action, .lease_ns = cfg.lease_ns,
				   .max_groups = cfg.max_groups };
	snprintf(d.name, sizeof(d.name), "%s", r->name);
	uint8_t p[RP_QUEUE_FIXED + PMQ_NAME_MAX];
	size_t n = rp_queue_encode(p, sizeof(p), &d);
	struct pmq_repl_info in;
	pmq_repl_info(r->q, &in);
	r->described = true;
	r->known = false;
	return rp_send(c, RP_QUEUE, qid, epoch, in.tail, 0, p, n);
}

/*
 * Ship the side area's changes since the last scan: upserts (READY/DEAD entries, held
 * ones as READY), then frees. Returns frames queued or -errno.
 *
 * Pass A reads every entry's word; pass B ships each entry that holds a message the
 * standby does not have in that form; frees go last. A side entry is freed only after
 * any copy that replaces it was published (a lease move publishes the copy, then frees
 * the source), so an entry seen free in pass A had its successor published before pass
 * B, which ships it: the standby never drops a message before it holds the next copy.
 * Only when side_seq moved (or every SIDE_RESCAN_NS, or after a racy scan).
 */
static int side_sync(struct link *l, struct rp_conn *c, struct rqueue *r, uint64_t epoch, unsigned qid)
{
	uint64_t seq, now = repl_now_ns();
	if (!r->side_count)
		return 0;
	if (pmq_repl_side_seq(r->q, &seq))
		return 0;
	if (r->side_synced && !r->side_again && seq == r->side_seq_seen && now - r->side_scan_ns < SIDE_RESCAN_NS)
		return 0;
	uint32_t n = r->side_count;
	if (!r->side_synced)
		for (uint32_t i = 0; i < n; i++)
			r->side_shadow[i] = SH_UNKNOWN; /* the mirror may hold anything: resend all */
	r->side_synced = true;
	r->side_again = false;
	r->side_seq_seen = seq; /* read before the scan: a change after it is seen next loop */
	r->side_scan_ns = now;
	for (uint32_t i = 0; i < n; i++) {
		struct pmq_repl_side sd;
		int k = pmq_repl_side_read(r->q, i, &sd, NULL, 0);
		if (k < 0)
			return k;
		l->side_snap[i] = k == PMQ_REPL_SIDE_NONE ? (SH_NONE | sd.gen) : sh_key(&sd);
	}
	int frames = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (sh_none(l->side_snap[i]) || l->side_snap[i] == r->side_shadow[i])
			continue;
		struct pmq_repl_side sd;
		int k = pmq_repl_side_read(r->q, i, &sd, l->buf, sizeof(l->buf));
		if (k == -EAGAIN || k == PMQ_REPL_SIDE_NONE) {
			r->side_again = true; /* freed or rewritten meanwhile: look again next loop */
			continue;
		}
		if (k < 0)
			return k;
		uint64_t key = sh_key(&sd);
		if (key == r->side_shadow[i])
			continue;
		uint8_t h[RP_SIDE_HDR];
		rp_side_header(h, &sd);
		int e = rp_send2(c, RP_SIDE, qid, epoch, i, rp_side_aux(&sd), h, sizeof(h), l->buf, sd.len);
		if (e)
			return e;
		r->side_shadow[i] = key;
		l->sent_bytes += RP_HDR + RP_SIDE_HDR + sd.len;
		frames++;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (!sh_none(l->side_snap[i]) || sh_none(r->side_shadow[i]))
			continue;
		int e = rp_send(c, RP_SIDE_FREE, qid, epoch, i, (uint32_t)l->side_snap[i], NULL, 0);
		if (e)
			return e;
		r->side_shadow[i] = SH_NONE;
		frames++;
	}
	return frames;
}

/*
 * Consumer groups (docs/failover.md, "Consumer groups"), in two halves around the side
 * scan and the ring frames. group_read, BEFORE the side scan: every table entry, each
 * reliable group's floor walked from the floor read last. A ticket it reads settled
 * was acked, or moved into the side area and freed after side_seq was bumped (RP5), so
 * the side scan that follows ships that copy before the standby drops the ticket for
 * the group. group_ship, AFTER the ring frames: the entries that changed since last
 * sent, floors and heads clamped to next_send (the standby holds every ticket below
 * it), in one RP_GROUPS frame. Every GROUP_SYNC_NS at most (gnow[i].index is
 * UINT32_MAX for an entry not read this round). group_read returns -errno on a read
 * that failed.
 */
static int group_read(struct rqueue *r, struct pmq_repl_group *gnow, bool *due)
{
	*due = false;
	if (!r->max_groups)
		return 0;
	uint64_t now = repl_now_ns();
	if (r->groups_synced && now - r->group_scan_ns < GROUP_SYNC_NS)
		return 0;
	if (!r->group_sent) {
		r->group_sent = calloc(r->max_groups, sizeof(*r->group_sent));
		if (!r->group_sent)
			return -ENOMEM;
	}
	*due = true;
	r->group_scan_ns = now;
	if (!r->groups_synced) /* a new session: the mirror may hold anything, send every entry */
		for (uint32_t i = 0; i < r->max_groups; i++)
			r->group_sent[i].index = UINT32_MAX;
	for (uint32_t i = 0; i < r->max_groups; i++) {
		int k = pmq_repl_group_read(r->q, i, r->group_from[i], &gnow[i]);
		if (k == -EAGAIN) {
			gnow[i].index = UINT32_MAX; /* changing under us: read it next round */
			continue;
		}
		if (k < 0)
			return k;
		r->group_from[i] = gnow[i].floor;
	}
	return 0;
}

static int group_ship(struct link *l, struct rp_conn *c, struct rqueue *r, uint64_t epoch, unsigned qid,
		      struct pmq_repl_group *gnow)
{
	uint8_t p[PMQ_GROUPS_MAX * RP_GROUP_REC_LEASE];
	unsigned n = 0;
	for (uint32_t i = 0; i < r->max_groups; i++) {
		struct pmq_repl_group *g = &gnow[i];
		if (g->index != i)
			continue;
		/* the standby may not hold tickets from next_send on yet: a floor past them would
		 * mark them settled there before they arrive */
		if (g->start > r->next_send)
			g->start = r->next_send;
		if (g->floor > r->next_send)
			g->floor = r->next_send;
		if (g->head > r->next_send)
			g->head = r->next_send;
		if (!memcmp(g, &r->group_sent[i], sizeof(*g)))
			continue; /* the standby has it (an entry not read yet holds index UINT32_MAX) */
		/* the entry's first record this session: the mirror's lanes may be anything (a
		 * rejoined old primary's, ahead or behind) */
		bool first = r->group_sent[i].index != i;
		r->group_sent[i] = *g;
		if (first)
			g->flags |= PMQ_REPL_GROUP_RESYNC; /* on the wire only: rewrite the whole lane */
		rp_group_encode(p + (size_t)n * RP_GROUP_REC_LEASE, g);
		n++;
	}
	r->groups_synced = true;
	if (!n)
		return 0;
	/* with the leases (aux RP_GROUPS_LEASE): a standby of a release before them refuses the
	 * frame, so upgrade the standby first (docs/failover.md) */
	int e = rp_send(c, RP_GROUPS, qid, epoch, n, RP_GROUPS_LEASE, p, (size_t)n * RP_GROUP_REC_LEASE);
	if (e)
		return e;
	l->sent_bytes += RP_HDR + (size_t)n * RP_GROUP_REC_LEASE;
	l->sent_group_frames++;
	return 1;
}

/* Ship what is committed of one queue, up to a batch. Returns entries shipped or -errno.
 *
 * Order (docs/failover.md, "side area"): floor and settled tickets are read FIRST, then
 * the side area is synced, then the ring frames that let the standby drop messages (SKIP,
 * FLOOR) follow. A ticket read as settled was acked, or moved into the side area and
 * freed after its copy was published and side_seq bumped (R5); the side scan after it
 * therefore ships that copy before the frame that drops the ring copy. A ticket seen
 * settled only after the side scan is not skipped in this loop: the next loop's scan
 * comes first. */
int replicator_ship(struct link *l, struct rp_conn *c, struct rqueue *r, uint64_t epoch, unsigned qid)
{
	struct pmq_repl_info in;
	pmq_repl_info(r->q, &in);
	uint64_t floor;
	pmq_repl_floor(r->q, &floor);
	if (!r->described_groups) {
		struct pmq_config cfg;
		pmq_config_init(&cfg);
		if (pmq_get_config(r->q, &cfg) == 0)
			r->max_groups = cfg.max_groups > PMQ_GROUPS_MAX ? PMQ_GROUPS_MAX : cfg.max_groups;
		r->described_groups = true;
	}
	if (!r->side_shadow && in.side_count) {
		r->side_shadow = calloc(in.side_count, sizeof(*r->side_shadow));
		if (!r->side_shadow)
			return -ENOMEM;
		r->side_count = in.side_count > RP_SIDE_MAX_INDEX + 1 ? RP_SIDE_MAX_INDEX + 1 : in.side_count;
		r->side_synced = false;
	}
	/* tickets at or past the floor that are settled now, before the side scan */
	uint64_t ps_from = r->next_send > floor ? r->next_send : floor;
	uint64_t ps_to = in.tail < ps_from + BATCH_ENTRIES ? in.tail : ps_from + BATCH_ENTRIES;
	uint64_t ps[BATCH_ENTRIES / 64] = { 0 };
	for (uint64_t t = ps_from; t < ps_to; t++)
		if (pmq_repl_settled(r->q, t) == 1)
			ps[(t - ps_from) / 64] |= 1ull << ((t - ps_from) % 64);
	struct pmq_repl_group gnow[PMQ_GROUPS_MAX];
	bool groups_due = false;
	int gr = group_read(r, gnow, &groups_due);
	if (gr < 0) {
		log_msg(LOG_ERR, "replicator: queue \"%s\": cannot read the group table: %s (%s) --> queue not "
			"replicated this session", r->name, pmq_strerror(gr), pmq_errmsg());
		r->broken = true;
		return 0;
	}
	int n = side_sync(l, c, r, epoch, qid);
	if (n < 0) {
		if (n == -EPIPE || n == -ETIMEDOUT || n == -ECONNRESET || n == -EMSGSIZE)
			return n;
		log_msg(LOG_ERR, "replicator: queue \"%s\": cannot read the side area: %s (%s) --> queue not "
			"replicated this session", r->name, pmq_strerror(n), pmq_errmsg());
		r->broken = true;
		return 0;
	}
	if (r->next_send < floor) {
		/* everything below the floor is settled: the standby keeps nothing of it */
		int e = rp_send(c, RP_SKIP, qid, epoch, r->next_send, floor - r->next_send, NULL, 0);
		if (e)
			return e;
		r->next_send = floor;
		n++;
	}
	size_t bytes = 0;
	uint64_t skip_from = 0, skip_n = 0;
	while (r->next_send < in.tail && bytes < BATCH_BYTES && (unsigned)n < BATCH_ENTRIES) {
		struct pmq_repl_entry e;
		int rr = pmq_repl_read(r->q, r->next_send, &e, l->buf, sizeof(l->buf));
		if (rr == -EAGAIN)
			break;
		if (rr < 0) {
			log_msg(LOG_ERR, "replicator: queue \"%s\": cannot read ticket %llu: %s (%s) --> queue not "
				"replicated this session", r->name, (unsigned long long)r->next_send, pmq_strerror(rr),
				pmq_errmsg());
			r->broken = true;
			return 0;
		}
		int s = 0;
		if ((e.flags & PMQ_REPL_E_HOLE) && (e.flags & PMQ_REPL_E_ACKED) && r->next_send >= floor) {
			uint64_t k = r->next_send - ps_from;
			if (r->next_send < ps_from || k >= BATCH_ENTRIES || !(ps[k / 64] & (1ull << (k % 64))))
				break; /* settled after the side scan (maybe moved): skip it next loop */
		}
		if ((e.flags & PMQ_REPL_E_HOLE) && (e.flags & PMQ_REPL_E_ACKED)) {
			if (!skip_n)
				skip_from = r->next_send;
			skip_n++;
		} else {
			if (skip_n) {
				s = rp_send(c, RP_SKIP, qid, epoch, skip_from, skip_n, NULL, 0);
				skip_n = 0;
			}
			if (!s && (e.flags & PMQ_REPL_E_HOLE)) {
				s = rp_send(c, RP_HOLE, qid, epoch, r->next_send, 0, NULL, 0);
			} else if (!s) {
				uint8_t h[RP_ENTRY_HDR];
				rp_entry_header(h, &e);
				s = rp_send2(c, RP_ENTRY, qid, epoch, r->next_send, 0, h, sizeof(h), l->buf, e.len);
				bytes += RP_HDR + RP_ENTRY_HDR + e.len;
				l->sent_entries++;
			}
		}
		if (s)
			return s;
		r->next_send++;
		n++;
	}
	if (skip_n) {
		int s = rp_send(c, RP_SKIP, qid, epoch, skip_from, skip_n, NULL, 0);
		if (s)
			return s;
	}
	if (groups_due) {
		int g = group_ship(l, c, r, epoch, qid, gnow);
		if (g < 0)
			return g;
		n += g;
	}
	uint64_t head = in.head;
	if (floor > r->next_send)
		floor = r->next_send;
	if (head > r->next_send)
		head = r->next_send;
	if (floor != r->floor_sent || head != r->head_sent) {
		int s = rp_send(c, RP_FLOOR, qid, epoch, floor, head, NULL, 0);
		if (s)
			return s;
		r->floor_sent = floor;
		r->head_sent = head;
		n++;
	}
	l->sent_bytes += bytes;
	return n;
}
