/*
 * peek.c - pmqctl's read-only views of messages: `peek` (what is waiting),
 * `tail` (follow new messages), and the listing half of `dlq list`. All go
 * through pmq_peek(), which copies without claiming: nothing is delivered,
 * no delivery count changes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "pmq.h"
#include "pmqctl.h"

#define PEEK_SHOW_MAX 4096 /* bytes of each message copied and shown */

static volatile sig_atomic_t stop_tail;
static void on_int(int sig) { (void)sig; stop_tail = 1; }

static void show(const char *queue, const char *state, const struct pmq_msg *m, const uint8_t *buf, int len,
		 bool first)
{
	size_t shown = (size_t)len < PEEK_SHOW_MAX ? (size_t)len : PEEK_SHOW_MAX;
	if (opt_json || opt_jsonl) {
		msg_json_print(queue, state, m, buf, shown, (size_t)len, first || opt_jsonl);
		if (opt_jsonl)
			putchar('\n');
	} else {
		msg_print_text(state, m, buf, shown, (size_t)len);
	}
}

/* pmqctl peek QUEUE [-n N]   /   pmqctl tail QUEUE [-n N] [--follow] */
int cmd_peek(int argc, char **argv)
{
	static const struct option o[] = { { "count", 1, 0, 'n' }, { "follow", 0, 0, 'f' }, { 0, 0, 0, 0 } };
	const char *verb = argv[0];
	bool tail = !strcmp(verb, "tail");
	uint64_t count = 10;
	bool follow = false;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, tail ? "n:f" : "n:", o, NULL)) != -1) {
		if (ch == 'n') {
			if (!arg_u64("--count", optarg, 1, UINT64_MAX, &count))
				return EX_USAGE;
		} else if (ch == 'f' && tail) {
			follow = true;
		} else {
			return usage_err("%s: unknown option", verb);
		}
	}
	if (optind != argc - 1)
		return usage_err("%s needs exactly one queue name", verb);
	if (follow && opt_json)
		return usage_err("tail --follow never ends, so it cannot be one JSON document: use --jsonl");
	const char *name = argv[optind];
	pmq_t *q;
	int r = open_queue(name, 0, &q);
	if (r < 0)
		return fail(verb, name, r);
	static uint8_t buf[PEEK_SHOW_MAX];
	struct pmq_msg m;
	uint64_t pos = 0;
	if (tail) {
		/* start `count` tickets before the producers' end */
		struct pmq_stats st;
		pmq_stats(q, &st);
		pos = st.sent > count ? st.sent - count : 0;
	}
	if (opt_json) {
		struct jbuf j;
		char b[PMQ_NAME_MAX * 6 + 16];
		jb_init(&j, b, sizeof(b));
		jb_str(&j, name);
		printf("{\"queue\":%s,\"messages\":[", b);
	}
	uint64_t shown = 0;
	int ex = EX_OK;
	signal(SIGINT, on_int);
	for (;;) {
		int len = pmq_peek(q, &pos, buf, sizeof(buf), &m, 0);
		if (len >= 0) {
			show(name, "ready", &m, buf, len, shown == 0);
			fflush(stdout);
			if (!follow && ++shown >= count)
				break;
			continue;
		}
		if (len != -ENOENT) {
			ex = fail(verb, name, len);
			break;
		}
		if (!follow || stop_tail)
			break;
		usleep(20000);
	}
	if (opt_json)
		printf("]}\n");
	if (ex == EX_OK && !shown && !follow && !opt_json && !opt_jsonl)
		fprintf(stderr, "pmqctl: %s \"%s\": no message waiting\n", verb, name);
	pmq_close(q);
	return ex;
}

/* the dead letters themselves, for `dlq list` */
int pmqctl_dlq_print(pmq_t *q, const char *name, unsigned max, bool json)
{
	static uint8_t buf[PEEK_SHOW_MAX];
	struct pmq_msg m;
	uint64_t pos = 0;
	unsigned n = 0;
	int len;
	while (n < max && (len = pmq_peek(q, &pos, buf, sizeof(buf), &m, PMQ_PEEK_DLQ)) >= 0) {
		size_t shown = (size_t)len < PEEK_SHOW_MAX ? (size_t)len : PEEK_SHOW_MAX;
		if (json)
			msg_json_print(name, "dead", &m, buf, shown, (size_t)len, n == 0);
		else
			msg_print_text("dead", &m, buf, shown, (size_t)len);
		n++;
	}
	return (int)n;
}
