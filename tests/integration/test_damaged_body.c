/*
 * test_damaged_body.c - a queue file whose header checks out but whose body
 * (cursors, control words, attachment table, side area) was damaged while
 * nobody had it open. The first opener walks every control word, and if the
 * file is not one that crashes alone could leave, rebuilds it: non-blocking
 * calls return, nothing read is larger than a slot, intact messages still
 * come out in order, and the queue carries new messages afterwards. The same for
 * a file with consumer groups (its table, lanes and side tags damaged too): every
 * group still there drains, then receives a new message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "internal.h"
#include "itest.h"

#define QNAME "damaged"
#define SLOTS 16u

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

static pmq_t *create_small(void)
{
	struct pmq_config cfg;
	itest_config(&cfg, SLOTS);
	cfg.max_payload = 100;
	cfg.max_attach = 4;
	cfg.consumer_quota = 4;
	cfg.dlq_capacity = 4;
	pmq_t *q;
	assert_int_equal(pmq_create(QNAME, &cfg, &q), 0);
	return q;
}

/* Map the closed file and let fn damage it. */
static void damage(void (*fn)(uint8_t *file, size_t len, void *arg), void *arg)
{
	int fd = open(qpath, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	uint8_t *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	fn(p, (size_t)st.st_size, arg);
	munmap(p, (size_t)st.st_size);
	close(fd);
}

static void tail_far_behind(uint8_t *file, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	struct pmq_header *h = (struct pmq_header *)file;
	/* 2^30 laps behind its slots: helping the cursor one step at a time never ends */
	atomic_store(&h->tail, atomic_load(&h->tail) - ((uint64_t)SLOTS << 30));
	atomic_store(&h->head, atomic_load(&h->head) - ((uint64_t)SLOTS << 30));
}

/* On failure: where the cursors and the control words stand. */
static void dump_ring(pmq_t *handle)
{
	struct pmq *q = (struct pmq *)handle;
	fprintf(stderr, "head %llu tail %llu\n", (unsigned long long)atomic_load(&q->hdr->head),
		(unsigned long long)atomic_load(&q->hdr->tail));
	for (uint32_t j = 0; j < q->slot_count; j++) {
		uint64_t c = atomic_load(&main_slot(q, j)->ctl);
		fprintf(stderr, "slot %u: lap %u state %u owner %u\n", j, ctl_lap(c), ctl_state(c), ctl_owner(c));
	}
}

/* After repair the queue must carry a new message end to end. */
static void assert_round_trip(pmq_t *q)
{
	struct pmq_msg m;
	while (pmq_recv(q, &m, PMQ_NONBLOCK) == 0)
		assert_int_equal(pmq_ack(q, &m), 0);
	int rc = pmq_send(q, "probe", 5, PMQ_NONBLOCK);
	if (rc)
		fail_msg("probe send: %s: %s", pmq_strerror(rc), pmq_errmsg());
	rc = pmq_recv(q, &m, PMQ_NONBLOCK);
	if (rc) {
		dump_ring(q);
		fail_msg("probe recv: %s", pmq_strerror(rc));
	}
	assert_int_equal(m.len, 5);
	assert_memory_equal(m.data, "probe", 5);
	assert_int_equal(pmq_ack(q, &m), 0);
}

static void test_cursors_far_behind_are_rebuilt_and_messages_kept(void **state)
{
	(void)state;
	pmq_t *q = create_small();
	char buf[16];
	for (int i = 0; i < 40; i++) { /* wraps the ring: laps above 0 */
		struct pmq_msg m;
		int n = snprintf(buf, sizeof(buf), "old%d", i);
		assert_int_equal(pmq_send(q, buf, (size_t)n, 0), 0);
		assert_int_equal(pmq_recv(q, &m, 0), 0);
		assert_int_equal(pmq_ack(q, &m), 0);
	}
	for (int i = 0; i < 5; i++) {
		int n = snprintf(buf, sizeof(buf), "keep%d", i);
		assert_int_equal(pmq_send(q, buf, (size_t)n, 0), 0);
	}
	assert_int_equal(pmq_close(q), 0);
	damage(tail_far_behind, NULL);

	assert_int_equal(pmq_open(QNAME, PMQ_PRODUCER | PMQ_CONSUMER, &q), 0);
	for (int i = 0; i < 5; i++) { /* the intact messages, in order, not counted again */
		struct pmq_msg m;
		int n = snprintf(buf, sizeof(buf), "keep%d", i);
		assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0);
		assert_int_equal(m.len, (size_t)n);
		assert_memory_equal(m.data, buf, (size_t)n);
		assert_int_equal(m.delivery_count, 1);
		assert_int_equal(m.ticket, 40u + (unsigned)i);
		assert_int_equal(pmq_ack(q, &m), 0);
	}
	assert_round_trip(q);
	assert_int_equal(pmq_close(q), 0);
}

