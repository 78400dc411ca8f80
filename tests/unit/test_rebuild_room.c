/*
 * test_rebuild_room.c - the whole-file rebuild keeps an intact message that
 * sits where the rebuilt cursors cannot hold it, also when the side area has
 * no room to save it as a dead letter (issue 9 item 19): it is given a ticket
 * of its own at the end of the ring instead of being freed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "unit_queue.h"

static void test_out_of_place_message_kept_when_side_area_full(void **st)
{
	(void)st;
	struct uq_shape sh = {.slots = 8, .side = 2, .dlq_cap = 1};
	struct pmq *p = uq_create(&sh);
	struct pmq_msg m;
	const char *text[] = {"side-a", "side-b", "main-c", "main-d"};
	struct pmq_msg two[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pmq_send(p, text[i], 6, 0), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pmq_recv(p, &two[i], PMQ_NONBLOCK), 0);
	for (int i = 0; i < 2; i++) /* two redeliveries fill the side area */
		assert_int_equal(pmq_nack(p, &two[i], 0), 0);
	assert_int_equal(uq_side_count(p, ST_READY), 2);
	assert_int_equal(pmq_send(p, text[2], 6, 0), 0); /* ticket 2, slot 2 */
	assert_int_equal(pmq_send(p, text[3], 6, 0), 0); /* ticket 3, slot 3 */
	/* damage while closed: slot 3's message (header and word agree) five laps ahead */
	struct pmq_slot *s3 = main_slot(p, 3);
	s3->ticket = 5 * 8 + 3;
	atomic_store(&s3->ctl, ctl_make(5, ST_READY, PMQ_NO_OWNER, 0, 0));
	pmq_close(p);

	p = uq_open("t", PMQ_PRODUCER | PMQ_CONSUMER); /* the walk finds the damage: rebuild */
	unsigned seen = 0;
	while (pmq_recv(p, &m, PMQ_NONBLOCK) == 0) {
		for (int i = 0; i < 4; i++)
			if (m.len == 6 && memcmp(m.data, text[i], 6) == 0)
				seen |= 1u << i;
		assert_int_equal(pmq_ack(p, &m), 0);
	}
	if (seen != 0xf)
		fail_msg("messages kept after the rebuild: mask 0x%x of 0xf (side area full, nothing may be dropped)",
			 seen);
	/* and the ring works on */
	assert_int_equal(pmq_send(p, "after", 5, 0), 0);
	assert_int_equal(pmq_recv(p, &m, PMQ_NONBLOCK), 0);
	assert_memory_equal(m.data, "after", 5);
	assert_int_equal(pmq_ack(p, &m), 0);
	pmq_close(p);
}

static int setup(void **st)
{
	(void)st;
	uq_dir_make("rebuild");
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
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_out_of_place_message_kept_when_side_area_full, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
