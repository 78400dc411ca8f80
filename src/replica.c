/*
 * replica.c - the library's side of replication (DESIGN §6): what producers
 * wait for, and (for pmqd's replicator and standby) reading committed
 * entries in ticket order and confirming them.
 *
 * The primary's replicator ships committed entries and stores the standby's
 * highest contiguous persisted ticket in `replicated`; producers gate slot
 * reuse on it (ring.c, repl_may_reuse) and PMQ_REPLICATED sends wait for it.
 */
#include <errno.h>

#include "internal.h"

int repl_wait_confirmed(struct pmq *q, uint64_t ticket)
{
	struct pmq_header *h = q->hdr;
	uint64_t start = 0;
	for (;;) {
		/* acquire: pairs with the replicator's release when it changes the flags */
		uint32_t f = atomic_load_explicit(&h->repl_flags, memory_order_acquire);
		if (!(f & HDR_REPL_ON))
			return pmq_fail(-ENOTSUP, "queue \"%s\": no standby configured for replication; message %llu "
						  "is committed locally only",
					q->name, (unsigned long long)ticket);
		if (f & HDR_REPL_DEGRADED)
			return pmq_fail(-ENOLINK, "queue \"%s\": standby out of sync; message %llu is committed "
						  "locally but not replicated",
					q->name, (unsigned long long)ticket);
		if (atomic_load_explicit(&h->fenced, memory_order_relaxed))
			return pmq_fail(-ESHUTDOWN, "queue \"%s\" is fenced (a newer primary exists)", q->name);
		/* acquire: taken before the check, so a confirmation after it changes the word */
		uint32_t seq = atomic_load_explicit(&h->repl_seq, memory_order_acquire);
		/* acquire: pairs with the replicator's release store of `replicated` */
		if (atomic_load_explicit(&h->replicated, memory_order_acquire) > ticket)
			return 0;
		uint64_t now = now_mono_ns();
		if (!start)
			start = now;
		if (now - start < q->spin_ns)
			cpu_relax();
		else
			futex_sleep(&h->repl_seq, seq, 1000000ull); /* the network round trip dominates anyway */
	}
}
