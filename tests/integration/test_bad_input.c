/*
 * test_bad_input.c - every bad file, name, argument and size gets a clear
 * error: the documented negative errno AND a pmq_errmsg() that names the
 * problem. Nothing crashes, nothing is created by a refused call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <dirent.h>
#include <stddef.h>

#include <cmocka.h>

#include "internal.h"
#include "itest.h"

#define QNAME "good"

static char qpath[512];

static int setup(void **state)
{
	(void)state;
	itest_dir_make();
	struct pmq_config cfg;
	itest_config(&cfg, 64);
	pmq_t *q;
	int rc = pmq_create(QNAME, &cfg, &q);
	if (rc == 0)
		rc = pmq_close(q);
	itest_queue_path(qpath, sizeof(qpath), QNAME);
	return rc;
}

static int teardown(void **state)
{
	(void)state;
	itest_dir_remove();
	return 0;
}

/* rc must be `want` and pmq_errmsg() must contain `words` */
#define assert_fails_with(call, want, words)                                                          \
	do {                                                                                          \
		int rc_ = (call);                                                                     \
		if (rc_ != (want) || !strstr(pmq_errmsg(), (words)))                                  \
			fail_msg("%s: got %d (%s) \"%s\", want %d and \"%s\"", #call, rc_,             \
				 pmq_strerror(rc_), pmq_errmsg(), (want), (words));                     \
	} while (0)

static void open_fails_with(const char *name, int want, const char *words)
{
	pmq_t *q = (pmq_t *)1;
	assert_fails_with(pmq_open(name, PMQ_CONSUMER, &q), want, words);
	assert_null(q);
}

