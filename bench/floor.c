/*
 * floor.c - the physical floor the other transports are measured against:
 *
 *   floor-cl    a raw cache-line ping-pong. Both directions share one sequence
 *               word; the sender writes the payload and bumps the sequence with
 *               a release store, the other side spins on it. Up to 48 B the
 *               payload sits in the sequence's line, so one line moves per hop:
 *               nothing crosses cores faster. Larger payloads get an area per
 *               direction, so that the echo really carries its bytes back, as
 *               every subject must. Valid only in strict alternation (rt, oneway).
 *   floor-ring  a naive single-producer single-consumer ring over a MAP_SHARED
 *               mapping: per message the producer reads the consumer's index
 *               and publishes its own, and the consumer does the mirror image.
 *               No batching, no cached indices: the per-message floor.
 *
 * Both busy-poll. No system call, no lock, no locked instruction on the path.
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

/* --- floor-cl ------------------------------------------------------------ */

struct mbox {
	alignas(64) _Atomic uint64_t seq;  /* odd: A -> B, even: B -> A; 0: nothing yet */
	uint32_t len;
	uint32_t pad;
	uint8_t payload[];                 /* 48 B in the same line; or the areas below */
};

#define CL_INLINE (LINE - sizeof(struct mbox))

static struct mbox *cl_box;
static size_t cl_len, cl_area;

struct cl_ep {
	struct mbox *mb;
	uint8_t *area;      /* where this channel's payload lives */
	uint64_t next;      /* sequence value this end sends or expects next */
};

static int cl_setup(int chan, const struct tp_params *p, char *why, size_t n)
{
	if (chan != 0)
		return 0;       /* channel 1 is the same mailbox, the other parity */
	cl_area = p->size <= CL_INLINE ? 0 : ROUND_LINE(p->size);
	cl_len = LINE + 2 * cl_area;
	cl_box = shm_map(cl_len);
	if (!cl_box)
		return tp_why(why, n, -ENOMEM, "floor-cl: cannot map %zu bytes", cl_len);
	return 0;
}

static void cl_teardown(int chan)
{
	if (chan == 0) {
		shm_unmap(cl_box, cl_len);
		cl_box = NULL;
	}
}

static int cl_open(int chan, int role, const struct tp_params *p, void **ep)
{
	struct cl_ep *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	(void)role;
	(void)p;
	e->mb = cl_box;
	e->area = cl_area ? (uint8_t *)cl_box + LINE + (size_t)chan * cl_area : cl_box->payload;
	e->next = chan == 0 ? 1 : 2;    /* A sends 1, 3, 5...; B answers 2, 4, 6... */
	*ep = e;
	return 0;
}

static void ep_free(void *ep)
{
	free(ep);
}

static int cl_send(void *ep, const void *buf, size_t len)
{
	struct cl_ep *e = ep;
	/* plain stores: the other side reads them only after it acquires seq below,
	 * and it wrote its own last (it is waiting for this message) before its
	 * release store of the seq we acquired, so nobody races with us here */
	if (buf != e->area)             /* inline echo: the bytes are already there */
		memcpy(e->area, buf, len);
	e->mb->len = (uint32_t)len;
	/* release: pairs with the acquire in cl_recv(); publishes payload and len */
	atomic_store_explicit(&e->mb->seq, e->next, memory_order_release);
	e->next += 2;
	return 0;
}

static int cl_recv(void *ep, struct tp_msg *m)
{
	struct cl_ep *e = ep;
	/* acquire: pairs with the release in cl_send(); payload and len are visible */
	while (atomic_load_explicit(&e->mb->seq, memory_order_acquire) != e->next)
		cpu_relax();
	m->data = e->area;
	m->len = e->mb->len;
	e->next += 2;
	return 0;
}

static void nop_release(void *ep)
{
	(void)ep;
}

const struct transport tp_floor_cl = {
	.name = "floor-cl",
	.caps = TP_PINGPONG | TP_SPIN_ONLY,
	.probe = tp_always,
	.setup = cl_setup,
	.teardown = cl_teardown,
	.open = cl_open,
	.close = ep_free,
	.send = cl_send,
	.recv = cl_recv,
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
