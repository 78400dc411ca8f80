/*
 * floor.c - the physical floors the other transports are measured against:
 *
 *   floor-8     the 8 B line floor: ONE 64 B line holding a ping word (word 0,
 *               written by side A only) and a pong word (word 1, written by
 *               side B only). A message is that one word, whatever --size
 *               says; the other side spins until the word changes. One line
 *               moves per hop and nothing else.
 *   floor-8p    the same two words on two lines 128 B apart (not one adjacent-
 *               line prefetch pair), each written by one side: a subject, kept
 *               to show which layout is the floor. On this VM it measured
 *               0.9-1.1x floor-8 in one regime and ~2x in the others (oneway
 *               ~2.5x), so the single line is the floor (docs/benchmarks.md).
 *   floor-2l    the same-size two-line floor: per direction its own area of a
 *               sequence-word line followed by the payload lines. The sender
 *               copies the payload, then release-stores the sequence; the
 *               receiver spins on the sequence and reads the payload. At 64 B
 *               that is two lines per hop: the physical floor of any message
 *               published by a commit word separate from its bytes.
 *   floor-2r    floor-2l rotating: per direction --slots such areas, message n
 *               in area n mod slots, each area's sequence word its commit word
 *               (a ring's slot with its commit word inline, nothing else: no
 *               indices, no claim, no ack). It shows what moving to a new area
 *               each message costs by itself (1 KiB: ~1.5x floor-2l here).
 *   floor-ring  a naive single-producer single-consumer ring over a MAP_SHARED
 *               mapping: per message the producer reads the consumer's index
 *               and publishes its own, and the consumer does the mirror image.
 *               No batching, no cached indices: the per-message floor.
 *
 * floor-8, floor-2l and floor-2r are valid only in strict alternation (rt, oneway).
 * All busy-poll. No system call, no lock, no locked instruction on the path.
 */
#include "transport.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "shm.h"

#define LINE 64u
#define ROUND_LINE(x) (((x) + LINE - 1u) & ~(size_t)(LINE - 1u))

static void ep_free(void *ep)
{
	free(ep);
}

static void nop_release(void *ep)
{
	(void)ep;
}

/* --- floor-8 ------------------------------------------------------------- */

/* two layouts: both words in one line (floor-8), or each on its own line,
 * written by one side only (floor-8p) */
struct line8 {
	alignas(128) _Atomic uint64_t word;   /* 128 B apart: not in one adjacent-line prefetch pair */
};

static struct line8 *l8[2];   /* [0] floor-8p, [1] floor-8: both may be set up at once */

struct l8_ep {
	_Atomic uint64_t *word;
	uint64_t last;      /* receiver: the value seen last; a message is a change */
	uint64_t copy;      /* receiver: the word as read, handed out as the message */
};

static int l8_setup(int shared, int chan, char *why, size_t n)
{
	if (chan != 0)
		return 0;       /* both channels live in the one mapping */
	l8[shared] = shm_map(2 * sizeof(struct line8));
	if (!l8[shared])
		return tp_why(why, n, -ENOMEM, "floor-8: cannot map two lines");
	return 0;
}

static void l8_teardown(int shared, int chan)
{
	if (chan == 0) {
		shm_unmap(l8[shared], 2 * sizeof(struct line8));
		l8[shared] = NULL;
	}
}

static int l8_open(int shared, int chan, void **ep)
{
	struct l8_ep *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	/* floor-8: word c of line 0; floor-8p: channel c's word starts line pair c */
	e->word = shared ? &(&l8[1][0].word)[chan] : &l8[0][chan].word;
	*ep = e;
	return 0;
}

static int l8_send(void *ep, const void *buf, size_t len)
{
	struct l8_ep *e = ep;
	uint64_t v;
	(void)len;      /* the floor carries one word: the drivers' word 0 */
	memcpy(&v, buf, sizeof(v));
	/* relaxed: the word is the whole message, nothing else to publish */
	atomic_store_explicit(e->word, v, memory_order_relaxed);
	return 0;
}

static int l8_recv(void *ep, struct tp_msg *m)
{
	struct l8_ep *e = ep;
	uint64_t v;
	/* relaxed: the value itself is the message; no other data depends on it.
	 * The drivers never send the same word twice in a row. */
	while ((v = atomic_load_explicit(e->word, memory_order_relaxed)) == e->last)
		cpu_relax();
	e->last = e->copy = v;
	m->data = &e->copy;
	m->len = sizeof(e->copy);
	return 0;
}

#define L8_VARIANT(v, suffix)                                                                    \
	static int l8_setup_##suffix(int c, const struct tp_params *p, char *why, size_t n)     \
	{                                                                                        \
		(void)p;                                                                         \
		return l8_setup(v, c, why, n);                                                   \
	}                                                                                        \
	static void l8_teardown_##suffix(int c)                                                  \
	{                                                                                        \
		l8_teardown(v, c);                                                               \
	}                                                                                        \
	static int l8_open_##suffix(int c, int role, const struct tp_params *p, void **ep)      \
	{                                                                                        \
		(void)role;                                                                      \
		(void)p;                                                                         \
		return l8_open(v, c, ep);                                                        \
	}
