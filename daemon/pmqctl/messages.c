/*
 * messages.c - pmqctl's message commands that take part in the queue: send
 * (arguments or one message per stdin line) and recv (settling each by ack,
 * nack or dead-letter; --group joins a consumer group, a lossy one through
 * pmq_recv_lossy with the gap it reports). The read-only views (peek, tail) are in peek.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "pmq_admin.h"
#include "pmqctl.h"

/* ---- send ---------------------------------------------------------------------------- */

struct send_mode {
	bool nonblock;       /* --nonblock: a full queue is an error at once */
	uint64_t timeout_ms; /* --timeout: give up after this long (0: wait for ever) */
	bool told;           /* "waiting" said once */
};

/* One message. A full queue waits (saying so once on stderr) until there is
 * room or the timeout; libpmq has no timed send, so the timed wait is a
 * bounded retry with back-off (this is the CLI, not the data path). */
static int send_one(pmq_t *q, const char *name, struct send_mode *sm, const void *p, size_t n)
{
	int r = pmq_send(q, p, n, PMQ_NONBLOCK);
	if (r != -EAGAIN || sm->nonblock)
		return r;
	if (!sm->told) {
		sm->told = true;
		if (sm->timeout_ms)
			fprintf(stderr, "pmqctl: send \"%s\": the queue is full, waiting up to %" PRIu64
				" ms for room\n", name, sm->timeout_ms);
		else
			fprintf(stderr, "pmqctl: send \"%s\": the queue is full, waiting for room (a consumer must "
				"take messages; --timeout MS or --nonblock to give up)\n", name);
	}
	if (!sm->timeout_ms)
		return pmq_send(q, p, n, 0); /* the library's own wait (futex) */
	uint64_t deadline = mono_ns() + sm->timeout_ms * 1000000ull, nap_us = 100;
	while ((r = pmq_send(q, p, n, PMQ_NONBLOCK)) == -EAGAIN) {
		if (mono_ns() >= deadline)
			return -ETIMEDOUT;
		usleep((useconds_t)nap_us);
		nap_us = nap_us < 20000 ? nap_us * 2 : 20000;
	}
	return r;
}

int cmd_send(int argc, char **argv)
{
	static const struct option o[] = { { "count", 1, 0, 'c' }, { "nonblock", 0, 0, 'n' },
					   { "timeout", 1, 0, 't' }, { 0, 0, 0, 0 } };
	uint64_t count = 1;
	struct send_mode sm = { 0 };
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", o, NULL)) != -1) {
		if (ch == 'c') {
			if (!arg_u64("--count", optarg, 1, UINT64_MAX, &count))
				return EX_USAGE;
		} else if (ch == 'n') {
			sm.nonblock = true;
		} else if (ch == 't') {
			if (!arg_u64("--timeout", optarg, 1, UINT64_MAX / 1000000ull, &sm.timeout_ms))
				return EX_USAGE;
		} else {
			return usage_err("send: unknown option (a message starting with '-' goes after --)");
		}
	}
	if (optind >= argc)
		return usage_err("send needs a queue name (then messages, or lines on stdin)");
	const char *name = argv[optind++];
	int first_msg = optind; /* getopt moved the options (anywhere before a "--") ahead */
	if (sm.nonblock && sm.timeout_ms)
		return usage_err("send: --nonblock and --timeout exclude each other");
	pmq_t *q;
	int r = open_queue(name, PMQ_PRODUCER, &q);
	if (r < 0)
		return fail("send", name, r);
	uint64_t sent = 0;
	if (first_msg < argc) {
		for (uint64_t k = 0; k < count && r >= 0; k++)
			for (int i = first_msg; i < argc && r >= 0; i++) {
				r = send_one(q, name, &sm, argv[i], strlen(argv[i]));
				sent += r >= 0;
			}
	} else {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while (r >= 0 && (n = getline(&line, &cap, stdin)) > 0) {
			if (line[n - 1] == '\n')
				n--;
			r = send_one(q, name, &sm, line, (size_t)n);
			sent += r >= 0;
		}
		free(line);
	}
	pmq_close(q);
	if (r == -EAGAIN || r == -ETIMEDOUT) {
		fprintf(stderr, "pmqctl: send \"%s\": the queue is full%s; %" PRIu64 " message(s) sent before "
			"--> a consumer must take messages (pmqctl stat %s), or wait longer (--timeout MS)\n", name,
			r == -ETIMEDOUT ? " and stayed full for the --timeout" : " (--nonblock)", sent, name);
		return EX_FULL;
	}
	if (r < 0)
		return fail("send", name, r);
	if (opt_json) {
		char b[1024];
		struct jbuf j;
		jb_init(&j, b, sizeof(b));
		jb_raw(&j, "{\"queue\":");
		jb_str(&j, name);
		jb_printf(&j, ",\"sent\":%" PRIu64 "}", sent);
		return json_print(&j);
	}
	fprintf(stderr, "sent %" PRIu64 " message(s) to \"%s\"\n", sent, name);
	return EX_OK;
}

