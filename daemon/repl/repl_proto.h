/*
 * repl_proto.h - the replication wire protocol between a primary's
 * replicator and a standby (docs/failover.md).
 *
 * Every frame is a 40-byte header, little endian, then `len` payload bytes:
 *
 *   u32 len | u16 type | u16 qid | u32 crc | u32 magic "PMQR" |
 *   u64 epoch | u64 ticket | u64 aux
 *
 * crc is CRC32C over the header (crc field zero) and the payload; inside an
 * authenticated record (protocol 2, after the handshake) it is zero and not
 * checked, the record's tag covering every byte instead. Nothing in
 * a frame is trusted: rp_parse checks magic, type, length bound and CRC
 * before anyone looks at the payload, and each payload decoder checks its
 * own sizes. This file does no I/O except through rp_conn (plain blocking
 * sockets with timeouts) and has no global state, so the fuzz target and
 * the unit tests link it alone.
 */
#ifndef PMQ_REPL_PROTO_H
#define PMQ_REPL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pmq_admin.h"

#define RP_MAGIC 0x52514d50u        /* "PMQR" */
#define RP_VERSION 2u               /* in CHALLENGE's and AUTH's ticket; 1 (ticket 0) had no records */
#define RP_F_ENCRYPT 1u             /* AUTH aux: the primary asks for encrypted records */
#define RP_HDR 40u
#define RP_MAX_PAYLOAD ((1u << 20) + 4096u) /* the largest message plus its entry header */
#define RP_NONCE 32u
#define RP_MAC 32u
#define RP_KEY_MIN 16u
#define RP_KEY_MAX 1024u
#define RP_ENTRY_HDR 24u            /* origin, ts_ns, deliveries, epoch */
#define RP_QUEUE_FIXED 56u
#define RP_SIDE_HDR 40u             /* ticket, origin, ts_ns, deliveries, replay_base, epoch, reason */
#define RP_SIDE_MAX_INDEX 65535u    /* side indices are 16 bits in the control word */
#define RP_GROUP_REC 104u           /* one group-table entry in an RP_GROUPS frame with aux 0 */
#define RP_GROUP_REC_LEASE 112u     /* ... with aux RP_GROUPS_LEASE: the group's lease appended */
#define RP_GROUPS_LEASE 1u          /* RP_GROUPS aux: records of RP_GROUP_REC_LEASE bytes */

enum rp_type {
	RP_CHALLENGE = 1, /* S->P: nonce_s; ticket = RP_VERSION; epoch/aux unauthenticated until AUTH_OK */
	RP_AUTH = 2,      /* P->S: nonce_p, mac_p; epoch = primary's, ticket = RP_VERSION, aux = RP_F_* */
	RP_AUTH_OK = 3,   /* S->P: mac_s; epoch = standby's, aux = its role (RP_NODE_*) */
	RP_QUEUE = 4,     /* P->S: qid names a queue: geometry and name; ticket = primary tail */
	RP_QSTATE = 5,    /* S->P: ticket = next ticket the mirror expects; aux = 0 or errno */
	RP_ENTRY = 6,     /* P->S: one committed message at `ticket` */
	RP_HOLE = 7,      /* P->S: `ticket` was aborted, never a message */
	RP_SKIP = 8,      /* P->S: tickets [ticket, ticket + aux) are settled: nothing to keep */
	RP_FLOOR = 9,     /* P->S: cumulative-ack floor `ticket`; aux = primary's head */
	RP_ACK = 10,      /* S->P: every ticket below `ticket` of qid is persisted */
	RP_PING = 11,     /* either way: keepalive at the protocol level */
	RP_SIDE = 12,     /* P->S: side entry `ticket` (index) holds a message; aux = gen | state << 32 | flags << 40
	                   * | group tag << 48 (queues with groups: the group's index + 1) */
	RP_SIDE_FREE = 13, /* P->S: side entry `ticket` (index) holds none since generation aux */
	RP_GROUPS = 14,   /* P->S: `ticket` group-table entries that changed; aux 0: RP_GROUP_REC bytes
	                   * each, aux RP_GROUPS_LEASE: RP_GROUP_REC_LEASE (what this release sends) */
	RP_TYPE_MAX = 14,
};