struct random_damage {
	unsigned flips;
};

static void random_bytes(uint8_t *file, size_t len, void *arg)
{
	struct random_damage *d = arg;
	for (unsigned k = 0; k < d->flips; k++) {
		/* the body only: the header's identity is checksummed (test_bad_input) */
		size_t off = PMQ_HDR_SIZE + (size_t)rand() % (len - PMQ_HDR_SIZE);
		if (rand() % 2)
			file[off] ^= (uint8_t)(1u << (rand() % 8));
		else
			file[off] = (uint8_t)rand();
	}
}

static void test_random_body_damage_never_hangs_or_overreads(void **state)
{
	(void)state;
	unsigned seed = (unsigned)itest_now_ns();
	fprintf(stderr, "# seed %u\n", seed);
	srand(seed);
	for (int round = 0; round < 150; round++) {
		pmq_t *q = create_small();
		char buf[128];
		for (int i = 0; i < 12; i++) {
			memset(buf, 'a' + i, sizeof(buf));
			assert_int_equal(pmq_send(q, buf, 1 + (size_t)(rand() % 100), 0), 0);
		}
		for (int i = 0; i < 5; i++) { /* some acked, some requeued to the side area */
			struct pmq_msg m;
			assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0);
			assert_int_equal(i % 2 ? pmq_ack(q, &m) : pmq_nack(q, &m, PMQ_NACK_REQUEUE), 0);
		}
		assert_int_equal(pmq_close(q), 0);
		struct random_damage d = { .flips = 1 + (unsigned)(rand() % 64) };
		damage(random_bytes, &d);

		int rc = pmq_open(QNAME, PMQ_PRODUCER | PMQ_CONSUMER, &q);
		assert_int_equal(rc, 0); /* the header is intact: the body is repaired, not refused */
		struct pmq_msg m;
		unsigned got = 0;
		while (pmq_recv(q, &m, PMQ_NONBLOCK) == 0) {
			assert_true(m.len <= 100);
			volatile uint8_t sum = 0;
			for (size_t i = 0; i < m.len; i++)
				sum += ((const uint8_t *)m.data)[i]; /* ASan: every byte is inside the slot */
			(void)sum;
			assert_int_equal(pmq_ack(q, &m), 0);
			assert_true(++got <= SLOTS + 1200); /* ring + side area: no endless stream */
		}
		assert_round_trip(q);
		assert_int_equal(pmq_close(q), 0);
		assert_int_equal(pmq_unlink(QNAME, NULL), 0);
	}
}

/* ---- a file with consumer groups (docs/groups.md, "Recovery") ------------------- */

static const char *const group_names[3] = {"A", "B", "L"};

static pmq_t *create_groups(void)
{
	struct pmq_config cfg;
	itest_config(&cfg, SLOTS);
	cfg.max_payload = 100;
	cfg.max_attach = 6;
	cfg.consumer_quota = 4;
	cfg.side_slots = 64;
	cfg.dlq_capacity = 32;
	cfg.max_groups = 4;
	cfg.groups = "A,B,L:lossy";
	pmq_t *q;
	int rc = pmq_create(QNAME, &cfg, &q);
	if (rc)
		fail_msg("create: %s", pmq_errmsg());
	return q;
}

