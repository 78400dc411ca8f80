/*
 * peek.c - pmqctl's read-only views of messages: `peek` (what is waiting),
 * `tail` (follow new messages), and the listing half of `dlq list`. All go
 * through pmq_peek(), which copies without claiming: nothing is delivered,
 * no delivery count changes.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pmq.h"
#include "pmqctl.h"

static volatile sig_atomic_t stop_tail;
static void on_int(int sig) { (void)sig; stop_tail = 1; }

static const char *reason_text(uint32_t r) { return r ? "dead" : "ready"; }

/* text if printable, else hex; at most 64 bytes shown */
static void print_payload(const uint8_t *p, size_t len, size_t full)
{
	size_t show = len < 64 ? len : 64;
	bool text = true;
	for (size_t i = 0; i < show; i++)
		if (!isprint(p[i]) && p[i] != '\t')
			text = false;
	if (pmqctl_json()) {
		printf("\"%s\":\"", text ? "text" : "hex");
		for (size_t i = 0; i < show; i++) {
			if (text && (p[i] == '"' || p[i] == '\\'))
				printf("\\%c", p[i]);
			else if (text)
				putchar(p[i]);
			else
				printf("%02x", p[i]);
		}
		printf("\",\"len\":%zu", full);
		return;
	}
	if (text)
		printf("%.*s", (int)show, (const char *)p);
	else
		for (size_t i = 0; i < show; i++)
			printf("%02x", p[i]);
	if (show < full)
		printf("... (%zu bytes)", full);
}

static void print_one(const char *queue, const char *kind, const struct pmq_msg *m, const uint8_t *buf, int len)
{
	size_t copied = (size_t)len < 4096 ? (size_t)len : 4096;
	if (pmqctl_json()) {
		printf("{\"queue\":\"%s\",\"kind\":\"%s\",\"ticket\":%" PRIu64 ",\"epoch\":%" PRIu64
		       ",\"delivery_count\":%u,\"timestamp_ns\":%" PRIu64 ",",
		       queue, kind, m->ticket, m->epoch, m->delivery_count, m->timestamp_ns);
		print_payload(buf, copied, (size_t)len);
		printf("}\n");
	} else {
		printf("%s ticket %" PRIu64 " epoch %" PRIu64 " deliveries %u: ", kind, m->ticket, m->epoch,
		       m->delivery_count);
		print_payload(buf, copied, (size_t)len);
		printf("\n");
	}
}

static int open_observer(const char *verb, const char *name, pmq_t **q)
{
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.dir = pmqctl_qdir();
	o.owner_uid = PMQ_OWNER_ANY; /* an observer only reads */
	int r = pmq_open_ex(name, 0, &o, q);
	if (r < 0)
		fprintf(stderr, "pmqctl: %s \"%s\": %s (%s) --> pmqctl list shows the queues\n", verb, name,
			pmq_strerror(r), pmq_errmsg());
	return r;
}

/* pmqctl peek QUEUE [--count N]   /   pmqctl tail QUEUE [--count N] [--follow] */
int cmd_peek(int argc, char **argv)
{
	const char *verb = argv[0];
	bool tail = !strcmp(verb, "tail");
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "pmqctl: %s needs a queue name --> pmqctl help\n", verb);
		return EX_USAGE;
	}
	const char *name = argv[1];
	long count = tail ? 10 : 10;
	bool follow = false;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--follow") || !strcmp(argv[i], "-f"))
			follow = true;
		else if (!strcmp(argv[i], "--json"))
			; /* taken by the main option parser */
		else {
			fprintf(stderr, "pmqctl: %s: unknown option \"%s\" --> pmqctl help\n", verb, argv[i]);
			return EX_USAGE;
		}
	}
	if (count <= 0)
		count = 1;
	pmq_t *q;
	if (open_observer(verb, name, &q) < 0)
		return EX_FAIL;
	static uint8_t buf[4096];
	struct pmq_msg m;
	uint64_t pos = 0;
	if (tail) {
		/* start `count` tickets before the producers' end */
		struct pmq_stats st;
		pmq_stats(q, &st);
		pos = st.sent > (uint64_t)count ? st.sent - (uint64_t)count : 0;
	}
	long shown = 0;
	signal(SIGINT, on_int);
	for (;;) {
		int len = pmq_peek(q, &pos, buf, sizeof(buf), &m, 0);
		if (len >= 0) {
			print_one(name, "ready", &m, buf, len);
			fflush(stdout);
			if (!follow && ++shown >= count)
				break;
			continue;
		}
		if (len != -ENOENT) {
			fprintf(stderr, "pmqctl: %s \"%s\": %s (%s)\n", verb, name, pmq_strerror(len), pmq_errmsg());
			pmq_close(q);
			return EX_FAIL;
		}
		if (!follow || stop_tail)
			break;
		usleep(20000);
	}
	if (!shown && !follow && !pmqctl_json())
		fprintf(stderr, "pmqctl: %s \"%s\": no message waiting\n", verb, name);
	pmq_close(q);
	return EX_OK;
}

/* the dead letters themselves, for `dlq list` */
int pmqctl_dlq_print(pmq_t *q, const char *name, unsigned max)
{
	static uint8_t buf[4096];
	struct pmq_msg m;
	uint64_t pos = 0;
	unsigned n = 0;
	int len;
	while (n < max && (len = pmq_peek(q, &pos, buf, sizeof(buf), &m, PMQ_PEEK_DLQ)) >= 0) {
		print_one(name, reason_text(1), &m, buf, len);
		n++;
	}
	return (int)n;
}
