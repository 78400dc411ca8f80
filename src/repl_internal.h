/*
 * repl_internal.h - what the library's replication files share (repl_source.c:
 * the primary's side, repl_mirror.c: the standby's, repl_side.c: the side
 * area's): the argument check and the mirror slot's hflags bit.
 */
#ifndef PMQ_REPL_INTERNAL_H
#define PMQ_REPL_INTERNAL_H

#include <errno.h>

#include "internal.h"

/* ==== pmqd's side: shipping (primary) and mirroring (standby) ===================
 *
 * Ownership of the words touched below:
 *  - `replicated`, `ack_floor`, `repl_flags`, `epoch`, `role`, `fenced`: written only
 *    by pmqd's replicator / standby thread (CAS-max where two replicators could race).
 *  - mirror slots on a standby: written only by the standby thread. Nobody produces
 *    into a mirror (it is fenced) and nobody should consume from it (docs/failover.md).
 */


/* hflags bit of a mirror slot: its delivery was already counted at a floor frame
 * (the old primary may have delivered it; promotion redelivers it as such). */
#define SLOT_HF_REPL_COUNTED 0x4u

static inline uint32_t rlap(const struct pmq *q, uint64_t t) { return (uint32_t)(t >> q->slot_shift); }

static inline int repl_check(const struct pmq *q)
{
	if (!q)
		return pmq_fail(-EINVAL, "NULL queue handle");
	if (q->forked)
		return pmq_fail(-EBADFD, "queue \"%s\": handle inherited across fork", q->name);
	return 0;
}

#endif
