/*
 * group.c - consumer groups (docs/groups.md): the group table and lanes of a
 * queue made with max_groups > 0, their creation at pmq_create, a consumer's
 * join at open, and the group calls (create, delete, list, stats).
 *
 * Everything read from the table is shared memory: a record's word and name are
 * read once into locals and bounded; an index from shared memory is checked
 * against the handle's max_groups before use.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

int group_check_name(const char *name)
{
	if (!name || !*name)
		return pmq_fail(-EINVAL, "group name is empty; use 1..%d characters of [A-Za-z0-9_.-]",
				PMQ_GROUP_NAME_MAX);
	size_t n = strnlen(name, PMQ_GROUP_NAME_MAX + 1);
	if (n > PMQ_GROUP_NAME_MAX)
		return pmq_fail(-EINVAL, "group name \"%.40s...\" is longer than %d characters", name,
				PMQ_GROUP_NAME_MAX);
	if (name[0] == '.')
		return pmq_fail(-EINVAL, "group name \"%s\" starts with '.'; names are [A-Za-z0-9_.-], not starting "
					 "with '.'", name);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-' || c == '.'))
			return pmq_fail(-EINVAL, "group name \"%s\" has '%c'; names are [A-Za-z0-9_.-]", name, c);
	}
	return 0;
}

/* One ":lease=MS" option: digits only, 1..PMQ_GROUP_LEASE_MAX_NS in ms. */
static int parse_lease(const char *item, size_t ilen, const char *v, size_t vlen, uint64_t *lease_ns)
{
	const uint64_t max_ms = PMQ_GROUP_LEASE_MAX_NS / 1000000ull;
	uint64_t ms = 0;
	bool ok = vlen > 0 && vlen <= 10;
	for (size_t i = 0; ok && i < vlen; i++) {
		ok = v[i] >= '0' && v[i] <= '9';
		ms = ms * 10 + (uint64_t)(v[i] - '0'); /* at most 10 digits: no overflow */
	}
	if (!ok || ms < 1 || ms > max_ms)
		return pmq_fail(-EINVAL, "config: groups item \"%.*s\": lease \"%.*s\" is not a number of ms in 1..%llu",
				(int)ilen, item, (int)vlen, v, (unsigned long long)max_ms);
	*lease_ns = ms * 1000000ull;
	return 0;
}

/* One "name[:lossy|:reliable][:lease=MS]" item of a config's groups list, copied into
 * name[], *flags and *lease_ns. Each option at most once; a lease on a lossy group is refused. */
static int parse_item(const char *p, size_t len, char name[PMQ_GROUP_NAME_MAX + 1], unsigned *flags,
		      uint64_t *lease_ns)
{
	*flags = 0;
	*lease_ns = 0;
	const char *colon = memchr(p, ':', len);
	size_t nlen = colon ? (size_t)(colon - p) : len;
	bool kind_seen = false, lease_seen = false;
	for (const char *o = colon; o;) {
		const char *v = o + 1, *end = p + len;
		const char *next = memchr(v, ':', (size_t)(end - v));
		size_t olen = (size_t)((next ? next : end) - v);
		bool kind = (olen == 5 && !memcmp(v, "lossy", 5)) || (olen == 8 && !memcmp(v, "reliable", 8));
		if (kind) {
			if (kind_seen)
				return pmq_fail(-EINVAL, "config: groups item \"%.*s\" names its kind twice", (int)len, p);
			kind_seen = true;
			*flags = olen == 5 ? PMQ_GROUP_LOSSY : 0;
		} else if (olen >= 6 && !memcmp(v, "lease=", 6)) {
			if (lease_seen)
				return pmq_fail(-EINVAL, "config: groups item \"%.*s\" has two leases", (int)len, p);
			lease_seen = true;
			int rc = parse_lease(p, len, v + 6, olen - 6, lease_ns);
			if (rc)
				return rc;
		} else {
			return pmq_fail(-EINVAL, "config: groups item \"%.*s\": option \"%.*s\" is unknown; after ':' "
						 "use \"lossy\", \"reliable\" or \"lease=MS\"", (int)len, p, (int)olen, v);
		}
		o = next;
	}
	if ((*flags & PMQ_GROUP_LOSSY) && *lease_ns)
		return pmq_fail(-EINVAL, "config: groups item \"%.*s\": a lossy group holds nothing, so it has no "
					 "lease; drop \":lease=\" or make it reliable", (int)len, p);
	if (nlen > PMQ_GROUP_NAME_MAX)
		return pmq_fail(-EINVAL, "config: group name \"%.*s\" is longer than %d characters", (int)nlen, p,
				PMQ_GROUP_NAME_MAX);
	memcpy(name, p, nlen);
	name[nlen] = 0;
	return group_check_name(name);
}

