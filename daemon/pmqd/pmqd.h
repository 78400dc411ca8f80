/*
 * pmqd.h - what the files of the supervisor daemon share.
 *
 * Threads (docs/architecture.md, docs/pmqd.md):
 *   control thread     (control.c, control_verbs.c, discover.c): the control socket, the directory
 *                      watch and the periodic scan. It is the only WRITER of the
 *                      registry.
 *   supervisor thread  (supervisor.c): pidfd death events, token probes, leases.
 *                      It READS the registry under rcu_read_lock() only and runs
 *                      recovery through libpmq (pmq_recover), never a copy of it.
 * A queue's observer handle (pmq_t) may be used by one thread at a time, so every
 * call on it is made under the queue's mutex `mu`.
 *
 * Calls go one way only (docs/architecture.md):
 *   main -> control -> discover -> supervisor -> registry, watch
 * (plus main -> config, and main/control/config -> daemon/repl's repl.h). The
 * supervisor asks the control thread for a rescan by setting rq->need_scan and
 * registry_wake(REG_WAKE_CONTROL); discover asks the supervisor to look at
 * need_recover with registry_wake(REG_WAKE_SUPERVISOR). main owns the settings
 * and hands the control thread one struct pmqd_ctx; nothing else is global.
 */
#ifndef PMQD_H
#define PMQD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <urcu.h>
#include <urcu/rculfhash.h>

#include "pmq_admin.h"

#include "common.h"
#include "latency_hist.h"

/* --- config.c -------------------------------------------------------------- */
struct pmqd_config {
	char dir[4096];            /* queue directory */
	char socket_path[4096];    /* control socket ("" = <dir>/.pmqd.sock) */
	char config_file[4096];    /* "" = none */
	unsigned socket_mode;      /* default 0660 */
	long socket_gid;           /* -1 = leave as created */
	unsigned scan_ms;          /* periodic directory + attachment scan */
	unsigned probe_ms;         /* token probe / lease tick per queue */
	unsigned retry_ms;         /* first retry when a dead owner's token is not free yet */
	int log_level;             /* LOG_ERR .. LOG_DEBUG */
	bool foreground;           /* informational: we never daemonize (systemd does it) */
	char metrics_listen[256];  /* --metrics-listen HOST:PORT ("" = no /metrics) */
};
void config_defaults(struct pmqd_config *c);
/* Load the file named in c->config_file (if any) over the current values.
 * Returns 0 or -errno; *err names the bad line. */
int config_load_file(struct pmqd_config *c, char *err, size_t errlen);
/* Parse argv (flags override the file). Returns 0, 1 (exit 0: --help/--version) or -1 (usage). */
int config_parse_args(struct pmqd_config *c, int argc, char **argv);
void config_finish(struct pmqd_config *c);

#include "log.h"

/* --- dir_trust.c: the queue directory's owner and mode ------------------------ */
struct stat;
/* Make `dir` (root-owned 01777 if new) and check it: owned by root or our euid,
 * not group/world-writable without the sticky bit. 0, or -errno with *err. */
int dir_prepare(const char *dir, char *err, size_t cap);
int dir_trust_check(const struct stat *st, char *err, size_t cap);

/* --- registry.c: the RCU hash tables ---------------------------------------- */
enum watch_mode {
	WATCH_NONE = 0,   /* not yet set up */
	WATCH_PIDFD = 1,  /* pidfd of the process that said hello (kernel-named peer), in the epoll set */
	WATCH_PROBE = 2,  /* known from the shared table only (no hello yet): token probe, never signalled */
	WATCH_SELF = 3,   /* pmqd's own observer handle */
};

struct reg_queue;

struct reg_attach {
	struct cds_lfht_node node;
	struct rcu_head rcu;
	uint64_t key;                  /* attach_key(qid, index, incarnation) */
	struct reg_queue *queue;       /* valid inside the read section that found us */
	uint32_t index, incarnation, role;
	int32_t pid;                   /* as recorded by the attacher */
	int32_t local_pid;             /* pid in pmqd's namespace of the hello's sender (kernel-given), 0 if none */
	uint64_t start_time;
	int pidfd;                     /* -1 when WATCH_PROBE */
	_Atomic int mode;              /* enum watch_mode */
	/* supervisor-owned lease timing (pmqd's own CLOCK_MONOTONIC) */
	_Atomic uint64_t last_hb;
	_Atomic uint64_t last_progress_ns;
	_Atomic uint64_t lease_fired_ns;
	_Atomic uint32_t in_flight;    /* last seen */
	_Atomic int died;              /* pidfd fired */
};

struct reg_queue {
	struct cds_lfht_node node;
	struct rcu_head rcu;
	char name[PMQ_NAME_MAX + 1];
	uint32_t qid;                  /* 24 bits, part of attachment keys */
	pthread_mutex_t mu;            /* serialises every call on q */
	pmq_t *q;                      /* observer handle (flags 0) */
	uid_t owner;                   /* file owner: may control this queue */
	dev_t dev;
	ino_t ino;
	uint64_t lease_ns;             /* the queue's lease (its config); groups may have their own */
	_Atomic uint64_t lease_min_ns; /* the shortest lease of the queue and its groups (probe interval) */
	uint32_t lease_action;         /* 0 requeue, 1 kill, 2 alarm: the queue's, for every holder */
	uint32_t max_deliveries;
	uint32_t max_attach;
	/* flags between the threads */
	_Atomic int need_recover;      /* supervisor: run pmq_recover soon */
	_Atomic int need_scan;         /* control: re-read the attachment table */
	_Atomic uint64_t next_check_ns;
	_Atomic uint64_t retry_at_ns;  /* 0 = none */
	_Atomic uint32_t retry_step;
	_Atomic uint32_t n_reg;        /* registered attachments, pmqd's own excluded */
	_Atomic uint32_t n_probe;      /* of which watched by token probe only */
	/* counters for `stat` */
	_Atomic uint64_t recoveries, recovered_attachments, requeued, dead_lettered, aborted;
	_Atomic uint64_t lease_requeues, lease_kills, lease_alarms;
	struct latency_hist recovery_latency; /* detection to recovered (supervisor adds, /metrics reads) */
	/* control-thread private: the registered attachment of each table entry */
	struct reg_attach *slot[PMQD_MAX_ATTACH];
	bool seen;                     /* scan mark */
};

