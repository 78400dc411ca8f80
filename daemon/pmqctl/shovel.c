/*
 * shovel.c - pmqctl shovel [NAME]: the status of the pmq-shovel bridges whose
 * status files sit in the queue directory (DIR/.pmq-shovel.NAME.json, written
 * atomically by each shovel: docs/bridge.md). A status file is written by
 * another user's process: it is read through safe_file_read (regular file,
 * size-capped), and only the known fields are taken from it, each re-encoded,
 * so the output stays one valid document whatever the file holds.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "pmqctl.h"
#include "safe_file.h"

#define STATUS_PREFIX ".pmq-shovel."
#define STATUS_SUFFIX ".json"
#define STATUS_MAX 8192

/* The value of "key" in a flat JSON object: a string (unescaped into out) or a
 * bare token (number, true, false). Bounded by len; false when absent or malformed. */
static bool json_field(const char *doc, size_t len, const char *key, char *out, size_t cap, bool *is_str)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = memmem(doc, len, pat, strlen(pat));
	if (!p || cap == 0)
		return false;
	const char *end = doc + len;
	p += strlen(pat);
	size_t n = 0;
	char *const dst = out;
	out[0] = 0; /* a malformed value leaves "" behind, never a partial copy */
	char tmp[1024];
	out = tmp;
	cap = cap < sizeof(tmp) ? cap : sizeof(tmp);
	if (p < end && *p == '"') {
		*is_str = true;
		for (p++; p < end && *p != '"'; p++) {
			char c = *p;
			if (c == '\\') {
				if (++p >= end)
					return false;
				c = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p == 'u' ? '?' : *p;
				if (*p == 'u')
					p += (end - p > 4) ? 4 : end - p - 1; /* \uXXXX shown as '?' */
			}
			if (n + 1 < cap)
				out[n++] = c;
		}
		if (p >= end)
			return false;
	} else {
		*is_str = false;
		while (p < end && (*p == '-' || *p == '.' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')) &&
		       n + 1 < cap)
			out[n++] = *p++;
		if (n == 0)
			return false;
	}
	out[n] = 0;
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?'; /* no control characters: another user's file, shown on a terminal */
	memcpy(dst, out, n + 1);
	return true;
}

static const char *const text_fields[] = { "name", "direction", "state", "pmq_queue", "amqp_queue", "broker",
					   "vhost", "last_error" };
static const char *const token_fields[] = { "pid", "connected", "in_flight", "received", "published",
					    "confirmed", "broker_nacked", "pmq_requeued", "sent_to_pmq",
					    "acked_to_broker", "redelivered", "rejected_oversize", "connects",
					    "disconnects", "updated_ns", "last_error_ns" };

static bool token_ok(const char *v)
{
	if (!strcmp(v, "true") || !strcmp(v, "false"))
		return true;
	for (const char *c = v; *c; c++)
		if (*c < '0' || *c > '9')
			return false;
	return *v != 0;
}

/* One shovel's object, re-encoded from the fields found. */
static void shovel_json(struct jbuf *j, const char *file, const char *doc, size_t len)
{
	char v[1024];
	bool is_str;
	jb_raw(j, "{\"status_file\":");
	jb_str(j, file);
	for (size_t i = 0; i < sizeof(text_fields) / sizeof(text_fields[0]); i++)
		if (json_field(doc, len, text_fields[i], v, sizeof(v), &is_str) && is_str) {
			jb_printf(j, ",\"%s\":", text_fields[i]);
			jb_str(j, v);
		}
	for (size_t i = 0; i < sizeof(token_fields) / sizeof(token_fields[0]); i++)
		if (json_field(doc, len, token_fields[i], v, sizeof(v), &is_str) && !is_str && token_ok(v))
			jb_printf(j, ",\"%s\":%s", token_fields[i], v);
	jb_raw(j, "}");
}

static void shovel_text(const char *file, const char *doc, size_t len)
{
	char name[256] = "?", dir[32] = "?", state[32] = "?", inf[32] = "0", conf[32] = "0", sent[32] = "0",
	     err[512] = "";
	bool s;
	json_field(doc, len, "name", name, sizeof(name), &s);
	json_field(doc, len, "direction", dir, sizeof(dir), &s);
	json_field(doc, len, "state", state, sizeof(state), &s);
	json_field(doc, len, "in_flight", inf, sizeof(inf), &s);
	json_field(doc, len, "confirmed", conf, sizeof(conf), &s);
	json_field(doc, len, "sent_to_pmq", sent, sizeof(sent), &s);
	json_field(doc, len, "last_error", err, sizeof(err), &s);
	printf("%-16s %-12s %-10s in flight %-6s confirmed %-10s sent to pmq %-10s%s%s\n", name, dir, state, inf,
	       conf, sent, err[0] ? "  last error: " : "", err);
	(void)file;
}

static bool is_status_name(const char *n, const char *only)
{
	size_t l = strlen(n), pl = strlen(STATUS_PREFIX), sl = strlen(STATUS_SUFFIX);
	if (l <= pl + sl || strncmp(n, STATUS_PREFIX, pl) || strcmp(n + l - sl, STATUS_SUFFIX))
		return false;
	if (strstr(n + pl, ".tmp."))
		return false; /* a shovel's temporary, about to be renamed */
	return !only || (l - pl - sl == strlen(only) && !strncmp(n + pl, only, l - pl - sl));
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int cmd_shovel(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : NULL;
	if (argc > 2)
		return usage_err("shovel takes at most one NAME (pmqctl shovel --help)");
	const char *dir = pmqctl_qdir();
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "pmqctl: shovel: cannot read %s: %s --> check --dir or $PMQ_DIR\n", dir,
			strerror(errno));
		return errno == EACCES ? EX_PERM : EX_FAIL;
	}
	char *names[256];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < sizeof(names) / sizeof(names[0]))
		if (is_status_name(e->d_name, only))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_names);

	static char out[256 * 2048];
	struct jbuf j;
	jb_init(&j, out, sizeof(out));
	jb_raw(&j, "{\"dir\":");
	jb_str(&j, dir);
	jb_raw(&j, ",\"shovels\":[");
	size_t shown = 0;
	for (size_t i = 0; i < n; i++) {
		char path[4096], doc[STATUS_MAX], why[256];
		size_t len = 0;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (names[i] && safe_file_read(path, 0, doc, sizeof(doc), &len, why, sizeof(why)) == 0) {
			if (opt_json) {
				if (shown)
					jb_raw(&j, ",");
				shovel_json(&j, path, doc, len);
			} else {
				shovel_text(path, doc, len);
			}
			shown++;
		} else if (names[i]) {
			fprintf(stderr, "pmqctl: shovel: %s: %s (skipped)\n", path, why);
		}
		free(names[i]);
	}
	jb_raw(&j, "]}");
	if (opt_json)
		printf("%s\n", out);
	if (!shown) {
		if (only)
			fprintf(stderr, "pmqctl: shovel: no status file %s/" STATUS_PREFIX "%s" STATUS_SUFFIX
					" --> is pmq-shovel --name %s running with this queue directory?\n",
				dir, only, only);
		else if (!opt_json)
			printf("no pmq-shovel status files in %s (docs/bridge.md)\n", dir);
		return only ? EX_FAIL : EX_OK;
	}
	return EX_OK;
}
