/* Longer than 600 lines on purpose: one test per mutant the outside review found surviving (issue 17), each short. */
/*
 * test_strength.c - assertions an outside mutation review found missing
 * (issue 17): each test here failed on one named broken variant of the
 * library (tests/mutation/mutants.txt names the variant next to its test).
 *
 * - a waiter sleeping on the futex is woken by the publish / the ack, not by
 *   its own timeout (100 ms for data, 10 ms for space);
 * - recv clamps a slot length corrupted while the queue is open;
 * - ack refuses a cookie whose index is exactly slot_count (side_count);
 * - pmq_ack_batch refuses a message received by another handle;
 * - a dead-letter replay gives the message a fresh delivery budget;
 * - a dead .dlq reader's letter goes back to the dead letters;
 * - an attachment entry's incarnation is bumped on reuse;
 * - pmq_close aborts the handle's open reservation;
 * - pmq_peek never returns a torn copy while producers overwrite slots.
 */
#include <pthread.h>
#include <sys/syscall.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "internal.h"
#include "itest.h"

#define QNAME "strength"

static int setup(void **state)
{
	(void)state;
	itest_dir_make();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	itest_dir_remove();
	return 0;
}

static pmq_t *create_q(uint32_t slots, void (*tune)(struct pmq_config *))
{
	struct pmq_config c;
	itest_config(&c, slots);
	if (tune)
		tune(&c);
	pmq_t *q = NULL;
	assert_int_equal(pmq_create(QNAME, &c, &q), 0);
	return q;
}

static pmq_t *open_opts(unsigned flags, uint32_t wait)
{
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.wait = wait;
	pmq_t *q = NULL;
	assert_int_equal(pmq_open_ex(QNAME, flags, &o, &q), 0);
	return q;
}

static struct pmq_stats stats_of(pmq_t *q)
{
	struct pmq_stats st;
	assert_int_equal(pmq_stats(q, &st), 0);
	return st;
}

/* ---- futex wake-ups ------------------------------------------------------------- */

/* 1 once thread `tid` of this process is blocked in the futex system call (not in the
 * nanosleep of its idle loop: /proc/.../syscall names the call it is blocked in). */
static int thread_in_futex(pid_t tid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return atol(buf) == SYS_futex && strchr(buf, ' ') != NULL;
}

struct sleeper {
	pmq_t *q;
	int is_recv;           /* 1: blocks in pmq_recv, 0: blocks in pmq_send on a full ring */
	_Atomic pid_t tid;
	_Atomic uint32_t go;   /* bumped by the main thread: one more blocking call */
	_Atomic uint32_t done; /* bumped when the call returned */
	_Atomic uint64_t returned_ns;
	_Atomic int rc;
};

static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	atomic_store(&s->tid, (pid_t)gettid());
	for (uint32_t round = 1;; round++) {
		while (atomic_load(&s->go) < round)
			itest_sleep_ms(1);
		if (atomic_load(&s->go) == UINT32_MAX)
			return NULL;
		int rc;
		if (s->is_recv) {
			struct pmq_msg m;
			rc = pmq_recv(s->q, &m, 0);
			atomic_store(&s->returned_ns, itest_now_ns());
			if (rc == 0)
				rc = pmq_ack(s->q, &m);
		} else {
			char b[8] = "space";
			rc = pmq_send(s->q, b, sizeof(b), 0);
			atomic_store(&s->returned_ns, itest_now_ns());
		}
		atomic_store(&s->rc, rc);
		atomic_fetch_add(&s->done, 1);
	}
}

/* The sleeper starts one blocking call; return once it is asleep in the futex. */
static void start_and_await_sleep(struct sleeper *s, uint32_t round)
{
	atomic_store(&s->go, round);
	uint64_t end = itest_now_ns() + 5000000000ull;
	/* PMQ_WAIT_FUTEX: the first wait step sleeps in FUTEX_WAIT */
	while (!thread_in_futex(atomic_load(&s->tid))) {
		assert_true(itest_now_ns() < end);
		sched_yield();
	}
}

static uint64_t await_return(struct sleeper *s, uint32_t round, uint64_t since)
{
	while (atomic_load(&s->done) < round)
		sched_yield();
	assert_int_equal(atomic_load(&s->rc), 0);
	return atomic_load(&s->returned_ns) - since;
}

