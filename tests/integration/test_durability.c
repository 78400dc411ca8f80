/*
 * test_durability.c - power mode: a queue file "reopened as after a reboot"
 * (its boot id replaced) gives back every committed message, intact, in
 * ticket order, counted as delivered once more (acks are not persisted,
 * recover.c rebuild_after_reboot), and none that was never committed; the
 * queue then works. Power mode is refused on tmpfs unless
 * PMEM_IS_PMEM_FORCE=1 (which makes libpmem treat /dev/shm as pmem: the
 * flush path runs, the media is still RAM).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "ledger.h"

#define QNAME "power"
#define CNAME "power-after-reboot"
#define N_COMMITTED 50 /* tickets 40..89 survive; 0..39 were acked */

static int setup(void **state)
{
	(void)state;
	itest_dir_make();
	ledger_new();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	itest_dir_remove();
	return 0;
}

/* ---- refused on tmpfs (runs before anything maps a file with the force set) ----- */

static void create_forced(void *arg)
{
	(void)arg;
	setenv("PMEM_IS_PMEM_FORCE", "1", 1);
	struct pmq_config cfg;
	itest_config(&cfg, 64);
	cfg.durability = PMQ_DURABLE_POWER;
	pmq_t *q;
	CHILD_CHECK(pmq_create(QNAME, &cfg, &q) == 0);
	CHILD_CHECK(pmq_close(q) == 0);
}

static void test_power_mode_refused_on_tmpfs_without_force(void **state)
{
	(void)state;
	unsetenv("PMEM_IS_PMEM_FORCE");
	struct pmq_config cfg;
	itest_config(&cfg, 64);
	cfg.durability = PMQ_DURABLE_POWER;
	pmq_t *q = (pmq_t *)1;
	assert_int_equal(pmq_create(QNAME, &cfg, &q), -EINVAL);
	assert_null(q);
	assert_non_null(strstr(pmq_errmsg(), "tmpfs"));
	char path[512];
	itest_queue_path(path, sizeof(path), QNAME);
	assert_int_equal(access(path, F_OK), -1); /* nothing left behind */

	/* a power queue made with the force set cannot be opened without it */
	assert_true(itest_exited_ok(itest_wait(itest_fork(NULL, create_forced, NULL))));
	assert_int_equal(pmq_open(QNAME, PMQ_CONSUMER, &q), -EINVAL);
	assert_non_null(strstr(pmq_errmsg(), "tmpfs"));
	/* process mode is fine there */
	cfg.durability = PMQ_DURABLE_PROCESS;
	assert_int_equal(pmq_create("process", &cfg, &q), 0);
	assert_int_equal(pmq_close(q), 0);
}

/* ---- after a reboot ------------------------------------------------------------- */

static void consumer_holds_one(void *arg)
{
	(void)arg;
	pmq_t *q;
	CHILD_CHECK(pmq_open(QNAME, PMQ_CONSUMER, &q) == 0);
	struct pmq_msg m;
	CHILD_CHECK(pmq_recv_timeout(q, &m, 1000000000ull) == 0);
	uint32_t p;
	CHILD_CHECK(ledger_seen(&m, &p) == 40);
	raise(SIGKILL);
}

static void producer_one_more(void *arg)
{
	(void)arg;
	pmq_t *q;
	CHILD_CHECK(pmq_open(QNAME, PMQ_PRODUCER, &q) == 0);
	CHILD_CHECK(ledger_send(q, 0, 90) == 0); /* the fault point kills us inside */
	CHILD_CHECK(!"send survived its fault point");
}

static void producer_reserves(void *arg)
{
	(void)arg;
	pmq_t *q;
	CHILD_CHECK(pmq_open(QNAME, PMQ_PRODUCER, &q) == 0);
	void *buf;
	CHILD_CHECK(pmq_reserve(q, 100, &buf, 0) == 0);
	itest_make(buf, 100, 0, 90); /* written, never committed */
	raise(SIGKILL);
}

static void copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	assert_true(in >= 0);
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(out >= 0);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	assert_int_equal(close(out), 0);
}

