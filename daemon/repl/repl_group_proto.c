/*
 * repl_group_proto.c - the RP_GROUPS frame (repl_proto.h): a queue's consumer-group
 * table entries as the primary's replicator ships them (docs/failover.md, "Consumer
 * groups"). Beside repl_proto.c's frames, with the same rule: the decoder trusts no
 * byte (count, length, index, state, flags, name and its padding, cursor order), and the library
 * checks again when the standby applies it.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "repl_proto.h"

static inline void put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static inline void put64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }
static inline uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static inline uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }

/* One record, RP_GROUP_REC_LEASE bytes (frame aux RP_GROUPS_LEASE; RP_GROUP_REC without
 * the last field, aux 0, as sent before group leases):
 *   u32 index | u32 state | u32 flags | u32 incarnation | u64 start | u64 floor | u64 head |
 *   u64 created_ns | u64 redelivered | u64 dead_lettered | u64 lost | name[32] (NUL-padded) |
 *   u64 lease_ns */
void rp_group_encode(uint8_t out[RP_GROUP_REC_LEASE], const struct pmq_repl_group *g)
{
	put32(out, g->index);
	put32(out + 4, g->state);
	put32(out + 8, g->flags);
	put32(out + 12, g->incarnation);
	put64(out + 16, g->start);
	put64(out + 24, g->floor);
	put64(out + 32, g->head);
	put64(out + 40, g->created_ns);
	put64(out + 48, g->redelivered);
	put64(out + 56, g->dead_lettered);
	put64(out + 64, g->lost);
	memset(out + 72, 0, 32);
	if (g->state == PMQ_REPL_GROUP_ACTIVE)
		memcpy(out + 72, g->name, strnlen(g->name, PMQ_GROUP_NAME_MAX));
	put64(out + 104, g->state == PMQ_REPL_GROUP_ACTIVE ? g->lease_ns : 0);
}

static bool name_ok(const char *n)
{
	size_t len = strnlen(n, 32);
	if (len == 0 || len > PMQ_GROUP_NAME_MAX || n[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = n[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-' || c == '.'))
			return false;
	}
	return true;
}

int rp_group_decode(const struct rp_frame *f, unsigned k, struct pmq_repl_group *g)
{
	if (f->type != RP_GROUPS || f->aux > RP_GROUPS_LEASE)
		return -EBADMSG;
	size_t rec = f->aux == RP_GROUPS_LEASE ? RP_GROUP_REC_LEASE : RP_GROUP_REC;
	if (f->ticket == 0 || f->ticket > PMQ_GROUPS_MAX || f->len != f->ticket * rec || k >= f->ticket)
		return -EBADMSG;
	const uint8_t *p = f->payload + (size_t)k * rec;
	memset(g, 0, sizeof(*g));
	g->index = get32(p);
	g->state = get32(p + 4);
	g->flags = get32(p + 8);
	g->incarnation = get32(p + 12);
	g->start = get64(p + 16);
	g->floor = get64(p + 24);
	g->head = get64(p + 32);
	g->created_ns = get64(p + 40);
	g->redelivered = get64(p + 48);
	g->dead_lettered = get64(p + 56);
	g->lost = get64(p + 64);
	memcpy(g->name, p + 72, 32);
	g->lease_ns = rec == RP_GROUP_REC_LEASE ? get64(p + 104) : 0; /* a primary before leases: the queue's */
	if (g->index >= PMQ_GROUPS_MAX || g->state > PMQ_REPL_GROUP_ACTIVE ||
	    (g->flags & ~(PMQ_GROUP_LOSSY | PMQ_REPL_GROUP_RESYNC)))
		return -EBADMSG;
	if (g->state == PMQ_REPL_GROUP_NONE)
		return g->lease_ns ? -EBADMSG : 0;
	if (!name_ok(g->name) || g->floor < g->start || g->head < g->floor)
		return -EBADMSG;
	if (g->lease_ns && ((g->flags & PMQ_GROUP_LOSSY) || g->lease_ns < PMQ_GROUP_LEASE_MIN_NS ||
			    g->lease_ns > PMQ_GROUP_LEASE_MAX_NS))
		return -EBADMSG; /* a lossy group has no lease; one out of range is no group's */
	for (size_t i = strnlen(g->name, 32); i < 32; i++)
		if (g->name[i])
			return -EBADMSG; /* NUL-padded: one encoding per record */
	return 0;
}