#define RP_NODE_STANDBY 0u
#define RP_NODE_PRIMARY 1u /* a promoted node: whoever meets it with a lower epoch fences itself */

struct rp_frame {
	uint32_t len;
	uint16_t type;
	uint16_t qid;
	uint64_t epoch;
	uint64_t ticket;
	uint64_t aux;
	const uint8_t *payload; /* into the caller's buffer */
};

/*
 * Parse one frame at buf[0..n). Returns the frame's size (> 0) when a whole
 * valid frame is there, 0 when more bytes are needed, or -EPROTO / -EMSGSIZE /
 * -EBADMSG with *why naming the fault (bad magic, unknown type, oversized,
 * CRC mismatch).
 */
ssize_t rp_parse(const uint8_t *buf, size_t n, struct rp_frame *f, const char **why);
/* The same, without the CRC32C check: for frames inside an authenticated record
 * (its AES-GCM tag covers every byte; the sender leaves the CRC field zero). */
ssize_t rp_parse_sealed(const uint8_t *buf, size_t n, struct rp_frame *f, const char **why);

/* Encode a frame into out (cap bytes). Returns its size, or 0 if it does not fit. */
size_t rp_encode(uint8_t *out, size_t cap, unsigned type, unsigned qid, uint64_t epoch, uint64_t ticket,
		 uint64_t aux, const void *payload, size_t plen);

/* Decode an RP_ENTRY payload. -EBADMSG if it is shorter than its header or longer than max_payload. */
int rp_entry_decode(const struct rp_frame *f, uint32_t max_payload, struct pmq_repl_entry *e, const void **data);
/* Encode an entry's payload header into out[RP_ENTRY_HDR]. */
void rp_entry_header(uint8_t out[RP_ENTRY_HDR], const struct pmq_repl_entry *e);

/* A side upsert: the frame's ticket, aux and payload header for entry *s. */
uint64_t rp_side_aux(const struct pmq_repl_side *s);
void rp_side_header(uint8_t out[RP_SIDE_HDR], const struct pmq_repl_side *s);
/* Decode an RP_SIDE frame. -EBADMSG on a short payload, one longer than max_payload, an
 * index over RP_SIDE_MAX_INDEX, a state other than ready/dead, or unknown flag bits. */
int rp_side_decode(const struct rp_frame *f, uint32_t max_payload, struct pmq_repl_side *s, const void **data);
/* Check an RP_SIDE_FREE frame: no payload, index and generation in range. 0 or -EBADMSG. */
int rp_side_free_decode(const struct rp_frame *f, uint32_t *index, uint32_t *gen);

/* RP_GROUPS: record k of the frame (k < f->ticket) into *g, or -EBADMSG on an aux other
 * than 0 or RP_GROUPS_LEASE, a count over PMQ_GROUPS_MAX, a length that is not count
 * records, an index, state or flags out of range, a bad name, a cursor order other than
 * start <= floor <= head, or a lease on a lossy group, a free entry or out of
 * PMQ_GROUP_LEASE_MIN_NS..MAX_NS. Records of aux 0 carry no lease (0: the queue's). */
int rp_group_decode(const struct rp_frame *f, unsigned k, struct pmq_repl_group *g);
/* Encode a record for a frame with aux RP_GROUPS_LEASE. */
void rp_group_encode(uint8_t out[RP_GROUP_REC_LEASE], const struct pmq_repl_group *g);

struct rp_queue_desc {
	uint32_t slot_count, max_payload, flags, side_slots, max_attach, consumer_quota;
	uint32_t max_deliveries, dlq_capacity, durability, lease_action;
	uint64_t lease_ns;
	uint32_t max_groups;  /* 0: no groups (the wire's reserved word before groups) */
	uint32_t reserved;
	char name[PMQ_NAME_MAX + 1];
};
size_t rp_queue_encode(uint8_t *out, size_t cap, const struct rp_queue_desc *d);
/* -EBADMSG on a short payload, a name that is empty, too long, not one path
 * component of [A-Za-z0-9._-] or starting with '.'; -EINVAL on a geometry
 * out of the library's bounds. */
int rp_queue_decode(const struct rp_frame *f, struct rp_queue_desc *d);