/* Walk a config's groups list; fn gets each item (NULL fn: only validate). */
int group_parse_list(const char *spec, uint32_t max_groups, group_item_fn *fn, void *arg)
{
	if (!spec)
		return 0;
	char seen[PMQ_GROUPS_MAX][PMQ_GROUP_NAME_MAX + 1];
	uint32_t n = 0;
	const char *p = spec;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char name[PMQ_GROUP_NAME_MAX + 1];
		unsigned flags;
		uint64_t lease_ns;
		int rc = parse_item(p, len, name, &flags, &lease_ns);
		if (rc)
			return rc;
		if (n >= max_groups)
			return pmq_fail(-EINVAL, "config: groups \"%s\" lists more than max_groups (%u) groups", spec,
					max_groups);
		for (uint32_t i = 0; i < n; i++)
			if (strcmp(seen[i], name) == 0)
				return pmq_fail(-EINVAL, "config: group \"%s\" is listed twice", name);
		memcpy(seen[n], name, sizeof(name));
		if (fn)
			fn(arg, n, name, flags, lease_ns);
		n++;
		if (!end)
			return 0;
		p = end + 1;
	}
}

struct init_ctx {
	uint8_t *base;
	const struct pmq_geometry *g;
	uint64_t masks;
};

static void init_one(void *arg, uint32_t i, const char *name, unsigned flags, uint64_t lease_ns)
{
	struct init_ctx *c = arg;
	struct pmq_group_rec *r = (struct pmq_group_rec *)(c->base + c->g->group_off + (size_t)i * PMQ_GROUP_REC_SIZE);
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->created_ns = now_real_ns();
	/* relaxed: the file is not shared yet (it is linked into place after msync) */
	atomic_store_explicit(&r->start, 0, memory_order_relaxed);
	atomic_store_explicit(&r->head, 0, memory_order_relaxed);
	atomic_store_explicit(&r->settled, 0, memory_order_relaxed);
	atomic_store_explicit(&r->lease_ns, lease_ns, memory_order_relaxed);
	unsigned gf = (flags & PMQ_GROUP_LOSSY) ? GROUP_F_LOSSY : 0;
	atomic_store_explicit(&r->word, gw_make(GS_ACTIVE, gf, 1), memory_order_relaxed);
	c->masks |= (flags & PMQ_GROUP_LOSSY) ? (1ull << (32 + i)) : (1ull << i);
}

void group_init_area(uint8_t *base, const struct pmq_config *cfg, const struct pmq_geometry *g)
{
	if (!g->max_groups)
		return;
	/* relaxed stores: the file is not shared yet. Every lane starts FREE(0): ticket j
	 * (lap 0) of slot j is the first each group takes there */
	for (uint32_t gi = 0; gi < g->max_groups; gi++) {
		_Atomic uint64_t *lane = (_Atomic uint64_t *)(base + g->lane_off + (size_t)gi * g->lane_stride);
		for (uint32_t j = 0; j < cfg->slot_count; j++)
			atomic_store_explicit(&lane[j], ctl_free(0), memory_order_relaxed);
	}
	struct init_ctx c = {.base = base, .g = g, .masks = 0};
	group_parse_list(cfg_groups(cfg), g->max_groups, init_one, &c); /* validated by pmq_create */
	atomic_store_explicit(&((struct pmq_header *)base)->group_masks, c.masks, memory_order_relaxed);
}

