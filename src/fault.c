/*
 * fault.c - named fault-injection points, compiled only into the test
 * library (libpmq_fault.a, -DPMQ_FAULT_INJECTION). PMQ_FAULT=name[:n] in the
 * environment SIGKILLs the process the n-th time (default 1st) it passes the
 * named point, so tests can die exactly between two steps of the protocol.
 *
 * A test may also install a hook (pmq_fault_set_hook) that runs at every point
 * in the thread passing it: another handle of the same process then acts in
 * exactly that window (a race made deterministic), without anyone dying.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static _Atomic long hits;
static void (*_Atomic hook)(const char *name);

void pmq_fault_set_hook(void (*fn)(const char *name)) { atomic_store(&hook, fn); }

void pmq_fault_point(const char *name)
{
	void (*fn)(const char *) = atomic_load(&hook);
	if (fn)
		fn(name);
	const char *spec = getenv("PMQ_FAULT");
	if (!spec)
		return;
	size_t n = strlen(name);
	if (strncmp(spec, name, n) != 0 || (spec[n] != 0 && spec[n] != ':'))
		return;
	long want = spec[n] == ':' ? atol(spec + n + 1) : 1;
	if (atomic_fetch_add(&hits, 1) + 1 >= want)
		kill(getpid(), SIGKILL);
}
