/*
 * witness.h - what pmqd (main.c, config.c) may call of the witness: its
 * settings, start and stop. The witness holds or campaigns for the leader
 * key in etcd and promotes or fences this node through repl.h.
 */
#ifndef PMQD_WITNESS_H
#define PMQD_WITNESS_H

/* A witness-* setting: 0, -ENOENT (not ours), -EINVAL, -ENOTSUP (built without libcurl). */
int witness_config_set(const char *key, const char *val);
int witness_start(const char *dir); /* after repl_start; 0 or -1 (logged) */
void witness_stop(void);

#endif
