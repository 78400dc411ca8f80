/*
 * test_group_rebuild.c - whole-file repair of a queue with consumer groups (issue 11,
 * docs/groups.md "Recovery"). A 16-slot queue with reliable groups A and B and a lossy
 * group L: ten messages sent; A acked 0..3 and died holding 4, B died holding 0, L read
 * 0 and 1. Then the closed file is damaged (or rebooted) and reopened exclusively:
 *   - B receives every message it had not settled exactly once (0 as a counted
 *     redelivery), A only what it had not settled (4 as a counted redelivery);
 *   - the damaged message is a dead letter in each group that needed it, delivered to
 *     neither, and a lossy reader counts it lost instead of copying it;
 *   - a lane word that claims a lap the ring does not have, a group record in a state
 *     no record has, a stray group_masks bit: repaired;
 *   - nothing else arrives (no phantom), the queue works on, and the repaired file
 *     is one the next exclusive open leaves alone.
 * And: a create and a delete that died half-way are finished; a lossy group behind the
 * ring at a reboot reports its own gap; a stray group_masks bit alone is cleared.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "unit_queue.h"

#define NMSG 10
#define DAMAGED 6 /* the ticket whose slot is damaged */

static struct pmq *groups_queue_of(uint32_t durability, const char *groups)
{
	struct pmq_config c;
	pmq_config_init(&c);
	c.slot_count = 16;
	c.max_payload = 64;
	c.max_attach = 8;
	c.max_deliveries = 5;
	c.consumer_quota = 16;
	c.side_slots = 8;
	c.dlq_capacity = 4;
	c.durability = durability;
	c.dir = uq_dir;
	c.max_groups = 4;
	c.groups = groups;
	pmq_unlink("t", uq_dir);
	pmq_t *q = NULL;
	if (pmq_create("t", &c, &q)) {
		fprintf(stderr, "create: %s\n", pmq_errmsg());
		abort();
	}
	return q;
}

static struct pmq *groups_queue(uint32_t durability) { return groups_queue_of(durability, "A,B,L:lossy"); }

static struct pmq *open_group(const char *g)
{
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.dir = uq_dir;
	o.group = g;
	pmq_t *q = NULL;
	if (pmq_open_ex("t", PMQ_CONSUMER, &o, &q)) {
		fprintf(stderr, "open %s: %s\n", g, pmq_errmsg());
		abort();
	}
	return q;
}

/* The file was last recovered on another boot (a valid record of it). */
static void other_boot(struct pmq *p) { format_write_boot_record(p->hdr, "00000000-0000-4000-8000-not-this-boot"); }

static void recv_ticket(struct pmq *q, uint64_t want)
{
	struct pmq_msg m;
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(m.ticket, want);
}

/* The state before the damage; returns the producer handle, still open (the damage is
 * done through its mapping, then it closes: nobody is attached any more). *a_idx: the
 * attachment A died in. */
static struct pmq *fill(uint32_t durability, uint32_t *a_idx)
{
	struct pmq *p = groups_queue(durability);
	char buf[16];
	for (int i = 0; i < NMSG; i++) {
		int n = snprintf(buf, sizeof(buf), "m%d", i);
		assert_int_equal(pmq_send(p, buf, (size_t)n, 0), 0);
	}
	struct pmq_msg m;
	struct pmq *l = open_group("L");
	uint64_t lost = 0;
	for (uint64_t t = 0; t < 2; t++) {
		assert_int_equal(pmq_recv_lossy(l, &m, PMQ_NONBLOCK, &lost), 0);
		assert_int_equal(m.ticket, t);
	}
	assert_int_equal(pmq_close(l), 0);
	struct pmq *a = open_group("A");
	for (uint64_t t = 0; t < 4; t++) {
		assert_int_equal(pmq_recv(a, &m, PMQ_NONBLOCK), 0);
		assert_int_equal(m.ticket, t);
		assert_int_equal(pmq_ack(a, &m), 0);
	}
	recv_ticket(a, 4); /* held when A dies */
	struct pmq *b = open_group("B");
	recv_ticket(b, 0); /* held when B dies */
	*a_idx = a->index;
	uq_die(a);
	uq_die(b);
	return p;
}

/* Damage no crash leaves, through the producer's mapping. */
static void scribble_groups(struct pmq *p)
{
	/* a lane word of B two laps past what its slot's message has */
	atomic_store(&group_lane(p, 1)[8], ctl_free(7));
	/* a free group record in a state no record has, and a stray bit for it */
	atomic_store(&group_rec(p, 3)->word, gw_make(9, 0xf0, 5));
	atomic_fetch_or(&p->hdr->group_masks, 1ull << 3);
}

/* Drain a reliable group: each ticket once, acked; want[t] is the delivery count
 * ticket t must arrive with (0: must not arrive). */
