/*
 * peer_mq.c - a POSIX message queue per channel (mq_open), sized like the
 * ring (as many messages as --slots, where the limits allow). It is the one
 * kernel peer with message boundaries and several readers and writers.
 */
#define _GNU_SOURCE
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static char mq_names[TP_MAX_CHANS][64];

struct mq_ep {
	mqd_t q;
	size_t size;
	unsigned char buf[];
};

static int mq_setup(int chan, const struct tp_params *p, char *why, size_t n)
{
	struct mq_attr attr = { .mq_maxmsg = p->slots, .mq_msgsize = p->size };
	struct rlimit rl;
	mqd_t q = (mqd_t)-1;

	snprintf(mq_names[chan], sizeof(mq_names[chan]), "/pmq-bench-%d-%u-%d", (int)getpid(), p->run_id, chan);
	FILE *f = fopen("/proc/sys/fs/mqueue/msgsize_max", "r");
	unsigned long max = 0;
	if (f) {
		if (fscanf(f, "%lu", &max) != 1)
			max = 0;
		fclose(f);
	}
	/* the queue's bytes count against RLIMIT_MSGQUEUE: raise it if we may */
	if (getrlimit(RLIMIT_MSGQUEUE, &rl) == 0) {
		rlim_t want = (rlim_t)(p->slots + 8) * (p->size + 64) * TP_MAX_CHANS * 2;
		if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
			rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
			(void)setrlimit(RLIMIT_MSGQUEUE, &rl);
		}
	}
	/* the kernel caps maxmsg (fs/mqueue/msg_max, unless privileged): halve until it fits */
	while (attr.mq_maxmsg >= 1) {
		q = mq_open(mq_names[chan], O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600, &attr);
		if (q != (mqd_t)-1 || (errno != EINVAL && errno != EMFILE && errno != ENOMEM))
			break;
		attr.mq_maxmsg /= 2;
	}
	if (q == (mqd_t)-1) {
		int err = -errno;
		if (err == -EINVAL && max && p->size > max)
			err = tp_why(why, n, -EMSGSIZE, "mq: %u B messages are over fs.mqueue.msgsize_max (%lu) "
				     "and raising it needs CAP_SYS_RESOURCE here", p->size, max);
		else
			tp_why(why, n, err, "mq: mq_open %s (msgsize %u): %s", mq_names[chan], p->size,
			       strerror(-err));
		mq_names[chan][0] = '\0';
		return err;
	}
	mq_close(q);
	return 0;
}

static void mq_teardown(int chan)
{
	if (mq_names[chan][0])
		mq_unlink(mq_names[chan]);
	mq_names[chan][0] = '\0';
}

static int mq_tp_open(int chan, int role, const struct tp_params *p, void **ep)
{
	struct mq_ep *e = malloc(sizeof(*e) + p->size);
	if (!e)
		return -ENOMEM;
	int fl = (role == TP_TX ? O_WRONLY : O_RDONLY) | O_CLOEXEC;
	if (p->wait == WAIT_SPIN)
		fl |= O_NONBLOCK;
	e->q = mq_open(mq_names[chan], fl);
	if (e->q == (mqd_t)-1) {
		int err = -errno;
		free(e);
		return err;
	}
	e->size = p->size;
	*ep = e;
	return 0;
}

static void mq_tp_close(void *ep)
{
	struct mq_ep *e = ep;
	mq_close(e->q);
	free(e);
}

static int mq_tp_send(void *ep, const void *buf, size_t len)
{
	struct mq_ep *e = ep;
	while (mq_send(e->q, buf, len, 0) < 0) {
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		cpu_relax();
	}
	return 0;
}

static int mq_tp_recv(void *ep, struct tp_msg *m)
{
	struct mq_ep *e = ep;
	ssize_t r;
	while ((r = mq_receive(e->q, (char *)e->buf, e->size, NULL)) < 0) {
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		cpu_relax();
	}
	m->data = e->buf;
	m->len = (size_t)r;
	return 0;
}

static void mq_tp_release(void *ep)
{
	(void)ep;
}

const struct transport tp_mq = {
	.name = "mq",
	.caps = TP_MPMC,
	.probe = tp_always,
	.setup = mq_setup,
	.teardown = mq_teardown,
	.open = mq_tp_open,
	.close = mq_tp_close,
	.send = mq_tp_send,
	.recv = mq_tp_recv,
	.release = mq_tp_release,
};
