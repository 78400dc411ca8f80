/*
 * identity.c - what a message's identity becomes on the other side, so that
 * a consumer there can de-duplicate (docs/bridge.md "Identity"):
 *   pmq -> AMQP: message-id "pmq:<epoch>:<ticket>", timestamp (s), headers
 *                x-pmq-epoch, x-pmq-ticket, x-pmq-timestamp-ns,
 *                x-pmq-delivery-count, x-pmq-redelivered, x-pmq-queue.
 *   AMQP -> pmq: an envelope before the body (pmq messages have no headers):
 *                the message-id, the broker's redelivered flag and delivery
 *                count, and the timestamp in ns.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shovel.h"

int identity_message_id(const struct pmq_msg *m, char *out)
{
	return snprintf(out, SHOVEL_MSGID_MAX, "pmq:%" PRIu64 ":%" PRIu64, m->epoch, m->ticket);
}

static bool parse_u64(const char **p, const char *end, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;
	if (s == end || *s < '0' || *s > '9')
		return false;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*out = v;
	return true;
}

bool identity_parse_message_id(amqp_bytes_t id, uint64_t *epoch, uint64_t *ticket)
{
	const char *s = id.bytes, *end = s + id.len;
	if (id.len < 8 || memcmp(s, "pmq:", 4))
		return false;
	s += 4;
	if (!parse_u64(&s, end, epoch) || s == end || *s++ != ':')
		return false;
	return parse_u64(&s, end, ticket) && s == end;
}

static void entry_i64(amqp_table_entry_t *e, const char *key, uint64_t v)
{
	e->key = amqp_cstring_bytes(key);
	e->value.kind = AMQP_FIELD_KIND_I64; /* "long long" in RabbitMQ's table types */
	e->value.value.i64 = (int64_t)v;
}

void identity_props(const struct pmq_msg *m, const char *queue, const char *msgid,
		    amqp_basic_properties_t *props, amqp_table_entry_t *e)
{
	entry_i64(&e[0], SHOVEL_HDR_EPOCH, m->epoch);
	entry_i64(&e[1], SHOVEL_HDR_TICKET, m->ticket);
	entry_i64(&e[2], SHOVEL_HDR_TS_NS, m->timestamp_ns);
	entry_i64(&e[3], SHOVEL_HDR_DCOUNT, m->delivery_count);
	e[4].key = amqp_cstring_bytes(SHOVEL_HDR_REDELIVERED);
	e[4].value.kind = AMQP_FIELD_KIND_BOOLEAN;
	e[4].value.value.boolean = m->delivery_count > 1;
	e[5].key = amqp_cstring_bytes(SHOVEL_HDR_QUEUE);
	e[5].value.kind = AMQP_FIELD_KIND_UTF8;
	e[5].value.value.bytes = amqp_cstring_bytes(queue);

	memset(props, 0, sizeof(*props));
	props->_flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
			AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_HEADERS_FLAG;
	props->delivery_mode = 2; /* persistent */
	props->message_id = amqp_cstring_bytes(msgid);
	props->timestamp = m->timestamp_ns / 1000000000u; /* AMQP's timestamp is whole seconds */
	props->headers.num_entries = 6;
	props->headers.entries = e;
}

static const amqp_field_value_t *header(const amqp_basic_properties_t *p, const char *key)
{
	if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG))
		return NULL;
	size_t kl = strlen(key);
	for (int i = 0; i < p->headers.num_entries; i++) {
		const amqp_table_entry_t *e = &p->headers.entries[i];
		if (e->key.len == kl && !memcmp(e->key.bytes, key, kl))
			return &e->value;
	}
	return NULL;
}

/* An integer header of any integer kind; false if absent or not an integer. */
static bool header_u64(const amqp_basic_properties_t *p, const char *key, uint64_t *out)
{
	const amqp_field_value_t *v = header(p, key);
	if (!v)
		return false;
	switch (v->kind) {
	case AMQP_FIELD_KIND_I8: *out = v->value.i8 < 0 ? 0 : (uint64_t)v->value.i8; return true;
	case AMQP_FIELD_KIND_U8: *out = v->value.u8; return true;
	case AMQP_FIELD_KIND_I16: *out = v->value.i16 < 0 ? 0 : (uint64_t)v->value.i16; return true;
	case AMQP_FIELD_KIND_U16: *out = v->value.u16; return true;
	case AMQP_FIELD_KIND_I32: *out = v->value.i32 < 0 ? 0 : (uint64_t)v->value.i32; return true;
	case AMQP_FIELD_KIND_U32: *out = v->value.u32; return true;
	case AMQP_FIELD_KIND_I64: *out = v->value.i64 < 0 ? 0 : (uint64_t)v->value.i64; return true;
	case AMQP_FIELD_KIND_U64: *out = v->value.u64; return true;
	default: return false;
	}
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/*
 * Envelope (little endian), then the body:
 *   0  "PQAM"   4  version (1)   5  flags (1 redelivered, 2 timestamp known)
 *   6  u16 message-id length    8  u32 delivery count (1 = first)
 *   12 u32 offset of the body   16 u64 timestamp, ns since the epoch
 *   24 message-id bytes (no NUL)
 */
size_t identity_envelope(const amqp_envelope_t *env, unsigned char *buf, size_t cap)
{
	const amqp_basic_properties_t *p = &env->message.properties;
	size_t idlen = (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG) ? p->message_id.len : 0;
	if (idlen > 0xffff)
		idlen = 0xffff;
	size_t hdr = SHOVEL_ENV_FIXED + idlen;
	size_t total = hdr + env->message.body.len;
	if (total > cap)
		return total;

	unsigned flags = 0;
	uint64_t ts = 0, dc;
	if (env->redelivered)
		flags |= SHOVEL_ENV_F_REDELIVERED;
	if (header_u64(p, SHOVEL_HDR_TS_NS, &ts) || (p->_flags & AMQP_BASIC_TIMESTAMP_FLAG)) {
		if (!ts)
			ts = p->timestamp * 1000000000ull;
		flags |= SHOVEL_ENV_F_TIMESTAMP;
	}
	/* quorum queues count returns in x-delivery-count (absent on the first);
	 * other queues only say "redelivered": count that as the second attempt */
	if (header_u64(p, "x-delivery-count", &dc))
		dc += 1;
	else
		dc = env->redelivered ? 2 : 1;
	if (dc > UINT32_MAX)
		dc = UINT32_MAX;

	memcpy(buf, SHOVEL_ENV_MAGIC, 4);
	buf[4] = SHOVEL_ENV_VERSION;
	buf[5] = (unsigned char)flags;
	put_le(buf + 6, idlen, 2);
	put_le(buf + 8, dc, 4);
	put_le(buf + 12, hdr, 4);
	put_le(buf + 16, ts, 8);
	if (idlen)
		memcpy(buf + SHOVEL_ENV_FIXED, p->message_id.bytes, idlen);
	if (env->message.body.len)
		memcpy(buf + hdr, env->message.body.bytes, env->message.body.len);
	return total;
}