static void drain_reliable(const char *g, const uint32_t want[NMSG])
{
	struct pmq *c = open_group(g);
	uint32_t got[NMSG] = {0};
	struct pmq_msg m;
	int rc;
	while ((rc = pmq_recv(c, &m, PMQ_NONBLOCK)) == 0) {
		if (m.ticket >= NMSG)
			fail_msg("group %s: phantom ticket %llu", g, (unsigned long long)m.ticket);
		if (got[m.ticket]++)
			fail_msg("group %s: ticket %llu delivered twice", g, (unsigned long long)m.ticket);
		char expect[16];
		int n = snprintf(expect, sizeof(expect), "m%llu", (unsigned long long)m.ticket);
		assert_int_equal(m.len, (size_t)n);
		assert_memory_equal(m.data, expect, (size_t)n);
		if (m.delivery_count != want[m.ticket])
			fail_msg("group %s: ticket %llu arrived with delivery count %u, want %u", g,
				 (unsigned long long)m.ticket, m.delivery_count, want[m.ticket]);
		assert_int_equal(pmq_ack(c, &m), 0);
	}
	assert_int_equal(rc, -EAGAIN);
	for (int t = 0; t < NMSG; t++)
		if ((got[t] != 0) != (want[t] != 0))
			fail_msg("group %s: ticket %d %s", g, t, got[t] ? "delivered, it was settled" : "never delivered");
	assert_int_equal(pmq_close(c), 0);
}

static void drain_lossy(struct pmq *r)
{
	struct pmq *c = open_group("L");
	uint64_t total = 0, lost = 0, want = 2;
	struct pmq_msg m;
	int rc;
	while ((rc = pmq_recv_lossy(c, &m, PMQ_NONBLOCK, &lost)) == 0) {
		total += lost;
		if (want == DAMAGED)
			want++; /* counted lost, never copied */
		assert_int_equal(m.ticket, want);
		want++;
	}
	total += lost;
	assert_int_equal(rc, -EAGAIN);
	assert_int_equal(want, NMSG);
	assert_int_equal(total, 1);
	assert_int_equal(pmq_close(c), 0);
	struct pmq_group_info gi;
	assert_int_equal(pmq_group_stats(r, "L", &gi), 0);
	assert_int_equal(gi.lost, 1);
}

static void check_group_stats(struct pmq *r)
{
	struct pmq_group_info gi;
	const char *rel[2] = {"A", "B"};
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pmq_group_stats(r, rel[i], &gi), 0);
		assert_int_equal(gi.redelivered, 1);   /* the one its dead consumer held */
		assert_int_equal(gi.dead_lettered, 1); /* the damaged one */
		assert_int_equal(gi.dead_letters, 1);
		assert_int_equal(gi.side_ready, 1);    /* that one, waiting */
	}
	assert_int_equal(pmq_group_stats(r, "L", &gi), 0);
	assert_int_equal(gi.lost, 0); /* its reader counts the damaged one when it gets there */
	assert_int_equal(uq_side_count(r, ST_DEAD), 2); /* one per group that needed it */
	assert_int_equal(uq_dlq_count(r), 2);
}

/* After the drains: a new message reaches each group once, and an exclusive reopen
 * finds nothing to repair (the side area is not rewritten: side_seq stays). */
static void check_works_on(struct pmq *r)
{
	assert_int_equal(pmq_send(r, "new", 3, 0), 0);
	const char *all[3] = {"A", "B", "L"};
	for (int i = 0; i < 3; i++) {
		struct pmq *c = open_group(all[i]);
		struct pmq_msg m;
		assert_int_equal(pmq_recv(c, &m, PMQ_NONBLOCK), 0);
		assert_int_equal(m.ticket, NMSG);
		assert_int_equal(m.delivery_count, 1);
		assert_int_equal(pmq_ack(c, &m), 0);
		assert_int_equal(pmq_recv(c, &m, PMQ_NONBLOCK), -EAGAIN);
		assert_int_equal(pmq_close(c), 0);
	}
	uint64_t seq = atomic_load(&r->hdr->side_seq);
	uint64_t aborted = atomic_load(&r->hdr->aborted);
	assert_int_equal(pmq_close(r), 0);
	r = uq_open("t", PMQ_PRODUCER);
	assert_int_equal(atomic_load(&r->hdr->side_seq), seq);
	assert_int_equal(atomic_load(&r->hdr->aborted), aborted);
	assert_int_equal(pmq_close(r), 0);
}

