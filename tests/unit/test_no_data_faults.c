/*
 * test_no_data_faults.c - the data path never takes a page fault (README: every
 * attached handle pre-faults its mapping at open). On tmpfs the library populates
 * for reading only (shmem maps its pages writable at once; queue.c map_queue): this
 * test proves that choice keeps sends, receives and acks free of faults. Two laps of
 * a ring of ~1,100 pages, every slot written and read through two mappings (a
 * producer and a consumer handle): any page not populated, or populated read-only,
 * faults at least once, so a missing or wrong populate shows as >= 1,000 faults.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pmq.h"

/* a sanitizer's shadow memory faults on its first touch of each shadow page: the fault
 * count then says nothing about the queue's mapping (checked in the plain build) */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

#define SLOTS 4096u
#define PAYLOAD 1024u
#define SLACK_FAULTS 16 /* the test's own first touches (stack, lazy symbols), not the ring */

static char dir[64];
static unsigned char buf[PAYLOAD];

static long minor_faults(void)
{
	struct rusage r;
	getrusage(RUSAGE_SELF, &r);
	return r.ru_minflt;
}

static void one_message(pmq_t *p, pmq_t *c)
{
	struct pmq_msg m;
	assert_int_equal(pmq_send(p, buf, sizeof(buf), PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_recv(c, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(m.len, sizeof(buf));
	assert_int_equal(((const unsigned char *)m.data)[PAYLOAD - 1], buf[PAYLOAD - 1]);
	assert_int_equal(pmq_ack(c, &m), 0);
}

static void test_two_laps_without_a_fault(void **state)
{
	(void)state;
	struct pmq_config cfg;
	pmq_config_init(&cfg);
	cfg.slot_count = SLOTS;
	cfg.max_payload = PAYLOAD;
	cfg.dir = dir;
	pmq_t *q = NULL, *p = NULL, *c = NULL;
	assert_int_equal(pmq_create("nf", &cfg, &q), 0);
	pmq_close(q);
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.dir = dir;
	assert_int_equal(pmq_open_ex("nf", PMQ_PRODUCER, &o, &p), 0);
	assert_int_equal(pmq_open_ex("nf", PMQ_CONSUMER, &o, &c), 0);
	memset(buf, 0x5a, sizeof(buf));
	one_message(p, c); /* warm the code path: its first calls may fault in text and stack */
	long before = minor_faults();
	for (unsigned i = 0; i < 2 * SLOTS; i++) {
		buf[PAYLOAD - 1] = (unsigned char)i;
		one_message(p, c);
	}
	long faults = minor_faults() - before;
	printf("minor faults over %u sends, receives and acks of %u B: %ld\n", 2 * SLOTS, PAYLOAD, faults);
	assert_true(faults < SLACK_FAULTS);
	pmq_close(c);
	pmq_close(p);
	assert_int_equal(pmq_unlink("nf", dir), 0);
}

int main(void)
{
#ifdef UNDER_SANITIZER
	printf("skipped: built with a sanitizer, whose shadow memory faults on first touch "
	       "(the fault count is checked in the plain build)\n");
	return 77;
#endif
	snprintf(dir, sizeof(dir), "/dev/shm/pmq-nf-%d", (int)getpid());
	if (mkdir(dir, 0700) != 0) {
		printf("skipped: cannot make %s (needs a writable /dev/shm)\n", dir);
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_laps_without_a_fault),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(dir);
	return rc;
}
