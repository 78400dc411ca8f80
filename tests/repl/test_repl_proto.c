/*
 * test_repl_proto - the replication frame parser, the HMAC handshake helpers,
 * the record layer of protocol 2 (altered, replayed, reordered, injected records refused),
 * and the library's replication calls (read, apply, floor, gate, promote, fence).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pmq.h"
#include "repl_proto.h"

static uint8_t buf[RP_HDR + 4096];

static void test_frame_round_trip(void **st)
{
	(void)st;
	size_t n = rp_encode(buf, sizeof(buf), RP_ENTRY, 7, 3, 12345, 9, "abcdef", 6);
	assert_int_equal(n, RP_HDR + 6);
	struct rp_frame f;
	const char *why = "";
	assert_int_equal(rp_parse(buf, n, &f, &why), (ssize_t)n);
	assert_int_equal(f.type, RP_ENTRY);
	assert_int_equal(f.qid, 7);
	assert_int_equal(f.epoch, 3);
	assert_int_equal(f.ticket, 12345);
	assert_int_equal(f.aux, 9);
	assert_memory_equal(f.payload, "abcdef", 6);
}

static void test_parse_waits_for_a_whole_frame(void **st)
{
	(void)st;
	size_t n = rp_encode(buf, sizeof(buf), RP_PING, 0, 1, 0, 0, "xyz", 3);
	struct rp_frame f;
	for (size_t k = 0; k < n; k++)
		assert_int_equal(rp_parse(buf, k, &f, NULL), 0);
}

static void test_parse_refuses_bad_magic_type_length_and_crc(void **st)
{
	(void)st;
	struct rp_frame f;
	const char *why = NULL;
	size_t n = rp_encode(buf, sizeof(buf), RP_PING, 0, 1, 0, 0, NULL, 0);
	buf[12] ^= 1; /* magic */
	assert_int_equal(rp_parse(buf, n, &f, &why), -EPROTO);
	assert_non_null(why);
	n = rp_encode(buf, sizeof(buf), RP_PING, 0, 1, 0, 0, NULL, 0);
	buf[4] = 99; /* type */
	assert_int_equal(rp_parse(buf, n, &f, &why), -EPROTO);
	n = rp_encode(buf, sizeof(buf), RP_PING, 0, 1, 0, 0, NULL, 0);
	buf[3] = 0x7f; /* length 2 GB */
	assert_int_equal(rp_parse(buf, n, &f, &why), -EMSGSIZE);
	n = rp_encode(buf, sizeof(buf), RP_ENTRY, 0, 1, 0, 0, "payload", 7);
	buf[RP_HDR + 2] ^= 0x10; /* payload bit */
	assert_int_equal(rp_parse(buf, n, &f, &why), -EBADMSG);
	n = rp_encode(buf, sizeof(buf), RP_ENTRY, 0, 1, 0, 0, "payload", 7);
	buf[20] ^= 1; /* epoch bit: covered by the CRC too */
	assert_int_equal(rp_parse(buf, n, &f, &why), -EBADMSG);
}

static void test_entry_decode_checks_bounds(void **st)
{
	(void)st;
	struct rp_frame f = { .type = RP_ENTRY, .len = 10, .payload = buf };
	struct pmq_repl_entry e;
	const void *d;
	assert_int_equal(rp_entry_decode(&f, 1024, &e, &d), -EBADMSG);
	f.len = RP_ENTRY_HDR + 2000;
	assert_int_equal(rp_entry_decode(&f, 1024, &e, &d), -EBADMSG);
	f.len = RP_ENTRY_HDR + 5;
	assert_int_equal(rp_entry_decode(&f, 1024, &e, &d), 0);
	assert_int_equal(e.len, 5);
}