static void test_damaged_groups_file_is_repaired(void **st)
{
	(void)st;
	uint32_t a_idx;
	struct pmq *p = fill(PMQ_DURABLE_PROCESS, &a_idx);
	/* ticket 6's header names another lap: a damaged message, not deliverable */
	main_slot(p, DAMAGED)->ticket = DAMAGED + 5 * 16;
	scribble_groups(p);
	assert_int_equal(pmq_close(p), 0);

	struct pmq *r = uq_open("t", PMQ_PRODUCER); /* exclusive: whole-file recovery */
	assert_int_equal(atomic_load(&r->hdr->group_masks), 0x3ull | (1ull << 34));
	assert_int_equal(gw_state(atomic_load(&group_rec(r, 3)->word)), GS_FREE);
	check_group_stats(r);
	/* A: 4 again (its holder died: one delivery more), then what it never took */
	const uint32_t want_a[NMSG] = {0, 0, 0, 0, 2, 1, 0, 1, 1, 1};
	drain_reliable("A", want_a);
	const uint32_t want_b[NMSG] = {2, 1, 1, 1, 1, 1, 0, 1, 1, 1};
	drain_reliable("B", want_b);
	drain_lossy(r);
	check_works_on(r);
}

static void test_rebooted_groups_file_is_rebuilt(void **st)
{
	(void)st;
	uint32_t a_idx;
	struct pmq *p = fill(PMQ_DURABLE_POWER, &a_idx);
	/* ticket 6's payload flipped on the media: its CRC fails */
	slot_payload(main_slot(p, DAMAGED))[1] ^= 0x20;
	/* A's entry never reached the media as ATTACHED: only the whole-file walk finds the
	 * claim on its lane */
	struct pmq_attach *ae = &p->attach[a_idx];
	atomic_store(&ae->word, at_make(AT_FREE, 0, at_inc(atomic_load(&ae->word))));
	scribble_groups(p);
	other_boot(p);
	assert_int_equal(pmq_close(p), 0);

	struct pmq *r = uq_open("t", PMQ_PRODUCER);
	assert_int_equal(atomic_load(&r->hdr->group_masks), 0x3ull | (1ull << 34));
	check_group_stats(r);
	/* claims are not persisted: every message a group still needed counts once more;
	 * the held ones: one crash, one reboot */
	const uint32_t want_a[NMSG] = {0, 0, 0, 0, 3, 2, 0, 2, 2, 2};
	drain_reliable("A", want_a);
	const uint32_t want_b[NMSG] = {3, 2, 2, 2, 2, 2, 0, 2, 2, 2};
	drain_reliable("B", want_b);
	drain_lossy(r);
	check_works_on(r);
}

/* A delete that died after clearing its mask bit (its group's redelivery still in the
 * side area) and a create that died after setting its bit: the repair finishes both
 * (records FREE, masks without them, the entry freed), and both names can be made again. */
