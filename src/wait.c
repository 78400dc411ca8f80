/*
 * wait.c - waiting and waking (docs/format.md "Waking").
 *
 * A Dekker pattern: the waiter publishes "I may sleep" (waiter count and
 * its own flag) with a seq_cst RMW and then re-checks the queue with seq_cst
 * loads; the waker makes its change with a seq_cst operation and then loads
 * the waiter count (seq_cst). In the single total order of seq_cst
 * operations one of the two sees the other, so no wake-up is lost (W1/W2 in
 * docs/memory-ordering.md). A waker with no registered waiter makes no
 * system call: a spinning pair never enters the kernel.
 *
 * The bottom of the data path: the caller (ring.c) hands in the re-check and
 * the heal (struct wait_state), so this file calls nothing above it.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

uint64_t now_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no system call */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t now_real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts); /* vDSO: no system call */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void futex_wake_all(_Atomic uint32_t *word)
{
	/* shared futex (no FUTEX_PRIVATE_FLAG): waiters live in other processes */
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void futex_sleep(_Atomic uint32_t *word, uint32_t expect, uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull)};
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expect, ns ? &ts : NULL, NULL, 0);
}

/* W2 (waker side): the caller's change was a seq_cst RMW or store; these seq_cst loads
 * pair with the waiter's seq_cst fetch_or in wait_step(). Usually one word is read. */
static void wake_if_waiters(struct pmq *q, _Atomic uint32_t *seq, _Atomic uint64_t *waiters)
{
	unsigned words = (q->max_attach + 63) / 64;
	for (unsigned k = 0; k < words; k++) {
		if (likely(atomic_load_explicit(&waiters[k], memory_order_seq_cst) == 0))
			continue;
		/* relaxed is enough for the bump: the futex syscall orders it for the sleeper */
		atomic_fetch_add_explicit(seq, 1, memory_order_relaxed);
		futex_wake_all(seq);
		return;
	}
}

void wait_wake_data(struct pmq *q) { wake_if_waiters(q, &q->hdr->data_seq, q->hdr->data_waiters); }
void wait_wake_space(struct pmq *q) { wake_if_waiters(q, &q->hdr->space_seq, q->hdr->space_waiters); }

/*
 * A waiter that has slept is idle anyway: every 100 ms it recovers dead
 * attachments (one lock probe each), so a dead consumer's messages come back
 * and a ring pinned by them frees up even where no pmqd runs.
 */
static void wait_heal_idle(struct pmq *q, struct wait_state *w)
{
	uint64_t now = now_mono_ns();
	if (now - w->heal_at < 100000000ull)
		return;
	w->heal_at = now;
	if (w->heal)
		w->heal(q);
}

/*
 * A PMQ_WAIT_SPIN waiter never sleeps, so it never runs the idle heal above: a
 * producer spinning behind a dead consumer's claims would spin forever without
 * pmqd. It samples head and tail once per heal period (the clock is read every 64
 * spins anyway, vDSO) and heals only if neither moved for a whole period. While
 * both sides live and messages flow, the cursors move and no probe is made; a
 * stall costs one lock probe per attached entry per period.
 */
static void wait_spin_heal(struct pmq *q, struct wait_state *w, uint64_t now)
{
	if (w->spin_heal_at && now - w->spin_heal_at < 100000000ull)
		return;
	/* relaxed: a sample of hints; only "did anything move" matters */
	uint64_t head = atomic_load_explicit(&q->hdr->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&q->hdr->tail, memory_order_relaxed);
	bool stalled = w->spin_heal_at && head == w->spin_head && tail == w->spin_tail;
	w->spin_heal_at = now;
	w->spin_head = head;
	w->spin_tail = tail;
	if (stalled && w->heal)
		w->heal(q);
}

void wait_begin(const struct pmq *q, struct wait_state *w, uint64_t timeout_ns, bool forever, wait_peek_fn peek,
		wait_heal_fn heal)
{
	w->peek = peek;
	w->heal = heal;
	/* a spin-forever wait needs no clock: skip the read (tens of ns on some VMs) */
	w->start_ns = (forever && q->wait == PMQ_WAIT_SPIN) ? 0 : now_mono_ns();
	w->deadline_ns = forever ? 0 : w->start_ns + timeout_ns;
	w->spins = 0;
	w->watch_ctl = 0;
	w->watch_since = 0;
	w->heal_at = w->start_ns;
	w->heal_gap = 1000000ull;
	w->spin_heal_at = 0;
	w->spin_head = 0;
	w->spin_tail = 0;
}

/*
 * One step of waiting. The caller took `seq` (acquire load of the sequence
 * word) BEFORE it looked at the queue and found nothing; we register as a
 * waiter, and the caller's next look happens after our seq_cst increment
 * (W1). Sleeping on the snapshot means a wake issued after the look makes
 * FUTEX_WAIT return at once.
 */
static int wait_step(struct pmq *q, struct wait_state *w, _Atomic uint32_t *seq, _Atomic uint64_t *waiters,
		     uint32_t snapshot, uint64_t cap_ns)
{
	uint64_t now = 0;
	if ((++w->spins & 63) == 0 || q->wait == PMQ_WAIT_FUTEX) {
		now = now_mono_ns();
		if (w->deadline_ns && now >= w->deadline_ns)
			return -ETIMEDOUT;
	}
	if (q->wait == PMQ_WAIT_SPIN) {
		if (unlikely(now != 0))
			wait_spin_heal(q, w, now);
		cpu_relax();
		return 0;
	}
	if (q->wait == PMQ_WAIT_SPIN_FUTEX && (now == 0 || now - w->start_ns < q->spin_ns)) {
		cpu_relax();
		return 0;
	}
	uint64_t sleep = cap_ns;
	if (w->deadline_ns) {
		uint64_t left = w->deadline_ns > now ? w->deadline_ns - now : 1;
		if (!sleep || left < sleep)
			sleep = left;
	}
	/* W1: seq_cst RMW registers us, then peek() re-checks the queue with seq_cst
	 * loads (the caller's w->peek): a waker whose change we miss must see our
	 * registration (W2). */
	_Atomic uint64_t *word = &waiters[q->index / 64];
	uint64_t bit = 1ull << (q->index % 64);
	atomic_fetch_or_explicit(word, bit, memory_order_seq_cst);
	int slept = 0;
	if (!w->peek(q) && atomic_load_explicit(seq, memory_order_seq_cst) == snapshot) {
		futex_sleep(seq, snapshot, sleep);
		slept = 1;
	}
	/* relaxed: a stale bit only costs a waker one futex_wake */
	atomic_fetch_and_explicit(word, ~bit, memory_order_relaxed);
	if (slept)
		wait_heal_idle(q, w);
	return 0;
}

/* have_writer: the slot we wait on is WRITING: sleep at most 1 ms so the heal runs. */
int wait_for_data(struct pmq *q, struct wait_state *w, uint32_t snapshot, bool have_writer)
{
	return wait_step(q, w, &q->hdr->data_seq, q->hdr->data_waiters, snapshot,
			 have_writer ? 1000000ull : 100000000ull);
}

int wait_for_space(struct pmq *q, struct wait_state *w, uint32_t snapshot)
{
	/* a full ring may be pinned by a dead consumer: wake every 10 ms to let recovery run */
	return wait_step(q, w, &q->hdr->space_seq, q->hdr->space_waiters, snapshot, 10000000ull);
}
