/*
 * supervisor.c - the supervisor thread: who died, who hangs, and recovery.
 *
 * Death: each watched attachment's pidfd sits in one epoll set (EPOLLONESHOT,
 * keyed by attach_key()). When it fires we run pmq_recover() on that queue at
 * once; the library takes the dead owner's token before it touches anything,
 * so a pidfd is only a hint that makes recovery immediate, never the proof.
 * If the token is still held (a forked child or a passed descriptor keeps it),
 * we retry with backoff and then leave it to the periodic probe.
 *
 * Probe and lease: every probe_ms (sooner for queues with a lease) we read the
 * attachment table; a free token (alive == 0) means a death we could not see
 * (another PID namespace, a pid we could not verify): recover. A consumer that
 * holds messages and whose heartbeat counter has not moved for its lease of OUR
 * monotonic clock gets the queue's lease action. A holder's lease is its group's own
 * (pmq_attach_lease: a queue with consumer groups may give each group one) or else the
 * queue's; the probe interval follows the shortest of them (pmq_lease_min). Both come
 * from shared memory through the library and are bounded here again.
 *
 * This thread only reads the registry, always inside rcu_read_lock(); it never
 * adds or removes (that is the control thread's job, asked via need_scan and
 * registry_wake(REG_WAKE_CONTROL): this file calls nothing of the control
 * thread's).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pmqd.h"

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define KICK_KEY UINT64_MAX

static int ep = -1;
static pthread_t thread;
static _Atomic int stopping;
static _Atomic uint64_t probe_ns = 1000000000ull, retry_ns = 1000000ull;
static pid_t my_pid;

void supervisor_set_intervals(unsigned probe_ms, unsigned retry_ms)
{
	probe_ns = (uint64_t)probe_ms * 1000000ull;
	retry_ns = (uint64_t)retry_ms * 1000000ull;
}

int supervisor_watch(struct reg_attach *a)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.u64 = a->key };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, a->pidfd, &ev) < 0)
		return -errno;
	return 0;
}

static const char *role_name(uint32_t role)
{
	switch (role & (PMQ_PRODUCER | PMQ_CONSUMER)) {
	case PMQ_PRODUCER: return "producer";
	case PMQ_CONSUMER: return "consumer";
	case PMQ_PRODUCER | PMQ_CONSUMER: return "producer+consumer";
	default: return "observer";
	}
}

/* a group's lease from shared memory, bounded (pmqd.h) */
uint64_t supervisor_bound_lease(uint64_t lease_ns, uint64_t queue_ns)
{
	if (lease_ns == 0 || lease_ns == queue_ns)
		return lease_ns;
	if (lease_ns < PMQ_GROUP_LEASE_MIN_NS)
		return PMQ_GROUP_LEASE_MIN_NS;
	return lease_ns > PMQ_GROUP_LEASE_MAX_NS ? PMQ_GROUP_LEASE_MAX_NS : lease_ns;
}

/*
 * How often to read a queue's table. Processes we cannot watch by pidfd need
 * their tokens probed (probe_ms); leases need heartbeats (an eighth of the
 * shortest lease of the queue and its groups); the rest only a slow safety net
 * (10 x probe_ms), since each read probes every token (three system calls per
 * attachment).
 */
static uint64_t queue_interval(const struct reg_queue *rq)
{
	uint64_t iv = rq->n_probe ? probe_ns : probe_ns * 10;
	uint64_t lease = rq->lease_min_ns;
	if (lease) {
		uint64_t l = lease / 8;
		if (l < 2000000ull)
			l = 2000000ull;
		if (l < iv)
			iv = l;
	}
	return iv;
}

/* Is a's incarnation still in the table (so a token is still to be freed)? */
static bool attachment_present(struct reg_queue *rq, const struct reg_attach *a)
{
	static __thread struct pmq_attach_info info[PMQD_MAX_ATTACH];
	pthread_mutex_lock(&rq->mu);
	int n = pmq_attachments(rq->q, info, PMQD_MAX_ATTACH);
	pthread_mutex_unlock(&rq->mu);
	for (int i = 0; i < n && i < PMQD_MAX_ATTACH; i++)
		if (info[i].index == a->index && info[i].incarnation == a->incarnation)
			return true;
	return n < 0; /* cannot tell: keep trying */
}