static void test_queue_decode_refuses_bad_names_and_geometry(void **st)
{
	(void)st;
	struct rp_queue_desc d = { .slot_count = 64, .max_payload = 128, .max_attach = 16 }, o;
	const char *bad[] = { "../etc", ".hidden", "a/b", "x.dlq", "sp ace" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(d.name, sizeof(d.name), "%s", bad[i]);
		uint8_t p[300];
		size_t n = rp_queue_encode(p, sizeof(p), &d);
		struct rp_frame f = { .type = RP_QUEUE, .len = (uint32_t)n, .payload = p };
		assert_int_equal(rp_queue_decode(&f, &o), -EBADMSG);
	}
	snprintf(d.name, sizeof(d.name), "orders");
	d.slot_count = 100; /* not a power of two */
	uint8_t p[300];
	size_t n = rp_queue_encode(p, sizeof(p), &d);
	struct rp_frame f = { .type = RP_QUEUE, .len = (uint32_t)n, .payload = p };
	assert_int_equal(rp_queue_decode(&f, &o), -EINVAL);
	d.slot_count = 64;
	n = rp_queue_encode(p, sizeof(p), &d);
	f.len = (uint32_t)n;
	assert_int_equal(rp_queue_decode(&f, &o), 0);
	assert_string_equal(o.name, "orders");
	f.len = RP_QUEUE_FIXED; /* no name */
	assert_int_equal(rp_queue_decode(&f, &o), -EBADMSG);
}

static void test_hmac_binds_key_nonces_and_epoch(void **st)
{
	(void)st;
	uint8_t k1[32] = "0123456789abcdef0123456789abcdef", k2[32];
	memcpy(k2, k1, 32);
	k2[5] ^= 1;
	uint8_t a[RP_NONCE] = { 1 }, b[RP_NONCE] = { 2 }, m1[RP_MAC], m2[RP_MAC];
	assert_int_equal(rp_mac(k1, 32, "pmq-repl-1 primary", a, b, 5, 0, m1), 0);
	assert_int_equal(rp_mac(k1, 32, "pmq-repl-1 primary", a, b, 5, 0, m2), 0);
	assert_true(rp_mac_equal(m1, m2));
	rp_mac(k2, 32, "pmq-repl-1 primary", a, b, 5, 0, m2);
	assert_false(rp_mac_equal(m1, m2)); /* wrong key */
	rp_mac(k1, 32, "pmq-repl-1 primary", a, b, 6, 0, m2);
	assert_false(rp_mac_equal(m1, m2)); /* epoch is bound */
	rp_mac(k1, 32, "pmq-repl-1 standby", a, b, 5, 0, m2);
	assert_false(rp_mac_equal(m1, m2)); /* a reflected MAC is not the other side's */
	rp_mac(k1, 32, "pmq-repl-1 primary", b, a, 5, 0, m2);
	assert_false(rp_mac_equal(m1, m2));
}

/* ---- library calls ------------------------------------------------------------ */

static char dir[64];

static pmq_t *mk(const char *name, uint32_t slots)
{
	struct pmq_config c;
	pmq_config_init(&c);
	c.slot_count = slots;
	c.max_payload = 64;
	c.consumer_quota = 2;
	c.dir = dir;
	pmq_t *q;
	int r = pmq_create(name, &c, &q);
	if (r)
		fprintf(stderr, "create: %s\n", pmq_errmsg());
	assert_int_equal(r, 0);
	return q;
}