/* A consumer of group g, or NULL if the repair freed its damaged record. */
static pmq_t *open_group(const char *g)
{
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.group = g;
	pmq_t *c = NULL;
	int rc = pmq_open_ex(QNAME, PMQ_CONSUMER, &o, &c);
	if (rc == -ENOENT)
		return NULL;
	if (rc)
		fail_msg("open group %s: %s: %s", g, pmq_strerror(rc), pmq_errmsg());
	return c;
}

/* Take everything a group has (bounded, every byte inside its slot), then the probe. */
static void drain_then_probe(pmq_t *c, const char *g, bool probe)
{
	struct pmq_msg m;
	unsigned got = 0;
	bool seen = false;
	int rc;
	while ((rc = pmq_recv(c, &m, PMQ_NONBLOCK)) == 0) {
		assert_true(m.len <= 100);
		volatile uint8_t sum = 0;
		for (size_t i = 0; i < m.len; i++)
			sum += ((const uint8_t *)m.data)[i]; /* ASan: every byte is inside the slot */
		(void)sum;
		seen |= m.len == 5 && memcmp(m.data, "probe", 5) == 0;
		assert_int_equal(pmq_ack(c, &m), 0);
		assert_true(++got <= SLOTS + 64 + 1); /* ring + side area: no endless stream */
	}
	if (rc != -EAGAIN)
		fail_msg("group %s: recv: %s: %s", g, pmq_strerror(rc), pmq_errmsg());
	if (probe && !seen)
		fail_msg("group %s: the probe sent after the repair never arrived", g);
}

static void test_random_damage_of_a_groups_file_is_repaired(void **state)
{
	(void)state;
	unsigned seed = (unsigned)itest_now_ns();
	fprintf(stderr, "# seed %u\n", seed);
	srand(seed);
	for (int round = 0; round < 100; round++) {
		pmq_t *q = create_groups();
		char buf[128];
		for (int i = 0; i < 12; i++) {
			memset(buf, 'a' + i, sizeof(buf));
			assert_int_equal(pmq_send(q, buf, 1 + (size_t)(rand() % 100), 0), 0);
		}
		pmq_t *a = open_group("A");
		for (int i = 0; i < 5; i++) { /* A: some acked, some requeued to the side area */
			struct pmq_msg m;
			assert_int_equal(pmq_recv(a, &m, PMQ_NONBLOCK), 0);
			assert_int_equal(i % 2 ? pmq_ack(a, &m) : pmq_nack(a, &m, PMQ_NACK_REQUEUE), 0);
		}
		assert_int_equal(pmq_close(a), 0);
		assert_int_equal(pmq_close(q), 0);
		struct random_damage d = {.flips = 1 + (unsigned)(rand() % 64)};
		damage(random_bytes, &d);

		/* the header is intact: the body is repaired, not refused */
		assert_int_equal(pmq_open(QNAME, PMQ_PRODUCER, &q), 0);
		pmq_t *c[3];
		for (int g = 0; g < 3; g++) {
			c[g] = open_group(group_names[g]);
			if (c[g])
				drain_then_probe(c[g], group_names[g], false);
		}
		int rc = pmq_send(q, "probe", 5, PMQ_NONBLOCK);
		if (rc)
			fail_msg("round %d: probe send: %s: %s", round, pmq_strerror(rc), pmq_errmsg());
		for (int g = 0; g < 3; g++)
			if (c[g]) {
				drain_then_probe(c[g], group_names[g], true);
				assert_int_equal(pmq_close(c[g]), 0);
			}
		assert_int_equal(pmq_close(q), 0);
		assert_int_equal(pmq_unlink(QNAME, NULL), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cursors_far_behind_are_rebuilt_and_messages_kept, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_random_body_damage_never_hangs_or_overreads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_damage_of_a_groups_file_is_repaired, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