/* ---- recv ---------------------------------------------------------------------------- */

/* A consumer open was refused. The queue missing is said as for any command; a
 * queue with groups opened without --group is a usage error that says to name one;
 * a group the library refused (unknown, the queue has no groups) is said as a group
 * error. The library's detail is kept before the probe's open can replace it. */
static int recv_open_failed(const char *verb, const char *name, const char *group, int err)
{
	char detail[512], base[PMQ_NAME_MAX + 8];
	snprintf(detail, sizeof(detail), "%s", pmq_errmsg());
	/* dlq recv opens QUEUE.dlq, which only a consumer may open: probe QUEUE itself */
	size_t len = strlen(name);
	snprintf(base, sizeof(base), "%.*s", (int)(len > 4 && !strcmp(name + len - 4, ".dlq") ? len - 4 : len), name);
	pmq_t *o;
	int r = err == -EACCES || err == -EPERM ? err : open_queue(base, 0, &o);
	if (r == 0) {
		struct pmq_config c;
		pmq_config_init(&c);
		r = pmq_get_config(o, &c);
		pmq_close(o);
		if (r == 0 && !group && c.max_groups > 0)
			return usage_err("%s \"%s\": the queue has consumer groups, so a consumer must join one: "
					 "--group NAME (pmqctl group list %s shows them)", verb, name, base);
		if (group)
			return group_fail_detail(verb, name, group, err, detail);
	}
	return fail_detail(verb, name, err, detail);
}

/* One receive: lossy groups through pmq_recv_lossy (the count of messages skipped
 * before this one in *lost); their timed wait is a bounded poll with back-off, as
 * send's (this is the CLI, not the data path; the library has no timed lossy call). */
static int recv_one(pmq_t *q, bool lossy, bool follow, uint64_t timeout_ms, struct pmq_msg *m, uint64_t *lost)
{
	*lost = 0;
	if (!lossy) {
		if (follow)
			return pmq_recv(q, m, 0);
		if (timeout_ms > 0)
			return pmq_recv_timeout(q, m, timeout_ms * 1000000ull);
		return pmq_recv(q, m, PMQ_NONBLOCK);
	}
	if (follow)
		return pmq_recv_lossy(q, m, 0, lost);
	uint64_t deadline = mono_ns() + timeout_ms * 1000000ull, nap_us = 100;
	int r;
	while ((r = pmq_recv_lossy(q, m, PMQ_NONBLOCK, lost)) == -EAGAIN && timeout_ms > 0) {
		if (mono_ns() >= deadline)
			return -ETIMEDOUT;
		usleep((useconds_t)nap_us);
		nap_us = nap_us < 20000 ? nap_us * 2 : 20000;
	}
	return r;
}

