/*
 * format.c - the queue file's geometry, header initialisation and
 * validation. Nothing read from a file is trusted: every field is checked
 * against its range and against the file size before anything is mapped
 * or indexed (docs/format.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "internal.h"

static uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

PMQ_EXPORT void (pmq_config_init)(struct pmq_config *cfg) { pmq_config_init_sized(cfg, PMQ_CONFIG_SIZE_1_0); }

PMQ_EXPORT void pmq_config_init_sized(struct pmq_config *cfg, size_t size)
{
	/* a caller's struct may be shorter than ours (built against 1.0): only its bytes */
	if (size < PMQ_CONFIG_SIZE_1_0 || size > sizeof(*cfg))
		size = size < PMQ_CONFIG_SIZE_1_0 ? PMQ_CONFIG_SIZE_1_0 : sizeof(*cfg);
	memset(cfg, 0, size);
	cfg->size = (uint32_t)size;
	cfg->slot_count = 1024;
	cfg->max_payload = 1024;
	cfg->max_attach = 16;
	cfg->consumer_quota = 32;
	cfg->max_deliveries = 5;
	cfg->dlq_capacity = 64;
	cfg->durability = PMQ_DURABLE_PROCESS;
	cfg->lease_ns = 30ull * 1000000000ull;
	cfg->mode = 0600;
}

int format_validate_config(const struct pmq_config *c)
{
	if (c->size < offsetof(struct pmq_config, dir) + sizeof(c->dir))
		return pmq_fail(-EINVAL, "config: size %u is too small; call pmq_config_init() first", c->size);
	if (c->slot_count < 2 || c->slot_count > PMQ_MAX_SLOTS || (c->slot_count & (c->slot_count - 1)))
		return pmq_fail(-EINVAL, "config: slot_count %u must be a power of two in 2..%u", c->slot_count,
				PMQ_MAX_SLOTS);
	if (c->max_payload < 1 || c->max_payload > PMQ_MAX_PAYLOAD)
		return pmq_fail(-EINVAL, "config: max_payload %u must be in 1..%u", c->max_payload, PMQ_MAX_PAYLOAD);
	if (c->max_attach < 1 || c->max_attach > PMQ_MAX_ATTACH)
		return pmq_fail(-EINVAL, "config: max_attach %u must be in 1..%u", c->max_attach, PMQ_MAX_ATTACH);
	if (c->consumer_quota < 1 || c->consumer_quota > c->slot_count)
		return pmq_fail(-EINVAL, "config: consumer_quota %u must be in 1..slot_count (%u)", c->consumer_quota,
				c->slot_count);
	if (c->max_deliveries < 1)
		return pmq_fail(-EINVAL, "config: max_deliveries must be at least 1");
	if (c->durability > PMQ_DURABLE_POWER)
		return pmq_fail(-EINVAL, "config: durability %u is not process (0) or power (1)", c->durability);
	if (c->lease_action > 2)
		return pmq_fail(-EINVAL, "config: lease_action %u is not requeue (0), kill (1) or alarm (2)",
				c->lease_action);
	if (c->mode & ~0777u)
		return pmq_fail(-EINVAL, "config: mode %o has bits beyond 0777", c->mode);
	if (cfg_max_groups(c) > PMQ_GROUPS_MAX)
		return pmq_fail(-EINVAL, "config: max_groups %u must be in 0..%u", cfg_max_groups(c), PMQ_GROUPS_MAX);
	if (cfg_max_groups(c) && c->slot_count > PMQ_GROUPS_MAX_SLOTS)
		return pmq_fail(-EINVAL, "config: slot_count %u: a queue with groups has at most %u slots",
				c->slot_count, PMQ_GROUPS_MAX_SLOTS);
	if (cfg_groups(c) && !cfg_max_groups(c))
		return pmq_fail(-EINVAL, "config: groups \"%s\" given but max_groups is 0; set max_groups to make room",
				cfg_groups(c));
	uint32_t known = PMQ_F_SP | PMQ_F_SC | PMQ_F_CRASH_NOT_DELIVERY;
	if (c->flags & ~known)
		return pmq_fail(-EINVAL, "config: unknown flags 0x%x", c->flags & ~known);
	return 0;
}

/* Side-area capacity (docs/format.md): 2 x (sum of consumer quotas) + attachments + dead letters. */
static uint64_t side_formula(const struct pmq_config *c)
{
	return 2ull * c->max_attach * c->consumer_quota + c->max_attach + c->dlq_capacity;
}

/* The held area (layout.h): right after the attachment table, one block per attachment
 * of a header line and quota + slack records (at most PMQ_HELD_MAX), padded to a line. */
