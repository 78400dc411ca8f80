/*
 * pmqctl.h - what pmqctl's command files share: exit codes, the global
 * options, error reporting and the request to pmqd (all in main.c), and one
 * entry point per command (int cmd_X(argc, argv), argv[0] is the command).
 */
#ifndef PMQCTL_H
#define PMQCTL_H

#include <stdbool.h>
#include <stddef.h>

#include "pmq_admin.h"

enum { EX_OK = 0, EX_FAIL = 1, EX_USAGE = 2, EX_NOQUEUE = 3, EX_PERM = 4, EX_NODAEMON = 5, EX_EMPTY = 6,
       EX_EXISTS = 7 };

/* main.c: options and helpers */
extern const char *opt_dir;  /* --dir; NULL: the library's default */
extern bool opt_json;        /* --json */
const char *qdir(void);      /* the queue directory in effect */
int exit_for(int err);       /* -errno -> exit code */
/* "pmqctl: <verb> "<queue>": <cause> (<detail>) --> <hint>"; returns the exit code */
int fail(const char *verb, const char *name, int err);
int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int open_queue(const char *name, unsigned flags, pmq_t **q);
double now_s(void);
/* One request to pmqd; reply (without "ok ") in out. 0, -errno (unreachable),
 * or 1 when pmqd answered "err ..." (out holds it). */
int pmqd_request(const char *req, char *out, size_t cap);
int pmqctl_request(const char *req, char *out, size_t cap);
const char *pmqctl_qdir(void);
bool pmqctl_json(void);

/* queue_admin.c */
int cmd_create(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_recover(int argc, char **argv);
/* status.c */
int cmd_list(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_request(int argc, char **argv);
/* messages.c */
int cmd_send(int argc, char **argv);
int cmd_recv(int argc, char **argv);
/* Receive and settle up to -n messages of `name` (recv and dlq recv). */
int recv_loop(const char *verb, const char *name, unsigned flags, int argc, char **argv);
/* dlq.c */
int cmd_dlq(int argc, char **argv);
/* peek.c: peek, tail and the dead-letter listing (non-destructive, pmq_peek) */
int cmd_peek(int argc, char **argv);
int pmqctl_dlq_print(pmq_t *q, const char *name, unsigned max);
/* repl.c: replication (docs/failover.md) */
int cmd_promote(int argc, char **argv);
int cmd_rejoin(int argc, char **argv);
int cmd_repl(int argc, char **argv);
int pmqctl_repl_print(const char *queue);

#endif