static inline uint64_t attach_key(uint32_t qid, uint32_t index, uint32_t inc)
{
	return ((uint64_t)(qid & 0xffffffu) << 40) | ((uint64_t)(index & 0xffu) << 32) | inc;
}

int registry_init(void);
void registry_fini(void);
/* Readers: call inside rcu_read_lock(). */
struct reg_queue *registry_queue_find(const char *name);
struct reg_attach *registry_attach_find(uint64_t key);
struct cds_lfht *registry_queues(void);
/* Writer (control thread) only. */
struct reg_queue *registry_queue_add(const char *name, pmq_t *q);
void registry_queue_remove(struct reg_queue *rq);   /* calls synchronize_rcu: no locks held! */
int registry_attach_add(struct reg_queue *rq, struct reg_attach *a);
void registry_attach_remove(struct reg_queue *rq, struct reg_attach *a);
unsigned registry_queue_count(void);
unsigned registry_attach_count(void);
/* Wake-ups between the threads: an eventfd per thread, made by registry_init. */
enum reg_wake { REG_WAKE_CONTROL = 0, REG_WAKE_SUPERVISOR = 1, REG_WAKE_N };
void registry_wake(enum reg_wake who);         /* any thread */
int registry_wake_fd(enum reg_wake who);       /* for the woken thread's epoll set */
void registry_wake_drain(enum reg_wake who);   /* the woken thread, after epoll says so */

/* --- watch.c: one process, seen through its pidfd ----------------------------- */
uint64_t proc_start_time(pid_t pid);               /* 0 if unreadable */
/* Open a pidfd on `pid` and prove it is the process that started at
 * `start_time`. Returns the pidfd, -ESRCH (gone or another process now:
 * treat as dead or foreign, i.e. probe) or another -errno. */
int watch_open_pidfd(pid_t pid, uint64_t start_time);
/* A pidfd on the process at the other end of control connection `sock`
 * (SO_PEERCRED said `peer_pid`), and its start time. -ESRCH if it is gone. */
int watch_peer_pidfd(int sock, pid_t peer_pid, uint64_t *start_time);
/* May pmqd signal the process of `pidfd` (pid `pid` here) for a queue owned by
 * `owner`? Only if its real, effective, saved and fs uids all equal `owner`
 * (so never root's for a queue not root's), read from /proc and then
 * confirmed by the pidfd still being alive. 0, or -EPERM / -ESRCH with *why. */
int watch_may_signal(pid_t pid, int pidfd, uid_t owner, char *why, size_t cap);

/* --- supervisor.c ------------------------------------------------------------ */
/* A lease the library read from a queue's shared group table, bounded: `queue_ns` (the
 * queue's own, from its validated config) as it is, any other into the range a group's
 * may have (PMQ_GROUP_LEASE_MIN_NS..MAX_NS): a hostile record cannot make pmqd spin on
 * requeues nor switch a lease off. 0 stays 0 (no lease). */
uint64_t supervisor_bound_lease(uint64_t lease_ns, uint64_t queue_ns);
int supervisor_start(const struct pmqd_config *c);
void supervisor_stop(void);
int supervisor_watch(struct reg_attach *a);        /* add a's pidfd to the epoll set */
void supervisor_set_intervals(unsigned probe_ms, unsigned retry_ms);
/* Recover queue rq now (any thread, inside rcu_read_lock). Returns pmq_recover's result. */
int supervisor_recover(struct reg_queue *rq, const char *why, const struct reg_attach *a, uint64_t t0_ns);

/* --- discover.c (control thread) --------------------------------------------- */
int discover_init(const struct pmqd_config *c);    /* returns the inotify fd */
void discover_on_inotify(void);
void discover_scan_all(void);                      /* directory + every queue's table */
void discover_scan_flagged(void);                  /* only queues with need_scan */
struct reg_queue *discover_queue(const char *name); /* register (open) if new */
void discover_queue_attachments(struct reg_queue *rq);
void discover_fini(void);

/* --- control.c, control_verbs.c ------------------------------------------------ */
/* What main hands the control thread: the one context of pmqd (no globals). */
struct pmqd_ctx {
	struct pmqd_config *cfg;   /* main's settings; changed only by reload, on the control thread */
	int sigfd;                 /* signalfd: SIGTERM/SIGINT stop, SIGHUP reloads */
	/* SIGHUP or `reload`: re-read flags and file into cfg, apply what can change live.
	 * Supplied by main (it holds argv); 0 or -1 (logged, old settings kept). */
	int (*reload)(struct pmqd_config *cfg);
};
int control_open(const struct pmqd_config *c);     /* bind + listen; returns fd */
/* Run the control thread's loop until a stop signal. Returns 0 on SIGTERM/SIGINT. */
int control_run(const struct pmqd_ctx *ctx);
void control_close(void);

#endif /* PMQD_H */
