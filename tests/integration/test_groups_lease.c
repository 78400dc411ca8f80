/*
 * test_groups_lease.c - a lease per consumer group (issue 11, docs/groups.md "Leases"):
 * pmq_group_create_ex with pmq_group_opts (the lease stored with the group, reported in
 * pmq_group_info.lease_ms), its refusals (a lease on a lossy group, a size below the 1.1
 * struct's, a lease out of range), the ":lease=MS" option of pmq_config.groups (good and
 * bad spellings, each refusal naming the bad part), the effective lease pmqd asks for
 * (pmq_attach_lease: the member's group's, else the queue's; pmq_lease_min: the shortest),
 * and a hostile value written into a record being bounded by every reader.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "itest.h"

#define QNAME "glease"
#define MS 1000000ull

static pmq_t *P; /* the creator's handle */

static int make_q(const char *groups, uint32_t max_groups, uint64_t queue_lease_ns)
{
	itest_dir_make();
	struct pmq_config c;
	itest_config(&c, 8);
	c.max_groups = max_groups;
	c.groups = groups;
	c.lease_ns = queue_lease_ns;
	P = NULL;
	return pmq_create(QNAME, &c, &P);
}

static void make(const char *groups, uint32_t max_groups, uint64_t queue_lease_ns)
{
	int rc = make_q(groups, max_groups, queue_lease_ns);
	if (rc)
		fail_msg("create with groups \"%s\": %s (%s)", groups ? groups : "-", pmq_strerror(rc), pmq_errmsg());
}

static int teardown(void **state)
{
	(void)state;
	if (P)
		pmq_close(P);
	P = NULL;
	itest_dir_remove();
	return 0;
}

static pmq_t *member(const char *g)
{
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.group = g;
	pmq_t *q = NULL;
	int rc = pmq_open_ex(QNAME, PMQ_CONSUMER, &o, &q);
	if (rc)
		fail_msg("open group %s: %s (%s)", g, pmq_strerror(rc), pmq_errmsg());
	return q;
}

static void assert_errmsg_has(const char *what)
{
	if (!strstr(pmq_errmsg(), what))
		fail_msg("pmq_errmsg() \"%s\" does not name \"%s\"", pmq_errmsg(), what);
}

static uint32_t lease_ms_of(const char *g)
{
	struct pmq_group_info gi;
	int rc = pmq_group_stats(P, g, &gi);
	if (rc)
		fail_msg("group stats %s: %s (%s)", g, pmq_strerror(rc), pmq_errmsg());
	return gi.lease_ms;
}

static int create_ex(const char *g, unsigned flags, uint64_t lease_ns)
{
	struct pmq_group_opts o;
	pmq_group_opts_init(&o);
	o.flags = flags;
	o.lease_ns = lease_ns;
	return pmq_group_create_ex(P, g, &o);
}

/* The effective lease of the nth attachment of exactly `role` in the table (table order). */
static uint64_t lease_of_handle_role(uint32_t role, int nth)
{
	struct pmq_attach_info at[16];
	int n = pmq_attachments(P, at, 16);
	assert_true(n > 0);
	for (int i = 0; i < n && i < 16; i++) {
		if (at[i].role != role || nth-- > 0)
			continue;
		uint64_t l = 7;
		assert_int_equal(pmq_attach_lease(P, at[i].index, at[i].incarnation, &l), 0);
		return l;
	}
	fail_msg("no attachment of role %u", role);
	return 0;
}

/* ---- pmq_group_create_ex ------------------------------------------------------------ */