int recv_loop(const char *verb, const char *name, unsigned flags, int argc, char **argv)
{
	static const struct option o[] = { { "count", 1, 0, 'n' }, { "timeout", 1, 0, 't' }, { "nack", 0, 0, 'N' },
					   { "deadletter", 0, 0, 'D' }, { "follow", 0, 0, 'f' }, { "group", 1, 0, 'g' },
					   { 0, 0, 0, 0 } };
	uint64_t count = 1, timeout_ms = 0;
	int settle = 0; /* 0 ack, 1 nack, 2 dead-letter */
	bool follow = false;
	const char *group = NULL;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "n:t:f", o, NULL)) != -1) {
		switch (ch) {
		case 'n':
			if (!arg_u64("--count", optarg, 1, UINT64_MAX, &count))
				return EX_USAGE;
			break;
		case 't':
			if (!arg_u64("--timeout", optarg, 0, UINT64_MAX / 1000000ull, &timeout_ms))
				return EX_USAGE;
			break;
		case 'N': settle = 1; break;
		case 'D': settle = 2; break;
		case 'f': follow = true; break;
		case 'g': {
			char why[256];
			if (!group_name_ok(optarg, why, sizeof(why)))
				return usage_err("%s --group: %s (names are 1 to %d of A-Z a-z 0-9 _ . - and do not start "
						 "with '.')", verb, why, PMQ_GROUP_NAME_MAX);
			group = optarg;
			break;
		}
		default: return usage_err("%s: unknown option", verb);
		}
	}
	if (optind != argc)
		return usage_err("%s: unexpected argument \"%s\"", verb, argv[optind]);
	if (follow && opt_json)
		return usage_err("%s --follow never ends, so it cannot be one JSON document: use --jsonl", verb);
	pmq_t *q;
	int r = open_queue_ex(name, flags, group, false, &q);
	if (r < 0)
		return recv_open_failed(verb, name, group, r);
	bool lossy = false;
	if (group) {
		struct pmq_group_info gi;
		r = pmq_group_stats(q, group, &gi);
		if (r < 0) {
			int ex = group_fail(verb, name, group, r);
			pmq_close(q);
			return ex;
		}
		lossy = (gi.flags & PMQ_GROUP_LOSSY) != 0;
		if (lossy && settle) {
			pmq_close(q);
			return usage_err("%s: group \"%s\" of \"%s\" is lossy (at most once): its messages cannot be %s; "
					 "receive without --nack/--deadletter", verb, group, name,
					 settle == 1 ? "nacked" : "dead-lettered");
		}
	}
	if (opt_json) {
		printf("{\"queue\":");
		struct jbuf j;
		char b[PMQ_NAME_MAX * 6 + 16];
		jb_init(&j, b, sizeof(b));
		jb_str(&j, name);
		printf("%s", b);
		if (group) {
			jb_init(&j, b, sizeof(b));
			jb_str(&j, group);
			printf(",\"group\":%s", b);
		}
		printf(",\"messages\":[");
	}
	uint64_t got = 0, lost_total = 0;
	int ex = EX_OK;
	while (follow || got < count) {
		struct pmq_msg m;
		uint64_t lost;
		r = recv_one(q, lossy, follow, timeout_ms, &m, &lost);
		if (r < 0)
			break;
		lost_total += lost;
		if (lost && !opt_json && !opt_jsonl)
			fprintf(stderr, "pmqctl: %s \"%s\" group \"%s\": %" PRIu64 " message(s) lost before ticket %" PRIu64
				" (the lossy group fell a lap behind)\n", verb, name, group, lost, m.ticket);
		if (opt_json || opt_jsonl) {
			msg_json_print(name, NULL, &m, m.data, m.len, m.len, opt_jsonl || got == 0);
			if (opt_jsonl)
				putchar('\n');
		} else {
			msg_print_text(NULL, &m, m.data, m.len, m.len);
		}
		fflush(stdout);
		if (lossy) { /* at most once: nothing to settle (the library's ack is a no-op) */
			got++;
			continue;
		}
		r = settle == 0 ? pmq_ack(q, &m) : pmq_nack(q, &m, settle == 2 ? PMQ_NACK_DEADLETTER : PMQ_NACK_REQUEUE);
		if (r < 0) {
			ex = fail(settle ? "nack" : "ack", name, r);
			break;
		}
		got++;
	}
	pmq_close(q);
	if (opt_json) {
		if (lossy)
			printf("],\"lost\":%" PRIu64 "}\n", lost_total);
		else
			printf("]}\n");
	}
	if (ex != EX_OK)
		return ex;
	if (r == -EIDRM)
		return group_fail(verb, name, group, r);
	if (got == 0 && (r == -EAGAIN || r == -ETIMEDOUT)) {
		fprintf(stderr, "pmqctl: %s \"%s\"%s%s%s: nothing to receive%s\n", verb, name, group ? " group \"" : "",
			group ? group : "", group ? "\"" : "", timeout_ms > 0 ? " before the timeout" : " (use --timeout MS to wait)");
		return EX_EMPTY;
	}
	if (r < 0 && r != -EAGAIN && r != -ETIMEDOUT && got < count)
		return fail(verb, name, r);
	return EX_OK;
}

int cmd_recv(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-')
		return usage_err("recv needs a queue name first");
	return recv_loop("recv", argv[1], PMQ_CONSUMER, argc - 1, argv + 1);
}
