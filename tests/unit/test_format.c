/*
 * test_format.c - geometry, config validation, header validation and CRC32C.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"

static void test_crc32c_matches_the_standard_check_value(void **st)
{
	(void)st;
	/* the CRC-32C check value of "123456789" (RFC 3720 family) */
	assert_int_equal(pmq_crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(pmq_crc32c(0, "", 0), 0);
	/* incremental equals one-shot */
	uint32_t c = pmq_crc32c(0, "1234", 4);
	assert_int_equal(pmq_crc32c(c, "56789", 5), 0xe3069283u);
}

static void test_config_rejects_each_bad_field_by_name(void **st)
{
	(void)st;
	struct pmq_config c;
	pmq_config_init(&c);
	assert_int_equal(format_validate_config(&c), 0);
	c.slot_count = 1000;
	assert_int_equal(format_validate_config(&c), -EINVAL);
	assert_non_null(strstr(pmq_errmsg(), "slot_count"));
	pmq_config_init(&c);
	c.max_payload = 0;
	assert_int_equal(format_validate_config(&c), -EINVAL);
	assert_non_null(strstr(pmq_errmsg(), "max_payload"));
	pmq_config_init(&c);
	c.max_attach = 251;
	assert_int_equal(format_validate_config(&c), -EINVAL);
	assert_non_null(strstr(pmq_errmsg(), "max_attach"));
	pmq_config_init(&c);
	c.durability = 7;
	assert_int_equal(format_validate_config(&c), -EINVAL);
	assert_non_null(strstr(pmq_errmsg(), "durability"));
	pmq_config_init(&c);
	c.flags = 0x100;
	assert_int_equal(format_validate_config(&c), -EINVAL);
	assert_non_null(strstr(pmq_errmsg(), "flags"));
	pmq_config_init(&c);
	c.size = 4;
	assert_int_equal(format_validate_config(&c), -EINVAL);
	assert_non_null(strstr(pmq_errmsg(), "pmq_config_init"));
}

static void test_geometry_is_slots_plus_bounded_metadata(void **st)
{
	(void)st;
	struct pmq_config c;
	pmq_config_init(&c);
	c.slot_count = 1024;
	c.max_payload = 64;
	struct pmq_geometry g;
	assert_int_equal(format_geometry(&c, &g), 0);
	assert_int_equal(g.slot_size, 128);
	assert_int_equal(g.slot_shift, 10);
	assert_int_equal(g.side_count, 2 * 16 * 32 + 16 + 64);
	assert_true(g.ring_off >= PMQ_HDR_SIZE + 16 * 64);
	assert_int_equal(g.ring_off % 4096, 0);
	assert_int_equal(g.side_off, g.ring_off + 1024 * 128);
	assert_true(g.file_size >= g.side_off + (uint64_t)g.side_count * 128);
	c.max_attach = 250;
	c.consumer_quota = 1000;
	assert_int_equal(format_geometry(&c, &g), -EINVAL); /* side area would exceed 16 bits */
}

static void test_header_validation_names_each_problem(void **st)
{
	(void)st;
	struct pmq_config c;
	pmq_config_init(&c);
	struct pmq_geometry g;
	format_geometry(&c, &g);
	struct pmq_header *h = calloc(1, PMQ_HDR_SIZE);
	format_init_header(h, &c, &g);
	assert_int_equal(format_validate_header(h, g.file_size, "q"), 0);
	assert_int_equal(format_validate_header(h, 100, "q"), -EPROTO);
	assert_non_null(strstr(pmq_errmsg(), "truncated"));
	assert_int_equal(format_validate_header(h, g.file_size - 4096, "q"), -EPROTO);
	assert_non_null(strstr(pmq_errmsg(), "truncated"));
	h->slot_count ^= 1;
	assert_int_equal(format_validate_header(h, g.file_size, "q"), -EPROTO);
	assert_non_null(strstr(pmq_errmsg(), "checksum"));
	h->slot_count ^= 1;
	h->version = PMQ_FORMAT_VERSION + 1;
	h->id_crc = format_id_crc(h);
	assert_int_equal(format_validate_header(h, g.file_size, "q"), -EPROTO);
	assert_non_null(strstr(pmq_errmsg(), "the file is newer"));
	h->version = 1; /* format 1: producers claimed by writing WRITING into the slot */
	h->id_crc = format_id_crc(h);
	assert_int_equal(format_validate_header(h, g.file_size, "q"), -EPROTO);
	assert_non_null(strstr(pmq_errmsg(), "layout version 1, this libpmq reads 2: the file was made by an older pmq"));
	assert_non_null(strstr(pmq_errmsg(), "create it again"));
	h->version = PMQ_FORMAT_VERSION;
	h->slot_count = 1000; /* consistent checksum, impossible geometry */
	h->id_crc = format_id_crc(h);
	assert_int_equal(format_validate_header(h, g.file_size, "q"), -EPROTO);
	assert_non_null(strstr(pmq_errmsg(), "slot_count"));
	memcpy(h->magic, "ELF\x7f....", 8);
	assert_int_equal(format_validate_header(h, g.file_size, "q"), -EPROTO);
	assert_non_null(strstr(pmq_errmsg(), "magic"));
	free(h);
}

/* a format-1 file on disk (as an older pmq left it) is refused at open, saying what to do */
static void test_open_refuses_a_format_1_file(void **st)
{
	(void)st;
	char dir[] = "/tmp/pmq-fmt-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct pmq_config c;
	pmq_config_init(&c);
	c.slot_count = 8;
	c.dir = dir;
	pmq_t *q = NULL;
	assert_int_equal(pmq_create("old", &c, &q), 0);
	pmq_close(q);
	char path[128];
	snprintf(path, sizeof(path), "%s/old.pmq", dir);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	struct pmq_header *h = mmap(NULL, PMQ_HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(h != MAP_FAILED);
	h->version = 1;
	h->id_crc = format_id_crc(h);
	munmap(h, PMQ_HDR_SIZE);
	close(fd);
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.dir = dir;
	assert_int_equal(pmq_open_ex("old", PMQ_PRODUCER, &o, &q), -EPROTO);
	assert_non_null(strstr(pmq_errmsg(), "layout version 1, this libpmq reads 2: the file was made by an older pmq"));
	assert_non_null(strstr(pmq_errmsg(), "pmq_unlink"));
	assert_int_equal(pmq_unlink("old", dir), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_matches_the_standard_check_value),
		cmocka_unit_test(test_config_rejects_each_bad_field_by_name),
		cmocka_unit_test(test_geometry_is_slots_plus_bounded_metadata),
		cmocka_unit_test(test_header_validation_names_each_problem),
		cmocka_unit_test(test_open_refuses_a_format_1_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
