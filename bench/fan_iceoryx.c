/*
 * fan_iceoryx.c - iceoryx (v2, C binding) publish/subscribe in the fan-out
 * comparison: one publisher on the service "fan", one subscriber per
 * subscriber process; the return path is a service per subscriber ("ret<i>",
 * one publisher each), all four subscribed by the publisher process. iox-roudi
 * must run (bench/run.sh starts it with bench/roudi.toml).
 *
 * Every take waits in an iceoryx wait set (the subscriber's HAS_DATA state)
 * instead of polling: the subscribers share a CPU (fanout.h). The publisher
 * waits for slow subscribers (WAIT_FOR_CONSUMER with BLOCK_PRODUCER queues),
 * so nothing is dropped, as with the reliable subjects.
 */
#define _GNU_SOURCE
#include "fanout.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef BENCH_HAVE_ICEORYX
#include <iceoryx_binding_c/log.h>
#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/runtime.h>
#include <iceoryx_binding_c/subscriber.h>
#include <iceoryx_binding_c/wait_set.h>

#define FI_SERVICE "pmq-bench-fan"

static char fi_instance[64];
static int fi_runtime_up;

struct fi_ep {
	iox_pub_storage_t pub_storage;
	iox_pub_t pub;                          /* publisher: "fan"; subscriber: "ret<i>" */
	iox_sub_storage_t sub_storage[FAN_MAX_SUBS];
	iox_sub_t sub[FAN_MAX_SUBS];            /* publisher: "ret0".."ret<n-1>"; subscriber: "fan" */
	unsigned nsub, next;                    /* next: where take() looks first (round robin) */
	iox_ws_storage_t ws_storage;
	iox_ws_t ws;
	iox_sub_t held_sub;
	const void *held;
	size_t size;                            /* every message is this long (the C binding does not say) */
};

/* RouDi must run: the pair peer's check (peer_iceoryx.c) */
static int fi_probe(char *why, size_t n)
{
	return tp_iceoryx.probe(why, n);
}

static int fi_setup(const struct fan_params *p, char *why, size_t n)
{
	(void)why;
	(void)n;
	snprintf(fi_instance, sizeof(fi_instance), "p%d-r%u", (int)getpid(), p->run_id);
	return 0;
}

static void fi_teardown(void)
{
}

static void fi_runtime(void)
{
	if (!fi_runtime_up) {
		char name[64];
		snprintf(name, sizeof(name), "pmq-bench-fan-%d", (int)getpid());
		iox_set_loglevel(Iceoryx_LogLevel_Warn);
		iox_runtime_init(name);
		fi_runtime_up = 1;
	}
}

static iox_pub_t fi_pub(struct fi_ep *e, const char *event)
{
	iox_pub_options_t o;
	iox_pub_options_init(&o);
	o.historyCapacity = 0;
	o.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
	return iox_pub_init(&e->pub_storage, FI_SERVICE, fi_instance, event, &o);
}

static int fi_sub(struct fi_ep *e, const struct fan_params *p, const char *event)
{
	iox_sub_options_t o;
	iox_sub_options_init(&o);
	o.queueCapacity = p->slots < 256 ? p->slots : 256;   /* iceoryx's maximum */
	o.historyRequest = 0;
	o.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
	unsigned i = e->nsub;
	e->sub[i] = iox_sub_init(&e->sub_storage[i], FI_SERVICE, fi_instance, event, &o);
	if (!e->sub[i])
		return -EIO;
	e->nsub++;
	if (iox_ws_attach_subscriber_state(e->ws, e->sub[i], SubscriberState_HAS_DATA, i, NULL) !=
	    WaitSetResult_SUCCESS) {
		fprintf(stderr, "pmq-bench: fanout: iceoryx: cannot attach subscriber %s to the wait set\n", event);
		return -ENOSPC;
	}
	return 0;
}

static void fi_close(void *ep)
{
	struct fi_ep *e = ep;
	for (unsigned i = 0; i < e->nsub; i++)
		iox_ws_detach_subscriber_state(e->ws, e->sub[i], SubscriberState_HAS_DATA);
	if (e->ws)
		iox_ws_deinit(e->ws);
	for (unsigned i = 0; i < e->nsub; i++)
		iox_sub_deinit(e->sub[i]);
	if (e->pub)
		iox_pub_deinit(e->pub);
	free(e);
}

static struct fi_ep *fi_new(const struct fan_params *p)
{
	struct fi_ep *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	fi_runtime();
	e->size = p->size;
	e->ws = iox_ws_init(&e->ws_storage);
	return e;
}