static int setup(void **st)
{
	(void)st;
	snprintf(dir, sizeof(dir), "/tmp/pmq-repl-unit-%d", (int)getpid());
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_read_apply_promote_carries_messages_over(void **st)
{
	(void)st;
	pmq_t *p = mk("prim", 8), *m = mk("mirr", 8);
	assert_int_equal(pmq_repl_make_standby(m, 1), 0);
	for (int i = 0; i < 3; i++) {
		char b[8];
		int l = snprintf(b, sizeof(b), "m%d", i);
		assert_int_equal(pmq_send(p, b, (size_t)l, 0), 0);
	}
	assert_int_equal(pmq_send(m, "x", 1, 0), -ESHUTDOWN); /* a mirror refuses producers */
	struct pmq_msg msg;
	assert_int_equal(pmq_recv(p, &msg, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_ack(p, &msg), 0); /* ticket 0 acknowledged */
	uint8_t pay[64];
	struct pmq_repl_entry e;
	assert_int_equal(pmq_repl_read(p, 3, &e, pay, sizeof(pay)), -EAGAIN); /* not written yet */
	for (uint64_t t = 0; t < 3; t++) {
		assert_int_equal(pmq_repl_read(p, t, &e, pay, sizeof(pay)), 0);
		if (t == 0)
			assert_true(e.flags & PMQ_REPL_E_ACKED); /* acked: shipped as a hole */
		else
			assert_int_equal(e.len, 2);
		assert_int_equal(pmq_repl_apply(m, &e, pay), 0);
	}
	uint64_t floor;
	assert_int_equal(pmq_repl_floor(p, &floor), 0);
	assert_int_equal(floor, 1);
	assert_int_equal(pmq_repl_apply_floor(m, floor, 2), 0); /* ticket 1 was delivered there */
	assert_int_equal(pmq_repl_promote(m, 2), 2);
	assert_int_equal(pmq_recv(m, &msg, PMQ_NONBLOCK), 0);
	assert_int_equal(msg.ticket, 1);
	assert_int_equal(msg.delivery_count, 2); /* the old primary had handed it out */
	assert_memory_equal(msg.data, "m1", 2);
	pmq_ack(m, &msg);
	assert_int_equal(pmq_recv(m, &msg, PMQ_NONBLOCK), 0);
	assert_int_equal(msg.ticket, 2);
	assert_int_equal(msg.delivery_count, 1);
	pmq_ack(m, &msg);
	assert_int_equal(pmq_send(m, "new", 3, 0), 0);
	assert_int_equal(pmq_recv(m, &msg, PMQ_NONBLOCK), 0);
	assert_int_equal(msg.ticket, 3);
	assert_int_equal(msg.epoch, 2);
	pmq_ack(m, &msg);
	pmq_close(p);
	pmq_close(m);
}

static void test_side_decode_checks_bounds(void **st)
{
	(void)st;
	struct pmq_repl_side sd = { .index = 3, .gen = 7, .state = PMQ_REPL_SIDE_DEAD, .flags = PMQ_REPL_SIDE_REPLAYED,
				    .ticket = 11, .origin = 11, .deliveries = 2, .reason = 2 };
	uint8_t h[RP_SIDE_HDR];
	rp_side_header(h, &sd);
	size_t n = rp_encode(buf, sizeof(buf), RP_SIDE, 0, 1, 3, rp_side_aux(&sd), h, sizeof(h));
	struct rp_frame f;
	const char *why;
	assert_int_equal(rp_parse(buf, n, &f, &why), (ssize_t)n);
	struct pmq_repl_side o;
	const void *d;
	assert_int_equal(rp_side_decode(&f, 64, &o, &d), 0);
	assert_int_equal(o.index, 3);
	assert_int_equal(o.gen, 7);
	assert_int_equal(o.state, PMQ_REPL_SIDE_DEAD);
	assert_int_equal(o.reason, 2);
	assert_int_equal(o.len, 0);
	f.len = 10; /* shorter than its header */
	assert_int_equal(rp_side_decode(&f, 64, &o, &d), -EBADMSG);
	f.len = RP_SIDE_HDR + 65; /* longer than max_payload */
	assert_int_equal(rp_side_decode(&f, 64, &o, &d), -EBADMSG);
	f.len = RP_SIDE_HDR;
	f.ticket = RP_SIDE_MAX_INDEX + 1; /* index out of any side area */
	assert_int_equal(rp_side_decode(&f, 64, &o, &d), -EBADMSG);
	f.ticket = 3;
	f.aux = 7 | (3ull << 32); /* state neither ready nor dead */
	assert_int_equal(rp_side_decode(&f, 64, &o, &d), -EBADMSG);
	f.aux = 7 | (1ull << 32) | (0x80ull << 40); /* unknown flag */
	assert_int_equal(rp_side_decode(&f, 64, &o, &d), -EBADMSG);
	struct rp_frame g = { .type = RP_SIDE_FREE, .ticket = 5, .aux = 9 };
	uint32_t i, gen;
	assert_int_equal(rp_side_free_decode(&g, &i, &gen), 0);
	assert_true(i == 5 && gen == 9);
	g.len = 1;
	assert_int_equal(rp_side_free_decode(&g, &i, &gen), -EBADMSG);
	g.len = 0;
	g.aux = 1ull << 32;
	assert_int_equal(rp_side_free_decode(&g, &i, &gen), -EBADMSG);
}

/* A nacked message lives in the side area: read there, applied to the mirror, deliverable after
 * promotion; out-of-bounds indices and lengths are refused; a stale free keeps a newer entry. */
static void test_side_read_apply_free_promote(void **st)
{
	(void)st;
	pmq_t *p = mk("sprim", 8), *m = mk("smirr", 8);
	assert_int_equal(pmq_repl_make_standby(m, 1), 0);
	struct pmq_repl_info in;
	assert_int_equal(pmq_repl_info(p, &in), 0);
	assert_true(in.side_count > 0);
	assert_int_equal(pmq_send(p, "nacked", 6, 0), 0);
	uint64_t seq0, seq1;
	assert_int_equal(pmq_repl_side_seq(p, &seq0), 0);
	assert_int_equal(pmq_repl_settled(p, 0), 0);
	struct pmq_msg msg;
	assert_int_equal(pmq_recv(p, &msg, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_nack(p, &msg, PMQ_NACK_REQUEUE), 0);
	assert_int_equal(pmq_repl_settled(p, 0), 1); /* the ring slot is free: the copy is in the side area */
	assert_int_equal(pmq_repl_side_seq(p, &seq1), 0);
	assert_true(seq1 != seq0);
	uint8_t pay[64];
	struct pmq_repl_side sd;
	uint32_t found = UINT32_MAX;
	for (uint32_t i = 0; i < in.side_count; i++)
		if (pmq_repl_side_read(p, i, &sd, pay, sizeof(pay)) == PMQ_REPL_SIDE_READY) {
			found = i;
			break;
		}
	assert_true(found != UINT32_MAX);
	assert_int_equal(sd.len, 6);
	assert_int_equal(sd.deliveries, 1);
	assert_memory_equal(pay, "nacked", 6);
	assert_int_equal(pmq_repl_side_read(p, in.side_count, &sd, NULL, 0), -EINVAL);
	struct pmq_repl_side bad = sd;
	bad.index = in.side_count;
	assert_int_equal(pmq_repl_side_apply(m, &bad, pay), -EINVAL);
	bad = sd;
	bad.len = 65;
	assert_int_equal(pmq_repl_side_apply(m, &bad, pay), -EINVAL);
	bad = sd;
	bad.state = 3;
	assert_int_equal(pmq_repl_side_apply(m, &bad, pay), -EINVAL);
	assert_int_equal(pmq_repl_side_apply(m, &sd, pay), 0);
	assert_int_equal(pmq_repl_side_free(m, found, sd.gen), 0); /* same generation: kept */
	assert_int_equal(pmq_repl_side_free(m, in.side_count, sd.gen + 1), -EINVAL);
	struct pmq_repl_side mm;
	assert_int_equal(pmq_repl_side_read(m, found, &mm, NULL, 0), PMQ_REPL_SIDE_READY);
	/* ticket 0 is settled on the primary: the mirror skips it (its copy is in the side area) */
	struct pmq_repl_entry e;
	assert_int_equal(pmq_repl_read(p, 0, &e, pay, sizeof(pay)), 0);
	assert_true(e.flags & PMQ_REPL_E_ACKED);
	assert_int_equal(pmq_repl_skip(m, 0, 1), 0);
	assert_int_equal(pmq_repl_promote(m, 2), 1);
	assert_int_equal(pmq_recv(m, &msg, PMQ_NONBLOCK), 0);
	assert_int_equal(msg.delivery_count, 2);
	assert_int_equal(msg.ticket, 0);
	assert_memory_equal(msg.data, "nacked", 6);
	assert_int_equal(pmq_ack(m, &msg), 0);
	assert_int_equal(pmq_recv(m, &msg, PMQ_NONBLOCK), -EAGAIN);
	/* a free of the next generation frees it on a mirror */
	assert_int_equal(pmq_repl_side_apply(m, &sd, "nacked"), 0);
	assert_int_equal(pmq_repl_side_free(m, found, sd.gen + 1), 0);
	assert_int_equal(pmq_repl_side_read(m, found, &mm, NULL, 0), PMQ_REPL_SIDE_NONE);
	pmq_close(p);
	pmq_close(m);
}

static void test_reuse_waits_for_confirmation_and_degrade_fails_fast(void **st)
{
	(void)st;
	pmq_t *p = mk("gate", 4);
	assert_int_equal(pmq_send(p, "a", 1, PMQ_REPLICATED), -ENOTSUP); /* no standby configured */
	assert_int_equal(pmq_repl_set(p, PMQ_REPL_ON), 0);
	struct pmq_msg msg;
	for (int i = 0; i < 3; i++)
		assert_int_equal(pmq_send(p, "a", 1, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_send(p, "a", 1, PMQ_NONBLOCK), -EAGAIN); /* full: ticket 0 still there */
	while (pmq_recv(p, &msg, PMQ_NONBLOCK) == 0)
		pmq_ack(p, &msg);
	/* every slot is free, but tickets 0..3 are not confirmed: no reuse */
	assert_int_equal(pmq_send(p, "b", 1, PMQ_NONBLOCK), -EAGAIN);
	assert_int_equal(pmq_repl_confirm(p, 1), 0);
	assert_int_equal(pmq_send(p, "b", 1, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_send(p, "b", 1, PMQ_NONBLOCK), -EAGAIN);
	assert_int_equal(pmq_repl_set(p, PMQ_REPL_ON | PMQ_REPL_DEGRADED), 0);
	assert_int_equal(pmq_send(p, "c", 1, PMQ_NONBLOCK), 0); /* reuse not gated */
	assert_int_equal(pmq_send(p, "c", 1, PMQ_REPLICATED | PMQ_NONBLOCK), -ENOLINK);
	assert_int_equal(pmq_repl_fence(p, 1), 0);
	assert_int_equal(pmq_send(p, "d", 1, PMQ_NONBLOCK), -ESHUTDOWN);
	pmq_close(p);
}

/* ---- records (protocol 2): a primary's and a standby's rp_conn over a socketpair, the
 * test holding the wire in between so it can alter, replay, reorder and read it ---- */
static const uint8_t rec_key[] = "0123456789abcdef-record-test-key";
static const uint8_t rec_ns[RP_NONCE] = { 1, 2, 3 }, rec_np[RP_NONCE] = { 9, 8, 7 };

struct wire {
	struct rp_conn pri, sb;   /* primary's end writes to w[0]; standby's end reads s[1] */
	int w[2], s[2];
};

static void wire_open(struct wire *x, bool encrypt)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, x->w), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, x->s), 0);
	assert_int_equal(rp_conn_init(&x->pri, x->w[0], 0, 0), 0);
	assert_int_equal(rp_conn_init(&x->sb, x->s[1], 0, 0), 0);
	assert_int_equal(rp_conn_secure(&x->pri, rec_key, sizeof(rec_key) - 1, rec_ns, rec_np, true, encrypt), 0);
	assert_int_equal(rp_conn_secure(&x->sb, rec_key, sizeof(rec_key) - 1, rec_ns, rec_np, false, encrypt), 0);
}

static void wire_close(struct wire *x)
{
	rp_conn_free(&x->pri);
	rp_conn_free(&x->sb);
	close(x->w[1]);
	close(x->s[0]);
}

/* One record from the primary: the sealed bytes as they went on the wire. */
static size_t wire_take(struct wire *x, uint64_t ticket, const char *payload, uint8_t *out, size_t cap)
{
	assert_int_equal(rp_send(&x->pri, RP_ENTRY, 0, 1, ticket, 0, payload, strlen(payload)), 0);
	assert_int_equal(rp_flush(&x->pri, 1000), 0);
	ssize_t n = recv(x->w[1], out, cap, 0);
	assert_true(n > 0);
	return (size_t)n;
}

static void wire_give(struct wire *x, const uint8_t *b, size_t n)
{
	assert_int_equal(send(x->s[0], b, n, 0), (ssize_t)n);
}

static void test_records_carry_frames_and_hide_payloads(void **st)
{
	(void)st;
	for (int enc = 0; enc < 2; enc++) {
		struct wire x;
		wire_open(&x, enc);
		uint8_t r1[512], r2[512];
		size_t n1 = wire_take(&x, 5, "secret-order-payload", r1, sizeof(r1));
		size_t n2 = wire_take(&x, 6, "second", r2, sizeof(r2));
		assert_int_equal(n1, 4 + RP_HDR + 20 + 16);
		bool visible = memmem(r1, n1, "secret-order-payload", 20) != NULL;
		assert_int_equal(visible, !enc); /* encrypted records do not show the payload */
		wire_give(&x, r1, n1);
		wire_give(&x, r2, n2);
		struct rp_frame f;
		const char *why = "";
		assert_int_equal(rp_recv(&x.sb, &f, 1000, &why), 1);
		assert_int_equal(f.ticket, 5);
		assert_memory_equal(f.payload, "secret-order-payload", 20);
		assert_int_equal(rp_recv(&x.sb, &f, 1000, &why), 1);
		assert_int_equal(f.ticket, 6);
		assert_false(rp_has_buffered(&x.sb));
		assert_int_equal(rp_recv(&x.sb, &f, 0, &why), 0);
		/* and the other way, under the other direction's key */
		assert_int_equal(rp_send(&x.sb, RP_ACK, 0, 1, 7, 0, NULL, 0), 0);
		assert_int_equal(rp_flush(&x.sb, 1000), 0);
		uint8_t back[256];
		ssize_t bn = recv(x.s[0], back, sizeof(back), 0);
		assert_true(bn > 0);
		assert_int_equal(send(x.w[1], back, (size_t)bn, 0), bn);
		assert_int_equal(rp_recv(&x.pri, &f, 1000, &why), 1);
		assert_int_equal(f.type, RP_ACK);
		assert_int_equal(f.ticket, 7);
		wire_close(&x);
	}
}

static void test_altered_record_is_refused(void **st)
{
	(void)st;
	for (int enc = 0; enc < 2; enc++) {
		/* every byte of a record matters: length, frame header, payload, tag */
		size_t probe[] = { 1, 4 + 24, 4 + RP_HDR + 2, 4 + RP_HDR + 20 + 3 };
		for (size_t k = 0; k < sizeof(probe) / sizeof(probe[0]); k++) {
			struct wire x;
			wire_open(&x, enc);
			uint8_t r[512];
			size_t n = wire_take(&x, 5, "secret-order-payload", r, sizeof(r));
			r[probe[k]] ^= 0x01;
			wire_give(&x, r, n);
			shutdown(x.s[0], SHUT_WR);
			struct rp_frame f;
			const char *why = "";
			int got = rp_recv(&x.sb, &f, 1000, &why);
			assert_true(got < 0); /* never a frame */
			if (probe[k] >= 4)
				assert_non_null(strstr(why, "authentication failed"));
			wire_close(&x);
		}
		/* a frame whose CRC32C was fixed up after the change still fails the record's tag */
		struct wire x;
		wire_open(&x, enc);
		uint8_t r[512];
		size_t n = wire_take(&x, 5, "amount=100", r, sizeof(r));
		if (!enc) {
			uint8_t *fr = r + 4;
			fr[RP_HDR + 7] = '9'; /* amount=900 */
			uint8_t fixed[RP_HDR + 64];
			struct rp_frame g = { 0 };
			size_t m = rp_encode(fixed, sizeof(fixed), RP_ENTRY, 0, 1, 5, 0, fr + RP_HDR, 10);
			memcpy(fr, fixed, m);
			assert_true(rp_parse(fr, m, &g, NULL) > 0); /* a valid frame as far as CRC32C goes */
		}
		wire_give(&x, r, n);
		struct rp_frame f;
		const char *why = "";
		if (!enc) {
			assert_int_equal(rp_recv(&x.sb, &f, 1000, &why), -EBADMSG);
			assert_non_null(strstr(why, "authentication failed"));
		} else {
			assert_int_equal(rp_recv(&x.sb, &f, 1000, &why), 1); /* untouched: it opens */
		}
		wire_close(&x);
	}
}

static void test_replayed_reordered_injected_records_are_refused(void **st)
{
	(void)st;
	struct rp_frame f;
	const char *why = "";
	uint8_t r1[512], r2[512];
	/* replay: the same record twice */
	struct wire x;
	wire_open(&x, true);
	size_t n1 = wire_take(&x, 5, "once", r1, sizeof(r1));
	wire_give(&x, r1, n1);
	wire_give(&x, r1, n1);
	assert_int_equal(rp_recv(&x.sb, &f, 1000, &why), 1);
	assert_int_equal(rp_recv(&x.sb, &f, 1000, &why), -EBADMSG);
	wire_close(&x);
	/* reorder: the second before the first */
	wire_open(&x, true);
	n1 = wire_take(&x, 5, "first", r1, sizeof(r1));
	size_t n2 = wire_take(&x, 6, "second", r2, sizeof(r2));
	wire_give(&x, r2, n2);
	wire_give(&x, r1, n1);
	assert_int_equal(rp_recv(&x.sb, &f, 1000, &why), -EBADMSG);
	wire_close(&x);
	/* drop: a record lost on the way makes the next one fail too */
	wire_open(&x, false);
	wire_take(&x, 5, "first", r1, sizeof(r1));
	n2 = wire_take(&x, 6, "second", r2, sizeof(r2));
	wire_give(&x, r2, n2);
	assert_int_equal(rp_recv(&x.sb, &f, 1000, &why), -EBADMSG);
	wire_close(&x);
	/* injection: a frame in the clear (protocol 1 style) where a record is due */
	wire_open(&x, false);
	size_t m = rp_encode(r1, sizeof(r1), RP_ENTRY, 0, 1, 5, 0, "forged", 6);
	wire_give(&x, r1, m);
	assert_true(rp_recv(&x.sb, &f, 1000, &why) < 0);
	wire_close(&x);
	/* a record from another session (other nonces) does not open in this one */
	wire_open(&x, true);
	struct rp_conn other;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(rp_conn_init(&other, sv[0], 0, 0), 0);
	uint8_t ns2[RP_NONCE] = { 4, 5, 6 };
	assert_int_equal(rp_conn_secure(&other, rec_key, sizeof(rec_key) - 1, ns2, rec_np, true, true), 0);
	assert_int_equal(rp_send(&other, RP_PING, 0, 1, 0, 0, NULL, 0), 0);
	assert_int_equal(rp_flush(&other, 1000), 0);
	ssize_t on = recv(sv[1], r1, sizeof(r1), 0);
	assert_true(on > 0);
	wire_give(&x, r1, (size_t)on);
	assert_int_equal(rp_recv(&x.sb, &f, 1000, &why), -EBADMSG);
	rp_conn_free(&other);
	close(sv[1]);
	wire_close(&x);
}

static void test_recv_timeout_is_per_call(void **st)
{
	(void)st;
	/* a peer trickling a frame's bytes does not extend the caller's timeout */
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct rp_conn c;
	assert_int_equal(rp_conn_init_small(&c, sv[1], 512), 0);
	uint8_t fr[RP_HDR + 8];
	size_t n = rp_encode(fr, sizeof(fr), RP_PING, 0, 1, 0, 0, "12345678", 8);
	pid_t kid = fork();
	if (kid == 0) {
		for (size_t i = 0; i < n; i++) {
			if (send(sv[0], fr + i, 1, MSG_NOSIGNAL) != 1)
				_exit(0);
			usleep(40000);
		}
		_exit(0);
	}
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	struct rp_frame f;
	int r = rp_recv(&c, &f, 300, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_int_equal(r, 0);   /* 48 bytes at one per 40 ms take 1.9 s: not within 300 ms */
	assert_true(ms < 1000);   /* the old per-poll timeout waited for the whole frame */
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	rp_conn_free(&c);
	close(sv[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_round_trip),
		cmocka_unit_test(test_parse_waits_for_a_whole_frame),
		cmocka_unit_test(test_parse_refuses_bad_magic_type_length_and_crc),
		cmocka_unit_test(test_entry_decode_checks_bounds),
		cmocka_unit_test(test_queue_decode_refuses_bad_names_and_geometry),
		cmocka_unit_test(test_hmac_binds_key_nonces_and_epoch),
		cmocka_unit_test(test_read_apply_promote_carries_messages_over),
		cmocka_unit_test(test_reuse_waits_for_confirmation_and_degrade_fails_fast),
		cmocka_unit_test(test_side_decode_checks_bounds),
		cmocka_unit_test(test_side_read_apply_free_promote),
		cmocka_unit_test(test_records_carry_frames_and_hide_payloads),
		cmocka_unit_test(test_altered_record_is_refused),
		cmocka_unit_test(test_replayed_reordered_injected_records_are_refused),
		cmocka_unit_test(test_recv_timeout_is_per_call),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
