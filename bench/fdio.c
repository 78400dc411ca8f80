/* fdio.c - see fdio.h. */
#include "fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "bench.h"
#include "transport.h"
#include <stdlib.h>

int fd_write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				cpu_relax();
				continue;
			}
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int fd_read_all(int fd, void *buf, size_t len)
{
	unsigned char *p = buf;
	while (len) {
		ssize_t r = read(fd, p, len);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				cpu_relax();
				continue;
			}
			return -errno;
		}
		if (r == 0)
			return -EPIPE;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

int fd_set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

/* --- the transport operations every fd_ep peer shares --- */

void fd_ep_close(void *ep)
{
	free(ep);   /* the descriptors are the parent's; every process closes at exit */
}

int fd_ep_send(void *ep, const void *buf, size_t len)
{
	return fd_write_all(((struct fd_ep *)ep)->fd, buf, len);
}

int fd_ep_recv(void *ep, struct tp_msg *m)
{
	struct fd_ep *e = ep;
	int err = fd_read_all(e->fd, e->buf, e->size);
	m->data = e->buf;
	m->len = e->size;
	return err;
}

void fd_ep_release(void *ep)
{
	(void)ep;
}

