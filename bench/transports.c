/*
 * transports.c - the table of subjects, in the order the report lists them:
 * the floor first, then pmq, then the peers a user would pick instead.
 */
#include "transport.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const struct transport *const tp_all[] = {
	&tp_floor_8, &tp_floor_2l, &tp_floor_2r, &tp_floor_8p, &tp_floor_ring, &tp_pmq, &tp_pmq_spsc, &tp_pmq_group1, &tp_pmq_group2, &tp_pmq_group4, &tp_pipe, &tp_unix, &tp_mq, &tp_zmq, &tp_iceoryx, NULL,
};

const struct transport *tp_find(const char *name)
{
	for (int i = 0; tp_all[i]; i++)
		if (!strcmp(tp_all[i]->name, name))
			return tp_all[i];
	return NULL;
}

int tp_why(char *why, size_t n, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return err;
}

int tp_always(char *why, size_t n)
{
	(void)why;
	(void)n;
	return 0;
}
