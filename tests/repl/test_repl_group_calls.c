/*
 * test_repl_group_calls - replication of consumer groups without a network: the
 * RP_GROUPS frame's decoder (every bound it checks), the side frame's group tag, and
 * the library's pmq_repl_group_read (a reliable group's floor from its lane, a lossy
 * group's cursor) and pmq_repl_group_apply (the mirror's table and lanes) through a
 * promotion: each group resumes where it was on the primary.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pmq.h"
#include "repl_proto.h"

static char dir[64];
static uint8_t buf[RP_HDR + PMQ_GROUPS_MAX * RP_GROUP_REC_LEASE];

static int setup(void **st)
{
	(void)st;
	snprintf(dir, sizeof(dir), "/tmp/pmq-repl-groups-unit-%d", (int)getpid());
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void mk_config(struct pmq_config *c, uint32_t max_groups, const char *groups)
{
	pmq_config_init(c);
	c->slot_count = 8;
	c->max_payload = 64;
	c->consumer_quota = 8;
	c->max_groups = max_groups;
	c->groups = groups;
	c->dir = dir;
}

static pmq_t *mk_from(const char *name, const struct pmq_config *c)
{
	pmq_t *q;
	int r = pmq_create(name, c, &q);
	if (r)
		fprintf(stderr, "create: %s\n", pmq_errmsg());
	assert_int_equal(r, 0);
	return q;
}

static pmq_t *mk(const char *name, uint32_t max_groups, const char *groups)
{
	struct pmq_config c;
	mk_config(&c, max_groups, groups);
	return mk_from(name, &c);
}

static pmq_t *join(const char *name, const char *group)
{
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.dir = dir;
	o.group = group;
	pmq_t *q;
	int r = pmq_open_ex(name, PMQ_CONSUMER, &o, &q);
	if (r)
		fprintf(stderr, "open %s group %s: %s\n", name, group, pmq_errmsg());
	assert_int_equal(r, 0);
	return q;
}

/* One RP_GROUPS frame of n records as this release sends it (aux RP_GROUPS_LEASE), or
 * with `old` as a primary before group leases did (aux 0, records without the lease),
 * parsed back into *f. */
static void frame_as(const struct pmq_repl_group *g, unsigned n, bool old, struct rp_frame *f)
{
	uint8_t p[PMQ_GROUPS_MAX * RP_GROUP_REC_LEASE], rec[RP_GROUP_REC_LEASE];
	size_t rl = old ? RP_GROUP_REC : RP_GROUP_REC_LEASE;
	for (unsigned k = 0; k < n; k++) {
		rp_group_encode(rec, &g[k]);
		memcpy(p + (size_t)k * rl, rec, rl);
	}
	size_t len = rp_encode(buf, sizeof(buf), RP_GROUPS, 0, 1, n, old ? 0 : RP_GROUPS_LEASE, p, (size_t)n * rl);
	const char *why;
	assert_int_equal(rp_parse(buf, len, f, &why), (ssize_t)len);
}

static void frame_of(const struct pmq_repl_group *g, unsigned n, struct rp_frame *f) { frame_as(g, n, false, f); }

