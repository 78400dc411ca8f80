/*
 * discover.c - finding queues and attachments (runs on the control thread,
 * the registry's only writer).
 *
 * Three ways in, all idempotent: an inotify watch on the queue directory
 * (queues created or deleted while we run), a periodic scan (everything
 * before we started, anything inotify missed, and attachments of processes
 * that did not say hello), and the hello on the control socket (control.c).
 * A queue is registered by opening an observer handle (flags 0) on it; every
 * attachment found in a table is watched by token probe, and gets a pidfd only
 * when its process says hello (control_verbs.c: the kernel names the sender).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pmqd.h"

static int ino_fd = -1;
static const struct pmqd_config *cfg;
static pid_t my_pid;
static uint64_t my_start;

static bool queue_file_name(const char *file, char *name, size_t cap)
{
	size_t n = strlen(file);
	if (n <= 4 || strcmp(file + n - 4, ".pmq") || file[0] == '.' || n - 4 > PMQ_NAME_MAX || n - 4 >= cap)
		return false;
	memcpy(name, file, n - 4);
	name[n - 4] = '\0';
	return true;
}

static int queue_stat(const char *name, struct stat *st)
{
	char path[4400];
	snprintf(path, sizeof(path), "%s/%s.pmq", cfg->dir, name);
	return lstat(path, st) == 0 && S_ISREG(st->st_mode) ? 0 : -ENOENT;
}

int discover_init(const struct pmqd_config *c)
{
	cfg = c;
	my_pid = getpid();
	my_start = proc_start_time(my_pid);
	/* main made and checked the directory (dir_prepare) */
	ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ino_fd < 0)
		return -errno;
	/* no IN_CLOSE_WRITE: pmq_create publishes a finished file by linkat (IN_CREATE), and
	 * every close of a queue opened for writing (every handle's close, every death)
	 * would wake this thread onto the dying process's CPU just ahead of the
	 * supervisor's pidfd wake-up, delaying the recovery (~17 us in a scheduler trace,
	 * docs/pmqd.md). A file copied in by other means is found when it is created
	 * complete, or by the periodic scan (--scan-ms). */
	if (inotify_add_watch(ino_fd, c->dir, IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM) < 0) {
		int e = errno;
		log_msg(LOG_ERR, "cannot watch %s: %s --> check that it exists and is readable", c->dir, strerror(e));
		return -e;
	}
	return ino_fd;
}

void discover_fini(void)
{
	if (ino_fd >= 0)
		close(ino_fd);
}

static struct reg_attach *attach_new(struct reg_queue *rq, const struct pmq_attach_info *e)
{
	struct reg_attach *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->index = e->index;
	a->incarnation = e->incarnation;
	a->role = e->role;
	a->pid = e->pid;
	a->start_time = e->start_time;
	a->pidfd = -1;
	a->last_hb = e->heartbeat;
	a->last_progress_ns = mono_ns();
	a->in_flight = e->in_flight;
	if (e->pid == my_pid && e->start_time == my_start && !e->role) {
		a->mode = WATCH_SELF;
		return a;
	}
	/* The table's pid and start time are written by whoever can write the file: they
	 * never name a process pmqd acts on. Until the process itself says hello (control
	 * socket, kernel-given peer), only its token tells whether it lives. */
	a->mode = WATCH_PROBE;
	if (!e->alive)
		rq->need_recover = 1;
	return a;
}

/* Register a (must be new) and arm its pidfd. */
static void attach_install(struct reg_queue *rq, struct reg_attach *a)
{
	if (registry_attach_add(rq, a) < 0) {
		if (a->pidfd >= 0)
			close(a->pidfd);
		free(a);
		return;
	}
	if (a->mode == WATCH_PIDFD && supervisor_watch(a) < 0) {
		a->mode = WATCH_PROBE;
		rq->n_probe++; /* registry_attach_remove counts it back */
		rq->need_recover = 1;
	}
	log_msg(LOG_DEBUG, "\"%s\": attachment %u.%u pid %d role %u watched by %s", rq->name, a->index,
		a->incarnation, a->pid, a->role,
		a->mode == WATCH_PIDFD ? "pidfd" : a->mode == WATCH_SELF ? "self" : "token probe");
}

void discover_queue_attachments(struct reg_queue *rq)
{
	static struct pmq_attach_info info[PMQD_MAX_ATTACH]; /* control thread only */
	bool present[PMQD_MAX_ATTACH] = { false };

	rq->need_scan = 0;
	pthread_mutex_lock(&rq->mu);
	int n = pmq_attachments(rq->q, info, PMQD_MAX_ATTACH);
	pthread_mutex_unlock(&rq->mu);
	if (n < 0) {
		log_msg(LOG_WARNING, "\"%s\": cannot read attachments: %s", rq->name, pmq_strerror(n));
		return;
	}
	if (n > PMQD_MAX_ATTACH)
		n = PMQD_MAX_ATTACH;
	for (int i = 0; i < n; i++) {
		const struct pmq_attach_info *e = &info[i];
		if (e->index >= PMQD_MAX_ATTACH)
			continue;
		present[e->index] = true;
		struct reg_attach *old = rq->slot[e->index];
		if (old && old->incarnation == e->incarnation) {
			if (!e->alive)
				rq->need_recover = 1;
			continue;
		}
		if (old)
			registry_attach_remove(rq, old);
		struct reg_attach *a = attach_new(rq, e);
		if (a)
			attach_install(rq, a);
	}
	for (unsigned i = 0; i < PMQD_MAX_ATTACH; i++)
		if (rq->slot[i] && !present[i])
			registry_attach_remove(rq, rq->slot[i]);
	if (rq->need_recover)
		registry_wake(REG_WAKE_SUPERVISOR);
}

