/*
 * dlq.c - pmqctl's dead-letter commands: list (peek.c's listing), replay,
 * purge, and recv from the QUEUE.dlq handle.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "pmq_admin.h"
#include "pmqctl.h"

static void json_name(const char *name)
{
	struct jbuf j;
	char b[PMQ_NAME_MAX * 6 + 16];
	jb_init(&j, b, sizeof(b));
	jb_str(&j, name);
	fputs(b, stdout);
}

int cmd_dlq(int argc, char **argv)
{
	if (argc < 3 || argv[2][0] == '-')
		return usage_err("dlq needs a sub-command and a queue: dlq list|replay|purge|recv QUEUE");
	const char *sub = argv[1], *name = argv[2];
	if (!strcmp(sub, "recv")) {
		char dl[PMQ_NAME_MAX + 8];
		snprintf(dl, sizeof(dl), "%s.dlq", name);
		return recv_loop("dlq recv", dl, PMQ_CONSUMER, argc - 2, argv + 2);
	}
	bool list = !strcmp(sub, "list"), replay = !strcmp(sub, "replay"), purge = !strcmp(sub, "purge");
	if (!list && !replay && !purge)
		return usage_err("unknown dlq command \"%s\" (list, replay, purge, recv)", sub);
	uint32_t max = UINT32_MAX;
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--max") && i + 1 < argc) {
			if (!arg_u32("--max", argv[++i], 1, UINT32_MAX, &max))
				return EX_USAGE;
		} else {
			return usage_err("dlq %s: unknown option \"%s\"", sub, argv[i]);
		}
	}
	pmq_t *q;
	int r = open_queue(name, 0, &q);
	if (r < 0)
		return fail("dlq", name, r);
	if (list) {
		struct pmq_stats st;
		r = pmq_stats(q, &st);
		if (r < 0) {
			pmq_close(q);
			return fail("dlq list", name, r);
		}
		if (opt_json) {
			printf("{\"queue\":");
			json_name(name);
			printf(",\"dead_letters\":%" PRIu64 ",\"dead_lettered_total\":%" PRIu64 ",\"messages\":[",
			       st.dead_letters, st.dead_lettered);
		}
		pmqctl_dlq_print(q, name, max, opt_json); /* each dead letter, without taking it */
		pmq_close(q);
		if (opt_json)
			printf("]}\n");
		else
			printf("queue \"%s\": %" PRIu64 " dead letter(s) now, %" PRIu64 " dead-lettered in all\n"
			       "(pmqctl dlq replay %s makes them deliverable; dlq recv removes them)\n",
			       name, st.dead_letters, st.dead_lettered, name);
		return EX_OK;
	}
	r = replay ? pmq_dlq_replay(q, max) : pmq_dlq_purge(q, max);
	pmq_close(q);
	if (r < 0)
		return fail(replay ? "dlq replay" : "dlq purge", name, r);
	if (opt_json) {
		printf("{\"queue\":");
		json_name(name);
		printf(",\"%s\":%d}\n", replay ? "replayed" : "purged", r);
	} else {
		printf("%s %d dead letter(s) of \"%s\"\n", replay ? "replayed" : "purged", r, name);
	}
	return EX_OK;
}
