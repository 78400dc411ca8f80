/* Longer than 600 lines on purpose: every frame's encoder sits beside its never-trusting parser. */
/*
 * repl_proto.c - frames of the replication protocol: encode, parse (never
 * trusting a byte), HMAC-SHA256 challenge-response helpers, and rp_conn, a
 * pair of bounded buffers over a blocking TCP socket with timeouts.
 * See repl_proto.h for the wire format and docs/failover.md for the exchange.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "repl_proto.h"
#include "repl_seal.h"

/* src/crc32c.c, compiled into pmqd (the library keeps its copy hidden) */
uint32_t pmq_crc32c(uint32_t crc, const void *buf, size_t len);

static inline void put16(uint8_t *p, uint16_t v) { v = htole16(v); memcpy(p, &v, 2); }
static inline void put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static inline void put64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }
static inline uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return le16toh(v); }
static inline uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static inline uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *const type_names[] = { "?", "challenge", "auth", "auth-ok", "queue", "qstate", "entry",
					  "hole", "skip", "floor", "ack", "ping", "side", "side-free", "groups" };

const char *rp_type_name(unsigned t) { return t <= RP_TYPE_MAX ? type_names[t] : "unknown"; }

static uint32_t frame_crc(const uint8_t *hdr, const uint8_t *payload, size_t plen)
{
	uint8_t h[RP_HDR];
	memcpy(h, hdr, RP_HDR);
	memset(h + 8, 0, 4);
	uint32_t c = pmq_crc32c(0, h, RP_HDR);
	return plen ? pmq_crc32c(c, payload, plen) : c;
}

static ssize_t parse(const uint8_t *buf, size_t n, struct rp_frame *f, const char **why, bool check_crc);

ssize_t rp_parse(const uint8_t *buf, size_t n, struct rp_frame *f, const char **why)
{
	return parse(buf, n, f, why, true);
}

ssize_t rp_parse_sealed(const uint8_t *buf, size_t n, struct rp_frame *f, const char **why)
{
	return parse(buf, n, f, why, false);
}

static ssize_t parse(const uint8_t *buf, size_t n, struct rp_frame *f, const char **why, bool check_crc)
{
	static const char *dummy;
	if (!why)
		why = &dummy;
	if (n < 16)
		return 0; /* the magic is checked as soon as 16 bytes are here, the rest at RP_HDR */
	if (get32(buf + 12) != RP_MAGIC) {
		*why = "bad magic (not a pmq replication frame)";
		return -EPROTO;
	}
	uint32_t len = get32(buf);
	uint16_t type = get16(buf + 4);
	if (type == 0 || type > RP_TYPE_MAX) {
		*why = "unknown frame type";
		return -EPROTO;
	}
	if (len > RP_MAX_PAYLOAD) {
		*why = "frame length over the limit";
		return -EMSGSIZE;
	}
	if (n < RP_HDR || n - RP_HDR < len)
		return 0;
	if (check_crc && frame_crc(buf, buf + RP_HDR, len) != get32(buf + 8)) {
		*why = "CRC32C mismatch";
		return -EBADMSG;
	}
	f->len = len;
	f->type = type;
	f->qid = get16(buf + 6);
	f->epoch = get64(buf + 16);
	f->ticket = get64(buf + 24);
	f->aux = get64(buf + 32);
	f->payload = buf + RP_HDR;
	return (ssize_t)(RP_HDR + len);
}

static size_t encode_hdr(uint8_t *out, unsigned type, unsigned qid, uint64_t epoch, uint64_t ticket, uint64_t aux,
			 size_t plen)
{
	put32(out, (uint32_t)plen);
	put16(out + 4, (uint16_t)type);
	put16(out + 6, (uint16_t)qid);
	put32(out + 8, 0);
	put32(out + 12, RP_MAGIC);
	put64(out + 16, epoch);
	put64(out + 24, ticket);
	put64(out + 32, aux);
	return RP_HDR;
}