/* Patch the header of the good queue: fn edits it; fix_crc recomputes id_crc. */
static void patch_header(void (*fn)(struct pmq_header *), int fix_crc)
{
	int fd = open(qpath, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	struct pmq_header h;
	assert_int_equal(pread(fd, &h, sizeof(h), 0), sizeof(h));
	fn(&h);
	if (fix_crc)
		h.id_crc = format_id_crc(&h);
	assert_int_equal(pwrite(fd, &h, sizeof(h), 0), sizeof(h));
	close(fd);
}

static void write_file(const char *path, const void *data, size_t len)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	if (len)
		assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* ---- files ------------------------------------------------------------------------- */

static void test_truncated_file_is_eproto(void **state)
{
	(void)state;
	struct stat st;
	assert_int_equal(stat(qpath, &st), 0);
	assert_int_equal(truncate(qpath, st.st_size - 4096), 0);
	open_fails_with(QNAME, -EPROTO, "truncated");
	assert_int_equal(truncate(qpath, 100), 0); /* shorter than the header */
	open_fails_with(QNAME, -EPROTO, "shorter than");
}

static void test_zero_length_file_is_eproto(void **state)
{
	(void)state;
	assert_int_equal(truncate(qpath, 0), 0);
	open_fails_with(QNAME, -EPROTO, "shorter than");
}

static void test_longer_file_is_eproto(void **state)
{
	(void)state;
	struct stat st;
	assert_int_equal(stat(qpath, &st), 0);
	assert_int_equal(truncate(qpath, st.st_size + 4096), 0);
	open_fails_with(QNAME, -EPROTO, "header says");
}

static void flip_uuid(struct pmq_header *h) { h->uuid[3] ^= 0x40; }
static void flip_slot_count(struct pmq_header *h) { h->slot_count ^= 0x10; }
static void flip_magic(struct pmq_header *h) { h->magic[0] ^= 0x01; }

static void test_flipped_header_bytes_fail_the_checksum(void **state)
{
	(void)state;
	patch_header(flip_uuid, 0);
	open_fails_with(QNAME, -EPROTO, "checksum");
	patch_header(flip_uuid, 0); /* flipped back: fine again */
	pmq_t *q;
	assert_int_equal(pmq_open(QNAME, PMQ_CONSUMER, &q), 0);
	assert_int_equal(pmq_close(q), 0);
	patch_header(flip_slot_count, 0);
	open_fails_with(QNAME, -EPROTO, "checksum");
	patch_header(flip_slot_count, 0);
	patch_header(flip_magic, 0);
	open_fails_with(QNAME, -EPROTO, "magic");
}

static void slots_100(struct pmq_header *h) { h->slot_count = 100; }
static void slots_128(struct pmq_header *h)
{
	h->slot_count = 128; /* a power of two, but the offsets and file size say 64 */
	h->slot_shift = 7;
}
static void version_2(struct pmq_header *h) { h->version = PMQ_FORMAT_VERSION + 1; }
static void features_1(struct pmq_header *h) { h->features = 1; }
static void side_huge(struct pmq_header *h) { h->side_count = 70000; }

static void test_header_with_bad_geometry_is_eproto_even_with_good_crc(void **state)
{
	(void)state;
	patch_header(slots_100, 1);
	open_fails_with(QNAME, -EPROTO, "power of two");
	assert_non_null(strstr(pmq_errmsg(), "slot_count 100"));
	patch_header(slots_128, 1);
	open_fails_with(QNAME, -EPROTO, "geometry");
	patch_header(side_huge, 1);
	open_fails_with(QNAME, -EPROTO, "bad geometry");
}

static void test_newer_version_is_eproto_naming_both_versions(void **state)
{
	(void)state;
	patch_header(version_2, 1);
	char want[64];
	snprintf(want, sizeof(want), "layout version %u, this libpmq reads", PMQ_FORMAT_VERSION + 1);
	open_fails_with(QNAME, -EPROTO, want);
}

static void test_unknown_required_feature_is_eproto(void **state)
{
	(void)state;
	patch_header(features_1, 1);
	open_fails_with(QNAME, -EPROTO, "features");
}

static void test_random_bytes_and_elf_are_foreign(void **state)
{
	(void)state;
	uint8_t junk[3 * 4096];
	unsigned r = 12345;
	for (size_t i = 0; i < sizeof(junk); i++) {
		r = r * 1103515245u + 12345u;
		junk[i] = (uint8_t)(r >> 16);
	}
	write_file(qpath, junk, sizeof(junk));
	open_fails_with(QNAME, -EPROTO, "not a pmq queue file");

	/* an ELF executable: this very program */
	int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	assert_true(in >= 0);
	static uint8_t elf[1 << 16];
	ssize_t n = read(in, elf, sizeof(elf));
	close(in);
	assert_true(n > 4096);
	assert_memory_equal(elf, "\x7f" "ELF", 4);
	write_file(qpath, elf, (size_t)n);
	open_fails_with(QNAME, -EPROTO, "not a pmq queue file");
}

static void test_symlink_is_refused_eloop(void **state)
{
	(void)state;
	char target[512];
	snprintf(target, sizeof(target), "%s/elsewhere.pmq", itest_dir_path);
	assert_int_equal(rename(qpath, target), 0);
	assert_int_equal(symlink(target, qpath), 0);
	open_fails_with(QNAME, -ELOOP, "symbolic link");
	/* and create does not follow it either */
	unlink(target);
	struct pmq_config cfg;
	itest_config(&cfg, 64);
	pmq_t *q = NULL;
	assert_fails_with(pmq_create(QNAME, &cfg, &q), -EEXIST, "already exists");
	assert_int_equal(access(target, F_OK), -1); /* nothing written through the link */
}

static void test_directory_and_fifo_are_refused(void **state)
{
	(void)state;
	unlink(qpath);
	assert_int_equal(mkdir(qpath, 0700), 0);
	pmq_t *q = (pmq_t *)1;
	int rc = pmq_open(QNAME, PMQ_CONSUMER, &q);
	assert_true(rc == -EISDIR || rc == -EPROTO);
	assert_non_null(strstr(pmq_errmsg(), qpath));
	assert_true(strstr(pmq_errmsg(), "directory") || strstr(pmq_errmsg(), "not a regular file"));
	assert_null(q);
	rmdir(qpath);
	/* a FIFO: opening must neither block nor accept it */
	assert_int_equal(mkfifo(qpath, 0600), 0);
	open_fails_with(QNAME, -EPROTO, "not a regular file");
}

static void test_missing_queue_is_enoent(void **state)
{
	(void)state;
	open_fails_with("nosuchqueue", -ENOENT, "does not exist");
}

/* ---- names ------------------------------------------------------------------------- */

static void test_bad_names_are_einval(void **state)
{
	(void)state;
	char longname[301];
	memset(longname, 'a', 300);
	longname[300] = 0;
	const struct {
		const char *name, *words;
	} bad[] = {
		{"../x", "must not start with '.'"},
		{"a/b", "not allowed"},
		{"", "characters"},
		{".hidden", "must not start with '.'"},
		{longname, "characters"},
		{"sp ace", "not allowed"},
		{"new\nline", "not allowed"},
	};
	struct pmq_config cfg;
	itest_config(&cfg, 64);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pmq_t *q = (pmq_t *)1;
		assert_fails_with(pmq_create(bad[i].name, &cfg, &q), -EINVAL, bad[i].words);
		assert_null(q);
		open_fails_with(bad[i].name, -EINVAL, bad[i].words);
		assert_fails_with(pmq_unlink(bad[i].name, NULL), -EINVAL, bad[i].words);
	}
	pmq_t *q = NULL;
	assert_fails_with(pmq_create(NULL, &cfg, &q), -EINVAL, "NULL");
	assert_fails_with(pmq_open(NULL, PMQ_CONSUMER, &q), -EINVAL, "NULL");
	/* the dead-letter suffix is reserved */
	assert_fails_with(pmq_create("x.dlq", &cfg, &q), -EINVAL, ".dlq");
	assert_fails_with(pmq_open(QNAME ".dlq", PMQ_PRODUCER, &q), -EINVAL, "consumer only");
	/* nothing was created outside the directory */
	assert_int_equal(access("/dev/shm/x.pmq", F_OK), -1);
	char up[600];
	snprintf(up, sizeof(up), "%s/../x.pmq", itest_dir_path);
	assert_int_equal(access(up, F_OK), -1);
}

