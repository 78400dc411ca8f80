/*
 * fan_zmq.c - ZeroMQ PUB/SUB over ipc:// in the fan-out comparison: the
 * publisher binds a PUB socket, every subscriber connects a SUB socket
 * subscribed to everything; the return path is a PULL socket the publisher
 * binds and a PUSH per subscriber. One context per process, made after the
 * fork. Every call blocks (zmq's I/O thread shares the caller's CPU).
 *
 * PUB drops messages for a subscriber whose queue is at its high-water mark;
 * the bench sets ZMQ_XPUB_NODROP so that PUB refuses (EAGAIN) instead and the
 * publisher retries after a 10 us sleep: every subscriber gets every message,
 * as with the reliable subjects (a drop would fail the run: fanout.c counts).
 */
#define _GNU_SOURCE
#include "fanout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef BENCH_HAVE_ZMQ
#include <zmq.h>

static char fz_dir[64];
static char fz_fan[128], fz_ret[128];
static void *fz_ctx;

struct fz_ep {
	void *out;          /* publisher: PUB; subscriber: PUSH (return) */
	void *in;           /* publisher: PULL (return); subscriber: SUB */
	size_t size;
	unsigned char buf[];
};

static int fz_probe(char *why, size_t n)
{
	(void)why;
	(void)n;
	return 0;
}

static int fz_setup(const struct fan_params *p, char *why, size_t n)
{
	if (!fz_dir[0]) {
		snprintf(fz_dir, sizeof(fz_dir), "/tmp/pmq-bench-fanzmq-XXXXXX");
		if (!mkdtemp(fz_dir)) {
			int err = -errno;
			fz_dir[0] = '\0';
			return tp_why(why, n, err, "zmq: mkdtemp /tmp/pmq-bench-fanzmq-*: %s", strerror(-err));
		}
	}
	snprintf(fz_fan, sizeof(fz_fan), "ipc://%s/fan-%u", fz_dir, p->run_id);
	snprintf(fz_ret, sizeof(fz_ret), "ipc://%s/ret-%u", fz_dir, p->run_id);
	return 0;
}

static void fz_teardown(void)
{
	unlink(fz_fan + strlen("ipc://"));
	unlink(fz_ret + strlen("ipc://"));
	if (fz_dir[0])
		rmdir(fz_dir);
	fz_dir[0] = '\0';
}

static void *fz_socket(int type, const struct fan_params *p, const char *where, int bind)
{
	int hwm = (int)p->slots, linger = 2000, one = 1;   /* linger (ms): the last echo gets out */
	void *s = zmq_socket(fz_ctx, type);
	if (!s)
		return NULL;
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	if (type == ZMQ_PUB)
		zmq_setsockopt(s, ZMQ_XPUB_NODROP, &one, sizeof(one));
	if (type == ZMQ_SUB)
		zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
	if ((bind ? zmq_bind(s, where) : zmq_connect(s, where)) < 0) {
		int err = zmq_errno();
		fprintf(stderr, "pmq-bench: fanout: zmq %s %s: %s\n", bind ? "bind" : "connect", where,
			zmq_strerror(err));
		zmq_close(s);
		errno = err;
		return NULL;
	}
	return s;
}

static int fz_open(int pub, const struct fan_params *p, void **ep)
{
	if (!fz_ctx && !(fz_ctx = zmq_ctx_new()))
		return -errno;
	struct fz_ep *e = calloc(1, sizeof(*e) + p->size);
	if (!e)
		return -ENOMEM;
	e->size = p->size;
	e->out = pub ? fz_socket(ZMQ_PUB, p, fz_fan, 1) : fz_socket(ZMQ_PUSH, p, fz_ret, 0);
	e->in = !e->out ? NULL : pub ? fz_socket(ZMQ_PULL, p, fz_ret, 1) : fz_socket(ZMQ_SUB, p, fz_fan, 0);
	if (!e->in) {
		int err = -errno;
		if (e->out)
			zmq_close(e->out);
		free(e);
		return err < 0 ? err : -EIO;
	}
	*ep = e;
	return 0;
}

static int fz_open_pub(const struct fan_params *p, void **ep)
{
	return fz_open(1, p, ep);
}

static int fz_open_sub(const struct fan_params *p, unsigned idx, void **ep)
{
	(void)idx;
	return fz_open(0, p, ep);
}

static void fz_close(void *ep)
{
	struct fz_ep *e = ep;
	zmq_close(e->out);
	zmq_close(e->in);
	free(e);
}

static int fz_publish(void *ep, const void *buf, size_t len, int nonblock)
{
	struct fz_ep *e = ep;
	struct timespec pause = { .tv_nsec = 10000 };
	while (zmq_send(e->out, buf, len, nonblock ? ZMQ_DONTWAIT : 0) < 0) {
		int err = zmq_errno();
		if (err == EAGAIN && nonblock)
			return -EAGAIN;
		if (err != EAGAIN && err != EINTR)
			return -err;
		nanosleep(&pause, NULL);   /* at the high-water mark (NODROP): let the I/O thread drain */
	}
	return 0;
}

static int fz_take(void *ep, struct tp_msg *m, uint64_t timeout_ns)
{
	struct fz_ep *e = ep;
	int r;
	if (timeout_ns != FAN_FOREVER) {
		zmq_pollitem_t it = { .socket = e->in, .events = ZMQ_POLLIN };
		long ms = (long)((timeout_ns + 999999) / 1000000);
		if ((r = zmq_poll(&it, 1, ms)) < 0)
			return -zmq_errno();
		if (r == 0)
			return -ETIMEDOUT;
	}
	while ((r = zmq_recv(e->in, e->buf, e->size, 0)) < 0)
		if (zmq_errno() != EINTR)
			return -zmq_errno();
	m->data = e->buf;
	m->len = (size_t)r < e->size ? (size_t)r : e->size;
	return 0;
}

static void fz_release(void *ep)
{
	(void)ep;
}

static int fz_echo(void *ep, const void *buf, size_t len)
{
	struct fz_ep *e = ep;
	while (zmq_send(e->out, buf, len, 0) < 0)
		if (zmq_errno() != EINTR)
			return -zmq_errno();
	return 0;
}

static void fz_proc_exit(void)
{
	if (fz_ctx)
		zmq_ctx_term(fz_ctx);   /* waits for the linger: the last echo gets out */
	fz_ctx = NULL;
}

const struct fan_tp fan_zmq = {
	.name = "zmq",
	.what = "PUB/SUB over ipc:// (XPUB_NODROP), 4 SUB sockets; return: PULL, a PUSH per subscriber",
	.nsubs = FAN_MAX_SUBS,
	.probe = fz_probe,
	.setup = fz_setup,
	.teardown = fz_teardown,
	.open_pub = fz_open_pub,
	.open_sub = fz_open_sub,
	.close = fz_close,
	.publish = fz_publish,
	.take = fz_take,
	.release = fz_release,
	.echo = fz_echo,
	.proc_exit = fz_proc_exit,
};

#else /* !BENCH_HAVE_ZMQ */

/* the pair peer's reason (peer_zmq.c) */
static int fz_absent(char *why, size_t n)
{
	return tp_zmq.probe(why, n);
}

const struct fan_tp fan_zmq = { .name = "zmq", .nsubs = FAN_MAX_SUBS, .probe = fz_absent };

#endif