void group_handle_geometry(struct pmq *q, const struct pmq_header *h)
{
	/* h: the handle's validated private copy of the header */
	q->max_groups = h->max_groups;
	if (!q->max_groups)
		return;
	struct pmq_config c;
	format_config_of(h, &c);
	struct pmq_geometry g;
	format_geometry(&c, &g); /* validated already: the same result as at the check */
	q->groups = (uint8_t *)q->hdr + g.group_off;
	q->lanes = (uint8_t *)q->hdr + g.lane_off;
	q->lane_stride = g.lane_stride;
}

/* The record's word and flags, read once. */
static uint64_t rec_word(const struct pmq *q, uint32_t g)
{
	/* acquire: pairs with the creator's release of ACTIVE: name, start and lanes are set */
	return atomic_load_explicit(&group_rec(q, g)->word, memory_order_acquire);
}

/* Index of the ACTIVE group called `name`, or -ENOENT. */
static int find_group(const struct pmq *q, const char *name, uint64_t *word)
{
	for (uint32_t g = 0; g < q->max_groups; g++) {
		uint64_t w = rec_word(q, g);
		if (gw_state(w) != GS_ACTIVE)
			continue;
		char nm[32];
		memcpy(nm, group_rec(q, g)->name, sizeof(nm)); /* once; shared memory */
		nm[31] = 0;
		if (strcmp(nm, name) == 0) {
			/* the word again: a record deleted and reused while we compared is not it */
			if (rec_word(q, g) != w)
				continue;
			*word = w;
			return (int)g;
		}
	}
	return -ENOENT;
}

int group_join(struct pmq *q, const char *name)
{
	if (!q->max_groups) {
		if (name)
			return pmq_fail(-EOPNOTSUPP, "queue \"%s\" was created without groups (max_groups 0); open it "
						     "without pmq_open_opts.group, or create it with max_groups", q->name);
		return 0;
	}
	if (!(q->role & (PMQ_CONSUMER | AT_ROLE_DLQ)))
		return 0; /* producers and observers belong to no group */
	if (!name)
		return pmq_fail(-EINVAL, "queue \"%s\" has consumer groups: name one in pmq_open_opts.group (pmqctl "
					 "group list %s)", q->name, q->name);
	int rc = group_check_name(name);
	if (rc)
		return rc;
	uint64_t w = 0;
	int g = find_group(q, name, &w);
	if (g < 0)
		return pmq_fail(-ENOENT, "queue \"%s\" has no group \"%s\"; create it (pmq_group_create, pmqctl "
					 "group create %s %s)", q->name, name, q->name, name);
	q->group = (uint32_t)g + 1;
	q->group_inc = gw_inc(w);
	q->group_lossy = (gw_flags(w) & GROUP_F_LOSSY) != 0;
	q->lane = group_lane(q, (uint32_t)g);
	q->grec = group_rec(q, (uint32_t)g);
	if (q->group_lossy && (q->role & AT_ROLE_DLQ))
		return pmq_fail(-EINVAL, "queue \"%s\": lossy group \"%s\" has no dead letters", q->name, name);
	return 0;
}

void group_mark_attachment(struct pmq *q)
{
	/* relaxed: read by a recoverer only under our token (after our death, ordered by the
	 * kernel's lock hand-over) or for statistics */
	atomic_store_explicit(&q->me->group_inc, q->group_inc, memory_order_relaxed);
	atomic_store_explicit(&q->me->group, q->group, memory_order_relaxed);
}

/* ---- create and delete ------------------------------------------------------- */