static void reboot_with(const char *fault, void (*dying_producer)(void *))
{
	setenv("PMEM_IS_PMEM_FORCE", "1", 1);
	struct pmq_config cfg;
	itest_config(&cfg, 64);
	cfg.durability = PMQ_DURABLE_POWER;
	pmq_t *q;
	assert_int_equal(pmq_create(QNAME, &cfg, &q), 0);
	struct pmq_stats st;
	assert_int_equal(pmq_stats(q, &st), 0);
	assert_int_equal(st.durability, PMQ_DURABLE_POWER);

	/* 40 sent and acked, then 50 committed (the ring wraps), one held, one never committed */
	struct pmq_msg m;
	for (uint32_t s = 0; s < 40; s++) {
		assert_int_equal(ledger_send(q, 0, s), 0);
		assert_int_equal(pmq_recv_timeout(q, &m, 1000000000ull), 0);
		assert_int_equal(pmq_ack(q, &m), 0);
	}
	for (uint32_t s = 40; s < 40 + N_COMMITTED; s++)
		assert_int_equal(ledger_send(q, 0, s), 0);
	assert_true(itest_killed_by(itest_wait(itest_fork(NULL, consumer_holds_one, NULL)), SIGKILL));
	assert_true(itest_killed_by(itest_wait(itest_fork(fault, dying_producer, NULL)), SIGKILL));
	assert_int_equal(atomic_load(&LG->sent[0][90]), 0);
	assert_int_equal(count_main_claimed(q), 1);
	/* the producer's pmq_open already recovered the dead consumer: its message waits in the side area */
	assert_int_equal(count_main(q, ST_CLAIMED), 0);
	assert_int_equal(count_side(q, ST_READY), 1);
	assert_int_equal(pmq_close(q), 0); /* every handle closed: only the dead ones' marks remain */

	/* "reboot": the copy carries another machine boot id */
	char from[512], to[512];
	itest_queue_path(from, sizeof(from), QNAME);
	itest_queue_path(to, sizeof(to), CNAME);
	copy_file(from, to);
	char boot[40] = "00000000-0000-4000-8000-not-this-boot";
	int fd = open(to, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	char old[40];
	assert_int_equal(pread(fd, old, sizeof(old), offsetof(struct pmq_header, boot_id)), 40);
	char now[40];
	assert_int_equal(format_read_boot_id(now), 0);
	assert_memory_equal(old, now, 40); /* the file was last recovered on this boot */
	/* a valid record of another boot (boot_crc matches): a garbage one would be damage */
	struct pmq_header h;
	assert_int_equal(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	format_write_boot_record(&h, boot);
	assert_int_equal(pwrite(fd, h.boot_id, sizeof(h.boot_id), offsetof(struct pmq_header, boot_id)), 40);
	assert_int_equal(pwrite(fd, &h.boot_crc, sizeof(h.boot_crc), offsetof(struct pmq_header, boot_crc)), 4);
	close(fd);

	pmq_t *r;
	assert_int_equal(pmq_open(CNAME, PMQ_PRODUCER | PMQ_CONSUMER, &r), 0);
	/* the message the dead consumer held comes first (side area): one crash, one reboot */
	assert_int_equal(pmq_recv_timeout(r, &m, 1000000000ull), 0);
	uint32_t p;
	assert_int_equal(ledger_seen(&m, &p), 40);
	assert_int_equal(m.ticket, 40);
	assert_int_equal(m.delivery_count, 3);
	assert_int_equal(pmq_ack(r, &m), 0);
	/* then every committed message in ticket order, intact, counted as delivered once more */
	for (uint32_t s = 41; s < 40 + N_COMMITTED; s++) {
		assert_int_equal(pmq_recv_timeout(r, &m, 1000000000ull), 0);
		assert_int_equal(ledger_seen(&m, &p), (int)s);
		assert_int_equal(m.ticket, s);
		assert_int_equal(m.delivery_count, 2);
		assert_int_equal(pmq_ack(r, &m), 0);
	}
	/* nothing else: the uncommitted message and the acked ones stay gone */
	assert_int_equal(pmq_recv_timeout(r, &m, 100000000ull), -ETIMEDOUT);
	assert_int_equal(atomic_load(&LG->bad), 0);
	assert_int_equal(pmq_stats(r, &st), 0);
	assert_int_equal(st.in_flight, 0);
	assert_int_equal(st.side_ready, 0);

	/* and the queue works on: a new message after the aborted ticket, first delivery */
	for (uint32_t s = 100; s < 200; s++) {
		assert_int_equal(ledger_send(r, 1, s), 0);
		assert_int_equal(pmq_recv_timeout(r, &m, 1000000000ull), 0);
		assert_int_equal(ledger_seen(&m, &p), (int)s);
		assert_int_equal(p, 1);
		assert_int_equal(m.delivery_count, 1);
		assert_true(m.ticket > 90);
		assert_int_equal(pmq_ack(r, &m), 0);
	}
	assert_int_equal(pmq_close(r), 0);

	/* reopened on the same boot, nothing is counted again */
	assert_int_equal(pmq_open(CNAME, PMQ_CONSUMER, &r), 0);
	assert_int_equal(pmq_recv_timeout(r, &m, 50000000ull), -ETIMEDOUT);
	assert_int_equal(pmq_close(r), 0);
}

static void test_reboot_after_producer_killed_after_claim(void **state)
{
	(void)state;
	reboot_with("send.after_claim", producer_one_more);
}

static void test_reboot_after_producer_killed_before_commit(void **state)
{
	(void)state;
	reboot_with("send.before_commit", producer_one_more);
}

static void test_reboot_after_producer_killed_inside_reservation(void **state)
{
	(void)state;
	reboot_with(NULL, producer_reserves);
}

int main(void)
{
	/* first: nothing in this process has mapped a file with the force set yet */
	const struct CMUnitTest refused[] = {
		cmocka_unit_test_setup_teardown(test_power_mode_refused_on_tmpfs_without_force, setup, teardown),
	};
	const struct CMUnitTest reboot[] = {
		cmocka_unit_test_setup_teardown(test_reboot_after_producer_killed_after_claim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reboot_after_producer_killed_before_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reboot_after_producer_killed_inside_reservation, setup, teardown),
	};
	int failed = cmocka_run_group_tests(refused, NULL, NULL);
	return failed + cmocka_run_group_tests(reboot, NULL, NULL);
}
