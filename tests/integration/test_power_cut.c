/*
 * test_power_cut.c - power mode against the media model (tests/support/
 * media_model.h): the media holds only what the library flushed. A scenario
 * of sends, aborts, acks, nacks, lease moves, a dead consumer's recovery, a
 * close that settles and a dead-letter replay runs once; after every persist
 * point the test saves the media image together with what the application
 * had been told so far. Each image is then "rebooted" (written as a new
 * file with another boot id, opened: whole-file recovery runs) and drained:
 * every message whose send returned and that was not acked must come out,
 * in the main queue or among the dead letters; nothing may come out that
 * was never sent, is corrupt, or comes out twice.
 *
 * Power mode runs on /dev/shm with PMEM_IS_PMEM_FORCE=1: libpmem's flush
 * path runs (the media model sees each pmem_persist), the memory is RAM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cmocka.h>

#include <libpmem.h>

#include "internal.h"
#include "itest.h"
#include "media_model.h"

#define QNAME "cut"
#define NSEQ 64
#define MAX_IMAGES 2048

enum { S_BEGUN = 1, S_SENT = 2, S_ACKED = 4 };

/* what the application knows, as of one persist point */
struct knowledge {
	uint8_t seq[NSEQ];
	uint32_t steps; /* scenario step, for messages */
};

static struct knowledge now_known;
static struct image {
	uint8_t *bytes;
	struct knowledge known;
} images[MAX_IMAGES];
static unsigned n_images;
static const void *watched; /* an address in the queue's mapping */
static size_t file_len;

static void save_image(void *arg, const void *addr)
{
	(void)arg;
	(void)addr;
	size_t len = 0;
	const uint8_t *s = media_model_shadow(watched, &len);
	if (!s || n_images >= MAX_IMAGES)
		return;
	images[n_images].bytes = malloc(len);
	assert_non_null(images[n_images].bytes);
	memcpy(images[n_images].bytes, s, len);
	images[n_images].known = now_known;
	file_len = len;
	n_images++;
}

/* persist points of the recovery that runs after a power cut: each is cut again */
#define MAX_NESTED 64
static uint8_t *nested[MAX_NESTED];
static unsigned n_nested, n_nested_total;

static void save_nested(void *arg, const void *addr)
{
	(void)arg;
	size_t len = 0;
	const uint8_t *s = addr ? media_model_shadow(addr, &len) : NULL;
	if (!s || len != file_len || n_nested >= MAX_NESTED)
		return;
	nested[n_nested] = malloc(len);
	assert_non_null(nested[n_nested]);
	memcpy(nested[n_nested++], s, len);
}

static int setup(void **state)
{
	(void)state;
	itest_dir_make();
	memset(&now_known, 0, sizeof(now_known));
	n_images = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	media_model_set_hook(NULL, NULL);
	pmq_fault_set_hook(NULL);
	for (unsigned i = 0; i < n_images; i++)
		free(images[i].bytes);
	n_images = 0;
	itest_dir_remove();
	return 0;
}

static pmq_t *create_power_queue(void)
{
	struct pmq_config cfg;
	itest_config(&cfg, 8);
	cfg.durability = PMQ_DURABLE_POWER;
	cfg.max_deliveries = 4;
	cfg.dlq_capacity = 4;
	cfg.side_slots = 12;
	cfg.consumer_quota = 8;
	pmq_t *q;
	assert_int_equal(pmq_create(QNAME, &cfg, &q), 0);
	watched = ((struct pmq *)q)->hdr;
	return q;
}

static pmq_t *open_as(unsigned role)
{
	pmq_t *q;
	assert_int_equal(pmq_open(QNAME, role, &q), 0);
	return q;
}

static void send_seq(pmq_t *q, uint32_t s)
{
	uint8_t buf[128];
	size_t len = itest_make(buf, sizeof(buf), 0, s);
	now_known.seq[s] |= S_BEGUN;
	assert_int_equal(pmq_send(q, buf, len, 0), 0);
	now_known.seq[s] |= S_SENT;
	now_known.steps++;
}

static uint32_t seq_of(const struct pmq_msg *m)
{
	uint32_t p = 0, s = 0;
	assert_true(itest_check(m->data, m->len, &p, &s));
	assert_true(s < NSEQ);
	return s;
}

static uint32_t recv_seq(pmq_t *q, struct pmq_msg *m)
{
	assert_int_equal(pmq_recv(q, m, PMQ_NONBLOCK), 0);
	return seq_of(m);
}

static void ack_seq(pmq_t *q, const struct pmq_msg *m)
{
	uint32_t s = seq_of(m);
	int rc = pmq_ack(q, m);
	if (rc == 0)
		now_known.seq[s] |= S_ACKED;
	else
		assert_int_equal(rc, -ESTALE); /* taken away by a lease: redelivered, not acked */
	now_known.steps++;
}

