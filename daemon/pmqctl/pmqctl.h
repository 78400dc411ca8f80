/*
 * pmqctl.h - what pmqctl's command files share: exit codes, the global
 * options, error reporting, strict numbers and the request to pmqd (main.c),
 * the help texts (help.c), message output (msg_out.c), and one entry point
 * per command (int cmd_X(argc, argv), argv[0] is the command).
 */
#ifndef PMQCTL_H
#define PMQCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pmq_admin.h"

/* The exit-code table (help.c prints it; docs/pmqd.md and pmqctl(1) carry the same). */
enum { EX_OK = 0, EX_FAIL = 1, EX_USAGE = 2, EX_NOQUEUE = 3, EX_PERM = 4, EX_NODAEMON = 5, EX_EMPTY = 6,
       EX_EXISTS = 7, EX_FULL = 8 };

struct jbuf;

/* main.c: options and helpers */
extern const char *opt_dir;  /* --dir; NULL: the library's default */
extern bool opt_json;        /* --json: one JSON document on stdout */
extern bool opt_jsonl;       /* --jsonl: JSON Lines, for the streaming forms (--follow, top) */
extern const char *cur_cmd;  /* the command being run, for messages */
const char *qdir(void);      /* the queue directory in effect */
const char *socket_path(void); /* the control socket in effect (--socket or DIR/.pmqd.sock) */
int exit_for(int err);       /* -errno -> exit code */
/* "pmqctl: <verb> "<queue>": <cause> (<detail>) --> <hint>"; returns the exit code */
int fail(const char *verb, const char *name, int err);
/* The same with the library's detail saved earlier (a later call may have replaced pmq_errmsg) */
int fail_detail(const char *verb, const char *name, int err, const char *detail);
int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Strict numbers (daemon/common/parse_num.c): false after printing
 * "pmqctl: <cmd> --opt: "12abc" is not a number ..." (exit EX_USAGE). */
bool arg_u32(const char *opt, const char *s, uint32_t lo, uint32_t hi, uint32_t *out);
bool arg_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
int open_queue(const char *name, unsigned flags, pmq_t **q);
/* The same with a consumer group to join (NULL: none) and the owner check chosen:
 * any_owner accepts another user's queue (observers that only read), else only the
 * caller's and root's, as the library's default. */
int open_queue_ex(const char *name, unsigned flags, const char *group, bool any_owner, pmq_t **q);
double now_s(void);
/* One request to pmqd; reply (without "ok ") in out. 0, -errno (unreachable),
 * or 1 when pmqd answered "err ..." (out holds it). */
int pmqd_request(const char *req, char *out, size_t cap);
/* pmqd could not be reached (err from pmqd_request): says why, names the
 * socket, returns EX_PERM for a refused socket, else EX_NODAEMON. */
int pmqd_unreachable(const char *verb, int err);
int pmqctl_request(const char *req, char *out, size_t cap);
const char *pmqctl_qdir(void);
bool pmqctl_json(void);
/* Print the finished document (and a newline); a document that did not fit is an error. */
int json_print(struct jbuf *j);

/* help.c */
void usage(FILE *f);
bool print_cmd_help(const char *cmd, FILE *f); /* false: no such command */
void print_exit_codes(FILE *f);

/* msg_out.c: one message, as text or as the JSON message object (docs/pmqd.md) */
void msg_print_text(const char *state, const struct pmq_msg *m, const uint8_t *buf, size_t shown, size_t full);
/* Appends {"queue":..,"ticket":..,...,"data_b64":..,["text":..,]"truncated":..} */
void msg_json(struct jbuf *j, const char *queue, const char *state, const struct pmq_msg *m, const uint8_t *buf,
	      size_t shown, size_t full);
/* Print one message object to stdout (with a leading comma unless first). */
void msg_json_print(const char *queue, const char *state, const struct pmq_msg *m, const uint8_t *buf, size_t shown,
		    size_t full, bool first);

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
/* Prints the dead letters (at most max): as text lines, or with json as
 * message objects separated by commas (the caller opens and closes the array).
 * Returns how many. */
int pmqctl_dlq_print(pmq_t *q, const char *name, unsigned max, bool json);
/* repl.c: replication (docs/failover.md) */
int cmd_promote(int argc, char **argv);
int cmd_rejoin(int argc, char **argv);
int cmd_repl(int argc, char **argv);
int cmd_shovel(int argc, char **argv); /* shovel.c */
/* groups.c: consumer groups (docs/groups.md) */
int cmd_group(int argc, char **argv);
/* false, with why[] naming the problem, for a name libpmq would refuse */
bool group_name_ok(const char *group, char *why, size_t cap);
/* A group's lease in ms (1 ms to 7 days) from option `what`'s value s; false after a usage error. */
bool group_lease_arg(const char *what, const char *s, uint64_t *lease_ns);
/* "pmqctl: VERB "QUEUE" group "GROUP": cause (pmq_errmsg) --> hint"; the exit code */
int group_fail(const char *verb, const char *queue, const char *group, int err);
int group_fail_detail(const char *verb, const char *queue, const char *group, int err, const char *detail);
/* pmq_group_list into out (at most PMQ_GROUPS_MAX, names NUL-terminated): count or -errno */
int groups_read(pmq_t *q, struct pmq_group_info out[PMQ_GROUPS_MAX]);
void group_json(struct jbuf *j, const struct pmq_group_info *g);   /* one group object */
void groups_json(struct jbuf *j, const struct pmq_group_info *g, int n); /* [group objects] */
void groups_print_table(const struct pmq_group_info *g, int n, const char *indent);
/* The replication lines of `queue` for stat (nothing when the queue is not
 * replicated); 0, or an exit code. */
int pmqctl_repl_print(const char *queue);

#endif