/* HMAC-SHA256(key, label || a || b || le64(epoch) || le64(role)). Returns 0 or -EIO. */
int rp_mac(const uint8_t *key, size_t keylen, const char *label, const uint8_t a[RP_NONCE],
	   const uint8_t b[RP_NONCE], uint64_t epoch, uint64_t role, uint8_t out[RP_MAC]);
bool rp_mac_equal(const uint8_t a[RP_MAC], const uint8_t b[RP_MAC]);
/* Read a key file: at least RP_KEY_MIN bytes, a trailing newline dropped. 0 or -errno with *why. */
int rp_load_key(const char *path, uint8_t *key, size_t *keylen, const char **why);
int rp_random(uint8_t *out, size_t n);

const char *rp_type_name(unsigned type);

/* ---- a connection: bounded buffers over a blocking socket with timeouts ----
 * Before rp_conn_secure, frames go as they are (the handshake); after it, in
 * authenticated (optionally encrypted) records, repl_seal.h. */
struct rp_seal;
struct rp_conn {
	int fd;
	uint8_t *rbuf;
	size_t rlen, rcap;
	size_t roff;       /* unparsed bytes start here */
	size_t last;       /* size of the frame rp_recv handed out last */
	size_t rend;       /* secured: end of the opened record's frames (0: none open) */
	uint8_t *wbuf;
	size_t wlen, wcap;
	size_t wrec;       /* secured: offset of the record being filled, SIZE_MAX none */
	struct rp_seal *tx, *rx;
	char peer[64];
	uint64_t rx_frames, tx_frames, rx_bytes, tx_bytes;
};
/* Whether more bytes are buffered after the frame handed out last (a batch is still arriving). */
bool rp_has_buffered(const struct rp_conn *c);
int rp_conn_init(struct rp_conn *c, int fd, size_t rcap, size_t wcap);
/* A connection for the handshake only: small buffers (a frame over `cap` is refused). */
int rp_conn_init_small(struct rp_conn *c, int fd, size_t cap);
/* Give a handshake connection the buffers of a session. 0 or -ENOMEM. */
int rp_conn_grow(struct rp_conn *c, size_t rcap, size_t wcap);
void rp_conn_free(struct rp_conn *c);
/* Switch to records: keys from the pre-shared key and both nonces, one per
 * direction; `primary` says which side this is. Call right after AUTH_OK was
 * sent (standby) or received (primary), with nothing queued. 0 or -EIO. */
int rp_conn_secure(struct rp_conn *c, const uint8_t *key, size_t keylen, const uint8_t ns[RP_NONCE],
		   const uint8_t np[RP_NONCE], bool primary, bool encrypt);
/* Queue a frame; flushes first when the buffer is full. 0 or -errno. */
int rp_send(struct rp_conn *c, unsigned type, unsigned qid, uint64_t epoch, uint64_t ticket, uint64_t aux,
	    const void *payload, size_t plen);
/* Queue a frame whose payload is two pieces (header, data). */
int rp_send2(struct rp_conn *c, unsigned type, unsigned qid, uint64_t epoch, uint64_t ticket, uint64_t aux,
	     const void *p1, size_t l1, const void *p2, size_t l2);
int rp_flush(struct rp_conn *c, int timeout_ms);
/*
 * Next frame: 1 with *f (valid until the next call), 0 if none arrived within
 * timeout_ms (0 = do not wait), or -errno: -ECONNRESET at EOF, -EPIPE at EOF
 * inside a frame (*why "truncated frame"), -EPROTO/-EBADMSG/-EMSGSIZE from rp_parse.
 */
int rp_recv(struct rp_conn *c, struct rp_frame *f, int timeout_ms, const char **why);
/* Tune a TCP socket: TCP_NODELAY, keepalive (idle 2 s, interval 1 s, 3 probes), user timeout. */
void rp_tune_socket(int fd, unsigned user_timeout_ms);
/* Parse "HOST:PORT" (IPv4 dotted or a name, [v6]:port) into a sockaddr. 0 or -EINVAL. */
struct sockaddr_storage;
int rp_parse_addr(const char *s, struct sockaddr_storage *ss, unsigned *sslen, bool passive);

#endif
