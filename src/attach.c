/*
 * attach.c - the attachment table and the liveness locks (docs/format.md).
 *
 * Each handle owns one open file description (q->fd). Through it, it holds
 * a shared OFD lock on the presence byte (whole-file recovery needs the
 * exclusive one, so it runs only when nobody is attached) and an exclusive
 * OFD lock on the token byte of its attachment entry. The kernel drops both
 * when the last reference to the description goes, i.e. when the process
 * dies, in whatever PID namespace it lives. "Token taken" therefore means
 * "owner dead", and only that licenses recovery to touch its messages.
 *
 * Probes and recoverers use descriptions of their own (locks held through
 * one description never conflict with each other): one for probes, one for
 * taking a dead owner's token (kept, unlocked after use), and a fresh one
 * when a second thread recovers through the same handle at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static int ofd_lock(int fd, short type, off_t at, bool wait)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = at, .l_len = 1, .l_pid = 0};
	if (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0)
		return 0;
	return -errno;
}

int attach_reopen_fd(const struct pmq *q)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", q->fd);
	/* a new open file description of the same file: its locks are its own */
	int fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

uint64_t attach_read_start_time(pid_t pid)
{
	char path[64], buf[1024];
	/* our own: /proc/self, since /proc may belong to another PID namespace (containers) */
	if (pid == getpid())
		snprintf(path, sizeof(path), "/proc/self/stat");
	else
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* the command name may hold spaces and parentheses: fields restart after the last ')' */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	/* p now points before field 3; starttime is field 22 */
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p + 1, ' ');
	}
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

int attach_presence(struct pmq *q, bool nonblock, bool *exclusive)
{
	*exclusive = false;
	if (ofd_lock(q->fd, F_WRLCK, PMQ_LOCK_PRESENCE, false) == 0) {
		*exclusive = true;
		return 0;
	}
	/* never upgrade with a blocking call: wait for a shared lock only, holding nothing else */
	int rc = ofd_lock(q->fd, F_RDLCK, PMQ_LOCK_PRESENCE, !nonblock);
	if (rc)
		return pmq_fail(rc == -EAGAIN ? -EWOULDBLOCK : rc,
				"queue \"%s\": another process is recovering it; try again", q->name);
	return 0;
}

int attach_presence_share(struct pmq *q)
{
	/* converting our own exclusive lock to shared is atomic for an OFD lock */
	return ofd_lock(q->fd, F_RDLCK, PMQ_LOCK_PRESENCE, false);
}

int attach_join(struct pmq *q, unsigned role)
{
	for (uint32_t i = 0; i < q->max_attach; i++) {
		struct pmq_attach *a = &q->attach[i];
		/* acquire: pairs with the release that freed the entry (its recovery is done) */
		uint64_t w = atomic_load_explicit(&a->word, memory_order_acquire);
		if (at_state(w) != AT_FREE)
			continue;
		if (ofd_lock(q->fd, F_WRLCK, PMQ_LOCK_TOKEN(i), false))
			continue; /* held: a recoverer is still settling it */
		w = atomic_load_explicit(&a->word, memory_order_acquire);
		if (at_state(w) == AT_FREE) {
			pid_t pid = getpid();
			/* relaxed: published by the CAS below (release) */
			atomic_store_explicit(&a->pid, pid, memory_order_relaxed);
			atomic_store_explicit(&a->start_time, attach_read_start_time(pid), memory_order_relaxed);
			atomic_store_explicit(&a->heartbeat, 0, memory_order_relaxed);
			atomic_store_explicit(&a->in_flight, 0, memory_order_relaxed);
			atomic_store_explicit(&a->sent, 0, memory_order_relaxed);
			atomic_store_explicit(&a->received, 0, memory_order_relaxed);
			held_reset(q, i); /* before the first claim can name us */
			atomic_store_explicit(&a->claim, 0, memory_order_relaxed);
			uint32_t inc = at_inc(w) + 1;
			/* T1: release: the fields above are visible to whoever sees ATTACHED */
			if (atomic_compare_exchange_strong_explicit(&a->word, &w, at_make(AT_ATTACHED, role, inc),
								    memory_order_release, memory_order_relaxed)) {
				/* T3: release fence: our new incarnation is visible to whoever sees any
				 * claim we make from now on and then fences (pmq_requeue_holder) */
				atomic_thread_fence(memory_order_release);
				q->index = i;
				q->incarnation = inc;
				q->me = a;
				return 0;
			}
		}
		ofd_lock(q->fd, F_UNLCK, PMQ_LOCK_TOKEN(i), false);
	}
	return pmq_fail(-EUSERS, "queue \"%s\": all %u attachment entries are in use", q->name, q->max_attach);
}