/* A consumer asleep in FUTEX_WAIT must be woken by the publish: without the wake it
 * sleeps out its 100 ms cap. The best of 5 rounds must be far below it (a busy
 * machine can delay one wake-up, not all five). */
static void test_publish_wakes_a_sleeping_consumer(void **state)
{
	(void)state;
	pmq_t *p = create_q(16, NULL);
	struct sleeper s = {.q = open_opts(PMQ_CONSUMER, PMQ_WAIT_FUTEX), .is_recv = 1};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, sleeper_main, &s), 0);
	while (!atomic_load(&s.tid))
		sched_yield();
	uint64_t best = UINT64_MAX;
	for (uint32_t r = 1; r <= 5; r++) {
		start_and_await_sleep(&s, r);
		uint64_t t0 = itest_now_ns();
		assert_int_equal(pmq_send(p, "wake", 4, 0), 0);
		uint64_t lat = await_return(&s, r, t0);
		if (lat < best)
			best = lat;
	}
	atomic_store(&s.go, UINT32_MAX);
	pthread_join(th, NULL);
	fprintf(stderr, "publish -> sleeping consumer: best wake-up %.3f ms (cap 100 ms)\n", best / 1e6);
	assert_true(best < 40000000ull);
	assert_int_equal(pmq_close(s.q), 0);
	assert_int_equal(pmq_close(p), 0);
}

/* A producer asleep on a full ring must be woken by the ack (pmq_ack, then
 * pmq_ack_batch): without the wake it sleeps out its 10 ms cap. */
static void test_ack_wakes_a_sleeping_producer(void **state)
{
	(void)state;
	pmq_t *c = create_q(4, NULL);
	struct sleeper s = {.q = open_opts(PMQ_PRODUCER, PMQ_WAIT_FUTEX), .is_recv = 0};
	for (int i = 0; i < 4; i++)
		assert_int_equal(pmq_send(s.q, "fill", 4, 0), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, sleeper_main, &s), 0);
	while (!atomic_load(&s.tid))
		sched_yield();
	uint64_t best[2] = {UINT64_MAX, UINT64_MAX};
	for (uint32_t r = 1; r <= 16; r++) {
		struct pmq_msg m;
		assert_int_equal(pmq_recv(c, &m, PMQ_NONBLOCK), 0); /* held: the ring stays full */
		start_and_await_sleep(&s, r);
		uint64_t t0 = itest_now_ns();
		int batch = r % 2;
		assert_int_equal(batch ? pmq_ack_batch(c, &m, 1) : pmq_ack(c, &m), 0);
		uint64_t lat = await_return(&s, r, t0);
		if (lat < best[batch])
			best[batch] = lat;
	}
	atomic_store(&s.go, UINT32_MAX);
	pthread_join(th, NULL);
	fprintf(stderr, "ack -> sleeping producer: best %.3f ms, ack_batch: best %.3f ms (cap 10 ms)\n", best[0] / 1e6,
		best[1] / 1e6);
	assert_true(best[0] < 2000000ull);
	assert_true(best[1] < 2000000ull);
	assert_int_equal(pmq_close(s.q), 0);
	assert_int_equal(pmq_close(c), 0);
}

/* ---- cookies and foreign messages -------------------------------------------------- */

/* The length of a slot corrupted while the queue is open is clamped to max_payload:
 * the message never reaches past its slot. */
static void test_recv_clamps_a_corrupted_length(void **state)
{
	(void)state;
	pmq_t *q = create_q(16, NULL);
	char big[128];
	memset(big, 'x', sizeof(big));
	assert_int_equal(pmq_send(q, big, sizeof(big), 0), 0);
	main_slot(q, 0)->len = 0x7fffffffu; /* a hostile process writes the length */
	struct pmq_msg m;
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(m.len, 128);
	assert_int_equal(pmq_ack(q, &m), 0);
	assert_int_equal(pmq_close(q), 0);
}

/* pmq_peek clamps a corrupted length too: never more than max_payload copied or reported. */
static void test_peek_clamps_a_corrupted_length(void **state)
{
	(void)state;
	pmq_t *q = create_q(16, NULL);
	char big[128];
	memset(big, 'p', sizeof(big));
	assert_int_equal(pmq_send(q, big, sizeof(big), 0), 0);
	main_slot(q, 0)->len = 0x7fffffffu;
	char out[256];
	struct pmq_msg info;
	uint64_t pos = 0;
	assert_int_equal(pmq_peek(q, &pos, out, sizeof(out), &info, 0), 128);
	assert_int_equal(info.len, 128);
	assert_int_equal(pos, 1);
	assert_int_equal(pmq_close(q), 0);
}

