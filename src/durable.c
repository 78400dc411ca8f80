/*
 * durable.c - persistence edges (D* in docs/memory-ordering.md).
 * In power mode each edge flushes the given range to the media before the
 * caller's next store: pmem_persist (cache-line flush + fence, no system call)
 * on real persistent memory, pmem_msync elsewhere. In process mode the caller
 * skips these (q->power is false) and the mapping itself is the durability.
 */
#include <libpmem.h>

#include "internal.h"

void durable_persist_power(const struct pmq *q, const void *addr, size_t len)
{
	if (q->is_pmem)
		pmem_persist(addr, len);
	else
		pmem_msync(addr, len);
}

void durable_persist_all(const struct pmq *q)
{
	if (q->is_pmem)
		pmem_persist(q->hdr, q->map_len);
	else
		pmem_msync(q->hdr, q->map_len);
}