static void test_half_made_and_half_deleted_groups_are_finished(void **st)
{
	(void)st;
	struct pmq *p = groups_queue_of(PMQ_DURABLE_PROCESS, "A,B");
	char buf[16];
	for (int i = 0; i < 4; i++) {
		int n = snprintf(buf, sizeof(buf), "m%d", i);
		assert_int_equal(pmq_send(p, buf, (size_t)n, 0), 0);
	}
	struct pmq *b = open_group("B");
	struct pmq_msg m;
	assert_int_equal(pmq_recv(b, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_nack(b, &m, PMQ_NACK_REQUEUE), 0); /* B's redelivery, in the side area */
	assert_int_equal(pmq_close(b), 0);
	assert_int_equal(uq_side_count(p, ST_READY), 1);
	struct pmq_group_rec *rb = group_rec(p, 1), *rc = group_rec(p, 2);
	atomic_store(&rb->word, gw_make(GS_DELETING, 0, gw_inc(atomic_load(&rb->word))));
	atomic_fetch_and(&p->hdr->group_masks, ~(1ull << 1));
	atomic_store(&rc->word, gw_make(GS_INIT, 0, 1));
	snprintf(rc->name, sizeof(rc->name), "C");
	lane_start_at(p, 2, atomic_load(&p->hdr->tail));
	atomic_fetch_or(&p->hdr->group_masks, 1ull << 2);
	assert_int_equal(pmq_close(p), 0);

	struct pmq *r = uq_open("t", PMQ_PRODUCER);
	assert_int_equal(gw_state(atomic_load(&group_rec(r, 1)->word)), GS_FREE);
	assert_int_equal(gw_state(atomic_load(&group_rec(r, 2)->word)), GS_FREE);
	assert_int_equal(atomic_load(&r->hdr->group_masks), 0x1ull);
	assert_int_equal(uq_side_count(r, ST_READY), 0);
	assert_int_equal(pmq_group_list(r, NULL, 0), 1);
	const uint32_t want_a[NMSG] = {1, 1, 1, 1};
	drain_reliable("A", want_a);
	assert_int_equal(pmq_group_create(r, "B", 0), 0);
	assert_int_equal(pmq_group_create(r, "C", 0), 0);
	assert_int_equal(pmq_send(r, "new", 3, 0), 0);
	const char *all[3] = {"A", "B", "C"};
	for (int i = 0; i < 3; i++) {
		struct pmq *c = open_group(all[i]);
		assert_int_equal(pmq_recv(c, &m, PMQ_NONBLOCK), 0);
		assert_int_equal(m.ticket, 4);
		assert_int_equal(pmq_ack(c, &m), 0);
		assert_int_equal(pmq_recv(c, &m, PMQ_NONBLOCK), -EAGAIN);
		assert_int_equal(pmq_close(c), 0);
	}
	assert_int_equal(pmq_close(r), 0);
}

/* A lossy group a lap behind when the machine rebooted: the rebuild leaves its cursor,
 * its reader skips to the oldest message the ring holds and reports the gap itself;
 * the reliable group gets what it had not settled, counted once more. */
static void test_lossy_group_behind_the_ring_reports_its_gap_after_a_reboot(void **st)
{
	(void)st;
	struct pmq *p = groups_queue_of(PMQ_DURABLE_POWER, "A,L:lossy");
	struct pmq *a = open_group("A");
	struct pmq_msg m;
	for (int i = 0; i < 23; i++) {
		assert_int_equal(pmq_send(p, "x", 1, 0), 0);
		if (i < 20) { /* A settles 0..19 */
			assert_int_equal(pmq_recv(a, &m, PMQ_NONBLOCK), 0);
			assert_int_equal(pmq_ack(a, &m), 0);
		}
	}
	assert_int_equal(pmq_close(a), 0);
	other_boot(p);
	assert_int_equal(pmq_close(p), 0);

	struct pmq *r = uq_open("t", PMQ_PRODUCER);
	struct pmq *l = open_group("L");
	uint64_t lost = 0;
	assert_int_equal(pmq_recv_lossy(l, &m, PMQ_NONBLOCK, &lost), 0);
	assert_int_equal(m.ticket, 23 - 16); /* the oldest the ring holds */
	assert_int_equal(lost, 23 - 16);
	for (uint64_t t = 8; t < 23; t++) {
		assert_int_equal(pmq_recv_lossy(l, &m, PMQ_NONBLOCK, &lost), 0);
		assert_int_equal(m.ticket, t);
		assert_int_equal(lost, 0);
	}
	assert_int_equal(pmq_recv_lossy(l, &m, PMQ_NONBLOCK, &lost), -EAGAIN);
	struct pmq_group_info gi;
	assert_int_equal(pmq_group_stats(r, "L", &gi), 0);
	assert_int_equal(gi.lost, 23 - 16);
	assert_int_equal(pmq_close(l), 0);
	a = open_group("A");
	for (uint64_t t = 20; t < 23; t++) {
		assert_int_equal(pmq_recv(a, &m, PMQ_NONBLOCK), 0);
		assert_int_equal(m.ticket, t);
		assert_int_equal(m.delivery_count, 2);
		assert_int_equal(pmq_ack(a, &m), 0);
	}
	assert_int_equal(pmq_recv(a, &m, PMQ_NONBLOCK), -EAGAIN);
	assert_int_equal(pmq_close(a), 0);
	assert_int_equal(pmq_close(r), 0);
}

/* Only the table is damaged: a reliable bit in group_masks for a FREE record. Left in
 * place it would hold producers back forever (that lane never settles anything). */
static void test_stray_group_bit_is_cleared(void **st)
{
	(void)st;
	struct pmq *p = groups_queue_of(PMQ_DURABLE_PROCESS, "A");
	atomic_fetch_or(&p->hdr->group_masks, 1ull << 3);
	assert_int_equal(pmq_close(p), 0);

	struct pmq *r = uq_open("t", PMQ_PRODUCER);
	assert_int_equal(atomic_load(&r->hdr->group_masks), 0x1ull);
	struct pmq *a = open_group("A");
	struct pmq_msg m;
	for (uint64_t t = 0; t < 40; t++) { /* laps of the ring: every slot reused */
		assert_int_equal(pmq_send(r, "x", 1, PMQ_NONBLOCK), 0);
		assert_int_equal(pmq_recv(a, &m, PMQ_NONBLOCK), 0);
		assert_int_equal(m.ticket, t);
		assert_int_equal(pmq_ack(a, &m), 0);
	}
	assert_int_equal(pmq_close(a), 0);
	assert_int_equal(pmq_close(r), 0);
}

static int setup(void **st)
{
	(void)st;
	uq_dir_make("grebuild");
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
		cmocka_unit_test_setup_teardown(test_damaged_groups_file_is_repaired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebooted_groups_file_is_rebuilt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_made_and_half_deleted_groups_are_finished, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lossy_group_behind_the_ring_reports_its_gap_after_a_reboot, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stray_group_bit_is_cleared, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