static void test_create_ex_stores_the_groups_lease(void **state)
{
	(void)state;
	make(NULL, 4, 30000 * MS);
	assert_int_equal(create_ex("fast", 0, 200 * MS), 0);
	assert_int_equal(pmq_group_create(P, "plain", 0), 0); /* the flags-only form: the queue's lease */
	assert_int_equal(pmq_group_create_ex(P, "null", NULL), 0); /* no options: as flags 0 */
	assert_int_equal(create_ex("odd", 0, 1500000ull), 0);  /* 1.5 ms */
	assert_int_equal(lease_ms_of("fast"), 200);
	assert_int_equal(lease_ms_of("plain"), 0);
	assert_int_equal(lease_ms_of("null"), 0);
	assert_int_equal(lease_ms_of("odd"), 2); /* reported rounded up to whole ms */
	/* a lossy group made through the options carries no lease */
	assert_int_equal(pmq_group_delete(P, "null"), 0);
	assert_int_equal(create_ex("tap", PMQ_GROUP_LOSSY, 0), 0);
	struct pmq_group_info gi;
	assert_int_equal(pmq_group_stats(P, "tap", &gi), 0);
	assert_int_equal(gi.flags, PMQ_GROUP_LOSSY);
	assert_int_equal(gi.lease_ms, 0);
	/* a record reused by another group does not inherit the old group's lease */
	assert_int_equal(pmq_group_delete(P, "fast"), 0);
	assert_int_equal(pmq_group_create(P, "fast2", 0), 0);
	assert_int_equal(lease_ms_of("fast2"), 0);
}

static void test_create_ex_refuses_bad_options(void **state)
{
	(void)state;
	make("a", 4, 30000 * MS);
	assert_int_equal(create_ex("tap", PMQ_GROUP_LOSSY, 200 * MS), -EINVAL);
	assert_errmsg_has("lossy");
	assert_errmsg_has("\"tap\"");
	assert_int_equal(create_ex("tiny", 0, PMQ_GROUP_LEASE_MIN_NS - 1), -EINVAL);
	assert_errmsg_has("999999 ns");
	assert_int_equal(create_ex("huge", 0, PMQ_GROUP_LEASE_MAX_NS + 1), -EINVAL);
	assert_errmsg_has("7 days");
	assert_int_equal(create_ex("flag", 0x80, 0), -EINVAL);
	assert_errmsg_has("0x80");
	struct pmq_group_opts o;
	pmq_group_opts_init(&o);
	assert_int_equal(o.size, sizeof(o));
	o.size = offsetof(struct pmq_group_opts, lease_ns); /* a struct without the lease */
	assert_int_equal(pmq_group_create_ex(P, "short", &o), -EINVAL);
	assert_errmsg_has("size");
	o.size = 0;
	assert_int_equal(pmq_group_create_ex(P, "short", &o), -EINVAL);
	/* the range's ends are good */
	assert_int_equal(create_ex("min", 0, PMQ_GROUP_LEASE_MIN_NS), 0);
	assert_int_equal(create_ex("max", 0, PMQ_GROUP_LEASE_MAX_NS), 0);
	assert_int_equal(lease_ms_of("min"), 1);
	assert_int_equal(lease_ms_of("max"), 604800000u);
	/* nothing refused was made */
	struct pmq_group_info gi[8];
	assert_int_equal(pmq_group_list(P, gi, 8), 3);
}

/* ---- pmq_config.groups: "name[:lossy][:lease=MS]" --------------------------------------- */

static void test_config_lease_option(void **state)
{
	(void)state;
	make("a:lease=200,b:lossy,c:reliable:lease=5,d:lease=604800000", 4, 30000 * MS);
	assert_int_equal(lease_ms_of("a"), 200);
	assert_int_equal(lease_ms_of("b"), 0);
	assert_int_equal(lease_ms_of("c"), 5);
	assert_int_equal(lease_ms_of("d"), 604800000u);
	struct pmq_group_info gi;
	assert_int_equal(pmq_group_stats(P, "c", &gi), 0);
	assert_int_equal(gi.flags, 0); /* the order of the options does not matter */
	pmq_close(P);
	P = NULL;
	itest_dir_remove();
	make("x:lease=7:reliable", 1, 0);
	assert_int_equal(lease_ms_of("x"), 7);
}

