/*
 * log.h - pmqd's log (log.c): stderr in a terminal, the journal's priority
 * prefixes under systemd. Used by daemon/pmqd and daemon/repl.
 */
#ifndef PMQ_DAEMON_LOG_H
#define PMQ_DAEMON_LOG_H

#include <syslog.h>

void log_init(int level);
void log_set_level(int level);
void log_set_name(const char *name); /* the program named in terminal lines (default "pmqd") */
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
