/*
 * peer_pipe.c - an anonymous pipe per channel, created before the fork.
 * Messages are fixed-size byte runs; the pipe is widened to 1 MiB where the
 * kernel allows, so that 64 KiB messages do not stall on a 64 KiB pipe.
 */
#define _GNU_SOURCE
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"

static int pipes[TP_MAX_CHANS][2] = { { -1, -1 }, { -1, -1 } };

static int pipe_setup(int chan, const struct tp_params *p, char *why, size_t n)
{
	(void)p;
	if (pipe2(pipes[chan], O_CLOEXEC) < 0)
		return tp_why(why, n, -errno, "pipe: %s", strerror(errno));
	(void)fcntl(pipes[chan][1], F_SETPIPE_SZ, 1 << 20);   /* best effort */
	return 0;
}

static void pipe_teardown(int chan)
{
	for (int i = 0; i < 2; i++) {
		if (pipes[chan][i] >= 0)
			close(pipes[chan][i]);
		pipes[chan][i] = -1;
	}
}

static int pipe_open(int chan, int role, const struct tp_params *p, void **ep)
{
	struct fd_ep *e = malloc(sizeof(*e) + p->size);
	if (!e)
		return -ENOMEM;
	e->fd = pipes[chan][role == TP_TX ? 1 : 0];
	e->size = p->size;
	fd_set_nonblock(e->fd, p->wait == WAIT_SPIN);
	*ep = e;
	return 0;
}

const struct transport tp_pipe = {
	.name = "pipe",
	.probe = tp_always,
	.setup = pipe_setup,
	.teardown = pipe_teardown,
	.open = pipe_open,
	.close = fd_ep_close,
	.send = fd_ep_send,
	.recv = fd_ep_recv,
	.release = fd_ep_release,
};

