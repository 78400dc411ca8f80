/* Longer than 600 lines on purpose: one test tool, one small verb per function, shared by every replication test. */
/*
 * repl_tool - helper for the replication tests and bench (not installed).
 *   send DIR QUEUE N [sync|async|none] [LOGFILE]   send N messages "seq=<i>"; with sync each is
 *                       PMQ_REPLICATED and its sequence number is appended to LOGFILE (written
 *                       with O_APPEND before the next send) once pmq_send returned 0
 *   drain DIR QUEUE OUT [IDLE_MS]  receive and ack everything; print "seq epoch deliveries" per message
 *   digest DIR QUEUE       checksum of the live entries (pmq_repl_read from ack floor to tail)
 *   inject HOST:PORT KEYFILE KIND   speak to a standby: KIND = wrongkey | garbage | badcrc |
 *                       oldepoch | truncated | tampered (a record bit flipped) | replayed (a record
 *                       sent twice) | v1 (a protocol-1 primary) | good (one queue and one entry)
 *                       | gap | dup (an entry one past the expected ticket, or the expected one twice)
 *                       | skipgap (a skip frame starting one past the expected ticket)
 *                       | badgroup (a group table frame for the queue "injected", made without groups)
 *   stall HOST:PORT slowauth|silent SECONDS  an unauthenticated peer holding a standby's
 *                       attention (a 1 MiB AUTH frame trickled a byte per 2 s, or nothing)
 *   oldstandby LISTEN SECONDS  a standby of protocol 1 (for the primary's version error)
 *   proxy LISTEN TARGET    TCP relay, one connection at a time (kill it to cut the link)
 *   tput DIR QUEUE N       replication throughput (async sends until all are confirmed)
 *   pingpong N             64 B TCP loopback round trips (the floor for a replicated send)
 *   lat DIR QUEUE N MODE   latency of N sends (MODE none|sync|async): p50 p99 p99.9 in us
 *   consume DIR QUEUE MODE N OUT  receive N messages, log "seq deliveries ticket" to OUT, then
 *                       MODE = ack | nack | dead (nack PMQ_NACK_DEADLETTER) | hold (keep them, sleep
 *                       until killed)
 *   side DIR QUEUE         count the side area's entries: "ready R dead D held H"
 * Consumers (drain, consume) join the consumer group named by $REPL_GROUP, if set.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pmq.h"
#include "repl_proto.h"
#ifndef RP_VERSION
#define RP_VERSION 0u /* built against protocol 1 (to run the tests against an old pmqd) */
#endif

uint32_t pmq_crc32c(uint32_t crc, const void *buf, size_t len);

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static pmq_t *open_q(const char *dir, const char *name, unsigned flags)
{
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.dir = dir;
	if (flags & PMQ_CONSUMER)
		o.group = getenv("REPL_GROUP"); /* a queue with groups: the group to join (NULL: none) */
	pmq_t *q;
	int r = pmq_open_ex(name, flags, &o, &q);
	if (r) {
		fprintf(stderr, "repl_tool: open %s/%s: %s (%s)\n", dir, name, pmq_strerror(r), pmq_errmsg());
		exit(2);
	}
	return q;
}

static int cmd_send(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	pmq_t *q = open_q(argv[2], argv[3], PMQ_PRODUCER);
	long n = atol(argv[4]);
	const char *mode = argc > 5 ? argv[5] : "sync";
	int log = argc > 6 ? open(argv[6], O_WRONLY | O_CREAT | O_APPEND, 0644) : -1;
	unsigned fl = !strcmp(mode, "sync") ? PMQ_REPLICATED : 0;
	long ok = 0, fails = 0;
	for (long i = 0; i < n; i++) {
		char b[64];
		int l = snprintf(b, sizeof(b), "seq=%ld", i);
		int r = pmq_send(q, b, (size_t)l, fl);
		if (r == 0) {
			ok++;
			if (log >= 0) {
				char line[32];
				int ll = snprintf(line, sizeof(line), "%ld\n", i);
				if (write(log, line, (size_t)ll) != ll)
					return 1;
			}
		} else {
			fails++;
			if (fails < 5 || fails % 1000 == 0)
				fprintf(stderr, "repl_tool: send %ld: %s (%s)\n", i, pmq_strerror(r), pmq_errmsg());
			if (r == -ESHUTDOWN)
				break;
		}
	}
	printf("sent %ld ok, %ld failed\n", ok, fails);
	pmq_close(q);
	return 0;
}