static void test_group_frame_decode_checks_bounds(void **st)
{
	(void)st;
	struct pmq_repl_group g[2] = {
		{ .index = 0, .state = PMQ_REPL_GROUP_ACTIVE, .incarnation = 3, .start = 5, .floor = 9, .head = 12,
		  .redelivered = 4, .name = "orders" },
		{ .index = 31, .state = PMQ_REPL_GROUP_NONE, .incarnation = 2 },
	};
	struct rp_frame f;
	struct pmq_repl_group o;
	frame_of(g, 2, &f);
	assert_int_equal(rp_group_decode(&f, 0, &o), 0);
	assert_string_equal(o.name, "orders");
	assert_true(o.incarnation == 3 && o.start == 5 && o.floor == 9 && o.head == 12 && o.redelivered == 4);
	assert_int_equal(rp_group_decode(&f, 1, &o), 0);
	assert_true(o.index == 31 && o.state == PMQ_REPL_GROUP_NONE);
	assert_int_equal(rp_group_decode(&f, 2, &o), -EBADMSG); /* past the frame's count */
	struct rp_frame bad = f;
	bad.len -= 1; /* not count records */
	assert_int_equal(rp_group_decode(&bad, 0, &o), -EBADMSG);
	bad = f;
	bad.ticket = 0;
	assert_int_equal(rp_group_decode(&bad, 0, &o), -EBADMSG);
	bad.ticket = PMQ_GROUPS_MAX + 1;
	assert_int_equal(rp_group_decode(&bad, 0, &o), -EBADMSG);
	bad = f;
	bad.aux = RP_GROUPS_LEASE + 1; /* no such record layout */
	assert_int_equal(rp_group_decode(&bad, 0, &o), -EBADMSG);
	bad = f;
	bad.aux = 0; /* 112-byte records read as 104-byte ones: the length is not count records */
	assert_int_equal(rp_group_decode(&bad, 0, &o), -EBADMSG);
	/* one field out of range at a time */
	struct pmq_repl_group v[6];
	for (int i = 0; i < 6; i++)
		v[i] = g[0];
	v[0].index = PMQ_GROUPS_MAX;
	v[1].state = 2;
	v[2].flags = 0x2;
	snprintf(v[3].name, sizeof(v[3].name), "%s", "bad/name");
	v[4].floor = v[4].start - 1; /* floor below start */
	v[5].head = v[5].floor - 1;  /* head below floor */
	for (int i = 0; i < 6; i++) {
		frame_of(&v[i], 1, &f);
		assert_int_equal(rp_group_decode(&f, 0, &o), -EBADMSG);
	}
	struct pmq_repl_group unnamed = g[0];
	memset(unnamed.name, 0, sizeof(unnamed.name));
	frame_of(&unnamed, 1, &f);
	assert_int_equal(rp_group_decode(&f, 0, &o), -EBADMSG);
	/* the side frame carries the group tag, and refuses one past any table */
	struct pmq_repl_side sd = { .index = 1, .gen = 2, .state = PMQ_REPL_SIDE_READY, .group = 3 };
	uint8_t h[RP_SIDE_HDR];
	rp_side_header(h, &sd);
	size_t n = rp_encode(buf, sizeof(buf), RP_SIDE, 0, 1, 1, rp_side_aux(&sd), h, sizeof(h));
	const char *why;
	assert_int_equal(rp_parse(buf, n, &f, &why), (ssize_t)n);
	struct pmq_repl_side so;
	const void *d;
	assert_int_equal(rp_side_decode(&f, 64, &so, &d), 0);
	assert_int_equal(so.group, 3);
	f.aux = rp_side_aux(&sd) | ((uint64_t)(PMQ_GROUPS_MAX + 1) << 48);
	assert_int_equal(rp_side_decode(&f, 64, &so, &d), -EBADMSG);
}

/* The lease travels with its group: a frame of this release carries it, one of a primary
 * before group leases (aux 0) decodes as "the queue's" (0), and a lease the library would
 * refuse is refused by the decoder already (on a lossy group, on a free entry, out of range). */
static void test_group_frame_carries_the_lease(void **st)
{
	(void)st;
	struct pmq_repl_group g = { .index = 2, .state = PMQ_REPL_GROUP_ACTIVE, .incarnation = 1, .start = 1,
				    .floor = 1, .head = 1, .name = "slow", .lease_ns = 200000000ull };
	struct rp_frame f;
	struct pmq_repl_group o;
	frame_of(&g, 1, &f);
	assert_int_equal(f.len, RP_GROUP_REC_LEASE);
	assert_int_equal(rp_group_decode(&f, 0, &o), 0);
	assert_true(o.lease_ns == 200000000ull);
	assert_memory_equal(&o, &g, sizeof(o)); /* every field round-trips */
	frame_as(&g, 1, true, &f); /* an older primary's frame */
	assert_int_equal(f.len, RP_GROUP_REC);
	assert_int_equal(rp_group_decode(&f, 0, &o), 0);
	assert_string_equal(o.name, "slow");
	assert_true(o.lease_ns == 0 && o.floor == 1);
	struct pmq_repl_group v[4] = { g, g, g, g };
	v[0].flags = PMQ_GROUP_LOSSY;                 /* a lossy group holds nothing */
	v[1].lease_ns = PMQ_GROUP_LEASE_MIN_NS - 1;   /* below 1 ms */
	v[2].lease_ns = PMQ_GROUP_LEASE_MAX_NS + 1;   /* past 7 days */
	for (int i = 0; i < 3; i++) {
		frame_of(&v[i], 1, &f);
		assert_int_equal(rp_group_decode(&f, 0, &o), -EBADMSG);
	}
	/* a free entry's record never carries one: the encoder writes 0, a forged one is refused */
	v[3].state = PMQ_REPL_GROUP_NONE;
	frame_of(&v[3], 1, &f);
	assert_int_equal(rp_group_decode(&f, 0, &o), 0);
	assert_true(o.lease_ns == 0);
	uint8_t forged[RP_HDR + RP_GROUP_REC_LEASE];
	memcpy(forged, buf, sizeof(forged));
	forged[RP_HDR + 104] = 1;
	const char *why;
	assert_int_equal(rp_parse_sealed(forged, sizeof(forged), &f, &why), (ssize_t)sizeof(forged));
	assert_int_equal(rp_group_decode(&f, 0, &o), -EBADMSG);
}

