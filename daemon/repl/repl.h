/*
 * repl.h - what pmqd's supervisor side (daemon/pmqd) may call of replication
 * (daemon/repl, docs/failover.md): its settings, start/stop, and the
 * control requests it answers. Everything else of the room is in
 * repl_node.h, private to daemon/repl.
 */
#ifndef PMQD_REPL_H
#define PMQD_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct jbuf;

/* A replication setting from the command line or the config file (config.c):
 * 0, -ENOENT (not ours), -EINVAL (then why[] may say what is wrong with a number). */
int repl_config_set(const char *key, const char *val, char *why, size_t whylen);
int repl_start(const char *dir);  /* after the supervisor; 0 or -1 (logged) */
void repl_stop(void);
/* A control request for us (repl-*, promote)? Returns -1 if not (the caller
 * answers "unknown"), else 0 with JSON in j, or a positive errno with err filled. */
int repl_control(uid_t uid, char **arg, int nargs, struct jbuf *j, char *err, size_t errlen);

/* For the witness (daemon/witness, repl_api.c): what it may ask and do. */
struct repl_view {
	bool primary, standby, fenced; /* this node's role */
	unsigned long long epoch;
	bool in_sync;                  /* standby: a primary's session is live, or ended < --repl-timeout-ms ago */
	long long contact_age_ms;      /* standby: since that session ended (0 while live, -1 never had one) */
};
void repl_view(struct repl_view *v);
/* Promote this standby at an epoch of at least `epoch` (also > every mirror's);
 * 0 or an errno with err filled. The epoch used is put in *used. */
int repl_promote_at(unsigned long long epoch, unsigned long long *used, char *err, size_t errlen);
/* Fence this node now (role fenced, every queue refuses producers), logging why. */
void repl_fence_node(const char *why);
/* A clean stop of a primary (witness_stop): only when every link is connected and
 * streaming, fence every queue (producers get ESHUTDOWN), wait at most timeout_ms for
 * the standby to confirm every committed ticket, then role fenced. 0: all confirmed;
 * -ETIMEDOUT: fenced but some are not (why says how many); -ENOLINK/-EALREADY: nothing
 * done (no standby to hand over to, not a primary). */
int repl_handover(unsigned timeout_ms, char *why, size_t whylen);
/* A witness is configured: repl-stat shows its status through this call, and
 * `promote` answers an error unless the request says `promote --force`. */
void repl_set_witness(void (*status)(struct jbuf *j));

#endif