static int cmd_drain(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	pmq_t *q = open_q(argv[2], argv[3], PMQ_CONSUMER);
	FILE *out = fopen(argv[4], "w");
	setvbuf(out, NULL, _IOLBF, 0); /* each line reaches the file before its ack */
	struct pmq_msg m;
	long n = 0;
	uint64_t idle_ns = (argc > 5 ? (uint64_t)atol(argv[5]) : 300) * 1000000ull;
	while (pmq_recv_timeout(q, &m, idle_ns) == 0) {
		char b[64];
		size_t l = m.len < sizeof(b) - 1 ? m.len : sizeof(b) - 1;
		memcpy(b, m.data, l);
		b[l] = 0;
		long seq = -1;
		sscanf(b, "seq=%ld", &seq);
		fprintf(out, "%ld %" PRIu64 " %u %" PRIu64 "\n", seq, m.epoch, m.delivery_count, m.ticket);
		pmq_ack(q, &m);
		n++;
	}
	fclose(out);
	printf("drained %ld\n", n);
	pmq_close(q);
	return 0;
}

static int cmd_digest(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	pmq_t *q = open_q(argv[2], argv[3], 0);
	struct pmq_repl_info in;
	pmq_repl_info(q, &in);
	static uint8_t buf[1 << 20];
	uint32_t c = 0;
	uint64_t n = 0;
	for (uint64_t t = in.head; t < in.tail; t++) {
		struct pmq_repl_entry e;
		if (pmq_repl_read(q, t, &e, buf, sizeof(buf)) || (e.flags & PMQ_REPL_E_HOLE))
			continue;
		c = pmq_crc32c(c, &t, sizeof(t));
		c = pmq_crc32c(c, buf, e.len);
		n++;
	}
	printf("head %" PRIu64 " tail %" PRIu64 " live %" PRIu64 " crc %08x\n", in.head, in.tail, n, c);
	pmq_close(q);
	return 0;
}

