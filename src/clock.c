/*
 * clock.c - the send timestamp without a clock call per message (issue 16).
 *
 * pmq_msg.timestamp_ns is CLOCK_REALTIME nanoseconds at enqueue. Reading that clock
 * (vDSO) costs tens to a hundred ns on a VM, a large share of a cross-core round
 * trip. Where the CPU has an invariant TSC (CPUID 0x80000007 EDX bit 8: constant
 * rate, runs in every C-state), each handle keeps its own calibration, a straight
 * line from TSC ticks to CLOCK_REALTIME ns, and a send reads the TSC (RDTSC, not
 * serialising) and converts with one multiply. The slot still stores ns: readers,
 * peek, the side area and replication are unchanged, and a file outlives a reboot
 * (a new TSC epoch) without a stale calibration in it (docs/decisions.md).
 *
 * The line is fitted from the clock itself: the first sends of a handle read the
 * clock (and the TSC) until 10 ms have passed, then the slope is their ratio; after
 * that, every 100 ms of ticks one send reads the clock again, re-anchors the line
 * there and refines the slope over the longer base. Each point is a TSC read
 * between two clock reads, used only if those were within 20 us (a thread
 * preempted in between would skew the slope). A re-anchor that finds the line more
 * than 1 % off the clock (a clock step, or a bad fit) starts the warm-up again, whose
 * sends read the clock. A tick count that runs backwards (another CPU's TSC behind
 * ours) drops the handle to the clock for good. PMQ_TSC=0 in the environment (read
 * at open) forces the clock.
 *
 * Process-local state only: nothing here touches shared memory.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#if PMQ_HAVE_TSC
#include <cpuid.h>
#endif

#define WARM_NS 10000000ull     /* first slope after 10 ms of clock reads */
#define ANCHOR_NS 100000000ull  /* then re-anchor every 100 ms of ticks */
#define POINT_NS 20000ull       /* a fit point's clock reads at most 20 us apart */

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts); /* vDSO: no system call */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool invariant_tsc(void)
{
#if PMQ_HAVE_TSC
	unsigned a, b, c, d;
	if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
		return false;
	if (!__get_cpuid(0x80000007u, &a, &b, &c, &d))
		return false;
	return (d & (1u << 8)) != 0;
#else
	return false;
#endif
}

void send_clock_init(struct send_clock *c)
{
	memset(c, 0, sizeof(*c));
	const char *env = getenv("PMQ_TSC");
	bool forced_off = env && env[0] == '0' && env[1] == '\0';
	c->mode = (!forced_off && invariant_tsc()) ? SEND_CLOCK_WARMING : SEND_CLOCK_REALTIME;
}

static void drop_to_clock(struct send_clock *c) { c->mode = SEND_CLOCK_REALTIME; }

/* A point of the line: the TSC read between two clock reads, taken only if the
 * three were close together (a thread preempted between them would skew the slope by
 * the time it was away); the clock's value at that point otherwise, unused. */
static bool read_point(uint64_t *ns, uint64_t *tsc)
{
	uint64_t a = realtime_ns();
	*tsc = send_clock_tsc();
	uint64_t b = realtime_ns();
	*ns = b;
	if (b < a || b - a > POINT_NS)
		return false;
	*ns = a + (b - a) / 2;
	return true;
}

static void start_warm_up(struct send_clock *c, uint64_t ns, uint64_t t)
{
	c->mode = SEND_CLOCK_WARMING;
	c->base_ns = ns;
	c->base_tsc = t;
}

/* The rare step: warm-up reads and re-anchors. Returns the clock's value. */
uint64_t send_clock_slow(struct send_clock *c)
{
	if (c->mode == SEND_CLOCK_REALTIME)
		return realtime_ns();
	uint64_t ns, t;
	if (!read_point(&ns, &t))
		return ns; /* preempted around the reads: the clock's value, no fit from it */
	if (c->mode == SEND_CLOCK_WARMING) {
		if (c->base_ns == 0 || ns < c->base_ns || t <= c->base_tsc) {
			start_warm_up(c, ns, t); /* first point, or the clock stepped back */
			return ns;
		}
		if (ns - c->base_ns < WARM_NS)
			return ns;
	} else if (t <= c->base_tsc) {
		drop_to_clock(c); /* ticks ran backwards: not one TSC we can trust */
		return ns;
	}
	uint64_t dt = t - c->base_tsc;
	uint64_t mult = ns > c->base_ns ? (uint64_t)(((unsigned __int128)(ns - c->base_ns) << 32) / dt) : 0;
	if (c->mode == SEND_CLOCK_TSC &&
	    (mult == 0 || mult > c->mult + c->mult / 100 || mult < c->mult - c->mult / 100)) {
		/* the line and the clock disagree by more than 1 % over the span: a clock step
		 * (settimeofday), or a slope fitted badly. Fit again from here; the warm-up's
		 * sends read the clock, so their stamps are right meanwhile */
		start_warm_up(c, ns, t);
		return ns;
	}
	if (mult == 0 || mult >= (1ull << 40)) {
		drop_to_clock(c); /* under 4 MHz, or nonsense: the clock it is */
		return ns;
	}
	c->mult = mult;
	c->base_tsc = t;
	c->base_ns = ns;
	c->span = (uint64_t)(((unsigned __int128)ANCHOR_NS << 32) / mult);
	c->mode = SEND_CLOCK_TSC;
	return ns;
}