/* A promoted standby has the primary's group leases: read carries each group's own lease,
 * apply writes it into the mirror's record (pmq_group_stats, pmq_lease_min there), and
 * apply refuses one the library would refuse at create. */
static void test_group_lease_is_mirrored(void **st)
{
	(void)st;
	pmq_t *p = mk("lprim", 3, "a:lease=200,b,t:lossy"), *m = mk("lmirr", 3, NULL);
	assert_int_equal(pmq_repl_make_standby(m, 1), 0);
	struct pmq_repl_group g[3];
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(pmq_repl_group_read(p, i, 0, &g[i]), PMQ_REPL_GROUP_ACTIVE);
		assert_int_equal(pmq_repl_group_apply(m, &g[i]), 0);
	}
	assert_true(g[0].lease_ns == 200000000ull && g[1].lease_ns == 0 && g[2].lease_ns == 0);
	struct pmq_group_info info[3];
	assert_int_equal(pmq_group_list(m, info, 3), 3);
	assert_string_equal(info[0].name, "a");
	assert_int_equal(info[0].lease_ms, 200);
	assert_int_equal(info[1].lease_ms, 0);
	uint64_t least = 0;
	assert_int_equal(pmq_lease_min(m, &least), 0);
	assert_true(least == 200000000ull);
	struct pmq_repl_group bad = g[2];
	bad.lease_ns = 200000000ull; /* lossy */
	assert_int_equal(pmq_repl_group_apply(m, &bad), -EINVAL);
	bad = g[1];
	bad.lease_ns = 1; /* below 1 ms */
	assert_int_equal(pmq_repl_group_apply(m, &bad), -EINVAL);
	/* promoted, the mirror's member of a gets a's lease */
	assert_int_equal(pmq_repl_promote(m, 2), 0);
	pmq_t *ma = join("lmirr", "a");
	struct pmq_attach_info at[4];
	int n = pmq_attachments(m, at, 4);
	int found = 0;
	for (int i = 0; i < n && i < 4; i++) {
		uint64_t l = 0;
		assert_int_equal(pmq_attach_lease(m, at[i].index, at[i].incarnation, &l), 0);
		if (l == 200000000ull)
			found++; /* the member of a */
		else
			assert_true(l == 30000000000ull); /* the creator's handle: in no group, the queue's */
	}
	assert_int_equal(found, 1);
	pmq_close(ma);
	pmq_close(p);
	pmq_close(m);
}

/* Ship every entry of p to m (a loop of the replicator's reads and the standby's applies). */
static void ship_entries(pmq_t *p, pmq_t *m, uint64_t from, uint64_t to)
{
	uint8_t pay[64];
	for (uint64_t t = from; t < to; t++) {
		struct pmq_repl_entry e;
		assert_int_equal(pmq_repl_read(p, t, &e, pay, sizeof(pay)), 0);
		assert_int_equal(pmq_repl_apply(m, &e, pay), 0);
	}
}

static uint64_t ship_groups(pmq_t *p, pmq_t *m, uint64_t from[3], struct pmq_repl_group g[3])
{
	for (uint32_t i = 0; i < 3; i++) {
		int k = pmq_repl_group_read(p, i, from[i], &g[i]);
		assert_true(k == PMQ_REPL_GROUP_NONE || k == PMQ_REPL_GROUP_ACTIVE);
		from[i] = g[i].floor;
		assert_int_equal(pmq_repl_group_apply(m, &g[i]), 0);
	}
	return g[1].floor;
}

