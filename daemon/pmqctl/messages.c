/*
 * messages.c - pmqctl's message commands that take part in the queue: send
 * (arguments or one message per stdin line) and recv (settling each by ack,
 * nack or dead-letter). The read-only views (peek, tail) are in peek.c.
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

/* ---- send / recv ------------------------------------------------------------------- */

int cmd_send(int argc, char **argv)
{
	static const struct option o[] = { { "count", 1, 0, 'c' }, { "nonblock", 0, 0, 'n' }, { 0, 0, 0, 0 } };
	unsigned long count = 1;
	unsigned flags = 0;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "c:n", o, NULL)) != -1) {
		if (ch == 'c') count = strtoul(optarg, NULL, 10);
		else if (ch == 'n') flags |= PMQ_NONBLOCK;
		else return EX_USAGE;
	}
	if (optind >= argc)
		return usage_err("send needs a queue name (then messages, or lines on stdin)");
	const char *name = argv[optind++];
	pmq_t *q;
	int r = open_queue(name, PMQ_PRODUCER, &q);
	if (r < 0)
		return fail("send", name, r);
	unsigned long sent = 0;
	if (optind < argc) {
		for (unsigned long k = 0; k < count && r >= 0; k++)
			for (int i = optind; i < argc && r >= 0; i++, sent++)
				r = pmq_send(q, argv[i], strlen(argv[i]), flags);
	} else {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while (r >= 0 && (n = getline(&line, &cap, stdin)) > 0) {
			if (line[n - 1] == '\n')
				n--;
			r = pmq_send(q, line, (size_t)n, flags);
			sent += r >= 0;
		}
		free(line);
	}
	if (r < 0) {
		int ex = fail("send", name, r);
		pmq_close(q);
		return ex;
	}
	pmq_close(q);
	if (!opt_json)
		fprintf(stderr, "sent %lu message(s) to \"%s\"\n", sent, name);
	return EX_OK;
}

static void print_msg(const struct pmq_msg *m, bool json)
{
	const unsigned char *p = m->data;
	if (json) {
		struct jbuf j;
		static char b[1 << 20];
		char *txt = strndup((const char *)p, m->len); /* NULs end the text; --json is for text payloads */
		jb_init(&j, b, sizeof(b));
		jb_str(&j, txt ? txt : "");
		free(txt);
		printf("{\"ticket\":%" PRIu64 ",\"epoch\":%" PRIu64 ",\"delivery_count\":%u,\"len\":%u,\"timestamp_ns\":%" PRIu64
		       ",\"data\":%s}\n",
		       m->ticket, m->epoch, m->delivery_count, m->len, m->timestamp_ns, b);
		return;
	}
	for (uint32_t i = 0; i < m->len; i++) {
		if (isprint(p[i]) || p[i] == '\t')
			putchar(p[i]);
		else
			printf("\\x%02x", p[i]);
	}
	putchar('\n');
}

int recv_loop(const char *verb, const char *name, unsigned flags, int argc, char **argv)
{
	static const struct option o[] = { { "count", 1, 0, 'n' }, { "timeout", 1, 0, 't' }, { "nack", 0, 0, 'N' },
					   { "deadletter", 0, 0, 'D' }, { "follow", 0, 0, 'f' }, { "json", 0, 0, 'j' },
					   { 0, 0, 0, 0 } };
	unsigned long count = 1;
	long timeout_ms = 0;
	int settle = 0; /* 0 ack, 1 nack, 2 dead-letter */
	bool follow = false;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "n:t:f", o, NULL)) != -1) {
		switch (ch) {
		case 'n': count = strtoul(optarg, NULL, 10); break;
		case 't': timeout_ms = strtol(optarg, NULL, 10); break;
		case 'N': settle = 1; break;
		case 'D': settle = 2; break;
		case 'f': follow = true; break;
		case 'j': opt_json = true; break;
		default: return EX_USAGE;
		}
	}
	pmq_t *q;
	int r = open_queue(name, flags, &q);
	if (r < 0)
		return fail(verb, name, r);
	unsigned long got = 0;
	while (follow || got < count) {
		struct pmq_msg m;
		if (follow)
			r = pmq_recv(q, &m, 0);
		else if (timeout_ms > 0)
			r = pmq_recv_timeout(q, &m, (uint64_t)timeout_ms * 1000000ull);
		else
			r = pmq_recv(q, &m, PMQ_NONBLOCK);
		if (r < 0)
			break;
		print_msg(&m, opt_json);
		fflush(stdout);
		r = settle == 0 ? pmq_ack(q, &m) : pmq_nack(q, &m, settle == 2 ? PMQ_NACK_DEADLETTER : PMQ_NACK_REQUEUE);
		if (r < 0) {
			fail(settle ? "nack" : "ack", name, r);
			break;
		}
		got++;
	}
	pmq_close(q);
	if (got == 0 && (r == -EAGAIN || r == -ETIMEDOUT)) {
		if (!opt_json)
			fprintf(stderr, "pmqctl: %s \"%s\": nothing to receive%s\n", verb, name,
				timeout_ms > 0 ? " before the timeout" : " (use --timeout MS to wait)");
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
