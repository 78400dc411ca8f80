/*
 * test_abi_1_0.c - a program built against pmq.h 1.0 keeps working with libpmq 1.1
 * (consumer groups added fields to pmq_config and pmq_open_opts). A 1.0 build calls
 * the plain symbols with the shorter structs: they must write only the 1.0 bytes
 * (the first 1.1 library memset the whole new struct and overran the caller's: the
 * Python binding, whose structs were the 1.0 ones, aborted), and create/open/get_config
 * must read and fill only those bytes. The 1.0 structs are reproduced here as a 1.0
 * build saw them, followed by a canary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"

/* pmq.h 1.0, byte for byte */
struct config_1_0 {
	uint32_t size, flags, slot_count, max_payload, max_attach, consumer_quota, max_deliveries, dlq_capacity,
		side_slots, durability;
	uint64_t lease_ns;
	uint32_t lease_action, mode;
	const char *dir;
};
struct opts_1_0 {
	uint32_t size, wait, spin_ns, owner_uid;
	const char *dir;
};
_Static_assert(sizeof(struct config_1_0) == PMQ_CONFIG_SIZE_1_0, "the 1.0 config is the 1.1 prefix");
_Static_assert(sizeof(struct opts_1_0) == PMQ_OPEN_OPTS_SIZE_1_0, "the 1.0 options are the 1.1 prefix");

#define CANARY 0xa5
struct guarded_config {
	struct config_1_0 c;
	unsigned char after[64];
};
struct guarded_opts {
	struct opts_1_0 o;
	unsigned char after[64];
};

static char dir[64];

static void canary_intact(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(p[i], CANARY);
}

static void test_plain_symbols_write_only_1_0_bytes(void **state)
{
	(void)state;
	struct guarded_config g;
	memset(&g, CANARY, sizeof(g));
	(pmq_config_init)((struct pmq_config *)&g.c);
	canary_intact(g.after, sizeof(g.after));
	assert_int_equal(g.c.size, sizeof(struct config_1_0));
	assert_int_equal(g.c.slot_count, 1024);

	struct guarded_opts go;
	memset(&go, CANARY, sizeof(go));
	(pmq_open_opts_init)((struct pmq_open_opts *)&go.o);
	canary_intact(go.after, sizeof(go.after));
	assert_int_equal(go.o.size, sizeof(struct opts_1_0));
}

static void test_1_0_caller_creates_opens_and_reads_config(void **state)
{
	(void)state;
	struct guarded_config g;
	memset(&g, CANARY, sizeof(g));
	(pmq_config_init)((struct pmq_config *)&g.c);
	g.c.slot_count = 16;
	g.c.max_payload = 32;
	g.c.dir = dir;
	/* the canary bytes sit where 1.1's max_groups and groups would be: never read */
	pmq_t *q = NULL;
	assert_int_equal(pmq_create("abi", (struct pmq_config *)&g.c, &q), 0);

	struct guarded_opts go;
	memset(&go, CANARY, sizeof(go));
	(pmq_open_opts_init)((struct pmq_open_opts *)&go.o);
	go.o.dir = dir;
	pmq_t *c = NULL;
	assert_int_equal(pmq_open_ex("abi", PMQ_CONSUMER, (struct pmq_open_opts *)&go.o, &c), 0);
	assert_int_equal(pmq_send(q, "x", 1, 0), 0);
	struct pmq_msg m;
	assert_int_equal(pmq_recv(c, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_ack(c, &m), 0);

	struct guarded_config out;
	memset(&out, CANARY, sizeof(out));
	assert_int_equal((pmq_get_config)(q, (struct pmq_config *)&out.c), 0);
	canary_intact(out.after, sizeof(out.after));
	assert_int_equal(out.c.slot_count, 16);
	assert_int_equal(out.c.size, sizeof(struct config_1_0));

	/* a 1.1 build gets the new field */
	struct pmq_config full;
	assert_int_equal(pmq_get_config(q, &full), 0);
	assert_int_equal(full.size, sizeof(full));
	assert_int_equal(full.max_groups, 0);
	pmq_close(c);
	pmq_close(q);
	pmq_unlink("abi", dir);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/dev/shm/pmq-abi-%d", (int)getpid());
	mkdir(dir, 0700);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_symbols_write_only_1_0_bytes),
		cmocka_unit_test(test_1_0_caller_creates_opens_and_reads_config),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(dir);
	return rc;
}
