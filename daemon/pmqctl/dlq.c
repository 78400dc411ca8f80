/*
 * dlq.c - pmqctl's dead-letter commands: list (peek.c's listing), replay,
 * purge, and recv from the QUEUE.dlq handle.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "pmq_admin.h"
#include "pmqctl.h"

/* ---- dead letters --------------------------------------------------------------------- */

int cmd_dlq(int argc, char **argv)
{
	if (argc < 3)
		return usage_err("usage: dlq list|replay|purge|recv QUEUE [--max N]");
	const char *sub = argv[1], *name = argv[2];
	unsigned max = 0xffffffffu;
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			opt_json = true;
		else if (!strcmp(argv[i], "--max") && i + 1 < argc)
			max = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(sub, "recv"))
			return usage_err("unknown dlq option \"%s\"", argv[i]);
	}
	if (!strcmp(sub, "recv")) {
		char dl[PMQ_NAME_MAX + 8];
		snprintf(dl, sizeof(dl), "%s.dlq", name);
		return recv_loop("dlq recv", dl, PMQ_CONSUMER, argc - 2, argv + 2);
	}
	pmq_t *q;
	int r = open_queue(name, 0, &q);
	if (r < 0)
		return fail("dlq", name, r);
	if (!strcmp(sub, "list")) {
		struct pmq_stats st;
		r = pmq_stats(q, &st);
		if (r >= 0)
			pmqctl_dlq_print(q, name, max); /* each dead letter, without taking it */
		pmq_close(q);
		if (r < 0)
			return fail("dlq list", name, r);
		if (opt_json)
			printf("{\"name\":\"%s\",\"dead_letters\":%" PRIu64 ",\"dead_lettered_total\":%" PRIu64 "}\n", name,
			       st.dead_letters, st.dead_lettered);
		else
			printf("queue \"%s\": %" PRIu64 " dead letter(s) now, %" PRIu64 " dead-lettered in all\n"
			       "(pmqctl dlq replay %s makes them deliverable; dlq recv removes them)\n",
			       name, st.dead_letters, st.dead_lettered, name);
		return EX_OK;
	}
	if (!strcmp(sub, "replay") || !strcmp(sub, "purge")) {
		bool replay = sub[0] == 'r';
		r = replay ? pmq_dlq_replay(q, max) : pmq_dlq_purge(q, max);
		pmq_close(q);
		if (r < 0)
			return fail(replay ? "dlq replay" : "dlq purge", name, r);
		if (opt_json)
			printf("{\"name\":\"%s\",\"%s\":%d}\n", name, replay ? "replayed" : "purged", r);
		else
			printf("%s %d dead letter(s) of \"%s\"\n", replay ? "replayed" : "purged", r, name);
		return EX_OK;
	}
	pmq_close(q);
	return usage_err("unknown dlq command \"%s\" (list, replay, purge, recv)", sub);
}
