/*
 * test_reread.c - shared memory is read once (issue 9 item 3). A hostile
 * process flips the `len` of every slot between 5 and 0x7fffffff while the
 * first opener of the closed queue runs whole-file recovery (a boot id that
 * does not match makes it rebuild): the CRC checks, the delivery recount and
 * the dead-lettering copy must each use the one value they bounded, never a
 * second read. With a second read the CRC runs ~2 GiB past the slot and the
 * opener crashes (SIGSEGV, or an ASan report). A second test does the same to a
 * power-mode queue's data path (the consumer's CRC check, moves of nacked and
 * rejected messages).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "internal.h"
#include "itest.h"

#define QNAME "reread"
#define SLOTS 16u
#define ROUNDS 400

static char qpath[512];

static int setup(void **state)
{
	(void)state;
	itest_dir_make();
	itest_queue_path(qpath, sizeof(qpath), QNAME);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	itest_dir_remove();
	return 0;
}

struct hostile {
	uint8_t *file;
	struct pmq_header *h;
	_Atomic int stop;
};

static struct pmq_slot *slot_at(struct hostile *x, uint64_t off, uint32_t j)
{
	return (struct pmq_slot *)(x->file + off + (size_t)j * x->h->slot_size);
}

/* each value holds for a sweep over every slot: a check and a later read see
 * different values about half of the time */
static void *flipper(void *arg)
{
	struct hostile *x = arg;
	uint32_t n = x->h->slot_count, ns = x->h->side_count;
	for (uint32_t v = 5; !atomic_load_explicit(&x->stop, memory_order_relaxed); v ^= 5u ^ 0x7fffffffu) {
		for (uint32_t j = 0; j < n; j++)
			*(volatile uint32_t *)&slot_at(x, x->h->ring_off, j)->len = v;
		for (uint32_t e = 0; e < ns; e++)
			*(volatile uint32_t *)&slot_at(x, x->h->side_off, e)->len = v;
		for (int k = 0; k < 200; k++)
			cpu_relax();
	}
	return NULL;
}

/* a CRC that matches when len reads 5: such a slot passes the check, and a
 * second read of len then sees 0x7fffffff half of the time */
static void seal(struct pmq_slot *s)
{
	struct pmq_slot copy;
	memcpy(&copy, s, sizeof(copy));
	copy.len = 5;
	s->crc = slot_crc(&copy, slot_payload(s), 5);
}

/* every round: eight READY messages that claim a CRC, a clean side area, another boot */
static void reseed(struct hostile *x)
{
	struct pmq_header *h = x->h;
	for (uint32_t j = 0; j < h->slot_count; j++) {
		struct pmq_slot *s = slot_at(x, h->ring_off, j);
		atomic_store(&s->ctl, j < 8 ? ctl_make(0, ST_READY, PMQ_NO_OWNER, 0, 0) : ctl_free(0));
		s->ticket = j;
		s->origin = j;
		s->hflags = SLOT_HF_CRC;
		seal(s);
	}
	for (uint32_t e = 0; e < h->side_count; e++) {
		struct pmq_slot *d = slot_at(x, h->side_off, e);
		atomic_store(&d->ctl, ctl_make(0, e % 3 ? ST_FREE : ST_READY, PMQ_NO_OWNER, 0, 0));
		d->hflags = SLOT_HF_CRC;
		seal(d);
	}
	atomic_store(&h->head, 0);
	atomic_store(&h->tail, 8);
	atomic_store(&h->side_hint, 0);
	atomic_store(&h->dlq_count, 0);
	memset(h->boot_id, 'x', 8); /* not this boot: the opener rebuilds */
}

static void hostile_opener(void *arg)
{
	(void)arg;
	signal(SIGSEGV, SIG_DFL); /* die by the signal, not through the runner's handler */
	signal(SIGBUS, SIG_DFL);
	int fd = open(qpath, O_RDWR | O_CLOEXEC);
	CHILD_CHECK(fd >= 0);
	struct stat st;
	CHILD_CHECK(fstat(fd, &st) == 0);
	struct hostile x = {0};
	x.file = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHILD_CHECK(x.file != MAP_FAILED);
	x.h = (struct pmq_header *)x.file;
	pthread_t t;
	CHILD_CHECK(pthread_create(&t, NULL, flipper, &x) == 0);
	uint64_t end = itest_now_ns() + 3000000000ull;
	for (int r = 0; r < ROUNDS || itest_now_ns() < end; r++) {
		reseed(&x);
		pmq_t *q;
		CHILD_CHECK(pmq_open(QNAME, PMQ_CONSUMER, &q) == 0);
		struct pmq_msg m;
		for (int k = 0; k < 4 && pmq_recv(q, &m, PMQ_NONBLOCK) == 0; k++) {
			CHILD_CHECK(m.len <= 100); /* clamped: never more than a slot holds */
			volatile uint8_t sum = 0;
			for (size_t i = 0; i < m.len; i++)
				sum += ((const uint8_t *)m.data)[i];
			(void)sum;
			pmq_ack(q, &m);
		}
		CHILD_CHECK(pmq_close(q) == 0 || 1); /* a close may report held messages left for recovery */
	}
	atomic_store(&x.stop, 1);
	pthread_join(t, NULL);
	munmap(x.file, (size_t)st.st_size);
	close(fd);
}

