/*
 * peer_zmq.c - ZeroMQ over ipc:// (libzmq): a PUSH/PULL pair per channel,
 * the receiver binds, the sender connects. One zmq context per process,
 * made after the fork (a context must not cross a fork). The calls always
 * block: zmq moves the bytes in its own I/O thread, which inherits the
 * caller's CPU; a caller spinning with ZMQ_DONTWAIT would starve it (measured
 * here: 53 us p50 spinning against ~30 us blocking).
 */
#define _GNU_SOURCE
#include "transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef BENCH_HAVE_ZMQ
#include <zmq.h>

static char zmq_dir[64];
static char zmq_ep_names[TP_MAX_CHANS][128];
static void *zctx;

struct zmq_ep {
	void *sock;
	int flags;
	size_t size;
	unsigned char buf[];
};

static int zmq_probe(char *why, size_t n)
{
	(void)why;
	(void)n;
	return 0;
}

static int zmq_setup(int chan, const struct tp_params *p, char *why, size_t n)
{
	if (!zmq_dir[0]) {
		snprintf(zmq_dir, sizeof(zmq_dir), "/tmp/pmq-bench-zmq-XXXXXX");
		if (!mkdtemp(zmq_dir)) {
			int err = -errno;
			zmq_dir[0] = '\0';
			return tp_why(why, n, err, "zmq: mkdtemp: %s", strerror(-err));
		}
	}
	snprintf(zmq_ep_names[chan], sizeof(zmq_ep_names[chan]), "ipc://%s/%u-%d", zmq_dir, p->run_id, chan);
	return 0;
}

static void zmq_teardown(int chan)
{
	if (zmq_ep_names[chan][0])
		unlink(zmq_ep_names[chan] + strlen("ipc://"));
	zmq_ep_names[chan][0] = '\0';
	if (zmq_dir[0] && !zmq_ep_names[0][0] && !zmq_ep_names[1][0]) {
		rmdir(zmq_dir);
		zmq_dir[0] = '\0';
	}
}

static int zmq_tp_open(int chan, int role, const struct tp_params *p, void **ep)
{
	int hwm = (int)p->slots, linger = 2000;   /* ms: the stop must get out before close */
	if (!zctx && !(zctx = zmq_ctx_new()))
		return -errno;
	struct zmq_ep *e = malloc(sizeof(*e) + p->size);
	if (!e)
		return -ENOMEM;
	e->size = p->size;
	e->flags = 0;
	e->sock = zmq_socket(zctx, role == TP_TX ? ZMQ_PUSH : ZMQ_PULL);
	if (!e->sock)
		goto fail;
	zmq_setsockopt(e->sock, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(e->sock, role == TP_TX ? ZMQ_SNDHWM : ZMQ_RCVHWM, &hwm, sizeof(hwm));
	if ((role == TP_RX ? zmq_bind(e->sock, zmq_ep_names[chan])
			   : zmq_connect(e->sock, zmq_ep_names[chan])) < 0)
		goto fail;
	*ep = e;
	return 0;
fail:;
	int err = -zmq_errno();
	fprintf(stderr, "pmq-bench: zmq %s: %s\n", zmq_ep_names[chan], zmq_strerror(-err));
	if (e->sock)
		zmq_close(e->sock);
	free(e);
	return err;
}

static void zmq_tp_close(void *ep)
{
	struct zmq_ep *e = ep;
	zmq_close(e->sock);
	free(e);
}

static int zmq_tp_send(void *ep, const void *buf, size_t len)
{
	struct zmq_ep *e = ep;
	while (zmq_send(e->sock, buf, len, e->flags) < 0) {
		if (zmq_errno() != EAGAIN && zmq_errno() != EINTR)
			return -zmq_errno();
		cpu_relax();
	}
	return 0;
}

static int zmq_tp_recv(void *ep, struct tp_msg *m)
{
	struct zmq_ep *e = ep;
	int r;
	while ((r = zmq_recv(e->sock, e->buf, e->size, e->flags)) < 0) {
		if (zmq_errno() != EAGAIN && zmq_errno() != EINTR)
			return -zmq_errno();
		cpu_relax();
	}
	m->data = e->buf;
	m->len = (size_t)r < e->size ? (size_t)r : e->size;
	return 0;
}

static void zmq_tp_release(void *ep)
{
	(void)ep;
}

static void zmq_proc_exit(void)
{
	if (zctx)
		zmq_ctx_term(zctx);     /* waits for the linger: the stop message gets out */
	zctx = NULL;
}

const struct transport tp_zmq = {
	.name = "zmq",
	.probe = zmq_probe,
	.setup = zmq_setup,
	.teardown = zmq_teardown,
	.open = zmq_tp_open,
	.close = zmq_tp_close,
	.send = zmq_tp_send,
	.recv = zmq_tp_recv,
	.release = zmq_tp_release,
	.proc_exit = zmq_proc_exit,
};

#else /* !BENCH_HAVE_ZMQ */

static int zmq_absent(char *why, size_t n)
{
	return tp_why(why, n, -ENOSYS, "zmq: libzmq was not found when pmq-bench was built "
		      "(install libzmq3-dev, or run bench/run.sh)");
}

static void zmq_proc_exit(void)
{
	if (zctx)
		zmq_ctx_term(zctx);     /* waits for the linger: the stop message gets out */
	zctx = NULL;
}

const struct transport tp_zmq = { .name = "zmq", .probe = zmq_absent };

#endif