int supervisor_recover(struct reg_queue *rq, const char *why, const struct reg_attach *a, uint64_t t0)
{
	struct pmq_stats b, e;
	pthread_mutex_lock(&rq->mu);
	int have = pmq_stats(rq->q, &b) == 0;
	uint64_t tr = mono_ns(); /* pmqd's own part ends here; pmq_recover is the library's */
	int n = pmq_recover(rq->q);
	uint64_t t1 = mono_ns();
	pthread_mutex_unlock(&rq->mu);
	/* pmq_recover woke the waiting consumers, and the kernel queues a wakee on the
	 * waker's CPU: let it run now rather than after our statistics and log line
	 * (paired runs of bench/recovery_latency: 3-72 us less p50, docs/pmqd.md) */
	if (n > 0)
		sched_yield();
	pthread_mutex_lock(&rq->mu);
	have = have && pmq_stats(rq->q, &e) == 0;
	pthread_mutex_unlock(&rq->mu);
	double ms = (double)(t1 - t0) / 1e6, lib_ms = (double)(t1 - tr) / 1e6;

	if (n < 0) {
		log_msg(LOG_WARNING, "recovery of \"%s\" failed: %s (%s) --> retrying", rq->name, pmq_strerror(n),
			pmq_errmsg());
		rq->retry_at_ns = t1 + retry_ns * 16;
		return n;
	}
	if (n == 0) {
		if (!a)
			return 0;
		if (!attachment_present(rq, a)) { /* it closed cleanly: nothing to recover */
			rq->retry_at_ns = 0;
			rq->retry_step = 0;
			rq->need_scan = 1;
			registry_wake(REG_WAKE_CONTROL);
			return 0;
		}
		/* The process is gone but its token is not free (yet): never rob it. */
		uint32_t step = ++rq->retry_step;
		if (step <= 12) {
			rq->retry_at_ns = t1 + (retry_ns << (step > 10 ? 10 : step - 1));
		} else {
			rq->retry_at_ns = 0;
			rq->retry_step = 0;
			log_msg(LOG_NOTICE,
				"%s pid %d on \"%s\" is gone but its liveness token is still held "
				"(a forked child or passed descriptor?) --> probing it every %llu ms",
				role_name(a->role), a->pid, rq->name, (unsigned long long)(probe_ns / 1000000));
		}
		return 0;
	}
	uint64_t rq_n = have ? e.redelivered - b.redelivered : 0;
	uint64_t dl_n = have ? e.dead_lettered - b.dead_lettered : 0;
	uint64_t ab_n = have ? e.aborted - b.aborted : 0;
	rq->recoveries++;
	latency_hist_observe(&rq->recovery_latency, t1 > t0 ? t1 - t0 : 0);
	rq->recovered_attachments += (uint64_t)n;
	rq->requeued += rq_n;
	rq->dead_lettered += dl_n;
	rq->aborted += ab_n;
	rq->retry_at_ns = 0;
	rq->retry_step = 0;
	if (a)
		log_msg(LOG_NOTICE,
			"%s pid %d on \"%s\" %s --> recovered %d attachment(s): %llu requeued, %llu dead-lettered, "
			"%llu sends aborted (pmq_recover %.3f ms of %.3f ms)",
			role_name(a->role), a->pid, rq->name, why, n, (unsigned long long)rq_n,
			(unsigned long long)dl_n, (unsigned long long)ab_n, lib_ms, ms);
	else
		log_msg(LOG_NOTICE,
			"\"%s\": %d dead attachment(s) found by %s --> %llu requeued, %llu dead-lettered, "
			"%llu sends aborted (%.3f ms)",
			rq->name, n, why, (unsigned long long)rq_n, (unsigned long long)dl_n,
			(unsigned long long)ab_n, ms);
	rq->need_scan = 1;
	registry_wake(REG_WAKE_CONTROL);
	return n;
}

static void on_death(uint64_t key, uint64_t t0)
{
	rcu_read_lock();
	struct reg_attach *a = registry_attach_find(key);
	if (a && !atomic_exchange(&a->died, 1))
		supervisor_recover(a->queue, "died", a, t0);
	rcu_read_unlock();
}

