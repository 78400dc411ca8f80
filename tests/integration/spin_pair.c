/*
 * spin_pair.c - a producer thread and a consumer (the main thread), both
 * with PMQ_WAIT_SPIN, exchange N messages between two marker system calls:
 * write(2, "BEGIN\n") and write(2, "END\n"). zero_syscalls.sh runs it
 * under strace and asserts that nothing but the markers happens between
 * them: the spinning data path (send, recv, ack, wait, wake) makes no
 * system call. Everything that may (open, thread start and exit) happens
 * outside the markers. Exits 0 when every message arrived intact and in
 * order.
 *
 * usage: spin_pair [-n messages] [--canary]   (--canary makes one getppid()
 * per 1000 messages inside the loop, to prove the checker sees syscalls)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

#define QNAME "spin"

static pmq_t *prod;
static uint32_t count = 100000;
static _Atomic int ready, go, may_exit;
static _Atomic int failed;

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void *producer(void *arg)
{
	(void)arg;
	uint8_t buf[128];
	atomic_store(&ready, 1);
	while (!atomic_load(&go))
		relax();
	for (uint32_t s = 0; s < count; s++) {
		size_t len = itest_make(buf, sizeof(buf), 0, s);
		if (pmq_send(prod, buf, len, 0)) {
			atomic_store(&failed, 1);
			break;
		}
	}
	while (!atomic_load(&may_exit)) /* no syscall (thread exit) before END */
		relax();
	return NULL;
}

int main(int argc, char **argv)
{
	int canary = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--canary"))
			canary = 1;
		else if (!strcmp(argv[i], "-n") && i + 1 < argc)
			count = (uint32_t)atol(argv[++i]);
	}
	itest_dir_make();
	struct pmq_config cfg;
	itest_config(&cfg, 256);
	pmq_t *creator, *cons;
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.wait = PMQ_WAIT_SPIN;
	if (pmq_create(QNAME, &cfg, &creator) || pmq_open_ex(QNAME, PMQ_PRODUCER, &o, &prod) ||
	    pmq_open_ex(QNAME, PMQ_CONSUMER, &o, &cons)) {
		fprintf(stderr, "spin_pair: setup: %s\n", pmq_errmsg());
		itest_dir_remove();
		return 2;
	}
	pthread_t t;
	if (pthread_create(&t, NULL, producer, NULL))
		return 2;
	while (!atomic_load(&ready))
		relax();
	uint32_t bad = 0;
	struct pmq_msg m;
	if (write(2, "BEGIN\n", 6) != 6)
		return 2;
	atomic_store(&go, 1);
	for (uint32_t s = 0; s < count && !atomic_load(&failed); s++) {
		uint32_t p, seq;
		if (pmq_recv(cons, &m, 0)) {
			bad++;
			break;
		}
		if (!itest_check(m.data, m.len, &p, &seq) || seq != s || m.delivery_count != 1)
			bad++;
		if (pmq_ack(cons, &m))
			bad++;
		if (canary && s % 1000 == 0)
			(void)getppid();
	}
	if (write(2, "END\n", 4) != 4)
		return 2;
	atomic_store(&may_exit, 1);
	pthread_join(t, NULL);
	pmq_close(prod);
	pmq_close(cons);
	pmq_close(creator);
	itest_dir_remove();
	if (bad || atomic_load(&failed)) {
		fprintf(stderr, "spin_pair: %u bad messages, producer failed %d\n", bad, atomic_load(&failed));
		return 1;
	}
	fprintf(stderr, "spin_pair: %u messages in order\n", count);
	return 0;
}
