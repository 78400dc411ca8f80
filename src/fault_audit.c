/*
 * fault_audit.c - test library only: what recovery's audit (recover.c) does when a
 * targeted settle missed a word that still names the owner. Apart from fault.c, whose
 * pmq_fault_point some tests replace with their own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* PMQ_AUDIT=0 turns the audit off: a hostile writer forges words naming anyone */
bool pmq_fault_audit_on(void)
{
	const char *v = getenv("PMQ_AUDIT");
	return !v || strcmp(v, "0") != 0;
}

void pmq_fault_audit_failed(const char *where, uint32_t idx, uint64_t ctl, unsigned owner)
{
	fprintf(stderr, "pmq audit: after recovering attachment %u, %s %u still names it (ctl 0x%016llx)\n", owner,
		where, idx, (unsigned long long)ctl);
	abort();
}