/* ---- inject: a hand-made primary --------------------------------------------- */
static int cmd_inject(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	struct sockaddr_storage ss;
	unsigned sl;
	if (rp_parse_addr(argv[2], &ss, &sl, false))
		return 2;
	uint8_t key[RP_KEY_MAX];
	size_t kl;
	const char *why;
	if (rp_load_key(argv[3], key, &kl, &why))
		return 2;
	const char *kind = argv[4];
	int fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&ss, sl))
		return 3;
	struct rp_conn c;
	rp_conn_init(&c, fd, 0, 0);
	struct rp_frame f;
	if (rp_recv(&c, &f, 3000, &why) != 1 || f.type != RP_CHALLENGE) {
		rp_conn_free(&c);
		return 4;
	}
	uint8_t ns[RP_NONCE], np[RP_NONCE] = { 1 }, pay[RP_NONCE + RP_MAC];
	memcpy(ns, f.payload, RP_NONCE);
	uint64_t epoch = f.epoch + (strcmp(kind, "oldepoch") ? 0 : 1);
	if (!strcmp(kind, "garbage")) {
		const char g[] = "GET / HTTP/1.0\r\n\r\nthis is not a pmq frame at all, nope";
		send(fd, g, sizeof(g), MSG_NOSIGNAL);
		goto wait_close;
	}
	if (!strcmp(kind, "wrongkey"))
		key[0] ^= 0x55;
	if (!strcmp(kind, "badcrc")) {
		/* a handshake frame (CRC-checked: records have the tag instead) with a payload bit
		 * flipped after the CRC was computed */
		uint8_t a[RP_HDR + RP_NONCE + RP_MAC];
		memset(pay, 0, sizeof(pay));
		size_t an = rp_encode(a, sizeof(a), RP_AUTH, 0, epoch, RP_VERSION, 0, pay, sizeof(pay));
		a[RP_HDR + 3] ^= 1;
		send(fd, a, an, MSG_NOSIGNAL);
		goto wait_close;
	}
	bool v1 = !strcmp(kind, "v1"); /* a primary of the first protocol: no version, its own label */
	uint64_t flags = v1 ? 0 : RP_F_ENCRYPT;
	rp_mac(key, kl, v1 ? "pmq-repl-1 primary" : "pmq-repl-2 primary", ns, np, epoch, flags, pay + RP_NONCE);
	memcpy(pay, np, RP_NONCE);
	rp_send(&c, RP_AUTH, 0, epoch, v1 ? 0 : RP_VERSION, flags, pay, sizeof(pay));
	rp_flush(&c, 1000);
	if (rp_recv(&c, &f, 3000, &why) != 1 || f.type != RP_AUTH_OK)
		goto wait_close; /* wrong key or version: the standby hangs up */
	if (rp_conn_secure(&c, key, kl, ns, np, true, true)) {
		rp_conn_free(&c);
		return 5;
	}
	struct rp_queue_desc d = { .slot_count = 64, .max_payload = 128, .max_attach = 16, .consumer_quota = 8,
				   .max_deliveries = 5, .dlq_capacity = 8 };
	snprintf(d.name, sizeof(d.name), "injected");
	uint8_t qp[256];
	size_t qn = rp_queue_encode(qp, sizeof(qp), &d);
	uint8_t eh[RP_ENTRY_HDR] = { 0 };
	const char *msg = "hello";
	if (!strcmp(kind, "good")) {
		rp_send(&c, RP_QUEUE, 0, epoch, 0, 0, qp, qn);
		rp_flush(&c, 1000);
		rp_recv(&c, &f, 3000, &why); /* qstate */
		rp_send2(&c, RP_ENTRY, 0, epoch, f.ticket, 0, eh, sizeof(eh), msg, 5);
		rp_flush(&c, 1000);
		int r = rp_recv(&c, &f, 3000, &why);
		printf("good: %s ticket %" PRIu64 "\n", r == 1 ? rp_type_name(f.type) : "no answer", f.ticket);
		rp_conn_free(&c);
		return r == 1 && f.type == RP_ACK ? 0 : 1;
	}
	if (!strcmp(kind, "badgroup")) {
		/* a well-formed group table frame for a queue made without groups */
		rp_send(&c, RP_QUEUE, 0, epoch, 0, 0, qp, qn);
		rp_flush(&c, 1000);
		rp_recv(&c, &f, 3000, &why); /* qstate */
		struct pmq_repl_group g = { .index = 0, .state = PMQ_REPL_GROUP_ACTIVE, .incarnation = 1, .name = "x" };
		uint8_t gp[RP_GROUP_REC_LEASE];
		rp_group_encode(gp, &g);
		rp_send(&c, RP_GROUPS, 0, epoch, 1, RP_GROUPS_LEASE, gp, sizeof(gp));
		rp_flush(&c, 1000);
		goto wait_close;
	}
	if (!strcmp(kind, "skipgap")) {
		/* a skip of one ticket that starts one past the expected ticket */
		rp_send(&c, RP_QUEUE, 0, epoch, 0, 0, qp, qn);
		rp_flush(&c, 1000);
		rp_recv(&c, &f, 3000, &why); /* qstate */
		rp_send(&c, RP_SKIP, 0, epoch, f.ticket + 1, 1, NULL, 0);
		rp_flush(&c, 1000);
		goto wait_close;
	}
	if (!strcmp(kind, "gap") || !strcmp(kind, "dup")) {
		/* a well-formed entry out of ticket order: one past the expected ticket, or the
		 * expected one twice */
		rp_send(&c, RP_QUEUE, 0, epoch, 0, 0, qp, qn);
		rp_flush(&c, 1000);
		rp_recv(&c, &f, 3000, &why); /* qstate: f.ticket is the next ticket expected */
		uint64_t t = f.ticket;
		if (!strcmp(kind, "dup"))
			rp_send2(&c, RP_ENTRY, 0, epoch, t, 0, eh, sizeof(eh), msg, 5);
		else
			t++;
		rp_send2(&c, RP_ENTRY, 0, epoch, t, 0, eh, sizeof(eh), msg, 5);
		rp_flush(&c, 1000);
		goto wait_close;
	}
	if (!strcmp(kind, "oldepoch")) {
		/* authenticated at epoch E+1, then a frame stamped E */
		rp_send(&c, RP_QUEUE, 0, epoch - 1, 0, 0, qp, qn);
		rp_flush(&c, 1000);
	} else if (!strcmp(kind, "replayed")) {
		/* an authentic record (a PING), delivered twice: the copy must not open */
		int sv[2];
		socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
		int real = c.fd;
		c.fd = sv[0];
		rp_send(&c, RP_PING, 0, epoch, 0, 0, NULL, 0);
		rp_flush(&c, 1000);
		uint8_t rec[512];
		ssize_t rn = recv(sv[1], rec, sizeof(rec), 0);
		send(real, rec, (size_t)rn, MSG_NOSIGNAL);
		send(real, rec, (size_t)rn, MSG_NOSIGNAL);
		c.fd = real;
		close(sv[0]);
		close(sv[1]);
	} else if (!strcmp(kind, "tampered")) {
		/* a valid frame, then one bit of the sealed record flipped on the way */
		int sv[2];
		socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
		int real = c.fd;
		c.fd = sv[0];
		rp_send(&c, RP_QUEUE, 0, epoch, 0, 0, qp, qn);
		rp_flush(&c, 1000);
		uint8_t rec[512];
		ssize_t rn = recv(sv[1], rec, sizeof(rec), 0);
		rec[4 + 20] ^= 0x10;
		send(real, rec, (size_t)rn, MSG_NOSIGNAL);
		c.fd = real;
		close(sv[0]);
		close(sv[1]);
	} else {
		/* truncated: part of a sealed record, then hang up */
		int sv[2];
		socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
		int real = c.fd;
		c.fd = sv[0];
		rp_send(&c, RP_QUEUE, 0, epoch, 0, 0, qp, qn);
		rp_flush(&c, 1000);
		uint8_t rec[512];
		ssize_t rn = recv(sv[1], rec, sizeof(rec), 0);
		send(real, rec, (size_t)rn - 7, MSG_NOSIGNAL);
		shutdown(real, SHUT_WR);
		c.fd = real;
		close(sv[0]);
		close(sv[1]);
	}
