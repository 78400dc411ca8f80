/*
 * repl_node.h - what the files of daemon/repl share: the settings, the
 * node's epoch and role (persisted in DIR/.pmqd.repl), the replicator
 * threads (replicator.c, one per standby link), the standby receiver
 * (standby.c) and the control requests they answer (repl.c). pmqd's other
 * files see only repl.h.
 *
 * The room's context is three globals, set up by repl.c and documented here:
 *   g_repl        settings; written by config parsing (repl_config_set, before
 *                 the threads start) and repl_start, read-only afterwards.
 *   g_node_epoch  this node's epoch; g_node_role its enum node_role. Atomic:
 *                 changed by repl_start (state file), the standby thread (a
 *                 newer primary's epoch, promote) or a replicator
 *                 (fencing on a higher epoch), read by every repl thread and
 *                 the control thread (repl-stat); repl_state_save persists them.
 */
#ifndef PMQD_REPL_NODE_H
#define PMQD_REPL_NODE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"
#include "repl.h"
#include "repl_proto.h"

#define REPL_MAX_LINKS 4
#define REPL_MAX_QUEUES 256
#define REPL_MAX_OVERRIDES 32
#define REPL_STATE_FILE ".pmqd.repl"

enum repl_policy { REPL_DEGRADE = 0, REPL_BLOCK = 1 };
enum node_role { NODE_PRIMARY = 0, NODE_STANDBY = 1, NODE_FENCED = 2 };

struct repl_config {
	bool standby;                       /* --standby */
	char listen[256];                   /* --listen ADDR:PORT */
	char to[REPL_MAX_LINKS][256];       /* --replicate-to HOST:PORT (repeatable) */
	unsigned n_to;
	char key_file[4096];                /* --repl-key-file */
	unsigned timeout_ms;                /* --repl-timeout-ms: gone this long = out of sync */
	int policy;                         /* --repl-policy degrade|block[,QUEUE=POLICY...] */
	bool encrypt;                       /* repl-encrypt: records encrypted (default) or only authenticated */
	struct { char name[PMQ_NAME_MAX + 1]; int policy; } over[REPL_MAX_OVERRIDES];
	unsigned n_over;
	uint8_t key[RP_KEY_MAX];
	size_t keylen;
	char dir[4096];
};
extern struct repl_config g_repl;
extern _Atomic uint64_t g_node_epoch;
extern _Atomic int g_node_role;

/* repl.c */
int repl_policy_of(const char *queue);
int repl_state_save(void);
int repl_state_load(const char *dir, uint64_t *epoch, int *role, char *why, size_t whylen);
const char *repl_role_name(int role);
/* Open every *.pmq in dir (names only, .dlq excluded); returns how many, up to max. */
int repl_list_queues(const char *dir, char (*names)[PMQ_NAME_MAX + 1], int max);
uint64_t repl_now_ns(void);

/* standby.c */
int standby_start(void);
void standby_stop(void);
/* Promote every mirror queue to `epoch` (control thread); fills j. 0 or errno. */
int standby_promote(uint64_t epoch, struct jbuf *j, char *err, size_t errlen);
void standby_status(struct jbuf *j, uid_t uid);
/* Is a primary's session live (*age_ms 0), or since when not (-1: never one)? */
void standby_contact(long long *age_ms);

/* replicator.c */
int replicator_start(void);
void replicator_stop(void);
void replicator_status(struct jbuf *j, const char *only_queue, uid_t uid);
/* repl-stat shows a queue to root and to the owner of DIR/<name>.pmq only (as pmqd's `list`). */
bool repl_may_see(uid_t uid, const char *name);
void fence_all(void); /* every queue of the directory refuses producers */
/* A clean stop's handover (repl_handover): every link connected with every queue
 * streaming (the standby can take over without a gap)? */
bool replicator_handover_ready(void);
/* Every link has confirmed every committed ticket of every queue? *left: how many are not. */
bool replicator_all_confirmed(uint64_t *left);

/* repl_api.c */
extern void (*g_witness_status)(struct jbuf *j); /* set once before the control thread answers */

#endif