/* A handle whose process "died": its descriptor (token and presence locks) is
 * closed and its memory released; its entry and the words naming it stay as a SIGKILL
 * would leave them. */
static void die(pmq_t *h)
{
	struct pmq *q = (struct pmq *)h;
	attach_unregister_handle(q);
	close(q->fd);
	if (q->probe_fd >= 0)
		close(q->probe_fd);
	if (q->token_fd >= 0)
		close(q->token_fd);
	pmem_unmap(q->hdr, q->map_len);
	free(q);
}

/* ---- checking one image --------------------------------------------------------- */

/* open name (with capture: the open's recovery persist points are saved in nested[]),
 * take every message, count each */
static void drain(const char *name, uint32_t *count, unsigned image, bool capture)
{
	pmq_t *q;
	if (capture)
		media_model_set_hook(save_nested, NULL);
	int rc = pmq_open(name, PMQ_CONSUMER, &q);
	media_model_set_hook(NULL, NULL);
	if (rc)
		fail_msg("image %u: cannot open %s after the power cut: %s", image, name, pmq_errmsg());
	struct pmq_msg m;
	unsigned n = 0;
	while (pmq_recv(q, &m, PMQ_NONBLOCK) == 0) {
		uint32_t p = 0, s = 0;
		if (!itest_check(m.data, m.len, &p, &s) || s >= NSEQ)
			fail_msg("image %u: a corrupt or foreign message came out of %s (len %u)", image, name, m.len);
		count[s]++;
		assert_int_equal(pmq_ack(q, &m), 0);
		assert_true(++n < 1000);
	}
	assert_int_equal(pmq_close(q), 0);
}

/* write image as `name`, reboot it, check it against what was known */
static void check_one(uint8_t *image, const struct knowledge *k, const char *name, unsigned i, int cut2,
		      bool capture)
{
	char path[512], dlq[64];
	itest_queue_path(path, sizeof(path), name);
	struct pmq_header *h = (struct pmq_header *)image;
	char boot[40];
	snprintf(boot, sizeof(boot), "another-boot-%u-%d", i, cut2);
	format_write_boot_record(h, boot); /* a power cut is a reboot: a valid record of another boot */
	assert_int_equal(media_model_power_cut(image, file_len, path), 0);
	uint32_t count[NSEQ] = {0};
	drain(name, count, i, capture);
	snprintf(dlq, sizeof(dlq), "%s.dlq", name);
	drain(dlq, count, i, false);
	char where[96];
	if (cut2 < 0)
		snprintf(where, sizeof(where), "power cut at persist point %u (after step %u)", i + 1, k->steps);
	else
		snprintf(where, sizeof(where), "power cut at persist point %u (after step %u), then at point %d of "
			 "the recovery after it", i + 1, k->steps, cut2 + 1);
	for (uint32_t s = 0; s < NSEQ; s++) {
		if ((k->seq[s] & S_SENT) && !(k->seq[s] & S_ACKED) && count[s] == 0)
			fail_msg("%s: message %u was sent, never acked, and is gone", where, s);
		if (count[s] && !(k->seq[s] & S_BEGUN))
			fail_msg("%s: message %u came out but was never sent", where, s);
		if (count[s] > 1)
			fail_msg("%s: message %u came out %u times", where, s, count[s]);
	}
	assert_int_equal(pmq_unlink(name, NULL), 0);
}

static void check_image(unsigned i)
{
	n_nested = 0;
	check_one(images[i].bytes, &images[i].known, "rebooted", i, -1, true);
	/* and a second cut at each persist point of that recovery */
	n_nested_total += n_nested;
	for (unsigned j = 0; j < n_nested; j++) {
		check_one(nested[j], &images[i].known, "rebooted-again", i, (int)j, false);
		free(nested[j]);
	}
	n_nested = 0;
}

static void check_every_image(unsigned at_least)
{
	media_model_set_hook(NULL, NULL);
	fprintf(stderr, "# %u persist points, each cut and rebooted (and cut again in that recovery)\n", n_images);
	assert_true(n_images >= at_least); /* the scenario really ran through the flush path */
	n_nested_total = 0;
	for (unsigned i = 0; i < n_images; i++)
		check_image(i);
	fprintf(stderr, "# %u more cuts inside the recoveries\n", n_nested_total);
}

/* ---- the scenario: every kind of persist point ------------------------------------ */

