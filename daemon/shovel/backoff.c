/*
 * backoff.c - reconnect delays: doubling from min to max, each drawn at
 * random from [d/2, d] so that many shovels do not reconnect in step.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <time.h>

#include "shovel.h"

uint64_t backoff_next_ms(unsigned *attempt, unsigned min_ms, unsigned max_ms)
{
	uint64_t d = min_ms;
	for (unsigned i = 0; i < *attempt && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	if (*attempt < 64)
		(*attempt)++;
	uint64_t half = d / 2;
	return half + (uint64_t)random() % (d - half + 1);
}

void shovel_sleep_ms(uint64_t ms)
{
	while (ms && !g_shovel_stop) {
		uint64_t step = ms < 100 ? ms : 100;
		nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = (long)(step * 1000000)}, NULL);
		ms -= step;
	}
}
