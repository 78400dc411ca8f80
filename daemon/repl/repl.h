/*
 * repl.h - what pmqd's supervisor side (daemon/pmqd) may call of replication
 * (daemon/repl, docs/failover.md): its settings, start/stop, and the
 * control requests it answers. Everything else of the room is in
 * repl_node.h, private to daemon/repl.
 */
#ifndef PMQD_REPL_H
#define PMQD_REPL_H

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

#endif