static void test_power_cut_at_every_persist_point(void **state)
{
	(void)state;
	pmq_t *p = create_power_queue();
	pmq_t *c = open_as(PMQ_CONSUMER);
	pmq_t *d = open_as(PMQ_CONSUMER); /* stands for pmqd: lease moves */
	media_model_set_hook(save_image, NULL);
	struct pmq_msg m0, m1, m2, m3;

	for (uint32_t s = 0; s < 6; s++) /* D1, D2, D3 per send */
		send_seq(p, s);
	void *buf; /* a reservation aborted: its ticket is skipped */
	assert_int_equal(pmq_reserve(p, 40, &buf, 0), 0);
	memset(buf, 0x5a, 40);
	assert_int_equal(pmq_abort(p, buf), 0);

	assert_int_equal(recv_seq(c, &m0), 0);
	ack_seq(c, &m0);
	assert_int_equal(recv_seq(c, &m1), 1);
	assert_int_equal(pmq_nack(c, &m1, 0), 0); /* a move: D4, D5, D5', D6, the freed source */
	now_known.steps++;

	/* a lease move of a held message, then the holder's late ack */
	assert_int_equal(recv_seq(c, &m2), 1); /* the redelivery comes first */
	assert_int_equal(recv_seq(c, &m3), 2);
	struct pmq *cq = (struct pmq *)c;
	assert_int_equal(pmq_requeue_holder(d, cq->index, cq->incarnation), 2);
	now_known.steps++;
	ack_seq(c, &m2); /* -ESTALE: frees the pinned source */
	ack_seq(c, &m3);

	/* a redelivery dead-lettered in place, another dead-lettered and replayed */
	assert_int_equal(pmq_recv(c, &m0, PMQ_NONBLOCK), 0);
	assert_true(m0.delivery_count > 1);
	assert_int_equal(pmq_nack(c, &m0, PMQ_NACK_DEADLETTER), 0);
	now_known.steps++;
	assert_int_equal(pmq_recv(c, &m0, PMQ_NONBLOCK), 0);
	assert_true(m0.delivery_count > 1);
	assert_int_equal(pmq_nack(c, &m0, PMQ_NACK_DEADLETTER), 0);
	now_known.steps++;
	assert_int_equal(pmq_dlq_replay(d, 1), 1);
	now_known.steps++;

	/* a consumer dies holding two messages; another handle recovers it */
	pmq_t *x = open_as(PMQ_CONSUMER);
	struct pmq_msg xm;
	assert_int_equal(pmq_recv(x, &xm, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_recv(x, &xm, PMQ_NONBLOCK), 0);
	die(x);
	assert_true(pmq_recover(c) >= 1);
	now_known.steps++;

	/* the ring wraps; a consumer closes while holding one (its close settles it) */
	for (uint32_t s = 6; s < 10; s++)
		send_seq(p, s);
	pmq_t *y = open_as(PMQ_CONSUMER);
	struct pmq_msg ym;
	assert_int_equal(pmq_recv(y, &ym, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_close(y), 0);
	now_known.steps++;

	check_every_image(40);
	assert_int_equal(pmq_close(d), 0);
	assert_int_equal(pmq_close(c), 0);
	assert_int_equal(pmq_close(p), 0);
}

/* ---- issue 9 item 10: a lease move's publish not yet persisted, the holder acks ---- */

static pmq_t *race_holder;
static struct pmq_msg race_msg;
static int race_armed;

static void ack_inside_publish(const char *point)
{
	if (!race_armed || strcmp(point, "publish.after_cas") != 0)
		return;
	race_armed = 0;
	/* the mover has published the copy (CAS) and not yet persisted it: the holder
	 * acks, learns the message was taken away, and frees the pinned source */
	ack_seq(race_holder, &race_msg);
}

static void test_power_cut_after_lease_move_races_the_holders_ack(void **state)
{
	(void)state;
	pmq_t *p = create_power_queue();
	pmq_t *c = open_as(PMQ_CONSUMER);
	pmq_t *d = open_as(PMQ_CONSUMER);
	send_seq(p, 0);
	send_seq(p, 1);
	assert_int_equal(recv_seq(c, &race_msg), 0);
	race_holder = c;
	race_armed = 1;
	media_model_set_hook(save_image, NULL);
	pmq_fault_set_hook(ack_inside_publish);
	struct pmq *cq = (struct pmq *)c;
	assert_int_equal(pmq_requeue_holder(d, cq->index, cq->incarnation), 1);
	pmq_fault_set_hook(NULL);
	assert_int_equal(race_armed, 0); /* the ack ran inside the publish */
	now_known.steps++;
	check_every_image(3);
	assert_int_equal(pmq_close(d), 0);
	assert_int_equal(pmq_close(c), 0);
	assert_int_equal(pmq_close(p), 0);
}

int main(void)
{
	setenv("PMEM_IS_PMEM_FORCE", "1", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_power_cut_at_every_persist_point, setup, teardown),
		cmocka_unit_test_setup_teardown(test_power_cut_after_lease_move_races_the_holders_ack, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