wait_close:;
	/* the standby must hang up on us */
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char tmp[4096];
	uint64_t t0 = now_ns();
	while (now_ns() - t0 < 10000000000ull) { /* ends at the hang-up; the bound is for a standby that never does */
		if (poll(&p, 1, 100) == 1) {
			ssize_t r = recv(fd, tmp, sizeof(tmp), 0);
			if (r <= 0) {
				printf("%s: dropped by the standby\n", kind);
				rp_conn_free(&c);
				return 0;
			}
		}
	}
	printf("%s: NOT dropped\n", kind);
	rp_conn_free(&c);
	return 1;
}

/* ---- stall: an unauthenticated peer that holds a standby's attention ----------
 * MODE slowauth: read the challenge, declare a 1 MiB AUTH frame, send one byte of it
 * every 2 s; silent: connect and send nothing. Reconnects whenever dropped, for SECONDS. */
static int cmd_stall(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	struct sockaddr_storage ss;
	unsigned sl;
	if (rp_parse_addr(argv[2], &ss, &sl, false))
		return 2;
	bool slow = !strcmp(argv[3], "slowauth");
	uint64_t end = now_ns() + (uint64_t)atol(argv[4]) * 1000000000ull;
	signal(SIGPIPE, SIG_IGN);
	long conns = 0;
	while (now_ns() < end) {
		int fd = socket(ss.ss_family, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&ss, sl)) {
			close(fd);
			usleep(50000);
			continue;
		}
		conns++;
		if (slow) {
			uint8_t h[RP_HDR];
			rp_encode(h, sizeof(h), RP_AUTH, 0, 1, RP_VERSION, 0, NULL, 0);
			uint32_t big = 1u << 20; /* the header claims a 1 MiB payload */
			memcpy(h, &big, 4);
			char tmp[256];
			(void)!recv(fd, tmp, sizeof(tmp), 0); /* the challenge */
			for (size_t i = 0; i < sizeof(h) + 64 && now_ns() < end; i++) {
				if (send(fd, h + (i < sizeof(h) ? i : 0), 1, MSG_NOSIGNAL) != 1)
					break;
				struct pollfd p = { .fd = fd, .events = POLLIN };
				if (poll(&p, 1, 2000) == 1 && recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT) == 0)
					break; /* dropped */
			}
		} else {
			char tmp[256];
			struct pollfd p = { .fd = fd, .events = POLLIN };
			while (now_ns() < end)
				if (poll(&p, 1, 100) == 1 && recv(fd, tmp, sizeof(tmp), 0) <= 0)
					break; /* dropped */
		}
		close(fd);
		usleep(50000);
	}
	printf("stall %s: %ld connections\n", argv[3], conns);
	return 0;
}