static int groups_handle_check(pmq_t *q, const char *name, bool need_name)
{
	int rc = handle_check(q);
	if (rc)
		return rc;
	if (!q->max_groups)
		return pmq_fail(-EOPNOTSUPP, "queue \"%s\" was created without groups (max_groups 0); create a "
					     "queue with max_groups > 0 (pmqctl create --max-groups N)", q->name);
	return need_name ? group_check_name(name) : 0; /* a NULL name is -EINVAL there */
}

/* The size of the 1.1 struct: every caller's has at least these fields. */
#define PMQ_GROUP_OPTS_SIZE_1_1 (offsetof(struct pmq_group_opts, lease_ns) + sizeof(uint64_t))

PMQ_EXPORT void pmq_group_opts_init_sized(struct pmq_group_opts *o, size_t size)
{
	/* only the caller's bytes (a later build's struct may be longer, never shorter) */
	if (size < PMQ_GROUP_OPTS_SIZE_1_1 || size > sizeof(*o))
		size = size < PMQ_GROUP_OPTS_SIZE_1_1 ? PMQ_GROUP_OPTS_SIZE_1_1 : sizeof(*o);
	memset(o, 0, size);
	o->size = (uint32_t)size;
}

/* A group's options, checked; NULL means flags 0 and the queue's lease. */
static int group_opts_check(const struct pmq *q, const char *name, const struct pmq_group_opts *in,
			    struct pmq_group_opts *o)
{
	memset(o, 0, sizeof(*o));
	if (in) {
		if (in->size < PMQ_GROUP_OPTS_SIZE_1_1 || in->size > 4096)
			return pmq_fail(-EINVAL, "pmq_group_create_ex: options size %u is wrong (at least %zu); call "
						 "pmq_group_opts_init() first", in->size, (size_t)PMQ_GROUP_OPTS_SIZE_1_1);
		memcpy(o, in, in->size < sizeof(*o) ? in->size : sizeof(*o));
	}
	if (o->flags & ~PMQ_GROUP_LOSSY)
		return pmq_fail(-EINVAL, "pmq_group_create: unknown flags 0x%x", o->flags & ~PMQ_GROUP_LOSSY);
	if (o->lease_ns && (o->flags & PMQ_GROUP_LOSSY))
		return pmq_fail(-EINVAL, "queue \"%s\": group \"%s\" is lossy and holds nothing, so it has no lease; "
					 "leave lease_ns 0 or make it reliable", q->name, name);
	if (o->lease_ns && (o->lease_ns < PMQ_GROUP_LEASE_MIN_NS || o->lease_ns > PMQ_GROUP_LEASE_MAX_NS))
		return pmq_fail(-EINVAL, "queue \"%s\": group \"%s\": lease %llu ns is outside %llu..%llu (1 ms to "
					 "7 days; 0: the queue's)", q->name, name, (unsigned long long)o->lease_ns,
				(unsigned long long)PMQ_GROUP_LEASE_MIN_NS, (unsigned long long)PMQ_GROUP_LEASE_MAX_NS);
	return 0;
}

PMQ_EXPORT int pmq_group_create(pmq_t *q, const char *name, unsigned flags)
{
	struct pmq_group_opts o;
	pmq_group_opts_init(&o);
	o.flags = flags;
	return pmq_group_create_ex(q, name, &o);
}

