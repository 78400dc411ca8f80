/*
 * peer_iceoryx.c - iceoryx (v2, C binding) as a peer: a publisher and a
 * subscriber per channel, zero copy through RouDi's shared memory. iox-roudi
 * must run (bench/run.sh starts it with bench/roudi.toml). Every process
 * registers its own runtime after the fork. The C binding has no blocking
 * take without a wait set, so the subscriber always busy-polls: iceoryx runs
 * in its lowest-latency form whatever --wait says.
 */
#define _GNU_SOURCE
#include "transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef BENCH_HAVE_ICEORYX
#include <iceoryx_binding_c/log.h>
#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/runtime.h>
#include <iceoryx_binding_c/subscriber.h>

#define ROUDI_SOCKET "/tmp/roudi"

static char iox_instance[64];
static int iox_runtime_up;

struct iox_ep {
	int role;
	iox_pub_storage_t pub_storage;
	iox_sub_storage_t sub_storage;
	iox_pub_t pub;
	iox_sub_t sub;
	const void *held;
	size_t size;        /* every message is this long (the C binding does not say) */
};

static int iox_probe(char *why, size_t n)
{
	/* RouDi listens on a datagram Unix socket; a refused connect means it is not running */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return tp_why(why, n, -errno, "iceoryx: socket: %s", strerror(errno));
	strcpy(sa.sun_path, ROUDI_SOCKET);
	int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int err = errno;
	close(fd);
	if (r < 0)
		return tp_why(why, n, -err, "iceoryx: iox-roudi is not running (%s: %s); "
			      "bench/run.sh starts it", ROUDI_SOCKET, strerror(err));
	return 0;
}

static int iox_setup(int chan, const struct tp_params *p, char *why, size_t n)
{
	(void)chan;
	(void)why;
	(void)n;
	snprintf(iox_instance, sizeof(iox_instance), "p%d-r%u", (int)getpid(), p->run_id);
	return 0;
}

static void iox_teardown(int chan)
{
	(void)chan;
}

static int iox_tp_open(int chan, int role, const struct tp_params *p, void **ep)
{
	char event[16];
	struct iox_ep *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	if (!iox_runtime_up) {
		char name[64];
		snprintf(name, sizeof(name), "pmq-bench-%d", (int)getpid());
		iox_set_loglevel(Iceoryx_LogLevel_Warn);
		iox_runtime_init(name);
		iox_runtime_up = 1;
	}
	snprintf(event, sizeof(event), "chan%d", chan);
	e->role = role;
	e->size = p->size;
	if (role == TP_TX) {
		iox_pub_options_t o;
		iox_pub_options_init(&o);
		o.historyCapacity = 0;
		o.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
		e->pub = iox_pub_init(&e->pub_storage, "pmq-bench", iox_instance, event, &o);
		if (!e->pub)
			goto fail;
	} else {
		iox_sub_options_t o;
		iox_sub_options_init(&o);
		o.queueCapacity = p->slots < 256 ? p->slots : 256;   /* iceoryx's maximum */
		o.historyRequest = 0;
		o.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
		e->sub = iox_sub_init(&e->sub_storage, "pmq-bench", iox_instance, event, &o);
		if (!e->sub)
			goto fail;
	}
	*ep = e;
	return 0;
fail:
	free(e);
	return -EIO;
}

static int iox_tp_ready(void *ep)
{
	struct iox_ep *e = ep;
	uint64_t deadline = now_ns() + 10ull * 1000000000u;
	while (e->role == TP_TX ? !iox_pub_has_subscribers(e->pub)
				: iox_sub_get_subscription_state(e->sub) != SubscribeState_SUBSCRIBED) {
		if (now_ns() > deadline)
			return -ETIMEDOUT;
		usleep(1000);
	}
	return 0;
}

static void iox_tp_close(void *ep)
{
	struct iox_ep *e = ep;
	if (e->pub)
		iox_pub_deinit(e->pub);
	if (e->sub)
		iox_sub_deinit(e->sub);
	free(e);
}

static int iox_tp_send(void *ep, const void *buf, size_t len)
{
	struct iox_ep *e = ep;
	void *chunk;
	enum iox_AllocationResult r;
	/* out of chunks means the subscriber still holds them all: wait for it */
	while ((r = iox_pub_loan_chunk(e->pub, &chunk, (uint32_t)len)) != AllocationResult_SUCCESS) {
		if (r != AllocationResult_RUNNING_OUT_OF_CHUNKS &&
		    r != AllocationResult_TOO_MANY_CHUNKS_ALLOCATED_IN_PARALLEL)
			return -ENOMEM;
		cpu_relax();
	}
	memcpy(chunk, buf, len);
	iox_pub_publish_chunk(e->pub, chunk);
	return 0;
}

static int iox_tp_recv(void *ep, struct tp_msg *m)
{
	struct iox_ep *e = ep;
	const void *chunk;
	enum iox_ChunkReceiveResult r;
	while ((r = iox_sub_take_chunk(e->sub, &chunk)) != ChunkReceiveResult_SUCCESS) {
		if (r != ChunkReceiveResult_NO_CHUNK_AVAILABLE)
			return -EIO;
		cpu_relax();
	}
	e->held = chunk;
	m->data = chunk;
	m->len = e->size;   /* the C binding does not give the payload size; the bench knows it */
	return 0;
}

static void iox_tp_release(void *ep)
{
	struct iox_ep *e = ep;
	if (e->held)
		iox_sub_release_chunk(e->sub, e->held);
	e->held = NULL;
}

static void iox_proc_exit(void)
{
	if (iox_runtime_up)
		iox_runtime_shutdown();     /* deregister and remove our socket in /tmp */
	iox_runtime_up = 0;
}

const struct transport tp_iceoryx = {
	.name = "iceoryx",
	.caps = TP_SPIN_ONLY,
	.probe = iox_probe,
	.setup = iox_setup,
	.teardown = iox_teardown,
	.open = iox_tp_open,
	.ready = iox_tp_ready,
	.close = iox_tp_close,
	.send = iox_tp_send,
	.recv = iox_tp_recv,
	.release = iox_tp_release,
	.proc_exit = iox_proc_exit,
};

#else /* !BENCH_HAVE_ICEORYX */

static int iox_absent(char *why, size_t n)
{
	return tp_why(why, n, -ENOSYS, "iceoryx: the C binding was not found when pmq-bench was built "
		      "(install iceoryx libiceoryx-binding-c-dev, or run bench/run.sh)");
}

const struct transport tp_iceoryx = { .name = "iceoryx", .probe = iox_absent };

#endif