L8_VARIANT(0, separate)
L8_VARIANT(1, shared)

const struct transport tp_floor_8 = {
	.name = "floor-8",
	.caps = TP_PINGPONG | TP_SPIN_ONLY | TP_FLOOR,
	.probe = tp_always,
	.setup = l8_setup_shared,
	.teardown = l8_teardown_shared,
	.open = l8_open_shared,
	.close = ep_free,
	.send = l8_send,
	.recv = l8_recv,
	.release = nop_release,
};

const struct transport tp_floor_8p = {
	.name = "floor-8p",
	.caps = TP_PINGPONG | TP_SPIN_ONLY,
	.probe = tp_always,
	.setup = l8_setup_separate,
	.teardown = l8_teardown_separate,
	.open = l8_open_separate,
	.close = ep_free,
	.send = l8_send,
	.recv = l8_recv,
	.release = nop_release,
};

/* --- floor-2l and floor-2r: one implementation, 1 area or --slots areas --- */

/* One two-line floor's mapping: per direction `areas` areas of a sequence-word line
 * followed by the payload lines. Two instances, both set up in one run. */
struct two_line {
	const char *name;
	uint8_t *map;
	size_t len, area, size;
	unsigned areas;
};

static struct two_line tl_fixed = {.name = "floor-2l"}, tl_rotating = {.name = "floor-2r"};

struct tl_ep {
	const struct two_line *f;
	uint8_t *base;              /* this direction's first area */
	uint64_t next;              /* sequence this end sends or expects next */
};

static int tl_setup(struct two_line *f, unsigned areas, int chan, const struct tp_params *p, char *why, size_t n)
{
	if (chan != 0)
		return 0;
	f->size = p->size;
	f->areas = areas ? areas : 1;
	f->area = LINE + ROUND_LINE(p->size);
	f->len = 2 * (size_t)f->areas * f->area;
	f->map = shm_map(f->len);
	if (!f->map)
		return tp_why(why, n, -ENOMEM, "%s: cannot map %zu bytes", f->name, f->len);
	return 0;
}

static void tl_teardown(struct two_line *f, int chan)
{
	if (chan == 0) {
		shm_unmap(f->map, f->len);
		f->map = NULL;
	}
}

static int tl_open(const struct two_line *f, int chan, void **ep)
{
	struct tl_ep *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->f = f;
	e->base = f->map + (size_t)chan * f->areas * f->area;
	e->next = 1;
	*ep = e;
	return 0;
}

static uint8_t *tl_area_of(const struct tl_ep *e, uint64_t n)
{
	return e->base + (size_t)(n % e->f->areas) * e->f->area;
}

static int tl_send(void *ep, const void *buf, size_t len)
{
	struct tl_ep *e = ep;
	uint8_t *a = tl_area_of(e, e->next);
	/* plain stores: the reader touches the payload only after it acquired the
	 * sequence below, and it is done with this area (strict alternation: it
	 * answered before we send again) */
	memcpy(a + LINE, buf, len);
	/* release: pairs with the acquire in tl_recv(); publishes the payload */
	atomic_store_explicit((_Atomic uint64_t *)(void *)a, e->next, memory_order_release);
	e->next++;
	return 0;
}

static int tl_recv(void *ep, struct tp_msg *m)
{
	struct tl_ep *e = ep;
	uint8_t *a = tl_area_of(e, e->next);
	/* acquire: pairs with the release in tl_send(); the payload is visible */
	while (atomic_load_explicit((_Atomic uint64_t *)(void *)a, memory_order_acquire) != e->next)
		cpu_relax();
	e->next++;
	m->data = a + LINE;
	m->len = e->f->size;
	return 0;
}

static int l2_setup(int chan, const struct tp_params *p, char *why, size_t n) { return tl_setup(&tl_fixed, 1, chan, p, why, n); }
static void l2_teardown(int chan) { tl_teardown(&tl_fixed, chan); }
static int l2_open(int chan, int role, const struct tp_params *p, void **ep)
{
	(void)role;
	(void)p;
	return tl_open(&tl_fixed, chan, ep);
}

static int r2_setup(int chan, const struct tp_params *p, char *why, size_t n)
{
	return tl_setup(&tl_rotating, p->slots, chan, p, why, n);
}
static void r2_teardown(int chan) { tl_teardown(&tl_rotating, chan); }
static int r2_open(int chan, int role, const struct tp_params *p, void **ep)
{
	(void)role;
	(void)p;
	return tl_open(&tl_rotating, chan, ep);
}

