/* fdio.h - whole-message I/O on a byte stream (pipe, stream socket). */
#ifndef PMQ_BENCH_FDIO_H
#define PMQ_BENCH_FDIO_H

#include <stddef.h>

/* Write or read exactly len bytes. A non-blocking fd is polled (EAGAIN
 * spins): that is the --wait spin flavour of the kernel peers. 0 or -errno. */
int fd_write_all(int fd, const void *buf, size_t len);
int fd_read_all(int fd, void *buf, size_t len);
int fd_set_nonblock(int fd, int on);

/* An end of a stream-like channel: the fd and a receive buffer. */
struct fd_ep {
	int fd;
	size_t size;
	unsigned char buf[];
};

struct tp_msg;
void fd_ep_close(void *ep);
int fd_ep_send(void *ep, const void *buf, size_t len);
int fd_ep_recv(void *ep, struct tp_msg *m);
void fd_ep_release(void *ep);

#endif