PMQ_EXPORT int pmq_group_create_ex(pmq_t *q, const char *name, const struct pmq_group_opts *opts)
{
	int rc = groups_handle_check(q, name, true);
	if (rc)
		return rc;
	struct pmq_group_opts o;
	if ((rc = group_opts_check(q, name, opts, &o)))
		return rc;
	unsigned flags = o.flags;
	uint64_t w;
	if (find_group(q, name, &w) >= 0)
		return pmq_fail(-EEXIST, "queue \"%s\": group \"%s\" exists already", q->name, name);
	struct pmq_header *h = q->hdr;
	for (uint32_t g = 0; g < q->max_groups; g++) {
		struct pmq_group_rec *r = group_rec(q, g);
		w = rec_word(q, g);
		if (gw_state(w) != GS_FREE)
			continue;
		unsigned gf = (flags & PMQ_GROUP_LOSSY) ? GROUP_F_LOSSY : 0;
		uint64_t init = gw_make(GS_INIT, gf, gw_inc(w) + 1);
		/* G1: the record is ours; acquire: a deleter's writes before FREE are done */
		if (!atomic_compare_exchange_strong_explicit(&r->word, &w, init, memory_order_acquire,
							     memory_order_relaxed))
			continue;
		memset(r->name, 0, sizeof(r->name));
		snprintf(r->name, sizeof(r->name), "%s", name);
		r->created_ns = now_real_ns();
		atomic_store_explicit(&r->redelivered, 0, memory_order_relaxed); /* statistics */
		atomic_store_explicit(&r->dead_lettered, 0, memory_order_relaxed);
		atomic_store_explicit(&r->lost, 0, memory_order_relaxed);
		/* relaxed: published with the name by the release of ACTIVE (G3) */
		atomic_store_explicit(&r->lease_ns, o.lease_ns, memory_order_relaxed);
		uint64_t bit = gf ? 1ull << (32 + g) : 1ull << g;
		if (!gf) {
			/* relaxed: tail only bounds the lanes' first values (step 2 of the design) */
			uint64_t s0 = atomic_load_explicit(&h->tail, memory_order_relaxed);
			lane_start_at(q, g, s0);
			/* the floor with them: tickets below s0 read settled (a former incarnation's
			 * floor is at most s0 too: tickets never repeat). relaxed: ordered before
			 * the mask bit by its seq_cst RMW, which producers' gates read first */
			atomic_store_explicit(&r->settled, s0, memory_order_relaxed);
		}
		/* G2: seq_cst RMW: producers read the mask after their tail CAS with a seq_cst
		 * fence between: one that misses the bit claimed below the tail we read next */
		atomic_fetch_or_explicit(&h->group_masks, bit, memory_order_seq_cst);
		uint64_t s = atomic_load_explicit(&h->tail, memory_order_seq_cst);
		if (!gf) {
			lane_start_at(q, g, s);
			/* release: the lanes above before the raised floor (G5's writer side) */
			atomic_store_explicit(&r->settled, s, memory_order_release);
		}
		atomic_store_explicit(&r->start, s, memory_order_relaxed);
		atomic_store_explicit(&r->head, s, memory_order_relaxed);
		/* G3: release: name, start, head and lanes before anyone joins */
		atomic_store_explicit(&r->word, gw_make(GS_ACTIVE, gf, gw_inc(init)), memory_order_release);
		durable_persist(q, r, sizeof(*r));
		durable_persist(q, &h->group_masks, sizeof(h->group_masks));
		if (!gf)
			durable_persist(q, group_lane(q, g), (size_t)q->slot_count * sizeof(uint64_t));
		wait_wake_space(q);
		return 0;
	}
	return pmq_fail(-ENOSPC, "queue \"%s\": all %u groups are in use (max_groups); delete one (pmqctl group "
				 "delete) or create the queue with more", q->name, q->max_groups);
}

PMQ_EXPORT int pmq_group_delete(pmq_t *q, const char *name)
{
	int rc = groups_handle_check(q, name, true);
	if (rc)
		return rc;
	uint64_t w;
	int g = find_group(q, name, &w);
	if (g < 0)
		return pmq_fail(-ENOENT, "queue \"%s\" has no group \"%s\"", q->name, name);
	struct pmq_group_rec *r = group_rec(q, (uint32_t)g);
	uint64_t del = gw_make(GS_DELETING, gw_flags(w), gw_inc(w));
	/* relaxed CAS: only one deleter wins; the mask's RMW below orders what follows */
	if (!atomic_compare_exchange_strong_explicit(&r->word, &w, del, memory_order_relaxed, memory_order_relaxed))
		return pmq_fail(-ENOENT, "queue \"%s\": group \"%s\" was deleted meanwhile", q->name, name);
	uint64_t bit = (gw_flags(w) & GROUP_F_LOSSY) ? 1ull << (32 + g) : 1ull << g;
	/* seq_cst: producers stop waiting for the group's lanes */
	atomic_fetch_and_explicit(&q->hdr->group_masks, ~bit, memory_order_seq_cst);
	side_free_group(q, (unsigned)g + 1);
	/* release: the frees above are done before the record can be reused */
	atomic_store_explicit(&r->word, gw_make(GS_FREE, 0, gw_inc(w)), memory_order_release);
	durable_persist(q, r, sizeof(*r));
	durable_persist(q, &q->hdr->group_masks, sizeof(q->hdr->group_masks));
	wait_wake_space(q);
	wait_wake_data(q); /* its sleeping consumers wake and see -EIDRM */
	return 0;
}