static void test_group_read_apply_promote(void **st)
{
	(void)st;
	pmq_t *p = mk("gprim", 3, "a,b,t:lossy"), *m = mk("gmirr", 3, NULL);
	assert_int_equal(pmq_repl_make_standby(m, 1), 0);
	for (int i = 0; i < 6; i++) {
		char b[8];
		int l = snprintf(b, sizeof(b), "m%d", i);
		assert_int_equal(pmq_send(p, b, (size_t)l, 0), 0);
	}
	pmq_t *ca = join("gprim", "a"), *cb = join("gprim", "b"), *ct = join("gprim", "t");
	struct pmq_msg msg, held;
	for (int i = 0; i < 6; i++) { /* a settles everything */
		assert_int_equal(pmq_recv(ca, &msg, PMQ_NONBLOCK), 0);
		assert_int_equal(pmq_ack(ca, &msg), 0);
	}
	for (int i = 0; i < 4; i++) { /* b: acks 0, 1, holds 2, acks 3 */
		assert_int_equal(pmq_recv(cb, i == 2 ? &held : &msg, PMQ_NONBLOCK), 0);
		if (i != 2)
			assert_int_equal(pmq_ack(cb, &msg), 0);
	}
	assert_int_equal(pmq_recv(ct, &msg, PMQ_NONBLOCK), 0); /* t: its cursor at 1 */
	ship_entries(p, m, 0, 6);
	uint64_t from[3] = { 0, 0, 0 };
	struct pmq_repl_group g[3];
	assert_int_equal(ship_groups(p, m, from, g), 2); /* b's floor: ticket 2, held */
	assert_true(g[0].floor == 6 && g[1].head == 4 && g[2].floor == 1 && g[2].flags == PMQ_GROUP_LOSSY);
	/* the walk goes on from the last floor: b settles 2, its floor jumps past 3 */
	assert_int_equal(pmq_ack(cb, &held), 0);
	assert_int_equal(ship_groups(p, m, from, g), 4);
	/* b takes 4 and holds it: floor 4, head 5 */
	assert_int_equal(pmq_recv(cb, &held, PMQ_NONBLOCK), 0);
	assert_int_equal(ship_groups(p, m, from, g), 4);
	/* the mirror's table is the primary's */
	struct pmq_group_info info[3];
	assert_int_equal(pmq_group_list(m, info, 3), 3);
	assert_string_equal(info[1].name, "b");
	assert_int_equal(info[1].head, 4);
	assert_int_equal(info[1].redelivered, 1); /* ticket 4, handed out above the floor */
	assert_int_equal(info[2].head, 1);
	/* bounds: no such entry, a state or a name out of range; a queue without groups */
	struct pmq_repl_group bad = g[0];
	bad.index = 3;
	assert_int_equal(pmq_repl_group_apply(m, &bad), -EINVAL);
	assert_int_equal(pmq_repl_group_read(p, 3, 0, &bad), -EINVAL);
	bad = g[0];
	bad.state = 7;
	assert_int_equal(pmq_repl_group_apply(m, &bad), -EINVAL);
	bad = g[0];
	snprintf(bad.name, sizeof(bad.name), "%s", ".hidden");
	assert_int_equal(pmq_repl_group_apply(m, &bad), -EINVAL);
	pmq_t *plain = mk("plain", 0, NULL);
	assert_int_equal(pmq_repl_group_read(plain, 0, 0, &bad), -EOPNOTSUPP);
	pmq_close(plain);
	/* a cursor past what the mirror holds is clamped to its tail */
	bad = g[2];
	bad.floor = bad.head = 100;
	assert_int_equal(pmq_repl_group_apply(m, &bad), 0);
	assert_int_equal(pmq_group_stats(m, "t", &info[2]), 0);
	assert_int_equal(info[2].head, 6);
	assert_int_equal(pmq_repl_group_apply(m, &g[2]), 0);
	/* promoted: a gets nothing again, b resumes at 4, t at 1; producers go on */
	assert_int_equal(pmq_repl_promote(m, 2), 6);
	pmq_t *ma = join("gmirr", "a"), *mb = join("gmirr", "b"), *mt = join("gmirr", "t");
	assert_int_equal(pmq_recv(ma, &msg, PMQ_NONBLOCK), -EAGAIN);
	for (uint64_t t = 4; t < 6; t++) {
		assert_int_equal(pmq_recv(mb, &msg, PMQ_NONBLOCK), 0);
		assert_int_equal(msg.ticket, t);
		/* 4 was handed out to b on the old primary: b's count says so (a redelivery of
		 * b's from the side area, the ring slot's count being every group's); 5 was not */
		assert_int_equal(msg.delivery_count, t == 4 ? 2 : 1);
		assert_int_equal(pmq_ack(mb, &msg), 0);
	}
	assert_int_equal(pmq_recv(mb, &msg, PMQ_NONBLOCK), -EAGAIN);
	uint64_t lost = 0;
	for (uint64_t t = 1; t < 6; t++) {
		assert_int_equal(pmq_recv_lossy(mt, &msg, PMQ_NONBLOCK, &lost), 0);
		assert_int_equal(msg.ticket, t);
		assert_int_equal(lost, 0);
	}
	pmq_t *mp;
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.dir = dir;
	assert_int_equal(pmq_open_ex("gmirr", PMQ_PRODUCER, &o, &mp), 0);
	assert_int_equal(pmq_send(mp, "new", 3, 0), 0);
	assert_int_equal(pmq_recv(ma, &msg, PMQ_NONBLOCK), 0);
	assert_int_equal(msg.ticket, 6);
	assert_int_equal(pmq_ack(ma, &msg), 0);
	assert_int_equal(pmq_recv(mb, &msg, PMQ_NONBLOCK), 0);
	assert_int_equal(msg.ticket, 6);
	assert_int_equal(pmq_ack(mb, &msg), 0);
	/* tickets 7..14 reuse the slots of 0..6 a lap later: the lanes say a and b settled
	 * those (b's 2 and 3 by the floor's move from 2 to 4), so no producer waits */
	for (int i = 7; i < 15; i++)
		assert_int_equal(pmq_send(mp, "lap", 3, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_send(mp, "full", 4, PMQ_NONBLOCK), -EAGAIN); /* 15 needs 7 settled: not yet */
	/* a group deleted on the primary goes on the mirror too */
	struct pmq_repl_group gone = { .index = 2, .state = PMQ_REPL_GROUP_NONE };
	assert_int_equal(pmq_repl_group_apply(m, &gone), 0);
	assert_int_equal(pmq_group_list(m, info, 3), 2);
	pmq_close(mp);
	pmq_close(ma);
	pmq_close(mb);
	pmq_close(mt);
	pmq_close(ca);
	pmq_close(cb);
	pmq_close(ct);
	pmq_close(p);
	pmq_close(m);
}

/* Messages a group's consumers held on the old primary come back to that group with
 * its own delivery count 2 (side entries of the group made at promotion), while another
 * group that had not taken them reads them from the ring with count 1. With two side
 * entries only the first two go there; the third stays on the ring (count 1, documented). */
static void test_taken_messages_count_per_group(void **st)
{
	(void)st;
	struct pmq_config c;
	mk_config(&c, 2, NULL);
	c.side_slots = 2; /* the least the dead letters allow (dlq_capacity 1) */
	c.dlq_capacity = 1;
	pmq_t *m = mk_from("tmirr", &c);
	assert_int_equal(pmq_repl_make_standby(m, 1), 0);
	pmq_t *p = mk("tprim", 2, "a,b");
	for (int i = 0; i < 3; i++)
		assert_int_equal(pmq_send(p, &i, sizeof(i), 0), 0);
	pmq_t *cb = join("tprim", "b");
	struct pmq_msg held[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(pmq_recv(cb, &held[i], PMQ_NONBLOCK), 0); /* b holds all three */
	ship_entries(p, m, 0, 3);
	struct pmq_repl_group g[2];
	for (uint32_t i = 0; i < 2; i++) {
		assert_int_equal(pmq_repl_group_read(p, i, 0, &g[i]), PMQ_REPL_GROUP_ACTIVE);
		assert_int_equal(pmq_repl_group_apply(m, &g[i]), 0);
	}
	assert_true(g[0].floor == 0 && g[0].head == 0 && g[1].floor == 0 && g[1].head == 3);
	assert_int_equal(pmq_repl_promote(m, 2), 3); /* three messages, two of them also in the side area */
	pmq_t *ma = join("tmirr", "a"), *mb = join("tmirr", "b");
	struct pmq_msg msg;
	for (uint64_t t = 0; t < 3; t++) {
		assert_int_equal(pmq_recv(mb, &msg, PMQ_NONBLOCK), 0);
		assert_int_equal(msg.ticket, t);
		assert_int_equal(msg.delivery_count, t < 2 ? 2 : 1); /* the side area had room for two */
		assert_int_equal(pmq_ack(mb, &msg), 0);
		assert_int_equal(pmq_recv(ma, &msg, PMQ_NONBLOCK), 0);
		assert_int_equal(msg.ticket, t);
		assert_int_equal(msg.delivery_count, 1); /* a never had it */
		assert_int_equal(pmq_ack(ma, &msg), 0);
	}
	assert_int_equal(pmq_recv(mb, &msg, PMQ_NONBLOCK), -EAGAIN);
	assert_int_equal(pmq_recv(ma, &msg, PMQ_NONBLOCK), -EAGAIN);
	pmq_close(ma);
	pmq_close(mb);
	pmq_close(cb);
	pmq_close(p);
	pmq_close(m);
}

/* A redelivery of a group in the side area keeps its tag on the mirror: after promotion
 * only that group's consumers get it. */
static void test_side_entry_keeps_its_group(void **st)
{
	(void)st;
	pmq_t *p = mk("sprim", 2, "a,b"), *m = mk("smirr", 2, NULL);
	assert_int_equal(pmq_repl_make_standby(m, 1), 0);
	assert_int_equal(pmq_send(p, "x", 1, 0), 0);
	pmq_t *ca = join("sprim", "a"), *cb = join("sprim", "b");
	struct pmq_msg msg;
	assert_int_equal(pmq_recv(ca, &msg, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_ack(ca, &msg), 0);
	assert_int_equal(pmq_recv(cb, &msg, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_nack(cb, &msg, PMQ_NACK_REQUEUE), 0); /* into the side area, tagged b */
	ship_entries(p, m, 0, 1);
	struct pmq_repl_info in;
	assert_int_equal(pmq_repl_info(p, &in), 0);
	uint8_t pay[64];
	int found = 0;
	for (uint32_t i = 0; i < in.side_count; i++) {
		struct pmq_repl_side sd;
		if (pmq_repl_side_read(p, i, &sd, pay, sizeof(pay)) != PMQ_REPL_SIDE_READY)
			continue;
		assert_int_equal(sd.group, 2); /* b is entry 1: tag 2 */
		struct pmq_repl_side bad = sd;
		bad.group = 3; /* past the mirror's table */
		assert_int_equal(pmq_repl_side_apply(m, &bad, pay), -EINVAL);
		assert_int_equal(pmq_repl_side_apply(m, &sd, pay), 0);
		found++;
	}
	assert_int_equal(found, 1);
	uint64_t from[2] = { 0, 0 };
	for (uint32_t i = 0; i < 2; i++) {
		struct pmq_repl_group g;
		assert_int_equal(pmq_repl_group_read(p, i, from[i], &g), PMQ_REPL_GROUP_ACTIVE);
		assert_int_equal(g.floor, 1); /* both settled ticket 0 (b by moving it) */
		assert_int_equal(pmq_repl_group_apply(m, &g), 0);
	}
	assert_int_equal(pmq_repl_promote(m, 2), 2); /* the ring's copy (READY for every group) and b's */
	pmq_t *ma = join("smirr", "a"), *mb = join("smirr", "b");
	assert_int_equal(pmq_recv(ma, &msg, PMQ_NONBLOCK), -EAGAIN); /* not a's */
	assert_int_equal(pmq_recv(mb, &msg, PMQ_NONBLOCK), 0);
	assert_int_equal(msg.delivery_count, 2);
	assert_memory_equal(msg.data, "x", 1);
	assert_int_equal(pmq_ack(mb, &msg), 0);
	assert_int_equal(pmq_recv(mb, &msg, PMQ_NONBLOCK), -EAGAIN);
	pmq_close(ma);
	pmq_close(mb);
	pmq_close(ca);
	pmq_close(cb);
	pmq_close(p);
	pmq_close(m);
}

/* With a standby in sync, a slot of a queue with groups is reused only when every
 * reliable group settled it AND the standby confirmed the ticket it held a lap ago. */
static void test_reuse_gate_holds_with_groups(void **st)
{
	(void)st;
	pmq_t *p = mk("ggate", 2, "a,t:lossy");
	assert_int_equal(pmq_repl_set(p, PMQ_REPL_ON), 0);
	pmq_t *ca = join("ggate", "a");
	for (int i = 0; i < 8; i++)
		assert_int_equal(pmq_send(p, "x", 1, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_send(p, "x", 1, PMQ_NONBLOCK), -EAGAIN); /* a holds the ring */
	struct pmq_msg msg;
	while (pmq_recv(ca, &msg, PMQ_NONBLOCK) == 0)
		assert_int_equal(pmq_ack(ca, &msg), 0);
	/* a settled all 8, but none is confirmed by the standby: no reuse */
	assert_int_equal(pmq_send(p, "y", 1, PMQ_NONBLOCK), -EAGAIN);
	assert_int_equal(pmq_repl_confirm(p, 1), 0);
	assert_int_equal(pmq_send(p, "y", 1, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_send(p, "y", 1, PMQ_NONBLOCK), -EAGAIN);
	assert_int_equal(pmq_repl_set(p, PMQ_REPL_ON | PMQ_REPL_DEGRADED), 0);
	assert_int_equal(pmq_send(p, "z", 1, PMQ_NONBLOCK), 0); /* degraded: not gated */
	pmq_close(ca);
	pmq_close(p);
}

/* A rejoined old primary's file as a mirror: its lanes are its own (a message still
 * claimed in group b below the new primary's floor, a head hint past it). The first
 * record of a session (PMQ_REPL_GROUP_RESYNC) rewrites the whole lane, so after a
 * promotion nothing below the floor holds producers back. */
static void test_resync_rewrites_a_rejoined_lane(void **st)
{
	(void)st;
	pmq_t *q = mk("rejoin", 2, "a,b");
	for (int i = 0; i < 5; i++)
		assert_int_equal(pmq_send(q, "x", 1, 0), 0);
	pmq_t *cb = join("rejoin", "b");
	struct pmq_msg held, msg;
	assert_int_equal(pmq_recv(cb, &held, PMQ_NONBLOCK), 0); /* ticket 0 claimed, never settled */
	for (int i = 1; i < 4; i++) {
		assert_int_equal(pmq_recv(cb, &msg, PMQ_NONBLOCK), 0);
		assert_int_equal(pmq_ack(cb, &msg), 0);
	}
	assert_int_equal(pmq_repl_make_standby(q, 2), 0);
	/* the new primary: both groups settled everything (floor 5) */
	struct pmq_repl_group g[2];
	for (uint32_t i = 0; i < 2; i++) {
		assert_int_equal(pmq_repl_group_read(q, i, 0, &g[i]), PMQ_REPL_GROUP_ACTIVE);
		g[i].floor = g[i].head = 5;
		g[i].flags |= PMQ_REPL_GROUP_RESYNC;
		assert_int_equal(pmq_repl_group_apply(q, &g[i]), 0);
	}
	assert_int_equal(pmq_repl_promote(q, 3), 5);
	pmq_t *pr;
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.dir = dir;
	assert_int_equal(pmq_open_ex("rejoin", PMQ_PRODUCER, &o, &pr), 0);
	for (int i = 5; i < 13; i++) /* 8..12 reuse the slots of 0..4, settled by both groups */
		assert_int_equal(pmq_send(pr, "y", 1, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_send(pr, "z", 1, PMQ_NONBLOCK), -EAGAIN); /* 13 needs 5: nobody took it */
	pmq_close(pr);
	pmq_close(cb);
	pmq_close(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_group_frame_decode_checks_bounds),
		cmocka_unit_test(test_group_frame_carries_the_lease),
		cmocka_unit_test(test_group_lease_is_mirrored),
		cmocka_unit_test(test_group_read_apply_promote),
		cmocka_unit_test(test_taken_messages_count_per_group),
		cmocka_unit_test(test_side_entry_keeps_its_group),
		cmocka_unit_test(test_reuse_gate_holds_with_groups),
		cmocka_unit_test(test_resync_rewrites_a_rejoined_lane),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