/* ---- oldstandby: a standby of protocol 1 (its CHALLENGE carries no version) ----
 * Answers one connection after another for SECONDS, never authenticates. */
static int cmd_oldstandby(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	struct sockaddr_storage ls;
	unsigned lsl;
	if (rp_parse_addr(argv[2], &ls, &lsl, true))
		return 2;
	int l = socket(ls.ss_family, SOCK_STREAM, 0), one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&ls, lsl) || listen(l, 4))
		return 3;
	signal(SIGPIPE, SIG_IGN);
	uint64_t end = now_ns() + (uint64_t)atol(argv[3]) * 1000000000ull;
	while (now_ns() < end) {
		struct pollfd p = { .fd = l, .events = POLLIN };
		if (poll(&p, 1, 100) != 1)
			continue;
		int a = accept(l, NULL, NULL);
		if (a < 0)
			continue;
		uint8_t ns[RP_NONCE] = { 7 }, fr[RP_HDR + RP_NONCE];
		size_t n = rp_encode(fr, sizeof(fr), RP_CHALLENGE, 0, 1, 0 /* protocol 1: no version */, 0, ns, sizeof(ns));
		send(a, fr, n, MSG_NOSIGNAL);
		char tmp[512];
		struct pollfd q = { .fd = a, .events = POLLIN };
		while (poll(&q, 1, 1000) == 1 && recv(a, tmp, sizeof(tmp), 0) > 0)
			; /* until the primary hangs up */
		close(a);
	}
	return 0;
}