const struct transport tp_floor_2l = {
	.name = "floor-2l",
	.caps = TP_PINGPONG | TP_SPIN_ONLY | TP_FLOOR,
	.probe = tp_always,
	.setup = l2_setup,
	.teardown = l2_teardown,
	.open = l2_open,
	.close = ep_free,
	.send = tl_send,
	.recv = tl_recv,
	.release = nop_release,
};

const struct transport tp_floor_2r = {
	.name = "floor-2r",
	.caps = TP_PINGPONG | TP_SPIN_ONLY, /* a subject: a control, not a denominator */
	.probe = tp_always,
	.setup = r2_setup,
	.teardown = r2_teardown,
	.open = r2_open,
	.close = ep_free,
	.send = tl_send,
	.recv = tl_recv,
	.release = nop_release,
};

/* --- floor-ring ---------------------------------------------------------- */

struct ring {
	alignas(64) _Atomic uint64_t tail;  /* written by the producer only */
	alignas(64) _Atomic uint64_t head;  /* written by the consumer only */
	alignas(64) uint8_t slots[];
};

struct ring_slot {
	uint32_t len;
	uint32_t pad;
	uint8_t payload[];
};

static struct ring *rings[TP_MAX_CHANS];
static size_t ring_len[TP_MAX_CHANS];

struct ring_ep {
	struct ring *r;
	size_t stride;
	uint64_t mask;
	uint64_t pos;       /* private copy of the index this end owns */
	unsigned held;      /* consumer: messages received, not yet released */
};

static size_t ring_stride(unsigned size)
{
	return ROUND_LINE(sizeof(struct ring_slot) + size);
}

static int ring_setup(int chan, const struct tp_params *p, char *why, size_t n)
{
	ring_len[chan] = sizeof(struct ring) + (size_t)p->slots * ring_stride(p->size);
	rings[chan] = shm_map(ring_len[chan]);
	if (!rings[chan])
		return tp_why(why, n, -ENOMEM, "floor-ring: cannot map %zu bytes", ring_len[chan]);
	return 0;
}

static void ring_teardown(int chan)
{
	shm_unmap(rings[chan], ring_len[chan]);
	rings[chan] = NULL;
}

static int ring_open(int chan, int role, const struct tp_params *p, void **ep)
{
	struct ring_ep *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	(void)role;
	e->r = rings[chan];
	e->stride = ring_stride(p->size);
	e->mask = p->slots - 1u;
	*ep = e;
	return 0;
}

static struct ring_slot *ring_slot(struct ring_ep *e, uint64_t pos)
{
	return (struct ring_slot *)(e->r->slots + (size_t)(pos & e->mask) * e->stride);
}

static int ring_send(void *ep, const void *buf, size_t len)
{
	struct ring_ep *e = ep;
	uint64_t t = e->pos;
	/* acquire: pairs with the consumer's release of head in ring_release();
	 * once we see the slot freed, its reader is done with the old bytes */
	while (t - atomic_load_explicit(&e->r->head, memory_order_acquire) > e->mask)
		cpu_relax();
	struct ring_slot *s = ring_slot(e, t);
	memcpy(s->payload, buf, len);    /* plain: the slot is ours until we publish */
	s->len = (uint32_t)len;
	/* release: pairs with the acquire of tail in ring_recv_batch(); the
	 * consumer that sees tail > t sees this slot's bytes */
	atomic_store_explicit(&e->r->tail, t + 1, memory_order_release);
	e->pos = t + 1;
	return 0;
}

static int ring_recv_batch(void *ep, struct tp_msg *m, unsigned n)
{
	struct ring_ep *e = ep;
	uint64_t h = e->pos, t;
	/* acquire: pairs with the release of tail in ring_send() */
	while ((t = atomic_load_explicit(&e->r->tail, memory_order_acquire)) == h)
		cpu_relax();
	unsigned k = 0;
	for (; k < n && h + k != t; k++) {
		struct ring_slot *s = ring_slot(e, h + k);
		m[k].data = s->payload;
		m[k].len = s->len;
	}
	e->held = k;
	return (int)k;
}

static int ring_recv(void *ep, struct tp_msg *m)
{
	int r = ring_recv_batch(ep, m, 1);
	return r < 0 ? r : 0;
}

static void ring_release(void *ep)
{
	struct ring_ep *e = ep;
	if (!e->held)
		return;
	e->pos += e->held;
	e->held = 0;
	/* release: pairs with the acquire of head in ring_send(); our reads of
	 * the slots happen before the producer may reuse them */
	atomic_store_explicit(&e->r->head, e->pos, memory_order_release);
}

const struct transport tp_floor_ring = {
	.name = "floor-ring",
	.caps = TP_SPIN_ONLY,
	.probe = tp_always,
	.setup = ring_setup,
	.teardown = ring_teardown,
	.open = ring_open,
	.close = ep_free,
	.send = ring_send,
	.recv = ring_recv,
	.release = ring_release,
};
