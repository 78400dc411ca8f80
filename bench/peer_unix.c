/*
 * peer_unix.c - a Unix stream socketpair per channel, created before the
 * fork; fixed-size messages framed by length, as over the pipe.
 */
#define _GNU_SOURCE
#include "transport.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdio.h"

static int socks[TP_MAX_CHANS][2] = { { -1, -1 }, { -1, -1 } };

static int unix_setup(int chan, const struct tp_params *p, char *why, size_t n)
{
	(void)p;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, socks[chan]) < 0)
		return tp_why(why, n, -errno, "unix: socketpair: %s", strerror(errno));
	return 0;
}

static void unix_teardown(int chan)
{
	for (int i = 0; i < 2; i++) {
		if (socks[chan][i] >= 0)
			close(socks[chan][i]);
		socks[chan][i] = -1;
	}
}

static int unix_open(int chan, int role, const struct tp_params *p, void **ep)
{
	struct fd_ep *e = malloc(sizeof(*e) + p->size);
	if (!e)
		return -ENOMEM;
	e->fd = socks[chan][role == TP_TX ? 0 : 1];
	e->size = p->size;
	fd_set_nonblock(e->fd, p->wait == WAIT_SPIN);
	*ep = e;
	return 0;
}

const struct transport tp_unix = {
	.name = "unix",
	.probe = tp_always,
	.setup = unix_setup,
	.teardown = unix_teardown,
	.open = unix_open,
	.close = fd_ep_close,
	.send = fd_ep_send,
	.recv = fd_ep_recv,
	.release = fd_ep_release,
};