void format_held_geometry(uint64_t attach_off, uint32_t max_attach, uint32_t quota, uint64_t *off,
			  uint32_t *stride, uint32_t *cap)
{
	uint64_t n = (uint64_t)quota + PMQ_HELD_SLACK;
	*cap = (uint32_t)(n < PMQ_HELD_MAX ? n : PMQ_HELD_MAX);
	*stride = (uint32_t)round_up(sizeof(struct pmq_held) + (uint64_t)*cap * sizeof(uint64_t), PMQ_CACHELINE);
	*off = round_up(attach_off + (uint64_t)max_attach * sizeof(struct pmq_attach), PMQ_CACHELINE);
}

int format_geometry(const struct pmq_config *c, struct pmq_geometry *g)
{
	uint64_t side = c->side_slots ? c->side_slots : side_formula(c);
	if (side > PMQ_MAX_SIDE)
		return pmq_fail(-EINVAL,
				"config: side area of %llu entries exceeds %u; lower max_attach or consumer_quota, "
				"or set side_slots",
				(unsigned long long)side, PMQ_MAX_SIDE);
	if (side < c->dlq_capacity + 1)
		return pmq_fail(-EINVAL, "config: side_slots %llu must exceed dlq_capacity %u", (unsigned long long)side,
				c->dlq_capacity);
	g->slot_size = (uint32_t)round_up(PMQ_SLOT_HDR_SIZE + c->max_payload, PMQ_CACHELINE);
	g->slot_shift = (uint32_t)__builtin_ctz(c->slot_count);
	g->side_count = (uint32_t)side;
	g->attach_off = PMQ_HDR_SIZE;
	format_held_geometry(g->attach_off, c->max_attach, c->consumer_quota, &g->held_off, &g->held_stride,
			     &g->held_cap);
	g->ring_off = round_up(g->held_off + (uint64_t)c->max_attach * g->held_stride, 4096);
	g->side_off = round_up(g->ring_off + (uint64_t)c->slot_count * g->slot_size, 4096);
	g->file_size = round_up(g->side_off + side * g->slot_size, 4096);
	g->max_groups = cfg_max_groups(c);
	g->group_off = g->lane_off = g->lane_stride = 0;
	if (g->max_groups) {
		/* the group area follows the side area: a file without groups is laid out as before */
		g->group_off = g->file_size;
		g->lane_off = round_up(g->group_off + (uint64_t)g->max_groups * PMQ_GROUP_REC_SIZE, 4096);
		g->lane_stride = round_up((uint64_t)c->slot_count * sizeof(uint64_t), 4096);
		g->file_size = g->lane_off + (uint64_t)g->max_groups * g->lane_stride;
	}
	if (g->file_size > (1ull << 40))
		return pmq_fail(-EINVAL, "config: the queue would need %llu bytes", (unsigned long long)g->file_size);
	return 0;
}

uint32_t format_id_crc(const struct pmq_header *h)
{
	return pmq_crc32c(0, h, offsetof(struct pmq_header, id_crc));
}

int format_read_boot_id(char out[40])
{
	memset(out, 0, 40);
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, out, 39);
	close(fd);
	if (n <= 0)
		return -EIO;
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == 0))
		out[--n] = 0;
	return 0;
}

/* the checksum ties the record to this file's uuid: a record copied from another file,
 * or bytes a stray writer left, do not pass */
static uint32_t boot_record_crc(const uint8_t uuid[16], const char id[40])
{
	return pmq_crc32c(pmq_crc32c(0x424f4f54u /* "BOOT" */, uuid, 16), id, 40);
}

enum boot_match format_check_boot_record(const struct pmq_header *h, const char *current)
{
	/* one copy of the shared record; only the copy is compared (the caller holds the
	 * exclusive presence lock, but a hostile peer may write the mapping anyway) */
	char id[40];
	uint8_t uuid[16];
	uint32_t crc;
	memcpy(id, h->boot_id, sizeof(id));
	memcpy(uuid, h->uuid, sizeof(uuid));
	memcpy(&crc, &h->boot_crc, sizeof(crc));
	if (boot_record_crc(uuid, id) != crc)
		return BOOT_DAMAGED;
	return strncmp(id, current, sizeof(id)) == 0 ? BOOT_SAME : BOOT_OTHER;
}

void format_write_boot_record(struct pmq_header *h, const char *id)
{
	char rec[40] = {0};
	memcpy(rec, id, strnlen(id, sizeof(rec) - 1));
	memcpy(h->boot_id, rec, sizeof(rec));
	h->boot_crc = boot_record_crc(h->uuid, rec);
}