static void lease_expire(struct reg_queue *rq, struct reg_attach *a, const struct pmq_attach_info *e,
			 uint64_t now, uint64_t lease_ns)
{
	double idle = (double)(now - a->last_progress_ns) / 1e9, lease = (double)lease_ns / 1e9;
	a->lease_fired_ns = now;
	if (rq->lease_action == 2) {
		rq->lease_alarms++;
		log_msg(LOG_WARNING,
			"consumer pid %d on \"%s\" made no progress for %.1f s (lease %.1f s) holding %u "
			"--> alarm only (lease_action alarm)",
			e->pid, rq->name, idle, lease, e->in_flight);
		return;
	}
	if (rq->lease_action == 1) {
		/* Signal only a process that said hello (its pidfd came from the kernel, not from
		 * the table) and whose every uid is the queue owner's: a queue owner can write any
		 * pid into its table and hold that entry's token, and must not aim root's SIGKILL. */
		char why[160] = "it never said hello (known only from the shared table)";
		int ok = a->mode == WATCH_PIDFD ? watch_may_signal(a->local_pid, a->pidfd, rq->owner, why, sizeof(why))
						: -EPERM;
		if (ok == 0 && syscall(SYS_pidfd_send_signal, a->pidfd, SIGKILL, NULL, 0) == 0) {
			rq->lease_kills++;
			log_msg(LOG_WARNING,
				"consumer pid %d on \"%s\" made no progress for %.1f s (lease %.1f s) holding %u "
				"--> killed (lease_action kill)",
				e->pid, rq->name, idle, lease, e->in_flight);
			return;
		}
		log_msg(LOG_WARNING, "consumer pid %d on \"%s\" is not killed: %s --> requeueing instead", e->pid,
			rq->name, why);
	}
	pthread_mutex_lock(&rq->mu);
	int r = pmq_requeue_holder(rq->q, e->index, e->incarnation);
	pthread_mutex_unlock(&rq->mu);
	if (r > 0) {
		rq->lease_requeues += (uint64_t)r;
		log_msg(LOG_WARNING,
			"consumer pid %d on \"%s\" made no progress for %.1f s (lease %.1f s) --> requeued %d "
			"message(s); its late acks get -ESTALE",
			e->pid, rq->name, idle, lease, r);
	} else if (r < 0) {
		log_msg(LOG_WARNING, "lease requeue of pid %d on \"%s\" failed: %s (%s) --> will retry",
			e->pid, rq->name, pmq_strerror(r), pmq_errmsg());
	}
}

/* Under rq->mu: each consumer's lease (its group's or the queue's) into lease[], and the
 * queue's shortest into rq->lease_min_ns, bounded (supervisor_bound_lease). An entry the
 * library cannot answer for (replaced since the table read) keeps the queue's lease. */
static void read_leases(struct reg_queue *rq, const struct pmq_attach_info *info, int n, uint64_t *lease)
{
	uint64_t least = rq->lease_ns;
	if (pmq_lease_min(rq->q, &least) < 0)
		least = rq->lease_ns;
	rq->lease_min_ns = supervisor_bound_lease(least, rq->lease_ns);
	for (int i = 0; i < n; i++) {
		uint64_t l = rq->lease_ns;
		if ((info[i].role & PMQ_CONSUMER) && pmq_attach_lease(rq->q, info[i].index, info[i].incarnation, &l) < 0)
			l = rq->lease_ns;
		lease[i] = supervisor_bound_lease(l, rq->lease_ns);
	}
}

