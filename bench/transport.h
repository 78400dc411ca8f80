/*
 * transport.h - what every subject of the bench (pmq, the floor, the peers)
 * provides: one-directional channels carrying messages of a fixed size.
 *
 * Lifecycle of a run: the parent calls setup() for each channel before it
 * forks (state lives in the transport's statics, so the children inherit
 * it); each child calls open() for the ends it uses, ready() on each, then
 * sends and receives; the parent calls teardown() after the children exit.
 *
 * recv() hands out a pointer that stays valid until release(); recv_batch()
 * fills up to n messages, all released by the next release().
 */
#ifndef PMQ_BENCH_TRANSPORT_H
#define PMQ_BENCH_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "bench.h"

#define TP_MAX_CHANS 2

#define TP_MPMC 0x1u      /* several producers and consumers on one channel */
#define TP_PINGPONG 0x2u  /* only strict alternation (floor-8, floor-2l): rt and oneway */
#define TP_BATCH 0x4u     /* send_batch/recv_batch amortise something */
#define TP_SPIN_ONLY 0x8u /* always busy-polls, whatever --wait says */
#define TP_FLOOR 0x10u    /* a physical floor (floor-8, floor-2l): the denominator of ratios */

enum tp_role { TP_TX = 0, TP_RX = 1 };

struct tp_params {
	unsigned size;        /* every message is exactly this long */
	unsigned slots;       /* ring capacity where the transport has one */
	unsigned batch;
	int wait;             /* enum bench_wait */
	int durability;       /* enum pmq_durability */
	unsigned producers;   /* ends per channel */
	unsigned consumers;
	unsigned run_id;      /* unique per run: names of queues, sockets, services */
	const char *queue_dir; /* pmq: where its private directory of queue files goes */
};

struct tp_msg {
	const void *data;
	size_t len;
};

struct transport {
	const char *name;
	unsigned caps;
	/* 0 if usable here, else -errno and a reason ("libzmq not found at build time") */
	int (*probe)(char *why, size_t n);
	/* -EMSGSIZE: cannot carry this size on this host (the run is skipped) */
	int (*setup)(int chan, const struct tp_params *p, char *why, size_t n);
	void (*teardown)(int chan);
	int (*open)(int chan, int role, const struct tp_params *p, void **ep);
	int (*ready)(void *ep);       /* optional: wait until connected; 0 or -errno */
	void (*close)(void *ep);
	int (*send)(void *ep, const void *buf, size_t len);
	/* optional: returns how many were sent (>= 1) or -errno */
	int (*send_batch)(void *ep, const struct iovec *iov, unsigned n);
	int (*recv)(void *ep, struct tp_msg *m);
	/* optional: returns how many (>= 1) or -errno; blocks for the first only */
	int (*recv_batch)(void *ep, struct tp_msg *m, unsigned n);
	void (*release)(void *ep);
	/* optional: in each process after its ends are closed, before it exits
	 * (zmq: terminate the context, which flushes what is still queued) */
	void (*proc_exit)(void);
	/* optional: the file that backs channel chan (pmq: the queue file), for
	 * the page-placement report; 0 or -errno */
	int (*file_path)(int chan, char *buf, size_t n);
};

extern const struct transport tp_floor_8, tp_floor_8p, tp_floor_2l, tp_floor_2r, tp_floor_ring, tp_pmq, tp_pmq_spsc, tp_pmq_group1, tp_pmq_group2, tp_pmq_group4, tp_pipe,
	tp_unix, tp_mq, tp_zmq, tp_iceoryx;

/* All transports, in table order; NULL-terminated. */
extern const struct transport *const tp_all[];
const struct transport *tp_find(const char *name);

/* probe of a transport that is always there */
int tp_always(char *why, size_t n);

/* snprintf into why, return err: the probe/setup failure idiom */
int tp_why(char *why, size_t n, int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif /* PMQ_BENCH_TRANSPORT_H */