/* ---- proxy ------------------------------------------------------------------- */
static int cmd_proxy(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	struct sockaddr_storage ls, ts;
	unsigned lsl, tsl;
	if (rp_parse_addr(argv[2], &ls, &lsl, true) || rp_parse_addr(argv[3], &ts, &tsl, false))
		return 2;
	int l = socket(ls.ss_family, SOCK_STREAM, 0), one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&ls, lsl) || listen(l, 4)) {
		perror("proxy bind");
		return 3;
	}
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int a = accept(l, NULL, NULL);
		if (a < 0)
			continue;
		int b = socket(ts.ss_family, SOCK_STREAM, 0);
		if (connect(b, (struct sockaddr *)&ts, tsl)) {
			close(a);
			close(b);
			continue;
		}
		struct pollfd p[2] = { { .fd = a, .events = POLLIN }, { .fd = b, .events = POLLIN } };
		static char buf[1 << 16];
		for (;;) {
			if (poll(p, 2, -1) < 0)
				break;
			int stop = 0;
			for (int i = 0; i < 2 && !stop; i++) {
				if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
					continue;
				ssize_t n = recv(p[i].fd, buf, sizeof(buf), 0);
				if (n <= 0 || send(p[1 - i].fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
					stop = 1;
			}
			if (stop)
				break;
		}
		close(a);
		close(b);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* latency of one send in the given mode (the consumer side is irrelevant: the ring drains
 * through a consumer thread-less ack loop in this process) */
static int cmd_lat(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	pmq_t *q = open_q(argv[2], argv[3], PMQ_PRODUCER);
	pmq_t *c = open_q(argv[2], argv[3], PMQ_CONSUMER);
	long n = atol(argv[4]);
	unsigned fl = !strcmp(argv[5], "sync") ? PMQ_REPLICATED : 0;
	uint64_t *lat = calloc((size_t)n, sizeof(uint64_t));
	char b[64] = "latency-probe-payload-of-64-bytes..............................";
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		uint64_t a = now_ns();
		int r = pmq_send(q, b, 64, fl);
		lat[i] = now_ns() - a;
		if (r) {
			fprintf(stderr, "lat: send: %s\n", pmq_strerror(r));
			return 1;
		}
		struct pmq_msg m;
		if (pmq_recv(c, &m, PMQ_NONBLOCK) == 0)
			pmq_ack(c, &m);
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	qsort(lat, (size_t)n, sizeof(uint64_t), cmp_u64);
	printf("%s n=%ld p50=%.2fus p99=%.2fus p99.9=%.2fus max=%.2fus rate=%.0f/s\n", argv[5], n, lat[n / 2] / 1e3,
	       lat[(size_t)(n * 0.99)] / 1e3, lat[(size_t)(n * 0.999)] / 1e3, lat[n - 1] / 1e3, (double)n / secs);
	pmq_close(c);
	pmq_close(q);
	return 0;
}

/* the floor for a replicated send: a 64 B TCP round trip over loopback (an echo
 * process; both ends blocking, TCP_NODELAY), p50 p99 p99.9 in us */
static int cmd_pingpong(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	long n = atol(argv[2]);
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &al))
		return 3;
	pid_t kid = fork();
	if (kid == 0) {
		int c = accept(l, NULL, NULL);
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		char b[64];
		for (;;) {
			size_t got = 0;
			while (got < sizeof(b)) {
				ssize_t r = recv(c, b + got, sizeof(b) - got, 0);
				if (r <= 0)
					_exit(0);
				got += (size_t)r;
			}
			if (send(c, b, sizeof(b), MSG_NOSIGNAL) != (ssize_t)sizeof(b))
				_exit(0);
		}
	}
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(c, (struct sockaddr *)&a, sizeof(a)))
		return 3;
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	uint64_t *lat = calloc((size_t)n, sizeof(uint64_t));
	char b[64] = "tcp-loopback-ping-pong-64-bytes";
	for (long i = 0; i < n; i++) {
		uint64_t t = now_ns();
		if (send(c, b, sizeof(b), 0) != (ssize_t)sizeof(b))
			return 1;
		size_t got = 0;
		while (got < sizeof(b)) {
			ssize_t r = recv(c, b + got, sizeof(b) - got, 0);
			if (r <= 0)
				return 1;
			got += (size_t)r;
		}
		lat[i] = now_ns() - t;
	}
	close(c);
	waitpid(kid, NULL, 0);
	qsort(lat, (size_t)n, sizeof(uint64_t), cmp_u64);
	printf("tcp-rtt n=%ld p50=%.2fus p99=%.2fus p99.9=%.2fus max=%.2fus\n", n, lat[n / 2] / 1e3,
	       lat[(size_t)(n * 0.99)] / 1e3, lat[(size_t)(n * 0.999)] / 1e3, lat[n - 1] / 1e3);
	return 0;
}

/* replication throughput: N async sends (consumed here), until the standby confirmed all */
static int cmd_tput(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	pmq_t *q = open_q(argv[2], argv[3], PMQ_PRODUCER);
	pmq_t *c = open_q(argv[2], argv[3], PMQ_CONSUMER);
	long n = atol(argv[4]);
	bool consume = !(argc > 5 && !strcmp(argv[5], "keep")); /* keep: every entry is shipped whole */
	char b[64] = "throughput-probe-payload-of-64-bytes...........................";
	struct pmq_repl_info in;
	pmq_repl_info(q, &in);
	uint64_t start_ticket = in.tail, t0 = now_ns();
	struct pmq_msg m[32];
	for (long i = 0; i < n; i++) {
		int r;
		while ((r = pmq_send(q, b, 64, PMQ_NONBLOCK)) == -EAGAIN) {
			if (!consume)
				continue;
			int k = pmq_recv_batch(c, m, 32, PMQ_NONBLOCK);
			if (k > 0)
				pmq_ack_batch(c, m, (unsigned)k);
		}
		if (r)
			return 1;
		if (consume && (i & 15) == 0) {
			int k = pmq_recv_batch(c, m, 32, PMQ_NONBLOCK);
			if (k > 0)
				pmq_ack_batch(c, m, (unsigned)k);
		}
	}
	do {
		int k = consume ? pmq_recv_batch(c, m, 32, PMQ_NONBLOCK) : 0;
		if (k > 0)
			pmq_ack_batch(c, m, (unsigned)k);
		pmq_repl_info(q, &in);
	} while (in.replicated < start_ticket + (uint64_t)n);
	double secs = (double)(now_ns() - t0) / 1e9;
	printf("replicated %ld messages of 64 B (%s) in %.3f s: %.0f msg/s\n", n,
	       consume ? "consumed meanwhile: acked ones ship as skip ranges" : "none consumed: every entry shipped whole",
	       secs, (double)n / secs);
	pmq_close(c);
	pmq_close(q);
	return 0;
}