void attach_leave(struct pmq *q, bool settled)
{
	struct pmq_attach *a = q->me;
	if (settled) {
		atomic_store_explicit(&a->in_flight, 0, memory_order_relaxed);
		uint64_t w = atomic_load_explicit(&a->word, memory_order_relaxed);
		/* T2: release: our settling is visible before the entry can be reused */
		atomic_store_explicit(&a->word, at_make(AT_FREE, 0, at_inc(w)), memory_order_release);
	}
	/* else: the entry stays ATTACHED; closing the descriptor frees the token, and
	 * recovery treats what is left as a death */
}

/* Opened with the handle, not on a death: a fresh open through /proc/self/fd, cold
 * after the holder's death, was most of an attached recovery's cost. One that fails
 * now is tried again when needed. */
void attach_open_descriptions(struct pmq *q)
{
	if (q->probe_fd < 0)
		q->probe_fd = attach_reopen_fd(q);
	if (q->token_fd < 0)
		q->token_fd = attach_reopen_fd(q);
}

/* The handle's own token description (q->token_fd), opened once and kept: opening a
 * fresh description through /proc/self/fd is most of a recovery's cost (16-39 us of
 * 27-59 us in pmq-recovery-cost, cold after the holder's death). One thread at a time
 * uses it (locks held through one description never conflict, so two users could take
 * the same token); a thread that finds it busy opens a fresh one as before.
 * acquire/release on the busy flag: the user before us is done with token_fd. */
static int token_desc_get(struct pmq *q, bool *own)
{
	*own = !atomic_exchange_explicit(&q->token_busy, true, memory_order_acquire);
	if (*own) {
		if (q->token_fd < 0)
			q->token_fd = attach_reopen_fd(q);
		if (q->token_fd >= 0)
			return q->token_fd;
		int e = q->token_fd;
		q->token_fd = -1;
		atomic_store_explicit(&q->token_busy, false, memory_order_release);
		*own = false;
		return e;
	}
	return attach_reopen_fd(q);
}

static void token_desc_put(struct pmq *q, int fd, bool own, uint32_t idx, bool locked)
{
	if (!own) {
		close(fd); /* drops whatever it holds */
		return;
	}
	/* the lock must go with certainty: if the unlock fails, the description goes */
	if (locked && ofd_lock(fd, F_UNLCK, PMQ_LOCK_TOKEN(idx), false) != 0) {
		close(fd);
		q->token_fd = -1;
	}
	atomic_store_explicit(&q->token_busy, false, memory_order_release);
}

/* The description holds a dead owner's token while we settle it: a fork child must not
 * inherit it holding the token (it would keep the token after we drop it), so no fork
 * until attach_drop_token() lets it go. */
int attach_take_token(struct pmq *q, uint32_t idx, struct token_hold *t)
{
	if (idx >= q->max_attach || idx == q->index)
		return -EINVAL;
	attach_fork_gate_enter();
	int fd = token_desc_get(q, &t->own);
	if (fd < 0) {
		attach_fork_gate_leave();
		return fd;
	}
	int rc = ofd_lock(fd, F_WRLCK, PMQ_LOCK_TOKEN(idx), false);
	if (rc) {
		token_desc_put(q, fd, t->own, idx, false);
		attach_fork_gate_leave();
		return -EAGAIN; /* held: the owner lives */
	}
	t->fd = fd;
	t->idx = idx;
	return 0;
}

void attach_drop_token(struct pmq *q, const struct token_hold *t)
{
	token_desc_put(q, t->fd, t->own, t->idx, true);
	attach_fork_gate_leave();
}

/* One system call: ask the kernel whether anyone holds the token (F_OFD_GETLK through a
 * description of our own that holds no locks). Only a hint: acting on a death still
 * requires taking the token (attach_take_token). */