size_t rp_encode(uint8_t *out, size_t cap, unsigned type, unsigned qid, uint64_t epoch, uint64_t ticket,
		 uint64_t aux, const void *payload, size_t plen)
{
	if (plen > RP_MAX_PAYLOAD || cap < RP_HDR || cap - RP_HDR < plen)
		return 0;
	encode_hdr(out, type, qid, epoch, ticket, aux, plen);
	if (plen)
		memcpy(out + RP_HDR, payload, plen);
	put32(out + 8, frame_crc(out, out + RP_HDR, plen));
	return RP_HDR + plen;
}

void rp_entry_header(uint8_t out[RP_ENTRY_HDR], const struct pmq_repl_entry *e)
{
	put64(out, e->origin);
	put64(out + 8, e->ts_ns);
	put32(out + 16, e->deliveries);
	put32(out + 20, e->epoch);
}

int rp_entry_decode(const struct rp_frame *f, uint32_t max_payload, struct pmq_repl_entry *e, const void **data)
{
	if (f->len < RP_ENTRY_HDR || f->len - RP_ENTRY_HDR > max_payload)
		return -EBADMSG;
	memset(e, 0, sizeof(*e));
	e->ticket = f->ticket;
	e->origin = get64(f->payload);
	e->ts_ns = get64(f->payload + 8);
	e->deliveries = get32(f->payload + 16);
	e->epoch = get32(f->payload + 20);
	e->len = f->len - RP_ENTRY_HDR;
	*data = f->payload + RP_ENTRY_HDR;
	return 0;
}

uint64_t rp_side_aux(const struct pmq_repl_side *s)
{
	return (uint64_t)s->gen | ((uint64_t)(s->state & 0xffu) << 32) | ((uint64_t)(s->flags & 0xffu) << 40) |
	       ((uint64_t)(s->group & 0xffu) << 48);
}

void rp_side_header(uint8_t out[RP_SIDE_HDR], const struct pmq_repl_side *s)
{
	put64(out, s->ticket);
	put64(out + 8, s->origin);
	put64(out + 16, s->ts_ns);
	put32(out + 24, s->deliveries);
	put32(out + 28, s->replay_base);
	put32(out + 32, s->epoch);
	put32(out + 36, s->reason);
}

int rp_side_decode(const struct rp_frame *f, uint32_t max_payload, struct pmq_repl_side *s, const void **data)
{
	if (f->type != RP_SIDE || f->len < RP_SIDE_HDR || f->len - RP_SIDE_HDR > max_payload ||
	    f->ticket > RP_SIDE_MAX_INDEX)
		return -EBADMSG;
	uint32_t state = (uint32_t)(f->aux >> 32) & 0xffu, flags = (uint32_t)(f->aux >> 40) & 0xffu;
	uint32_t group = (uint32_t)(f->aux >> 48);
	if ((state != PMQ_REPL_SIDE_READY && state != PMQ_REPL_SIDE_DEAD) ||
	    (flags & ~(uint32_t)(PMQ_REPL_SIDE_HELD | PMQ_REPL_SIDE_REPLAYED)) || group > PMQ_GROUPS_MAX)
		return -EBADMSG;
	memset(s, 0, sizeof(*s));
	s->index = (uint32_t)f->ticket;
	s->gen = (uint32_t)f->aux;
	s->state = state;
	s->flags = flags;
	s->group = group;
	s->ticket = get64(f->payload);
	s->origin = get64(f->payload + 8);
	s->ts_ns = get64(f->payload + 16);
	s->deliveries = get32(f->payload + 24);
	s->replay_base = get32(f->payload + 28);
	s->epoch = get32(f->payload + 32);
	s->reason = get32(f->payload + 36);
	s->len = f->len - RP_SIDE_HDR;
	*data = f->payload + RP_SIDE_HDR;
	return 0;
}