void format_init_header(struct pmq_header *h, const struct pmq_config *c, const struct pmq_geometry *g)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, PMQ_MAGIC, 8);
	h->version = PMQ_FORMAT_VERSION;
	h->hdr_size = PMQ_HDR_SIZE;
	h->flags = c->flags;
	h->slot_count = c->slot_count;
	h->slot_shift = g->slot_shift;
	h->slot_size = g->slot_size;
	h->max_payload = c->max_payload;
	h->side_count = g->side_count;
	h->max_attach = c->max_attach;
	h->consumer_quota = c->consumer_quota;
	h->max_deliveries = c->max_deliveries;
	h->dlq_capacity = c->dlq_capacity;
	h->durability = c->durability;
	h->lease_ns = c->lease_ns;
	h->lease_action = c->lease_action;
	h->max_groups = g->max_groups;
	h->features = g->max_groups ? PMQ_FEAT_GROUPS : 0;
	h->attach_off = g->attach_off;
	h->ring_off = g->ring_off;
	h->side_off = g->side_off;
	h->file_size = g->file_size;
	if (getrandom(h->uuid, sizeof(h->uuid), 0) != (ssize_t)sizeof(h->uuid)) {
		uint64_t t = now_real_ns() ^ (uint64_t)getpid();
		memcpy(h->uuid, &t, sizeof(t));
	}
	h->created_ns = now_real_ns();
	h->id_crc = format_id_crc(h);
	char boot[40];
	format_read_boot_id(boot);
	format_write_boot_record(h, boot);
}

void format_config_of(const struct pmq_header *h, struct pmq_config *c)
{
	pmq_config_init(c);
	c->flags = h->flags;
	c->slot_count = h->slot_count;
	c->max_payload = h->max_payload;
	c->max_attach = h->max_attach;
	c->consumer_quota = h->consumer_quota;
	c->max_deliveries = h->max_deliveries;
	c->dlq_capacity = h->dlq_capacity;
	c->side_slots = h->side_count;
	c->durability = h->durability;
	c->lease_action = h->lease_action;
	c->max_groups = h->max_groups;
}

/* h must be a private copy (the caller copied the shared header once): fields are read
 * more than once here */
int format_validate_header(const struct pmq_header *h, uint64_t fsize, const char *name)
{
	if (fsize < PMQ_HDR_SIZE)
		return pmq_fail(-EPROTO, "queue \"%s\": file is %llu bytes, shorter than the %u-byte header (truncated?)",
				name, (unsigned long long)fsize, PMQ_HDR_SIZE);
	if (memcmp(h->magic, PMQ_MAGIC, 8) != 0)
		return pmq_fail(-EPROTO, "queue \"%s\": not a pmq queue file (bad magic)", name);
	if (h->version < PMQ_FORMAT_VERSION)
		return pmq_fail(-EPROTO, "queue \"%s\": layout version %u, this libpmq reads %u: the file was made by an "
					 "older pmq (slot claims and the held area differ); drain it with that pmq, then "
					 "remove it (pmqctl delete, or pmq_unlink) and create it again", name, h->version,
				PMQ_FORMAT_VERSION);
	if (h->version != PMQ_FORMAT_VERSION)
		return pmq_fail(-EPROTO, "queue \"%s\": layout version %u, this libpmq reads %u: the file is newer; use "
					 "the pmq that made it", name, h->version, PMQ_FORMAT_VERSION);
	if (format_id_crc(h) != h->id_crc)
		return pmq_fail(-EPROTO, "queue \"%s\": header checksum mismatch (corrupted header)", name);
	if (h->hdr_size != PMQ_HDR_SIZE || (h->features & ~PMQ_FEAT_GROUPS))
		return pmq_fail(-EPROTO, "queue \"%s\": header size %u or features 0x%x not supported", name,
				h->hdr_size, h->features);
	if (((h->features & PMQ_FEAT_GROUPS) != 0) != (h->max_groups != 0))
		return pmq_fail(-EPROTO, "queue \"%s\": groups feature 0x%x disagrees with max_groups %u", name,
				h->features, h->max_groups);
	/* re-derive the geometry from the config fields and require an exact match */
	struct pmq_config c;
	format_config_of(h, &c);
	struct pmq_geometry g;
	if (format_validate_config(&c) || format_geometry(&c, &g)) {
		char why[256]; /* the detail buffer is about to be rewritten: copy it out */
		snprintf(why, sizeof(why), "%s", pmq_errmsg());
		return pmq_fail(-EPROTO, "queue \"%s\": bad geometry in header: %s", name, why);
	}
	if (g.slot_size != h->slot_size || g.slot_shift != h->slot_shift || g.attach_off != h->attach_off ||
	    g.ring_off != h->ring_off || g.side_off != h->side_off || g.file_size != h->file_size)
		return pmq_fail(-EPROTO, "queue \"%s\": header offsets do not match its geometry", name);
	if (fsize != h->file_size)
		return pmq_fail(-EPROTO, "queue \"%s\": file is %llu bytes, header says %llu (truncated?)", name,
				(unsigned long long)fsize, (unsigned long long)h->file_size);
	return 0;
}