int attach_probe_alive(struct pmq *q, uint32_t idx)
{
	if (idx == q->index)
		return 1;
	if (idx >= q->max_attach)
		return -EINVAL;
	if (q->probe_fd < 0) {
		q->probe_fd = attach_reopen_fd(q);
		if (q->probe_fd < 0) {
			int e = q->probe_fd;
			q->probe_fd = -1;
			return e;
		}
	}
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = PMQ_LOCK_TOKEN(idx), .l_len = 1};
	if (fcntl(q->probe_fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	return fl.l_type != F_UNLCK;
}

/* ---- fork: a child must not keep a dead parent "alive" --------------------- */

static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pmq *open_handles;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
/*
 * The fork gate. Holders: threads holding a descriptor the fork handler cannot see
 * yet (an open in progress, a close, a recoverer's token). fork waits until there
 * are none, and new holders wait while a fork is waiting (so a stream of opens
 * cannot starve it). Nesting is counted per thread. A mutex, a count and a
 * condition rather than an rwlock: the child must release what the parent's fork
 * handler took, and a glibc rwlock records the writer's thread id, which the
 * child's only thread does not have.
 */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static unsigned gate_holders;
static bool gate_fork_waiting;
static _Thread_local unsigned gate_depth;

static void atfork_prepare(void)
{
	pthread_mutex_lock(&gate_lock);
	gate_fork_waiting = true;
	while (gate_holders)
		pthread_cond_wait(&gate_cond, &gate_lock);
	/* gate_lock stays held across the fork: nobody can become a holder */
	pthread_mutex_lock(&handles_lock);
}
static void atfork_parent(void)
{
	pthread_mutex_unlock(&handles_lock);
	gate_fork_waiting = false;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}
static void atfork_child(void)
{
	/* the child's copies of our descriptors share the parent's lock descriptions:
	 * close them so the parent's death frees its token; the handles become unusable,
	 * and their geometry is zeroed so that no walk can act under the parent's index */
	for (struct pmq *q = open_handles; q; q = q->next_open) {
		if (!q->forked && q->fd >= 0) {
			close(q->fd);
			q->fd = -1;
		}
		if (q->probe_fd >= 0) {
			close(q->probe_fd);
			q->probe_fd = -1;
		}
		if (q->token_fd >= 0) { /* unlocked: the gate kept forks out while it held one */
			close(q->token_fd);
			q->token_fd = -1;
		}
		q->forked = true;
		q->slot_count = 0;
		q->side_count = 0;
		q->max_attach = 0;
	}
	pthread_mutex_unlock(&handles_lock);
	gate_fork_waiting = false;
	gate_holders = 0;
	pthread_cond_init(&gate_cond, NULL); /* the parent's other threads may have waited on it */
	pthread_mutex_unlock(&gate_lock);
}

static void atfork_install(void) { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); }

void attach_fork_gate_enter(void)
{
	if (gate_depth++)
		return;
	pthread_once(&atfork_once, atfork_install);
	pthread_mutex_lock(&gate_lock);
	while (gate_fork_waiting)
		pthread_cond_wait(&gate_cond, &gate_lock);
	gate_holders++;
	pthread_mutex_unlock(&gate_lock);
}

void attach_fork_gate_leave(void)
{
	if (--gate_depth)
		return;
	pthread_mutex_lock(&gate_lock);
	if (--gate_holders == 0)
		pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

void attach_register_handle(struct pmq *q)
{
	pthread_once(&atfork_once, atfork_install);
	pthread_mutex_lock(&handles_lock);
	q->next_open = open_handles;
	open_handles = q;
	pthread_mutex_unlock(&handles_lock);
}

void attach_unregister_handle(struct pmq *q)
{
	pthread_mutex_lock(&handles_lock);
	for (struct pmq **p = &open_handles; *p; p = &(*p)->next_open) {
		if (*p == q) {
			*p = q->next_open;
			break;
		}
	}
	pthread_mutex_unlock(&handles_lock);
}

PMQ_EXPORT int pmq_attachments(pmq_t *q, struct pmq_attach_info *out, unsigned n)
{
	return pmq_attachments_ex(q, out, n, 0);
}

PMQ_EXPORT int pmq_attachments_ex(pmq_t *q, struct pmq_attach_info *out, unsigned n, unsigned flags)
{
	int rc = handle_check(q);
	if (rc)
		return rc;
	unsigned count = 0;
	for (uint32_t i = 0; i < q->max_attach; i++) {
		struct pmq_attach *a = &q->attach[i];
		/* acquire: pairs with T1: the entry's fields are those of this incarnation */
		uint64_t w = atomic_load_explicit(&a->word, memory_order_acquire);
		if (at_state(w) != AT_ATTACHED)
			continue;
		if (out && count < n) {
			struct pmq_attach_info *o = &out[count];
			o->index = i;
			o->role = at_role(w);
			o->incarnation = at_inc(w);
			o->pid = atomic_load_explicit(&a->pid, memory_order_relaxed);
			o->start_time = atomic_load_explicit(&a->start_time, memory_order_relaxed);
			o->heartbeat = atomic_load_explicit(&a->heartbeat, memory_order_relaxed);
			o->in_flight = atomic_load_explicit(&a->in_flight, memory_order_relaxed);
			o->alive = (flags & PMQ_ATTACH_NO_PROBE) ? 1 : attach_probe_alive(q, i) != 0;
		}
		count++;
	}
	return (int)count;
}