struct reg_queue *discover_queue(const char *name)
{
	rcu_read_lock();
	struct reg_queue *rq = registry_queue_find(name);
	rcu_read_unlock();
	if (rq)
		return rq; /* we are the only writer: it stays */

	struct stat st;
	if (queue_stat(name, &st) < 0)
		return NULL;
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.dir = cfg->dir;
	o.owner_uid = (uint32_t)st.st_uid; /* a user's queue: its owner, as found by the scan */
	pmq_t *q = NULL;
	int r = pmq_open_ex(name, PMQ_NONBLOCK_OPEN, &o, &q);
	if (r < 0) {
		/* a file being created is not valid yet: the next scan tries again */
		log_msg(r == -EPROTO || r == -EWOULDBLOCK || r == -ENOENT ? LOG_DEBUG : LOG_WARNING,
			"cannot open queue \"%s\": %s (%s) --> will retry at the next scan", name, pmq_strerror(r),
			pmq_errmsg());
		return NULL;
	}
	struct pmq_config qc;
	pmq_config_init(&qc);
	pmq_get_config(q, &qc);
	uint64_t least = qc.lease_ns; /* groups may have shorter leases: probe for the shortest */
	if (pmq_lease_min(q, &least) < 0)
		least = qc.lease_ns;
	least = supervisor_bound_lease(least, qc.lease_ns);
	rq = registry_queue_add(name, q);
	if (!rq) {
		pmq_close(q);
		return NULL;
	}
	rq->owner = st.st_uid;
	rq->dev = st.st_dev;
	rq->ino = st.st_ino;
	rq->lease_ns = qc.lease_ns;
	rq->lease_min_ns = least; /* the supervisor refreshes it at each look at the table */
	rq->lease_action = qc.lease_action;
	rq->max_deliveries = qc.max_deliveries;
	rq->max_attach = qc.max_attach;
	rq->need_recover = 1; /* whatever died while nobody watched */
	log_msg(LOG_INFO, "watching queue \"%s\" (owner uid %u, lease %.3f s, shortest with its groups %.3f s, lease "
		"action %s, max deliveries %u)",
		name, (unsigned)st.st_uid, (double)qc.lease_ns / 1e9, (double)least / 1e9,
		qc.lease_action == 1 ? "kill" : qc.lease_action == 2 ? "alarm" : "requeue", qc.max_deliveries);
	discover_queue_attachments(rq);
	registry_wake(REG_WAKE_SUPERVISOR);
	return rq;
}

static void forget_queue(struct reg_queue *rq, const char *why)
{
	log_msg(LOG_INFO, "queue \"%s\" %s --> no longer watched", rq->name, why);
	registry_queue_remove(rq);
}

void discover_scan_all(void)
{
	DIR *d = opendir(cfg->dir);
	if (!d) {
		log_msg(LOG_WARNING, "cannot scan %s: %s", cfg->dir, strerror(errno));
		return;
	}
	struct cds_lfht_iter it;
	struct reg_queue *rq;
	rcu_read_lock();
	cds_lfht_for_each_entry(registry_queues(), &it, rq, node) rq->seen = false;
	rcu_read_unlock();

	struct dirent *de;
	char name[PMQ_NAME_MAX + 1];
	while ((de = readdir(d))) {
		if (!queue_file_name(de->d_name, name, sizeof(name)))
			continue;
		rq = discover_queue(name);
		if (rq)
			rq->seen = true;
	}
	closedir(d);

	/* gone or replaced files; removal waits for readers, so collect first */
	struct reg_queue *gone[256];
	unsigned ngone;
	do {
		ngone = 0;
		rcu_read_lock();
		cds_lfht_for_each_entry(registry_queues(), &it, rq, node) {
			struct stat st;
			if (!rq->seen || queue_stat(rq->name, &st) < 0 || st.st_ino != rq->ino || st.st_dev != rq->dev)
				if (ngone < 256)
					gone[ngone++] = rq;
		}
		rcu_read_unlock();
		for (unsigned i = 0; i < ngone; i++) {
			char nm[PMQ_NAME_MAX + 1];
			snprintf(nm, sizeof(nm), "%s", gone[i]->name);
			forget_queue(gone[i], "was deleted or replaced");
			discover_queue(nm); /* replaced: watch the new file */
		}
	} while (ngone == 256);

	/* The supervisor flags queues whose tables changed (need_scan); a full
	 * pass every tenth scan is the safety net. */
	static unsigned scans;
	bool full = scans++ % 10 == 0;
	rcu_read_lock();
	cds_lfht_for_each_entry(registry_queues(), &it, rq, node) if (full || rq->need_scan)
		discover_queue_attachments(rq);
	rcu_read_unlock();
}

void discover_scan_flagged(void)
{
	struct cds_lfht_iter it;
	struct reg_queue *rq;
	rcu_read_lock();
	cds_lfht_for_each_entry(registry_queues(), &it, rq, node) if (rq->need_scan) discover_queue_attachments(rq);
	rcu_read_unlock();
}

void discover_on_inotify(void)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	char name[PMQ_NAME_MAX + 1];
	bool rescan = false;
	for (;;) {
		ssize_t n = read(ino_fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				rescan = true;
				continue;
			}
			if (!ev->len || !queue_file_name(ev->name, name, sizeof(name)))
				continue;
			if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
				rcu_read_lock();
				struct reg_queue *rq = registry_queue_find(name);
				rcu_read_unlock();
				if (rq)
					forget_queue(rq, "was deleted");
			} else {
				discover_queue(name);
			}
		}
	}
	if (rescan)
		discover_scan_all();
}
