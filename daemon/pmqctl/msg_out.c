/*
 * msg_out.c - one message on stdout, for recv, peek, tail and dlq list.
 *
 * Text: printable bytes as they are, others as \xNN. JSON (the message object
 * of docs/pmqd.md): the bytes shown are always in "data_b64" (standard base64),
 * and also in "text" when they are valid UTF-8, so a binary payload is never
 * written into a JSON string and a text payload stays readable.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "pmqctl.h"

void msg_print_text(const char *state, const struct pmq_msg *m, const uint8_t *buf, size_t shown, size_t full)
{
	if (state)
		printf("%s ticket %" PRIu64 " epoch %" PRIu64 " deliveries %u: ", state, m->ticket, m->epoch,
		       m->delivery_count);
	for (size_t i = 0; i < shown; i++) {
		if (isprint(buf[i]) || buf[i] == '\t')
			putchar(buf[i]);
		else
			printf("\\x%02x", buf[i]);
	}
	if (shown < full)
		printf("... (%zu bytes)", full);
	putchar('\n');
}

void msg_json(struct jbuf *j, const char *queue, const char *state, const struct pmq_msg *m, const uint8_t *buf,
	      size_t shown, size_t full)
{
	jb_raw(j, "{\"queue\":");
	jb_str(j, queue);
	if (state) {
		jb_raw(j, ",\"state\":");
		jb_str(j, state);
	}
	jb_printf(j, ",\"ticket\":%" PRIu64 ",\"epoch\":%" PRIu64 ",\"delivery_count\":%u,\"timestamp_ns\":%" PRIu64
		  ",\"len\":%zu,\"data_b64\":",
		  m->ticket, m->epoch, m->delivery_count, m->timestamp_ns, full);
	jb_b64(j, buf, shown);
	if (utf8_valid(buf, shown)) {
		jb_raw(j, ",\"text\":");
		jb_strn(j, (const char *)buf, shown);
	}
	jb_printf(j, ",\"truncated\":%s}", shown < full ? "true" : "false");
}

void msg_json_print(const char *queue, const char *state, const struct pmq_msg *m, const uint8_t *buf, size_t shown,
		    size_t full, bool first)
{
	struct jbuf j;
	size_t cap = shown * 8 + 1024; /* base64 4/3 plus escaped text 6x, and the fields */
	char *b = malloc(cap);
	if (!b) {
		fprintf(stderr, "pmqctl: out of memory for a %zu-byte message\n", shown);
		exit(EX_FAIL);
	}
	jb_init(&j, b, cap);
	if (!first)
		jb_raw(&j, ",");
	msg_json(&j, queue, state, m, buf, shown, full);
	fputs(b, stdout);
	free(b);
}