static int fi_open_pub(const struct fan_params *p, void **ep)
{
	char event[16];
	struct fi_ep *e = fi_new(p);
	int err = 0;
	if (!e)
		return -ENOMEM;
	if (!(e->pub = fi_pub(e, "fan")))
		err = -EIO;
	for (unsigned i = 0; i < p->nsubs && !err; i++) {
		snprintf(event, sizeof(event), "ret%u", i);
		err = fi_sub(e, p, event);
	}
	if (err) {
		fi_close(e);
		return err;
	}
	*ep = e;
	return 0;
}

static int fi_open_sub(const struct fan_params *p, unsigned idx, void **ep)
{
	char event[16];
	struct fi_ep *e = fi_new(p);
	int err = 0;
	if (!e)
		return -ENOMEM;
	snprintf(event, sizeof(event), "ret%u", idx);
	if (!(e->pub = fi_pub(e, event)))
		err = -EIO;
	if (!err)
		err = fi_sub(e, p, "fan");
	if (err) {
		fi_close(e);
		return err;
	}
	*ep = e;
	return 0;
}

static int fi_send(iox_pub_t pub, const void *buf, size_t len, int nonblock)
{
	void *chunk;
	enum iox_AllocationResult r;
	/* out of chunks: subscribers still hold them all; wait for them (or say so) */
	while ((r = iox_pub_loan_chunk(pub, &chunk, (uint32_t)len)) != AllocationResult_SUCCESS) {
		if (r != AllocationResult_RUNNING_OUT_OF_CHUNKS &&
		    r != AllocationResult_TOO_MANY_CHUNKS_ALLOCATED_IN_PARALLEL)
			return -ENOMEM;
		if (nonblock)
			return -EAGAIN;
		sched_yield();
	}
	memcpy(chunk, buf, len);
	iox_pub_publish_chunk(pub, chunk);   /* WAIT_FOR_CONSUMER: waits while a subscriber queue is full */
	return 0;
}

static int fi_publish(void *ep, const void *buf, size_t len, int nonblock)
{
	struct fi_ep *e = ep;
	return fi_send(e->pub, buf, len, nonblock);
}

static int fi_echo(void *ep, const void *buf, size_t len)
{
	struct fi_ep *e = ep;
	return fi_send(e->pub, buf, len, 0);
}

static int fi_take(void *ep, struct tp_msg *m, uint64_t timeout_ns)
{
	struct fi_ep *e = ep;
	iox_notification_info_t events[FAN_MAX_SUBS];
	uint64_t missed, deadline = timeout_ns == FAN_FOREVER ? UINT64_MAX : now_ns() + timeout_ns;
	for (;;) {
		for (unsigned k = 0; k < e->nsub; k++) {
			unsigned i = (e->next + k) % e->nsub;
			const void *chunk;
			enum iox_ChunkReceiveResult r = iox_sub_take_chunk(e->sub[i], &chunk);
			if (r == ChunkReceiveResult_SUCCESS) {
				e->next = (i + 1) % e->nsub;
				e->held = chunk;
				e->held_sub = e->sub[i];
				m->data = chunk;
				m->len = e->size;
				return 0;
			}
			if (r != ChunkReceiveResult_NO_CHUNK_AVAILABLE)
				return -EIO;
		}
		if (timeout_ns == FAN_FOREVER) {
			iox_ws_wait(e->ws, events, FAN_MAX_SUBS, &missed);
			continue;
		}
		uint64_t now = now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct timespec left = { .tv_sec = (time_t)((deadline - now) / 1000000000u),
					 .tv_nsec = (long)((deadline - now) % 1000000000u) };
		iox_ws_timed_wait(e->ws, left, events, FAN_MAX_SUBS, &missed);
	}
}

static void fi_release(void *ep)
{
	struct fi_ep *e = ep;
	if (e->held)
		iox_sub_release_chunk(e->held_sub, e->held);
	e->held = NULL;
}

static void fi_proc_exit(void)
{
	if (fi_runtime_up)
		iox_runtime_shutdown();     /* deregister and remove our socket in /tmp */
	fi_runtime_up = 0;
}

const struct fan_tp fan_iceoryx = {
	.name = "iceoryx",
	.what = "publish/subscribe (C binding, wait sets), 4 subscribers; return: a service per subscriber",
	.nsubs = FAN_MAX_SUBS,
	.probe = fi_probe,
	.setup = fi_setup,
	.teardown = fi_teardown,
	.open_pub = fi_open_pub,
	.open_sub = fi_open_sub,
	.close = fi_close,
	.publish = fi_publish,
	.take = fi_take,
	.release = fi_release,
	.echo = fi_echo,
	.proc_exit = fi_proc_exit,
};

#else /* !BENCH_HAVE_ICEORYX */

/* the pair peer's reason (peer_iceoryx.c) */
static int fi_absent(char *why, size_t n)
{
	return tp_iceoryx.probe(why, n);
}

const struct fan_tp fan_iceoryx = { .name = "iceoryx", .nsubs = FAN_MAX_SUBS, .probe = fi_absent };

#endif