/* ---- list and stats ------------------------------------------------------------ */

/* Group g's own lease (0: the queue's) as the record holds it, bounded: the record is
 * shared memory, so a value out of range is clamped into it, and a lossy group has none. */
uint64_t group_lease_of(const struct pmq *q, uint32_t g, uint64_t w)
{
	if (gw_flags(w) & GROUP_F_LOSSY)
		return 0;
	/* relaxed: written while INIT, before the release of ACTIVE that w was acquired from
	 * (a record deleted and reused since may give the new group's lease: bounded all the same) */
	uint64_t l = atomic_load_explicit(&group_rec(q, g)->lease_ns, memory_order_relaxed);
	if (l == 0)
		return 0;
	return l < PMQ_GROUP_LEASE_MIN_NS ? PMQ_GROUP_LEASE_MIN_NS : l > PMQ_GROUP_LEASE_MAX_NS ? PMQ_GROUP_LEASE_MAX_NS : l;
}

static void fill_info(struct pmq *q, uint32_t g, uint64_t w, struct pmq_group_info *o)
{
	struct pmq_group_rec *r = group_rec(q, g);
	memset(o, 0, sizeof(*o));
	memcpy(o->name, r->name, sizeof(o->name)); /* once; shared memory */
	o->name[PMQ_GROUP_NAME_MAX] = 0;
	o->flags = (gw_flags(w) & GROUP_F_LOSSY) ? PMQ_GROUP_LOSSY : 0;
	o->index = g;
	uint64_t lease = group_lease_of(q, g, w);
	o->lease_ms = (uint32_t)((lease + 999999ull) / 1000000ull); /* at most 7 days: fits */
	/* relaxed: a snapshot for humans, each word read once */
	uint64_t tail = atomic_load_explicit(&q->hdr->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	o->head = head;
	o->lag = tail > head ? tail - head : 0;
	o->redelivered = atomic_load_explicit(&r->redelivered, memory_order_relaxed);
	o->dead_lettered = atomic_load_explicit(&r->dead_lettered, memory_order_relaxed);
	o->lost = atomic_load_explicit(&r->lost, memory_order_relaxed);
	for (uint32_t i = 0; i < q->max_attach; i++) {
		struct pmq_attach *a = &q->attach[i];
		uint64_t aw = atomic_load_explicit(&a->word, memory_order_relaxed);
		if (at_state(aw) != AT_ATTACHED || atomic_load_explicit(&a->group, memory_order_relaxed) != g + 1 ||
		    atomic_load_explicit(&a->group_inc, memory_order_relaxed) != gw_inc(w))
			continue;
		o->consumers++;
		o->in_flight += atomic_load_explicit(&a->in_flight, memory_order_relaxed);
	}
	side_count_group(q, g + 1, &o->side_ready, &o->dead_letters);
}

PMQ_EXPORT int pmq_group_list(pmq_t *q, struct pmq_group_info *out, unsigned n)
{
	int rc = groups_handle_check(q, NULL, false);
	if (rc)
		return rc;
	if (!out && n)
		return pmq_fail(-EINVAL, "pmq_group_list: NULL output");
	unsigned found = 0;
	for (uint32_t g = 0; g < q->max_groups; g++) {
		uint64_t w = rec_word(q, g);
		if (gw_state(w) != GS_ACTIVE)
			continue;
		if (found < n)
			fill_info(q, g, w, &out[found]);
		found++;
	}
	return (int)found;
}

PMQ_EXPORT int pmq_group_stats(pmq_t *q, const char *name, struct pmq_group_info *out)
{
	int rc = groups_handle_check(q, name, true);
	if (rc)
		return rc;
	if (!out)
		return pmq_fail(-EINVAL, "pmq_group_stats: NULL output");
	uint64_t w;
	int g = find_group(q, name, &w);
	if (g < 0)
		return pmq_fail(-ENOENT, "queue \"%s\" has no group \"%s\"", q->name, name);
	fill_info(q, (uint32_t)g, w, out);
	return 0;
}

uint64_t group_oldest_head(struct pmq *q, uint64_t tail)
{
	/* relaxed: a snapshot for humans; each word read once */
	uint64_t head = tail;
	for (uint32_t g = 0; g < q->max_groups; g++) {
		struct pmq_group_rec *r = group_rec(q, g);
		uint64_t w = atomic_load_explicit(&r->word, memory_order_relaxed);
		if (gw_state(w) != GS_ACTIVE || (gw_flags(w) & GROUP_F_LOSSY))
			continue;
		uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
		if (h < head)
			head = h;
	}
	return head;
}

/* ---- leases (pmqd's lease check, include/pmq_admin.h) --------------------------------- */

PMQ_EXPORT int pmq_attach_lease(pmq_t *q, uint32_t idx, uint32_t incarnation, uint64_t *lease_ns)
{
	int rc = handle_check(q);
	if (rc)
		return rc;
	if (!lease_ns)
		return pmq_fail(-EINVAL, "pmq_attach_lease: NULL output");
	if (idx >= q->max_attach)
		return pmq_fail(-EINVAL, "queue \"%s\": attachment %u out of range (%u entries)", q->name, idx,
				q->max_attach);
	struct pmq_attach *a = &q->attach[idx];
	/* acquire: pairs with the joiner's release (T1); its group words follow the join
	 * (relaxed, owner-written): one not written yet reads 0 and gets the queue's lease */
	uint64_t aw = atomic_load_explicit(&a->word, memory_order_acquire);
	if (at_state(aw) != AT_ATTACHED || at_inc(aw) != incarnation)
		return pmq_fail(-ESTALE, "queue \"%s\": attachment %u is no longer incarnation %u", q->name, idx,
				incarnation);
	*lease_ns = q->lease_ns; /* the handle's validated copy of the header */
	/* relaxed: each read once and bounded; a wrong value only picks another group's lease */
	uint32_t tag = atomic_load_explicit(&a->group, memory_order_relaxed);
	uint32_t ginc = atomic_load_explicit(&a->group_inc, memory_order_relaxed);
	if (tag == 0 || tag > q->max_groups)
		return 0;
	uint64_t w = rec_word(q, tag - 1);
	if (gw_state(w) != GS_ACTIVE || gw_inc(w) != ginc)
		return 0; /* its group is gone: it holds nothing of it */
	uint64_t l = group_lease_of(q, tag - 1, w);
	if (l)
		*lease_ns = l;
	return 0;
}

PMQ_EXPORT int pmq_lease_min(pmq_t *q, uint64_t *lease_ns)
{
	int rc = handle_check(q);
	if (rc)
		return rc;
	if (!lease_ns)
		return pmq_fail(-EINVAL, "pmq_lease_min: NULL output");
	uint64_t m = q->lease_ns;
	for (uint32_t g = 0; g < q->max_groups; g++) {
		uint64_t w = rec_word(q, g);
		if (gw_state(w) != GS_ACTIVE)
			continue;
		uint64_t l = group_lease_of(q, g, w);
		if (l && (m == 0 || l < m))
			m = l;
	}
	*lease_ns = m;
	return 0;
}