int rp_side_free_decode(const struct rp_frame *f, uint32_t *index, uint32_t *gen)
{
	if (f->type != RP_SIDE_FREE || f->len || f->ticket > RP_SIDE_MAX_INDEX || f->aux > UINT32_MAX)
		return -EBADMSG;
	*index = (uint32_t)f->ticket;
	*gen = (uint32_t)f->aux;
	return 0;
}

size_t rp_queue_encode(uint8_t *out, size_t cap, const struct rp_queue_desc *d)
{
	size_t nl = strnlen(d->name, PMQ_NAME_MAX);
	if (cap < RP_QUEUE_FIXED + nl)
		return 0;
	const uint32_t v[10] = { d->slot_count, d->max_payload, d->flags, d->side_slots, d->max_attach,
				 d->consumer_quota, d->max_deliveries, d->dlq_capacity, d->durability, d->lease_action };
	for (int i = 0; i < 10; i++)
		put32(out + 4 * i, v[i]);
	put64(out + 40, d->lease_ns);
	put32(out + 48, d->max_groups);
	put32(out + 52, d->reserved);
	memcpy(out + RP_QUEUE_FIXED, d->name, nl);
	return RP_QUEUE_FIXED + nl;
}

int rp_queue_decode(const struct rp_frame *f, struct rp_queue_desc *d)
{
	if (f->len < RP_QUEUE_FIXED + 1 || f->len > RP_QUEUE_FIXED + PMQ_NAME_MAX)
		return -EBADMSG;
	memset(d, 0, sizeof(*d));
	const uint8_t *p = f->payload;
	uint32_t *v[10] = { &d->slot_count, &d->max_payload, &d->flags, &d->side_slots, &d->max_attach,
			    &d->consumer_quota, &d->max_deliveries, &d->dlq_capacity, &d->durability, &d->lease_action };
	for (int i = 0; i < 10; i++)
		*v[i] = get32(p + 4 * i);
	d->lease_ns = get64(p + 40);
	d->max_groups = get32(p + 48);
	d->reserved = get32(p + 52);
	size_t nl = f->len - RP_QUEUE_FIXED;
	for (size_t i = 0; i < nl; i++) {
		char c = (char)p[RP_QUEUE_FIXED + i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
			  c == '-' || c == '.';
		if (!ok)
			return -EBADMSG;
		d->name[i] = c;
	}
	d->name[nl] = '\0';
	if (d->name[0] == '.' || (nl > 4 && !strcmp(d->name + nl - 4, ".dlq")))
		return -EBADMSG;
	/* the library validates the rest again at create; refuse the absurd here */
	if (d->slot_count == 0 || (d->slot_count & (d->slot_count - 1)) || d->slot_count > (1u << 30) ||
	    d->max_payload == 0 || d->max_payload > (1u << 20) || d->max_attach == 0 || d->max_attach > 250 ||
	    d->durability > 1 || d->side_slots > 65535 || d->max_groups > PMQ_GROUPS_MAX)
		return -EINVAL;
	return 0;
}

int rp_mac(const uint8_t *key, size_t keylen, const char *label, const uint8_t a[RP_NONCE],
	   const uint8_t b[RP_NONCE], uint64_t epoch, uint64_t role, uint8_t out[RP_MAC])
{
	uint8_t msg[64 + 2 * RP_NONCE + 16];
	size_t ll = strlen(label);
	if (ll > 64)
		return -EINVAL;
	memcpy(msg, label, ll);
	memcpy(msg + ll, a, RP_NONCE);
	memcpy(msg + ll + RP_NONCE, b, RP_NONCE);
	put64(msg + ll + 2 * RP_NONCE, epoch);
	put64(msg + ll + 2 * RP_NONCE + 8, role);
	unsigned outlen = 0;
	if (!HMAC(EVP_sha256(), key, (int)keylen, msg, ll + 2 * RP_NONCE + 16, out, &outlen) || outlen != RP_MAC)
		return -EIO;
	return 0;
}

bool rp_mac_equal(const uint8_t a[RP_MAC], const uint8_t b[RP_MAC]) { return CRYPTO_memcmp(a, b, RP_MAC) == 0; }

int rp_random(uint8_t *out, size_t n)
{
	while (n) {
		ssize_t r = getrandom(out, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		out += r;
		n -= (size_t)r;
	}
	return 0;
}

/* ---- rp_conn ---------------------------------------------------------------- */

static int conn_alloc(struct rp_conn *c, int fd, size_t rcap, size_t wcap)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->wrec = SIZE_MAX;
	c->rcap = rcap;
	c->wcap = wcap;
	c->rbuf = malloc(c->rcap);
	c->wbuf = malloc(c->wcap);
	if (!c->rbuf || !c->wbuf) {
		rp_conn_free(c);
		return -ENOMEM;
	}
	return 0;
}

/* a session's buffers hold the largest frame, and the largest record */
static size_t session_cap(size_t cap)
{
	return cap < RP_REC_MAX + RP_REC_OVER ? RP_REC_MAX + RP_REC_OVER : cap;
}

int rp_conn_init(struct rp_conn *c, int fd, size_t rcap, size_t wcap)
{
	return conn_alloc(c, fd, session_cap(rcap), session_cap(wcap));
}

int rp_conn_init_small(struct rp_conn *c, int fd, size_t cap)
{
	return conn_alloc(c, fd, cap < 256 ? 256 : cap, cap < 256 ? 256 : cap);
}

int rp_conn_grow(struct rp_conn *c, size_t rcap, size_t wcap)
{
	rcap = session_cap(rcap);
	wcap = session_cap(wcap);
	uint8_t *r = rcap > c->rcap ? realloc(c->rbuf, rcap) : c->rbuf;
	if (!r)
		return -ENOMEM;
	c->rbuf = r;
	c->rcap = rcap > c->rcap ? rcap : c->rcap;
	uint8_t *w = wcap > c->wcap ? realloc(c->wbuf, wcap) : c->wbuf;
	if (!w)
		return -ENOMEM;
	c->wbuf = w;
	c->wcap = wcap > c->wcap ? wcap : c->wcap;
	return 0;
}

void rp_conn_free(struct rp_conn *c)
{
	free(c->rbuf);
	free(c->wbuf);
	c->rbuf = c->wbuf = NULL;
	rp_seal_free(c->tx);
	rp_seal_free(c->rx);
	c->tx = c->rx = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int rp_conn_secure(struct rp_conn *c, const uint8_t *key, size_t keylen, const uint8_t ns[RP_NONCE],
		   const uint8_t np[RP_NONCE], bool primary, bool encrypt)
{
	if (c->tx || c->rx || c->wlen)
		return -EINVAL;
	c->tx = rp_seal_new(key, keylen, ns, np, primary ? "p2s" : "s2p", encrypt);
	c->rx = rp_seal_new(key, keylen, ns, np, primary ? "s2p" : "p2s", encrypt);
	if (!c->tx || !c->rx) {
		rp_seal_free(c->tx);
		rp_seal_free(c->rx);
		c->tx = c->rx = NULL;
		return -EIO;
	}
	/* bytes already buffered after the last handshake frame are records */
	c->roff += c->last;
	c->last = 0;
	c->rend = 0;
	return 0;
}

bool rp_has_buffered(const struct rp_conn *c)
{
	size_t next = c->roff + c->last;
	if (!c->rx)
		return c->rlen > next;
	if (c->rend)
		return next < c->rend || c->rlen > c->rend + RP_REC_TAG;
	return c->rlen > next;
}

/* Close the record being filled (secured connections): seal it in place. */
static int seal_open_record(struct rp_conn *c)
{
	if (c->wrec == SIZE_MAX)
		return 0;
	size_t body = c->wlen - c->wrec - RP_REC_HDR;
	if (body == 0) {
		c->wlen = c->wrec; /* nothing in it: drop the reserved header */
	} else {
		if (rp_seal_record(c->tx, c->wbuf + c->wrec, body))
			return -EIO;
		c->wlen += RP_REC_TAG;
	}
	c->wrec = SIZE_MAX;
	return 0;
}

int rp_flush(struct rp_conn *c, int timeout_ms)
{
	if (c->tx && seal_open_record(c))
		return -EIO;
	size_t off = 0;
	while (off < c->wlen) {
		ssize_t w = send(c->fd, c->wbuf + off, c->wlen - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = { .fd = c->fd, .events = POLLOUT };
			int r = poll(&p, 1, timeout_ms);
			if (r == 0) {
				memmove(c->wbuf, c->wbuf + off, c->wlen - off);
				c->wlen -= off;
				return -ETIMEDOUT;
			}
			if (r < 0 && errno != EINTR)
				return -errno;
			continue;
		}
		return w < 0 ? -errno : -EPIPE;
	}
	c->tx_bytes += c->wlen;
	c->wlen = 0;
	return 0;
}

int rp_send2(struct rp_conn *c, unsigned type, unsigned qid, uint64_t epoch, uint64_t ticket, uint64_t aux,
	     const void *p1, size_t l1, const void *p2, size_t l2)
{
	size_t plen = l1 + l2;
	if (plen > RP_MAX_PAYLOAD)
		return -EMSGSIZE;
	size_t need = RP_HDR + plen;
	if (c->tx) {
		/* a record holds whole frames and at most RP_REC_MAX bytes of them */
		if (c->wrec != SIZE_MAX && c->wlen - c->wrec - RP_REC_HDR + need > RP_REC_MAX && seal_open_record(c))
			return -EIO;
		need += (c->wrec == SIZE_MAX ? RP_REC_HDR : 0) + RP_REC_TAG;
	}
	if (c->wcap - c->wlen < need) {
		int r = rp_flush(c, 5000);
		if (r)
			return r;
		if (c->tx)
			need = RP_HDR + plen + RP_REC_OVER;
		if (c->wcap < need)
			return -EMSGSIZE;
	}
	if (c->tx && c->wrec == SIZE_MAX) {
		c->wrec = c->wlen;
		c->wlen += RP_REC_HDR;
	}
	uint8_t *o = c->wbuf + c->wlen;
	encode_hdr(o, type, qid, epoch, ticket, aux, plen);
	if (l1)
		memcpy(o + RP_HDR, p1, l1);
	if (l2)
		memcpy(o + RP_HDR + l1, p2, l2);
	/* in a record the tag covers the frame: no CRC (it would cost more than the tag) */
	put32(o + 8, c->tx ? 0 : frame_crc(o, o + RP_HDR, plen));
	c->wlen += RP_HDR + plen;
	c->tx_frames++;
	return 0;
}

int rp_send(struct rp_conn *c, unsigned type, unsigned qid, uint64_t epoch, uint64_t ticket, uint64_t aux,
	    const void *payload, size_t plen)
{
	return rp_send2(c, type, qid, epoch, ticket, aux, payload, plen, NULL, 0);
}

/*
 * Secured: the next frame from the opened record, or open the next record when
 * the buffer holds all of it. 1 frame, 0 more bytes needed, -errno.
 */
static int next_secured(struct rp_conn *c, struct rp_frame *f, const char **why)
{
	for (;;) {
		if (c->rend) {
			if (c->roff < c->rend) {
				ssize_t r = rp_parse_sealed(c->rbuf + c->roff, c->rend - c->roff, f, why);
				if (r < 0)
					return (int)r;
				if (r == 0) {
					*why = "a frame cut at a record's end";
					return -EPROTO;
				}
				c->last = (size_t)r;
				return 1;
			}
			c->roff = c->rend + RP_REC_TAG; /* record used up: its tag follows it */
			c->rend = 0;
		}
		size_t avail = c->rlen - c->roff;
		if (avail < RP_REC_HDR)
			return 0;
		uint32_t len = get32(c->rbuf + c->roff);
		if (len == 0 || len > RP_REC_MAX || len + RP_REC_OVER > c->rcap) {
			*why = "record length out of bounds (not a pmq replication record: wrong protocol version?)";
			return -EMSGSIZE;
		}
		if (avail < len + RP_REC_OVER)
			return 0;
		if (rp_seal_open(c->rx, c->rbuf + c->roff, len)) {
			*why = "record authentication failed (altered, injected, replayed or reordered on the way; "
			       "or a different key)";
			return -EBADMSG;
		}
		c->rend = c->roff + RP_REC_HDR + len;
		c->roff += RP_REC_HDR;
	}
}

int rp_recv(struct rp_conn *c, struct rp_frame *f, int timeout_ms, const char **why)
{
	static const char *dummy;
	if (!why)
		why = &dummy;
	/* drop the frame handed out last time (its bytes stayed valid until now) */
	c->roff += c->last;
	c->last = 0;
	uint64_t deadline = timeout_ms > 0 ? now_ms() + (uint64_t)timeout_ms : 0;
	for (;;) {
		ssize_t r;
		if (c->rx) {
			r = next_secured(c, f, why);
		} else {
			r = rp_parse(c->rbuf + c->roff, c->rlen - c->roff, f, why);
			if (r > 0)
				c->last = (size_t)r;
		}
		if (r < 0)
			return (int)r;
		if (r > 0) {
			c->rx_frames++;
			return 1;
		}
		if (c->roff && !c->rend) { /* compact only when we must read more, never inside an opened record */
			memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
			c->rlen -= c->roff;
			c->roff = 0;
		}
		if (c->rlen == c->rcap) {
			*why = "frame larger than the receive buffer";
			return -EMSGSIZE;
		}
		/* the timeout is for the whole call, not per poll: a peer trickling bytes of a
		 * frame does not keep a caller waiting longer than it asked */
		int wait_ms = timeout_ms;
		if (timeout_ms > 0) {
			int64_t left = (int64_t)(deadline - now_ms());
			wait_ms = left > 0 ? (int)left : 0;
		}
		if (wait_ms) { /* not waiting: recv below says EAGAIN, one system call instead of two */
			struct pollfd p = { .fd = c->fd, .events = POLLIN };
			int pr = poll(&p, 1, wait_ms);
			if (pr == 0)
				return 0;
			if (pr < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
		}
		ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !wait_ms)
			return 0;
		if (n == 0) {
			if (c->rlen > c->roff) {
				*why = "truncated frame (connection closed inside a frame)";
				return -EPIPE;
			}
			*why = "connection closed by peer";
			return -ECONNRESET;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			*why = "receive failed";
			return -errno;
		}
		c->rlen += (size_t)n;
		c->rx_bytes += (uint64_t)n;
	}
}

void rp_tune_socket(int fd, unsigned user_timeout_ms)
{
	int one = 1, idle = 2, intvl = 1, cnt = 3;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	if (user_timeout_ms)
		setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms));
	int buf = 1 << 20; /* bounded: at most this much in flight in the kernel each way */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
}

int rp_parse_addr(const char *s, struct sockaddr_storage *ss, unsigned *sslen, bool passive)
{
	char host[256];
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s || strlen(s) >= sizeof(host))
		return -EINVAL;
	size_t hl = (size_t)(colon - s);
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = passive ? AI_PASSIVE : 0 }, *res = NULL;
	if (getaddrinfo(host, colon + 1, &hints, &res) || !res)
		return -EINVAL;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = (unsigned)res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}