static void test_rebuild_reads_each_length_once(void **state)
{
	(void)state;
	struct pmq_config cfg;
	itest_config(&cfg, SLOTS);
	cfg.max_payload = 100;
	cfg.max_attach = 4;
	cfg.consumer_quota = 4;
	cfg.dlq_capacity = 8;
	pmq_t *q;
	assert_int_equal(pmq_create(QNAME, &cfg, &q), 0);
	assert_int_equal(pmq_close(q), 0);
	int st = itest_wait(itest_fork(NULL, hostile_opener, NULL));
	if (!itest_exited_ok(st))
		fail_msg("the opener did not survive the hostile writer (status 0x%x%s)", st,
			 WIFSIGNALED(st) ? ", killed by a signal" : "");
}

/* The data path of a power-mode queue under the same writer: the consumer's CRC check
 * and the moves that dead-letter what fails it (or requeue a nack) copy only the length
 * they bounded. */
static void hostile_traffic(void *arg)
{
	(void)arg;
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	setenv("PMEM_IS_PMEM_FORCE", "1", 1);
	pmq_t *p, *c;
	CHILD_CHECK(pmq_open(QNAME, PMQ_PRODUCER, &p) == 0);
	CHILD_CHECK(pmq_open(QNAME, PMQ_CONSUMER, &c) == 0);
	int fd = open(qpath, O_RDWR | O_CLOEXEC);
	CHILD_CHECK(fd >= 0);
	struct stat st;
	CHILD_CHECK(fstat(fd, &st) == 0);
	struct hostile x = {0};
	x.file = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHILD_CHECK(x.file != MAP_FAILED);
	x.h = (struct pmq_header *)x.file;
	pthread_t t;
	CHILD_CHECK(pthread_create(&t, NULL, flipper, &x) == 0);
	uint64_t end = itest_now_ns() + 2000000000ull;
	for (unsigned r = 0; itest_now_ns() < end; r++) {
		for (int k = 0; k < 4; k++)
			pmq_send(p, "hello", 5, PMQ_NONBLOCK);
		struct pmq_msg m;
		for (int k = 0; k < 4 && pmq_recv(c, &m, PMQ_NONBLOCK) == 0; k++) {
			CHILD_CHECK(m.len <= 100);
			if ((r + (unsigned)k) % 2)
				pmq_nack(c, &m, 0); /* a move: copies the length it bounded */
			else
				pmq_ack(c, &m);
		}
		pmq_dlq_purge(c, 64);
		if (r % 16 == 15) { /* settle what the consumer kept (rejected, no credit) */
			pmq_close(c);
			CHILD_CHECK(pmq_open(QNAME, PMQ_CONSUMER, &c) == 0);
		}
	}
	atomic_store(&x.stop, 1);
	pthread_join(t, NULL);
	munmap(x.file, (size_t)st.st_size);
	close(fd);
	pmq_close(c);
	pmq_close(p);
}

static void test_power_data_path_reads_each_length_once(void **state)
{
	(void)state;
	setenv("PMEM_IS_PMEM_FORCE", "1", 1);
	struct pmq_config cfg;
	itest_config(&cfg, SLOTS);
	cfg.max_payload = 100;
	cfg.max_attach = 4;
	cfg.consumer_quota = 8;
	cfg.dlq_capacity = 8;
	cfg.durability = PMQ_DURABLE_POWER;
	pmq_t *q;
	assert_int_equal(pmq_create(QNAME, &cfg, &q), 0);
	assert_int_equal(pmq_close(q), 0);
	int st = itest_wait(itest_fork(NULL, hostile_traffic, NULL));
	if (!itest_exited_ok(st))
		fail_msg("the power-mode data path did not survive the hostile writer (status 0x%x%s)", st,
			 WIFSIGNALED(st) ? ", killed by a signal" : "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rebuild_reads_each_length_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_power_data_path_reads_each_length_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