/* Index slot_count (side_count) is one past the array: refused like 2^30 is. */
static void test_ack_refuses_index_equal_to_slot_count(void **state)
{
	(void)state;
	pmq_t *q = create_q(16, NULL);
	assert_int_equal(pmq_send(q, "m", 1, 0), 0);
	struct pmq_msg m;
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0);
	struct pmq_msg bad = m;
	bad.cookie[0] = 16; /* == slot_count */
	assert_int_equal(pmq_ack(q, &bad), -EINVAL);
	assert_int_equal(pmq_nack(q, &bad, 0), -EINVAL);
	struct pmq_stats st = stats_of(q);
	bad.cookie[0] = (1ull << 63) | st.side_slots; /* == side_count */
	assert_int_equal(pmq_ack(q, &bad), -EINVAL);
	assert_int_equal(pmq_nack(q, &bad, 0), -EINVAL);
	assert_int_equal(pmq_ack(q, &m), 0); /* the real one is still ours */
	assert_int_equal(pmq_close(q), 0);
}

/* pmq_ack_batch through handle B of a message that handle A received: refused,
 * and the message stays A's. */
static void test_ack_batch_refuses_another_handles_message(void **state)
{
	(void)state;
	pmq_t *a = create_q(16, NULL);
	pmq_t *b = open_opts(PMQ_CONSUMER, PMQ_WAIT_SPIN_FUTEX);
	assert_int_equal(pmq_send(a, "mine", 4, 0), 0);
	struct pmq_msg m;
	assert_int_equal(pmq_recv(a, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_ack_batch(b, &m, 1), -EINVAL);
	assert_int_equal(pmq_ack(b, &m), -EINVAL);
	assert_int_equal(stats_of(a).in_flight, 1);
	assert_int_equal(pmq_ack(a, &m), 0);
	assert_int_equal(stats_of(a).in_flight, 0);
	assert_int_equal(pmq_close(b), 0);
	assert_int_equal(pmq_close(a), 0);
}

/* ---- dead letters ------------------------------------------------------------------ */

static void two_deliveries(struct pmq_config *c) { c->max_deliveries = 2; }

/* Replayed, then nacked once: redelivered (fresh budget), not dead again. */
static void test_dlq_replay_resets_the_budget(void **state)
{
	(void)state;
	pmq_t *q = create_q(16, two_deliveries);
	assert_int_equal(pmq_send(q, "again", 5, 0), 0);
	struct pmq_msg m;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0);
		assert_int_equal(pmq_nack(q, &m, 0), 0);
	}
	assert_int_equal(stats_of(q).dead_letters, 1);
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), -EAGAIN);
	assert_int_equal(pmq_dlq_replay(q, 10), 1);
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(m.delivery_count, 3);
	assert_int_equal(pmq_nack(q, &m, 0), 0);
	assert_int_equal(stats_of(q).dead_letters, 0);
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0); /* the second attempt of its new budget */
	assert_int_equal(m.delivery_count, 4);
	assert_memory_equal(m.data, "again", 5);
	assert_int_equal(pmq_nack(q, &m, 0), 0); /* the budget of 2 is used up: dead again */
	assert_int_equal(stats_of(q).dead_letters, 1);
	assert_int_equal(pmq_close(q), 0);
}

static void two_letters(struct pmq_config *c) { c->dlq_capacity = 2; }

static void dead_letter_one(pmq_t *q, const char *text)
{
	struct pmq_msg m;
	assert_int_equal(pmq_send(q, text, strlen(text), 0), 0);
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_nack(q, &m, PMQ_NACK_DEADLETTER), 0);
}

/* A purge gives the dead-letter credits back: the count drops and the area takes
 * as many new letters as its capacity again. */
static void test_dlq_purge_gives_the_credits_back(void **state)
{
	(void)state;
	pmq_t *q = create_q(16, two_letters);
	dead_letter_one(q, "one");
	dead_letter_one(q, "two");
	assert_int_equal(stats_of(q).dead_letters, 2);
	assert_int_equal(pmq_dlq_purge(q, 10), 2);
	assert_int_equal(stats_of(q).dead_letters, 0);
	dead_letter_one(q, "three");
	dead_letter_one(q, "four");
	assert_int_equal(stats_of(q).dead_letters, 2);
	assert_int_equal(pmq_close(q), 0);
}