static void test_config_lease_option_refusals(void **state)
{
	(void)state;
	struct {
		const char *spec, *names;
	} bad[] = {
		{ "a:lease=", "lease \"\"" },
		{ "a:lease=0", "1..604800000" },
		{ "a:lease=12x", "\"12x\"" },
		{ "a:lease=-5", "\"-5\"" },
		{ "a:lease= 5", "\" 5\"" },
		{ "a:lease=604800001", "\"604800001\"" },
		{ "a:lease=99999999999", "\"99999999999\"" },
		{ "a:lossy:lease=5", "lossy" },
		{ "a:lease=5:lossy", "no lease" },
		{ "a:lease=5:lease=6", "two leases" },
		{ "a:lossy:reliable", "kind twice" },
		{ "a:lease=5:", "option \"\"" },
		{ "a:Lease=5", "\"Lease=5\"" },
		{ "ok,b:lease=5x", "\"b:lease=5x\"" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = make_q(bad[i].spec, 4, 30000 * MS);
		if (rc != -EINVAL)
			fail_msg("groups \"%s\": %d, want -EINVAL", bad[i].spec, rc);
		assert_null(P);
		assert_errmsg_has(bad[i].names);
		char path[512];
		itest_queue_path(path, sizeof(path), QNAME);
		assert_int_equal(access(path, F_OK), -1); /* no file left behind */
		itest_dir_remove();
	}
}

/* ---- the effective lease (pmqd's questions) --------------------------------------------- */

static void test_attach_lease_is_the_groups_else_the_queues(void **state)
{
	(void)state;
	make("fast:lease=200,slow", 2, 30000 * MS);
	pmq_t *f = member("fast"), *s = member("slow");
	/* table: the creator (a producer: with groups it joins none), then fast's and slow's consumers */
	assert_true(lease_of_handle_role(PMQ_CONSUMER, 0) == 200 * MS);
	assert_true(lease_of_handle_role(PMQ_CONSUMER, 1) == 30000 * MS);
	assert_true(lease_of_handle_role(PMQ_PRODUCER, 0) == 30000 * MS);
	uint64_t least = 0;
	assert_int_equal(pmq_lease_min(P, &least), 0);
	assert_true(least == 200 * MS);
	/* a stale incarnation, an index out of the table, a NULL output */
	struct pmq_attach_info at[16];
	int n = pmq_attachments(P, at, 16);
	assert_true(n >= 3);
	uint64_t l;
	assert_int_equal(pmq_attach_lease(P, at[0].index, at[0].incarnation + 1, &l), -ESTALE);
	assert_int_equal(pmq_attach_lease(P, 16, 0, &l), -EINVAL);
	assert_errmsg_has("out of range");
	assert_int_equal(pmq_attach_lease(P, at[0].index, at[0].incarnation, NULL), -EINVAL);
	assert_int_equal(pmq_lease_min(P, NULL), -EINVAL);
	/* the group deleted: its member holds nothing of it, the queue's lease is left */
	assert_int_equal(pmq_group_delete(P, "fast"), 0);
	assert_true(lease_of_handle_role(PMQ_CONSUMER, 0) == 30000 * MS);
	assert_int_equal(pmq_lease_min(P, &least), 0);
	assert_true(least == 30000 * MS);
	pmq_close(f);
	pmq_close(s);
}

static void test_lease_min_without_a_queue_lease(void **state)
{
	(void)state;
	make("a,b:lease=900,c:lease=300", 3, 0); /* the queue has no lease; two groups do */
	uint64_t least = 1;
	assert_int_equal(pmq_lease_min(P, &least), 0);
	assert_true(least == 300 * MS);
	pmq_t *a = member("a");
	assert_true(lease_of_handle_role(PMQ_CONSUMER, 0) == 0); /* a: the queue's, none */
	pmq_close(a);
	assert_int_equal(pmq_group_delete(P, "b"), 0);
	assert_int_equal(pmq_group_delete(P, "c"), 0);
	assert_int_equal(pmq_lease_min(P, &least), 0);
	assert_true(least == 0); /* nobody has a lease */
	/* a queue without groups: the queue's own */
	pmq_close(P);
	P = NULL;
	itest_dir_remove();
	make(NULL, 0, 5000 * MS);
	assert_int_equal(pmq_lease_min(P, &least), 0);
	assert_true(least == 5000 * MS);
	assert_true(lease_of_handle_role(PMQ_PRODUCER | PMQ_CONSUMER, 0) == 5000 * MS);
}

/* ---- a hostile record ---------------------------------------------------------------- */

/* The lease word of group `name`'s record in the file's mapping: records are 256 B at a
 * page-aligned table, the name 8 B in, the lease 56 B in (docs/format.md). */
static _Atomic uint64_t *record_lease(uint8_t *map, size_t len, const char *name)
{
	char want[32] = { 0 };
	snprintf(want, sizeof(want), "%s", name);
	for (size_t off = 0; off + 256 <= len; off += 256)
		if (!memcmp(map + off + 8, want, sizeof(want)))
			return (_Atomic uint64_t *)(void *)(map + off + 56);
	fail_msg("no record of group %s in the file", name);
	return NULL;
}

static void test_hostile_record_lease_is_bounded(void **state)
{
	(void)state;
	make("victim:lease=200,tap:lossy", 2, 30000 * MS);
	char path[512];
	itest_queue_path(path, sizeof(path), QNAME);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	uint8_t *map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	_Atomic uint64_t *vl = record_lease(map, (size_t)st.st_size, "victim");
	_Atomic uint64_t *tl = record_lease(map, (size_t)st.st_size, "tap");
	assert_true(atomic_load(vl) == 200 * MS); /* the field is where docs/format.md says */
	assert_true(atomic_load(tl) == 0);
	pmq_t *v = member("victim");
	/* 1 ns: pmqd would requeue on every look; read as the minimum, 1 ms */
	atomic_store(vl, 1);
	assert_int_equal(lease_ms_of("victim"), 1);
	assert_true(lease_of_handle_role(PMQ_CONSUMER, 0) == PMQ_GROUP_LEASE_MIN_NS);
	uint64_t least = 0;
	assert_int_equal(pmq_lease_min(P, &least), 0);
	assert_true(least == PMQ_GROUP_LEASE_MIN_NS);
	/* all ones: read as the maximum, 7 days */
	atomic_store(vl, UINT64_MAX);
	assert_int_equal(lease_ms_of("victim"), 604800000u);
	assert_true(lease_of_handle_role(PMQ_CONSUMER, 0) == PMQ_GROUP_LEASE_MAX_NS);
	assert_int_equal(pmq_lease_min(P, &least), 0);
	assert_true(least == 30000 * MS); /* the queue's is shorter */
	/* a lossy group's record with a lease: a lossy group has none */
	atomic_store(tl, 5 * MS);
	assert_int_equal(lease_ms_of("tap"), 0);
	struct pmq_repl_group g;
	assert_int_equal(pmq_repl_group_read(P, 1, 0, &g), PMQ_REPL_GROUP_ACTIVE);
	assert_true(g.lease_ns == 0);
	assert_int_equal(pmq_repl_group_read(P, 0, 0, &g), PMQ_REPL_GROUP_ACTIVE);
	assert_true(g.lease_ns == PMQ_GROUP_LEASE_MAX_NS); /* shipped bounded too */
	pmq_close(v);
	munmap(map, (size_t)st.st_size);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_create_ex_stores_the_groups_lease, teardown),
		cmocka_unit_test_teardown(test_create_ex_refuses_bad_options, teardown),
		cmocka_unit_test_teardown(test_config_lease_option, teardown),
		cmocka_unit_test_teardown(test_config_lease_option_refusals, teardown),
		cmocka_unit_test_teardown(test_attach_lease_is_the_groups_else_the_queues, teardown),
		cmocka_unit_test_teardown(test_lease_min_without_a_queue_lease, teardown),
		cmocka_unit_test_teardown(test_hostile_record_lease_is_bounded, teardown),
	};
	if (getenv("PMQ_TEST_SKIP"))
		cmocka_set_skip_filter(getenv("PMQ_TEST_SKIP"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