/* One look at a queue's table: free tokens, heartbeats, unknown entries. */
static void check_queue(struct reg_queue *rq, uint64_t now)
{
	static struct pmq_attach_info info[PMQD_MAX_ATTACH]; /* this thread only */
	static uint64_t lease[PMQD_MAX_ATTACH];
	pthread_mutex_lock(&rq->mu);
	int n = pmq_attachments(rq->q, info, PMQD_MAX_ATTACH);
	if (n > PMQD_MAX_ATTACH)
		n = PMQD_MAX_ATTACH;
	if (n > 0)
		read_leases(rq, info, n, lease);
	pthread_mutex_unlock(&rq->mu);
	rq->next_check_ns = now + queue_interval(rq);
	if (n < 0) {
		log_msg(LOG_DEBUG, "\"%s\": reading attachments failed: %s", rq->name, pmq_strerror(n));
		return;
	}
	int dead = 0;
	uint32_t alive_others = 0;
	for (int i = 0; i < n; i++) {
		const struct pmq_attach_info *e = &info[i];
		if (!e->alive) {
			dead++;
			continue;
		}
		if (e->pid != my_pid || e->role)
			alive_others++;
		struct reg_attach *a = registry_attach_find(attach_key(rq->qid, e->index, e->incarnation));
		if (!a) {
			if (e->pid != my_pid || e->role)
				rq->need_scan = 1;
			continue;
		}
		a->in_flight = e->in_flight;
		uint64_t l = lease[i];
		if (!l || !(e->role & PMQ_CONSUMER))
			continue;
		if (e->heartbeat != a->last_hb || e->in_flight == 0) {
			a->last_hb = e->heartbeat;
			a->last_progress_ns = now;
			a->lease_fired_ns = 0;
		} else if (now - a->last_progress_ns >= l && (!a->lease_fired_ns || now - a->lease_fired_ns >= l)) {
			lease_expire(rq, a, e, now, l);
		}
	}
	if (dead)
		supervisor_recover(rq, "token probe", NULL, now);
	if (alive_others != rq->n_reg) /* new entries, or records of entries gone */
		rq->need_scan = 1;
	if (rq->need_scan)
		registry_wake(REG_WAKE_CONTROL);
}

/* Walk the queues: flagged recoveries, retries, due checks. Returns ms to wait. */
static int tick(uint64_t now)
{
	struct cds_lfht_iter it;
	struct reg_queue *rq;
	uint64_t next = now + probe_ns;

	rcu_read_lock();
	cds_lfht_for_each_entry(registry_queues(), &it, rq, node) {
		if (atomic_exchange(&rq->need_recover, 0))
			supervisor_recover(rq, "scan", NULL, now);
		uint64_t r = rq->retry_at_ns;
		if (r && r <= now) {
			rq->retry_at_ns = 0;
			if (supervisor_recover(rq, "retry", NULL, now) == 0 && rq->retry_step) {
				/* still held: keep backing off */
				uint32_t step = ++rq->retry_step;
				if (step <= 12)
					rq->retry_at_ns = now + (retry_ns << (step > 10 ? 10 : step - 1));
				else
					rq->retry_step = 0;
			}
		}
		if (rq->next_check_ns <= now)
			check_queue(rq, now);
		if (rq->next_check_ns < next)
			next = rq->next_check_ns;
		r = rq->retry_at_ns;
		if (r && r < next)
			next = r;
	}
	rcu_read_unlock();
	uint64_t t = mono_ns();
	if (next <= t)
		return 0;
	uint64_t ms = (next - t + 999999) / 1000000;
	return ms > 60000 ? 60000 : (int)ms;
}

static void *supervisor_main(void *arg)
{
	struct epoll_event evs[64];
	int timeout = 0;
	rcu_register_thread();
	while (!stopping) {
		int n = epoll_wait(ep, evs, 64, timeout);
		uint64_t now = mono_ns();
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == KICK_KEY) {
				registry_wake_drain(REG_WAKE_SUPERVISOR);
			} else {
				on_death(evs[i].data.u64, now);
			}
		}
		timeout = tick(mono_ns());
	}
	rcu_unregister_thread();
	return NULL;
}

int supervisor_start(const struct pmqd_config *c)
{
	my_pid = getpid();
	supervisor_set_intervals(c->probe_ms, c->retry_ms);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -errno;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = KICK_KEY };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, registry_wake_fd(REG_WAKE_SUPERVISOR), &ev) < 0)
		return -errno;
	int r = pthread_create(&thread, NULL, supervisor_main, NULL);
	return -r;
}

void supervisor_stop(void)
{
	stopping = 1;
	registry_wake(REG_WAKE_SUPERVISOR);
	pthread_join(thread, NULL);
	close(ep);
}