/* ---- config ------------------------------------------------------------------------ */

static void test_bad_config_is_einval_naming_the_field(void **state)
{
	(void)state;
	struct pmq_config cfg;
	pmq_t *q = (pmq_t *)1;
	itest_config(&cfg, 100);
	assert_fails_with(pmq_create("cfg", &cfg, &q), -EINVAL, "slot_count 100 must be a power of two");
	assert_null(q);
	itest_config(&cfg, 1);
	assert_fails_with(pmq_create("cfg", &cfg, &q), -EINVAL, "slot_count 1");
	itest_config(&cfg, 64);
	cfg.max_payload = 0;
	assert_fails_with(pmq_create("cfg", &cfg, &q), -EINVAL, "max_payload");
	itest_config(&cfg, 64);
	cfg.max_attach = PMQ_MAX_ATTACH + 1;
	assert_fails_with(pmq_create("cfg", &cfg, &q), -EINVAL, "max_attach");
	itest_config(&cfg, 64);
	cfg.durability = 7;
	assert_fails_with(pmq_create("cfg", &cfg, &q), -EINVAL, "durability");
	itest_config(&cfg, 64);
	cfg.flags = 0x80000000u;
	assert_fails_with(pmq_create("cfg", &cfg, &q), -EINVAL, "unknown flags");
	itest_config(&cfg, 64);
	cfg.size = 8; /* not initialised with pmq_config_init */
	assert_fails_with(pmq_create("cfg", &cfg, &q), -EINVAL, "pmq_config_init");
	char path[512];
	itest_queue_path(path, sizeof(path), "cfg");
	assert_int_equal(access(path, F_OK), -1);
	assert_fails_with(pmq_open(QNAME, 0x100, &q), -EINVAL, "unknown flags");
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.wait = 9;
	assert_fails_with(pmq_open_ex(QNAME, PMQ_CONSUMER, &o, &q), -EINVAL, "bad options");
}

