/*
 * test_corrupt_payload.c - power mode never delivers a payload that fails
 * its CRC (issue 9 item 14): not after a dead-lettering that found no
 * credit (a later move must not seal unverified bytes with a fresh CRC),
 * not from the side area (side claims check the CRC too), not through a
 * dead-letter replay.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "unit_queue.h"

static struct pmq *power_queue(uint32_t dlq_cap)
{
	struct uq_shape sh = {.slots = 8, .side = 6, .dlq_cap = dlq_cap, .durability = PMQ_DURABLE_POWER};
	return uq_create(&sh);
}

static void flip_payload_byte(struct pmq_slot *s) { slot_payload(s)[2] ^= 0x20; }

static void test_rejected_without_credit_is_held_and_never_resealed(void **st)
{
	(void)st;
	struct pmq *p = power_queue(1);
	struct pmq *c = uq_open("t", PMQ_CONSUMER);
	struct pmq_msg m;
	/* the one dead-letter credit is used */
	assert_int_equal(pmq_send(p, "first", 5, 0), 0);
	assert_int_equal(pmq_recv(c, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_nack(c, &m, PMQ_NACK_DEADLETTER), 0);
	assert_int_equal(uq_dlq_count(p), 1);
	/* a message damaged on the media: the consumer's CRC check rejects it, no credit */
	assert_int_equal(pmq_send(p, "hello", 5, 0), 0);
	flip_payload_byte(main_slot(p, 1));
	assert_int_equal(pmq_recv(c, &m, PMQ_NONBLOCK), -EAGAIN);
	assert_int_equal(ctl_state(atomic_load(&main_slot(p, 1)->ctl)), ST_CLAIMED);
	/* the consumer holds it: counted, so close and recovery know */
	assert_int_equal(atomic_load(&c->me->in_flight), 1);
	/* a credit comes free; the consumer closes: its close settles what it holds */
	assert_int_equal(pmq_dlq_purge(p, 1), 1);
	pmq_close(c);
	c = uq_open("t", PMQ_CONSUMER);
	int rc = pmq_recv(c, &m, PMQ_NONBLOCK);
	if (rc == 0)
		fail_msg("a corrupt payload was delivered (\"%.*s\", delivery %u)", (int)m.len, (const char *)m.data,
			 m.delivery_count);
	assert_int_equal(rc, -EAGAIN);
	assert_int_equal(uq_side_count(p, ST_DEAD), 1); /* it is a dead letter (reason: corrupt) */
	/* and a replay does not make it deliverable */
	pmq_dlq_replay(p, 4);
	assert_int_equal(pmq_recv(c, &m, PMQ_NONBLOCK), -EAGAIN);
	pmq_close(c);
	pmq_close(p);
}

static void test_side_claim_checks_the_crc(void **st)
{
	(void)st;
	struct pmq *p = power_queue(4);
	struct pmq *c = uq_open("t", PMQ_CONSUMER);
	struct pmq_msg m;
	assert_int_equal(pmq_send(p, "again", 5, 0), 0);
	assert_int_equal(pmq_recv(c, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_nack(c, &m, 0), 0); /* now a redelivery in the side area */
	uint32_t e = 0;
	while (e < p->side_count && ctl_state(atomic_load(&side_slot(p, e)->ctl)) != ST_READY)
		e++;
	assert_true(e < p->side_count);
	flip_payload_byte(side_slot(p, e));
	int rc = pmq_recv(c, &m, PMQ_NONBLOCK);
	if (rc == 0)
		fail_msg("a corrupt redelivery was delivered (\"%.*s\")", (int)m.len, (const char *)m.data);
	assert_int_equal(rc, -EAGAIN);
	assert_int_equal(uq_side_count(p, ST_DEAD), 1);
	assert_int_equal(uq_dlq_count(p), 1);
	assert_int_equal(pmq_dlq_replay(p, 4), 0); /* a corrupt letter is not replayed */
	assert_int_equal(pmq_recv(c, &m, PMQ_NONBLOCK), -EAGAIN);
	pmq_close(c);
	pmq_close(p);
}

static int setup(void **st)
{
	(void)st;
	uq_dir_make("corrupt");
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	uq_dir_remove();
	return 0;
}

int main(void)
{
	setenv("PMEM_IS_PMEM_FORCE", "1", 1); /* power mode on /dev/shm: the flush path runs */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rejected_without_credit_is_held_and_never_resealed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_side_claim_checks_the_crc, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
