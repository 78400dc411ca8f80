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

/* For /metrics (read under the witness's own mutex, never a data-path lock): the
 * current state (one of witness_states[], NULL-terminated), the lease left and the
 * age of the last successful renewal in ms (-1: unknown). -ENOENT: no witness. */
struct witness_view {
	const char *state;
	long long lease_left_ms, renewal_age_ms;
};
extern const char *const witness_states[];
int witness_view(struct witness_view *v);

#endif