/* ---- messages and handles ------------------------------------------------------------ */

static void test_message_larger_than_slot_is_emsgsize(void **state)
{
	(void)state;
	pmq_t *q;
	assert_int_equal(pmq_open(QNAME, PMQ_PRODUCER | PMQ_CONSUMER, &q), 0);
	static uint8_t big[4096];
	assert_fails_with(pmq_send(q, big, 129, 0), -EMSGSIZE, "exceeds max_payload 128");
	assert_int_equal(pmq_send(q, big, 128, 0), 0); /* exactly the limit is fine */
	void *buf;
	assert_fails_with(pmq_reserve(q, 4096, &buf, 0), -EMSGSIZE, "max_payload");
	assert_int_equal(pmq_reserve(q, 16, &buf, 0), 0);
	assert_fails_with(pmq_commit(q, buf, 17), -EMSGSIZE, "exceeds the reserved");
	assert_int_equal(pmq_commit(q, buf, 16), 0);
	struct iovec iov[2] = {{big, 10}, {big, 200}};
	assert_fails_with(pmq_send_batch(q, iov, 2, 0), -EMSGSIZE, "exceeds max_payload");
	/* nothing of the refused ones arrived */
	struct pmq_msg m;
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(m.len, 128);
	assert_int_equal(pmq_ack(q, &m), 0);
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(m.len, 16);
	assert_int_equal(pmq_ack(q, &m), 0);
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), -EAGAIN);
	/* a handle used against its role */
	pmq_t *c;
	assert_int_equal(pmq_open(QNAME, PMQ_CONSUMER, &c), 0);
	assert_fails_with(pmq_send(c, big, 1, 0), -EPERM, "not opened as producer");
	/* a message that was not received through this handle */
	assert_int_equal(pmq_send(q, big, 1, 0), 0);
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0);
	assert_fails_with(pmq_ack(c, &m), -EINVAL, "not received through this handle");
	struct pmq_msg forged = m;
	forged.cookie[0] = 1u << 30;
	assert_fails_with(pmq_ack(q, &forged), -EINVAL, "not received through this handle");
	assert_int_equal(pmq_ack(q, &m), 0);
	assert_fails_with(pmq_ack(q, &m), -ESTALE, "taken away"); /* twice */
	assert_int_equal(pmq_close(c), 0);
	assert_int_equal(pmq_close(q), 0);
}