static void nack_to_dead_letters(void *arg)
{
	(void)arg;
	pmq_t *c;
	CHILD_CHECK(pmq_open(QNAME, PMQ_CONSUMER, &c) == 0);
	struct pmq_msg m;
	CHILD_CHECK(pmq_recv(c, &m, PMQ_NONBLOCK) == 0);
	pmq_nack(c, &m, PMQ_NACK_DEADLETTER); /* killed at move.after_copy: credit taken, no mark */
	_exit(4);
}

/* A consumer killed in the middle of dead-lettering (after the copy, before the mark):
 * the move never happened, so recovery gives its dead-letter credit back and the
 * message is simply redelivered. */
static void test_aborted_dead_letter_move_gives_the_credit_back(void **state)
{
	(void)state;
	pmq_t *q = create_q(16, NULL);
	assert_int_equal(pmq_send(q, "half", 4, 0), 0);
	pid_t pid = itest_fork("move.after_copy", nack_to_dead_letters, NULL);
	assert_true(itest_killed_by(itest_wait(pid), SIGKILL));
	assert_int_equal(pmq_recover(q), 1);
	assert_int_equal(stats_of(q).dead_letters, 0);
	struct pmq_msg m;
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0);
	assert_memory_equal(m.data, "half", 4);
	assert_int_equal(m.delivery_count, 2);
	assert_int_equal(pmq_ack(q, &m), 0);
	assert_int_equal(pmq_close(q), 0);
}

static void dlq_reader_dies_holding(void *arg)
{
	_Atomic uint32_t *flag = arg;
	pmq_t *d;
	CHILD_CHECK(pmq_open(QNAME ".dlq", PMQ_CONSUMER, &d) == 0);
	struct pmq_msg m;
	CHILD_CHECK(pmq_recv(d, &m, PMQ_NONBLOCK) == 0);
	CHILD_CHECK(m.len == 4 && !memcmp(m.data, "dead", 4));
	atomic_store(flag, 1);
	for (;;)
		pause(); /* SIGKILLed by the parent */
}

/* A .dlq reader killed while it holds a letter: recovery puts it back among the dead
 * letters, not into the main queue. */
static void test_dead_dlq_readers_letter_stays_dead(void **state)
{
	(void)state;
	pmq_t *q = create_q(16, NULL);
	assert_int_equal(pmq_send(q, "dead", 4, 0), 0);
	struct pmq_msg m;
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_nack(q, &m, PMQ_NACK_DEADLETTER), 0);
	assert_int_equal(stats_of(q).dead_letters, 1);
	_Atomic uint32_t *flag = itest_shared(sizeof(*flag));
	pid_t pid = itest_fork(NULL, dlq_reader_dies_holding, (void *)flag);
	if (!itest_await(flag, 1, 10000)) {
		kill(pid, SIGKILL);
		fail_msg("the .dlq reader did not take the letter");
	}
	kill(pid, SIGKILL);
	assert_true(itest_killed_by(itest_wait(pid), SIGKILL));
	assert_int_equal(pmq_recover(q), 1);
	assert_int_equal(stats_of(q).dead_letters, 1);
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), -EAGAIN); /* not back in the main queue */
	uint64_t pos = 0;
	char buf[8];
	assert_int_equal(pmq_peek(q, &pos, buf, sizeof(buf), NULL, PMQ_PEEK_DLQ), 4);
	assert_memory_equal(buf, "dead", 4);
	munmap(flag, sizeof(*flag));
	assert_int_equal(pmq_close(q), 0);
}

/* ---- attachments and reservations --------------------------------------------------- */

/* The entry a closed handle freed is reused with a new incarnation: a lease action
 * aimed at the old one gets -ESTALE and the new holder keeps its message. */