static int cmd_consume(int argc, char **argv)
{
	if (argc < 7)
		return 2;
	pmq_t *q = open_q(argv[2], argv[3], PMQ_CONSUMER);
	const char *mode = argv[4];
	long n = atol(argv[5]);
	FILE *out = fopen(argv[6], "w");
	if (!out || n <= 0 || n > 64)
		return 2;
	setvbuf(out, NULL, _IOLBF, 0);
	struct pmq_msg m[64];
	long got = 0;
	while (got < n && pmq_recv_timeout(q, &m[got], 2000000000ull) == 0) {
		char b[64];
		size_t l = m[got].len < sizeof(b) - 1 ? m[got].len : sizeof(b) - 1;
		memcpy(b, m[got].data, l);
		b[l] = 0;
		long seq = -1;
		sscanf(b, "seq=%ld", &seq);
		fprintf(out, "%ld %u %" PRIu64 "\n", seq, m[got].delivery_count, m[got].ticket);
		got++;
	}
	fclose(out);
	if (!strcmp(mode, "hold")) {
		printf("holding %ld\n", got);
		fflush(stdout);
		for (;;)
			pause();
	}
	int bad = 0;
	for (long i = 0; i < got; i++) {
		int r = !strcmp(mode, "ack")    ? pmq_ack(q, &m[i])
			: !strcmp(mode, "dead") ? pmq_nack(q, &m[i], PMQ_NACK_DEADLETTER)
						: pmq_nack(q, &m[i], PMQ_NACK_REQUEUE);
		if (r) {
			fprintf(stderr, "repl_tool: %s: %s (%s)\n", mode, pmq_strerror(r), pmq_errmsg());
			bad = 1;
		}
	}
	printf("%s %ld\n", mode, got);
	pmq_close(q);
	return bad || got != n;
}

static int cmd_side(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	pmq_t *q = open_q(argv[2], argv[3], 0);
	struct pmq_repl_info in;
	pmq_repl_info(q, &in);
	unsigned ready = 0, dead = 0, held = 0;
	for (uint32_t i = 0; i < in.side_count; i++) {
		struct pmq_repl_side s;
		int k = pmq_repl_side_read(q, i, &s, NULL, 0);
		if (k == PMQ_REPL_SIDE_READY)
			ready++;
		else if (k == PMQ_REPL_SIDE_DEAD)
			dead++;
		if (k > 0 && (s.flags & PMQ_REPL_SIDE_HELD))
			held++;
	}
	printf("ready %u dead %u held %u\n", ready, dead, held);
	pmq_close(q);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "consume"))
		return cmd_consume(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "side"))
		return cmd_side(argc, argv);
	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "send"))
		return cmd_send(argc, argv);
	if (!strcmp(argv[1], "drain"))
		return cmd_drain(argc, argv);
	if (!strcmp(argv[1], "digest"))
		return cmd_digest(argc, argv);
	if (!strcmp(argv[1], "inject"))
		return cmd_inject(argc, argv);
	if (!strcmp(argv[1], "proxy"))
		return cmd_proxy(argc, argv);
	if (!strcmp(argv[1], "stall"))
		return cmd_stall(argc, argv);
	if (!strcmp(argv[1], "oldstandby"))
		return cmd_oldstandby(argc, argv);
	if (!strcmp(argv[1], "tput"))
		return cmd_tput(argc, argv);
	if (!strcmp(argv[1], "lat"))
		return cmd_lat(argc, argv);
	if (!strcmp(argv[1], "pingpong"))
		return cmd_pingpong(argc, argv);
	fprintf(stderr, "usage: repl_tool send|drain|digest|inject|proxy|lat ...\n");
	return 2;
}