static void test_null_handle_everywhere_is_einval(void **state)
{
	(void)state;
	struct pmq_msg m = {0};
	struct pmq_stats st;
	struct pmq_config cfg;
	struct pmq_attach_info ai;
	struct iovec iov = {&m, 1};
	void *buf = &m;
	assert_fails_with(pmq_send(NULL, "x", 1, 0), -EINVAL, "NULL");
	assert_fails_with(pmq_reserve(NULL, 1, &buf, 0), -EINVAL, "NULL");
	assert_fails_with(pmq_commit(NULL, buf, 1), -EINVAL, "NULL");
	assert_fails_with(pmq_abort(NULL, buf), -EINVAL, "NULL");
	assert_fails_with(pmq_send_batch(NULL, &iov, 1, 0), -EINVAL, "NULL");
	assert_fails_with(pmq_recv(NULL, &m, 0), -EINVAL, "NULL");
	assert_fails_with(pmq_recv_timeout(NULL, &m, 1), -EINVAL, "NULL");
	assert_fails_with(pmq_recv_batch(NULL, &m, 1, 0), -EINVAL, "NULL");
	assert_fails_with(pmq_ack(NULL, &m), -EINVAL, "NULL");
	assert_fails_with(pmq_ack_batch(NULL, &m, 1), -EINVAL, "NULL");
	assert_fails_with(pmq_nack(NULL, &m, 0), -EINVAL, "NULL");
	assert_fails_with(pmq_dlq_replay(NULL, 1), -EINVAL, "NULL");
	assert_fails_with(pmq_dlq_purge(NULL, 1), -EINVAL, "NULL");
	assert_fails_with(pmq_stats(NULL, &st), -EINVAL, "NULL");
	assert_fails_with(pmq_recover(NULL), -EINVAL, "NULL");
	assert_fails_with(pmq_attachments(NULL, &ai, 1), -EINVAL, "NULL");
	assert_fails_with(pmq_requeue_holder(NULL, 0, 0), -EINVAL, "NULL");
	assert_fails_with(pmq_get_config(NULL, &cfg), -EINVAL, "NULL");
	assert_fails_with(pmq_close(NULL), -EINVAL, "NULL");
	assert_fails_with(pmq_create(QNAME, NULL, NULL), -EINVAL, "NULL");
	assert_fails_with(pmq_open(QNAME, PMQ_CONSUMER, NULL), -EINVAL, "NULL");
	/* NULL arguments beside a good handle */
	pmq_t *q;
	assert_int_equal(pmq_open(QNAME, PMQ_PRODUCER | PMQ_CONSUMER, &q), 0);
	assert_fails_with(pmq_recv(q, NULL, PMQ_NONBLOCK), -EINVAL, "NULL");
	assert_fails_with(pmq_ack(q, NULL), -EINVAL, "NULL");
	assert_fails_with(pmq_nack(q, NULL, 0), -EINVAL, "NULL");
	assert_fails_with(pmq_send(q, NULL, 5, 0), -EINVAL, "NULL");
	assert_fails_with(pmq_reserve(q, 5, NULL, 0), -EINVAL, "NULL");
	assert_fails_with(pmq_stats(q, NULL), -EINVAL, "NULL");
	assert_fails_with(pmq_get_config(q, NULL), -EINVAL, "NULL");
	assert_fails_with(pmq_send_batch(q, NULL, 1, 0), -EINVAL, "empty batch");
	assert_int_equal(pmq_close(q), 0);
}

/* ---- permissions ------------------------------------------------------------------- */

static void test_file_is_0600_by_default_whatever_the_umask(void **state)
{
	(void)state;
	struct stat st;
	assert_int_equal(stat(qpath, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(S_ISREG(st.st_mode));
	mode_t old = umask(0);
	struct pmq_config cfg;
	itest_config(&cfg, 64);
	pmq_t *q;
	assert_int_equal(pmq_create("umask0", &cfg, &q), 0);
	assert_int_equal(pmq_close(q), 0);
	char path[512];
	itest_queue_path(path, sizeof(path), "umask0");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	umask(0077);
	cfg.mode = 0640; /* an explicit mode is kept exactly, umask or not */
	assert_int_equal(pmq_create("mode0640", &cfg, &q), 0);
	assert_int_equal(pmq_close(q), 0);
	itest_queue_path(path, sizeof(path), "mode0640");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	umask(old);
	cfg.mode = 04755;
	assert_fails_with(pmq_create("setuid", &cfg, &q), -EINVAL, "mode");
	/* an existing queue is not overwritten */
	itest_config(&cfg, 64);
	assert_fails_with(pmq_create(QNAME, &cfg, &q), -EEXIST, "already exists");
	/* no temporary file is left behind by the refused calls */
	int n = 0;
	DIR *d = opendir(itest_dir_path);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_truncated_file_is_eproto),
		T(test_zero_length_file_is_eproto),
		T(test_longer_file_is_eproto),
		T(test_flipped_header_bytes_fail_the_checksum),
		T(test_header_with_bad_geometry_is_eproto_even_with_good_crc),
		T(test_newer_version_is_eproto_naming_both_versions),
		T(test_unknown_required_feature_is_eproto),
		T(test_random_bytes_and_elf_are_foreign),
		T(test_symlink_is_refused_eloop),
		T(test_directory_and_fifo_are_refused),
		T(test_missing_queue_is_enoent),
		T(test_bad_names_are_einval),
		T(test_bad_config_is_einval_naming_the_field),
		T(test_message_larger_than_slot_is_emsgsize),
		T(test_null_handle_everywhere_is_einval),
		T(test_file_is_0600_by_default_whatever_the_umask),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