static void test_incarnation_bumped_on_reuse(void **state)
{
	(void)state;
	pmq_t *obs = create_q(16, NULL);
	pmq_t *c1 = open_opts(PMQ_CONSUMER, PMQ_WAIT_SPIN_FUTEX);
	struct pmq_attach_info info[8];
	int n = pmq_attachments(obs, info, 8);
	assert_int_equal(n, 2);
	uint32_t idx = info[1].index, inc = info[1].incarnation;
	assert_int_equal(idx, ((struct pmq *)c1)->index);
	assert_int_equal(pmq_close(c1), 0);
	pmq_t *c2 = open_opts(PMQ_CONSUMER, PMQ_WAIT_SPIN_FUTEX);
	assert_int_equal(((struct pmq *)c2)->index, idx); /* the first free entry again */
	assert_int_equal(pmq_send(obs, "held", 4, 0), 0);
	struct pmq_msg m;
	assert_int_equal(pmq_recv(c2, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(pmq_requeue_holder(obs, idx, inc), -ESTALE);
	assert_int_equal(stats_of(obs).redelivered, 0);
	assert_int_equal(pmq_ack(c2, &m), 0);
	n = pmq_attachments(obs, info, 8);
	assert_int_equal(n, 2);
	assert_int_not_equal(info[1].incarnation, inc);
	assert_int_equal(pmq_close(c2), 0);
	assert_int_equal(pmq_close(obs), 0);
}

/* Closing with an open reservation aborts it: aborted == 1 and the next message
 * is received at once (no ticket left WRITING in front of it). */
static void test_close_aborts_the_open_reservation(void **state)
{
	(void)state;
	pmq_t *c = create_q(16, NULL);
	pmq_t *p = open_opts(PMQ_PRODUCER, PMQ_WAIT_SPIN_FUTEX);
	void *buf;
	assert_int_equal(pmq_reserve(p, 16, &buf, 0), 0);
	memcpy(buf, "never", 5);
	assert_int_equal(pmq_close(p), 0);
	assert_int_equal(stats_of(c).aborted, 1);
	p = open_opts(PMQ_PRODUCER, PMQ_WAIT_SPIN_FUTEX);
	assert_int_equal(pmq_send(p, "after", 5, 0), 0);
	struct pmq_msg m;
	assert_int_equal(pmq_recv(c, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(m.len, 5);
	assert_memory_equal(m.data, "after", 5);
	assert_int_equal(pmq_ack(c, &m), 0);
	assert_int_equal(pmq_close(p), 0);
	assert_int_equal(pmq_close(c), 0);
}

/* One reservation at a time per handle: a second one, or a send meanwhile, is -EBUSY
 * and leaves the first intact. */
static void test_second_reservation_is_refused(void **state)
{
	(void)state;
	pmq_t *q = create_q(16, NULL);
	void *a, *b = NULL;
	assert_int_equal(pmq_reserve(q, 8, &a, 0), 0);
	assert_int_equal(pmq_reserve(q, 8, &b, 0), -EBUSY);
	assert_null(b);
	assert_int_equal(pmq_send(q, "x", 1, 0), -EBUSY);
	memcpy(a, "first", 5);
	assert_int_equal(pmq_commit(q, a, 5), 0);
	struct pmq_stats st = stats_of(q);
	assert_int_equal(st.sent, 1);
	struct pmq_msg m;
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0);
	assert_memory_equal(m.data, "first", 5);
	assert_int_equal(pmq_ack(q, &m), 0);
	assert_int_equal(pmq_close(q), 0);
}

static void reserve_and_die(void *arg)
{
	_Atomic uint32_t *flag = arg;
	pmq_t *p;
	CHILD_CHECK(pmq_open(QNAME, PMQ_PRODUCER, &p) == 0);
	void *b;
	CHILD_CHECK(pmq_reserve(p, 8, &b, 0) == 0);
	atomic_store(flag, 1);
	for (;;)
		pause();
}

/* Keeps the tail moving (one send every 5 ms) until told to stop. */
struct mover {
	pmq_t *p;
	atomic_bool stop;
	unsigned sent;
};

static void *keep_sending(void *arg)
{
	struct mover *mv = arg;
	while (!atomic_load(&mv->stop) && mv->sent < 1000) {
		if (pmq_send(mv->p, "more", 4, PMQ_NONBLOCK) == 0)
			mv->sent++;
		itest_sleep_ms(5);
	}
	return NULL;
}

/* A consumer that busy-spins (PMQ_WAIT_SPIN: it never sleeps, so the 100 ms idle
 * recovery never runs) behind a dead producer's WRITING slot heals it itself and gets
 * the message sent after it. A live producer keeps sending meanwhile, so head or tail
 * moves in every period and the spinner's stall heal (which needs both still for a
 * whole 100 ms period) never runs either: only the heal of the blocking writer can
 * (mutant R22). */
static void test_spinning_consumer_heals_a_dead_producers_slot(void **state)
{
	(void)state;
	pmq_t *p = create_q(1024, NULL);
	pmq_t *c = open_opts(PMQ_CONSUMER, PMQ_WAIT_SPIN); /* before the death: open recovers too */
	_Atomic uint32_t *flag = itest_shared(sizeof(*flag));
	pid_t pid = itest_fork(NULL, reserve_and_die, (void *)flag);
	if (!itest_await(flag, 1, 10000)) {
		kill(pid, SIGKILL);
		fail_msg("the producer did not reserve");
	}
	assert_int_equal(pmq_send(p, "behind", 6, 0), 0);
	kill(pid, SIGKILL);
	assert_true(itest_killed_by(itest_wait(pid), SIGKILL));
	struct mover mv = {.p = p};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, keep_sending, &mv), 0);
	struct pmq_msg m;
	int rc = pmq_recv_timeout(c, &m, 2000000000ull);
	atomic_store(&mv.stop, true);
	pthread_join(th, NULL);
	assert_int_equal(rc, 0);
	assert_memory_equal(m.data, "behind", 6);
	assert_int_equal(pmq_ack(c, &m), 0);
	assert_int_equal(stats_of(c).aborted, 1);
	munmap(flag, sizeof(*flag));
	assert_int_equal(pmq_close(c), 0);
	assert_int_equal(pmq_close(p), 0);
}

static void two_entries(struct pmq_config *c) { c->max_attach = 2; }

static void hold_one_and_die(void *arg)
{
	_Atomic uint32_t *flag = arg;
	pmq_t *c;
	CHILD_CHECK(pmq_open(QNAME, PMQ_CONSUMER, &c) == 0);
	struct pmq_msg m;
	CHILD_CHECK(pmq_recv(c, &m, PMQ_NONBLOCK) == 0);
	atomic_store(flag, 1);
	for (;;)
		pause();
}

/* The dead attachment sits in the last entry of the table: pmq_recover finds it. */
static void test_recover_reaches_the_last_entry(void **state)
{
	(void)state;
	pmq_t *q = create_q(16, two_entries);
	assert_int_equal(pmq_send(q, "last", 4, 0), 0);
	_Atomic uint32_t *flag = itest_shared(sizeof(*flag));
	pid_t pid = itest_fork(NULL, hold_one_and_die, (void *)flag);
	if (!itest_await(flag, 1, 10000)) {
		kill(pid, SIGKILL);
		fail_msg("the consumer did not take the message");
	}
	kill(pid, SIGKILL);
	assert_true(itest_killed_by(itest_wait(pid), SIGKILL));
	assert_int_equal(pmq_recover(q), 1);
	struct pmq_msg m;
	assert_int_equal(pmq_recv(q, &m, PMQ_NONBLOCK), 0);
	assert_int_equal(m.delivery_count, 2);
	assert_int_equal(pmq_ack(q, &m), 0);
	munmap(flag, sizeof(*flag));
	assert_int_equal(pmq_close(q), 0);
}

/* A quota of 0 would leave every consumer at -EBUSY forever: refused, naming the field. */
static void test_zero_consumer_quota_is_refused(void **state)
{
	(void)state;
	struct pmq_config c;
	itest_config(&c, 16);
	c.consumer_quota = 0;
	pmq_t *q = NULL;
	assert_int_equal(pmq_create(QNAME, &c, &q), -EINVAL);
	assert_non_null(strstr(pmq_errmsg(), "consumer_quota"));
	assert_null(q);
}

/* The standby side refuses an entry longer than max_payload (it would overrun the
 * mirror slot) and takes one of exactly max_payload. */
static void test_repl_apply_refuses_an_oversized_entry(void **state)
{
	(void)state;
	pmq_t *q = create_q(16, NULL);
	assert_int_equal(pmq_repl_make_standby(q, 1), 0);
	static uint8_t payload[256];
	memset(payload, 'r', sizeof(payload));
	struct pmq_repl_entry e = {.ticket = 0, .origin = 0, .len = 129, .epoch = 1};
	assert_int_equal(pmq_repl_apply(q, &e, payload), -EINVAL);
	struct pmq_repl_info in;
	assert_int_equal(pmq_repl_info(q, &in), 0);
	assert_int_equal(in.tail, 0);
	e.len = 128;
	assert_int_equal(pmq_repl_apply(q, &e, payload), 0);
	assert_int_equal(pmq_repl_info(q, &in), 0);
	assert_int_equal(in.tail, 1);
	assert_int_equal(pmq_close(q), 0);
}

/* ---- peek under concurrent overwrites ---------------------------------------------- */

#define PEEK_LEN 1000u

/* A message whose every byte says which message it is. */
static void peek_fill(uint8_t *b, uint32_t seq)
{
	memcpy(b, &seq, sizeof(seq));
	memset(b + sizeof(seq), (int)(seq * 31u + 7u) & 0xff, PEEK_LEN - sizeof(seq));
}

static int peek_intact(const uint8_t *b, size_t len)
{
	uint32_t seq;
	if (len != PEEK_LEN)
		return 0;
	memcpy(&seq, b, sizeof(seq));
	uint8_t want = (uint8_t)(seq * 31u + 7u);
	for (size_t k = sizeof(seq); k < len; k++)
		if (b[k] != want)
			return 0;
	return 1;
}

static _Atomic int churn_stop;

static void *churn(void *arg)
{
	(void)arg;
	pmq_t *p = open_opts(PMQ_PRODUCER | PMQ_CONSUMER, PMQ_WAIT_SPIN);
	uint8_t buf[PEEK_LEN];
	struct pmq_msg m;
	for (uint32_t seq = 0; !atomic_load(&churn_stop); seq++) {
		peek_fill(buf, seq);
		if (pmq_send(p, buf, PEEK_LEN, PMQ_NONBLOCK) == -EAGAIN && pmq_recv(p, &m, PMQ_NONBLOCK) == 0)
			pmq_ack(p, &m); /* ring full: consume the oldest, the slot is rewritten next */
	}
	pmq_close(p);
	return NULL;
}

static void peek_payload(struct pmq_config *c)
{
	c->max_payload = PEEK_LEN;
}

/* Slots are rewritten all the time; every copy peek returns is one whole message. */
static void test_peek_is_self_consistent_under_overwrites(void **state)
{
	(void)state;
	pmq_t *q = create_q(4, peek_payload);
	atomic_store(&churn_stop, 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, churn, NULL), 0);
	unsigned good = 0, torn = 0;
	uint8_t buf[PEEK_LEN];
	uint64_t end = itest_now_ns() + 1500000000ull;
	while ((itest_now_ns() < end || good < 1000) && torn == 0 && itest_now_ns() < end + 10000000000ull) {
		uint64_t pos = 0;
		struct pmq_msg info;
		int rc = pmq_peek(q, &pos, buf, sizeof(buf), &info, 0);
		if (rc < 0)
			continue;
		if (peek_intact(buf, (size_t)rc) && info.len == (uint32_t)rc)
			good++;
		else
			torn++;
	}
	atomic_store(&churn_stop, 1);
	pthread_join(th, NULL);
	fprintf(stderr, "peek under overwrites: %u intact copies, %u torn\n", good, torn);
	assert_int_equal(torn, 0);
	assert_true(good >= 1000);
	assert_int_equal(pmq_close(q), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_publish_wakes_a_sleeping_consumer),
		T(test_ack_wakes_a_sleeping_producer),
		T(test_recv_clamps_a_corrupted_length),
		T(test_peek_clamps_a_corrupted_length),
		T(test_ack_refuses_index_equal_to_slot_count),
		T(test_ack_batch_refuses_another_handles_message),
		T(test_dlq_replay_resets_the_budget),
		T(test_dlq_purge_gives_the_credits_back),
		T(test_aborted_dead_letter_move_gives_the_credit_back),
		T(test_dead_dlq_readers_letter_stays_dead),
		T(test_incarnation_bumped_on_reuse),
		T(test_close_aborts_the_open_reservation),
		T(test_second_reservation_is_refused),
		T(test_recover_reaches_the_last_entry),
		T(test_repl_apply_refuses_an_oversized_entry),
		T(test_zero_consumer_quota_is_refused),
		T(test_spinning_consumer_heals_a_dead_producers_slot),
		T(test_peek_is_self_consistent_under_overwrites),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
