/*
 * queue_admin.c - pmqctl's queue administration: create (every pmq_config
 * field as a flag, consumer groups with --max-groups and --group), delete,
 * and recover (through pmqd when it runs, else here with the same library
 * code).
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
#include "parse_num.h"
#include "pmqctl.h"

/* ---- create / delete ------------------------------------------------------------- */

/* Creating or removing a file needs write access to the directory, not to the
 * queue: when that is what is missing, say so (and who owns it). */
static bool dir_closed(const char *verb, const char *name)
{
	const char *dir = qdir();
	if (access(dir, W_OK | X_OK) == 0)
		return false;
	struct stat st;
	if (stat(dir, &st) < 0)
		return false;
	fprintf(stderr,
		"pmqctl: %s \"%s\": permission denied: this user (uid %u) may not create or remove files in %s "
		"(owner uid %u, group %u, mode %04o) --> run as root or the directory's owner, or use a directory "
		"you can write (--dir DIR or $PMQ_DIR)\n",
		verb, name, (unsigned)geteuid(), dir, (unsigned)st.st_uid, (unsigned)st.st_gid,
		(unsigned)(st.st_mode & 07777));
	return true;
}

/* "created"/"deleted": a line of text, or {"queue","dir",WHAT:true} */
static int done_json(const char *name, const char *what)
{
	if (!opt_json) {
		if (!strcmp(what, "created"))
			printf("created \"%s\" in %s\n", name, qdir());
		return EX_OK;
	}
	char b[8400];
	struct jbuf j;
	jb_init(&j, b, sizeof(b));
	jb_raw(&j, "{\"queue\":");
	jb_str(&j, name);
	jb_raw(&j, ",\"dir\":");
	jb_str(&j, qdir());
	jb_printf(&j, ",\"%s\":true}", what);
	return json_print(&j);
}

/* create --group NAME[:lossy][:lease=MS], repeatable: collected into pmq_config.groups'
 * spelling "a,b:lossy,c:lease=200" after checking each one (name, options, no repeats). */
struct group_specs {
	char list[PMQ_GROUPS_MAX * (PMQ_GROUP_NAME_MAX + 24) + 1];
	char names[PMQ_GROUPS_MAX][PMQ_GROUP_NAME_MAX + 1];
	unsigned n;
};

/* The options after a group's name (":lossy", ":lease=MS", each once, not both). */
static bool group_spec_options(const char *spec, const char *opts, bool *lossy, uint64_t *lease_ns)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", opts);
	*lossy = false;
	*lease_ns = 0;
	bool lease_seen = false;
	for (char *o = buf, *next; o; o = next) {
		next = strchr(o, ':');
		if (next)
			*next++ = '\0';
		if (!strcmp(o, "lossy") && !*lossy) {
			*lossy = true;
		} else if (!strncmp(o, "lease=", 6) && !lease_seen) {
			lease_seen = true;
			if (!group_lease_arg("create --group", o + 6, lease_ns))
				return false;
		} else {
			usage_err("create --group \"%s\": \"%s\" is not an option or is given twice; after the name "
				  "come \":lossy\" and/or \":lease=MS\" (NAME, NAME:lossy, NAME:lease=200)", spec, o);
			return false;
		}
	}
	if (*lossy && *lease_ns) {
		usage_err("create --group \"%s\": a lossy group holds nothing, so it has no lease (drop :lossy or "
			  ":lease=)", spec);
		return false;
	}
	return true;
}

static bool group_spec_add(struct group_specs *gs, const char *spec)
{
	char name[PMQ_GROUP_NAME_MAX + 16], why[256];
	const char *colon = strchr(spec, ':');
	size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
	bool lossy = false;
	uint64_t lease_ns = 0;
	if (colon && !group_spec_options(spec, colon + 1, &lossy, &lease_ns))
		return false;
	if (len >= sizeof(name))
		len = sizeof(name) - 1; /* long enough for group_name_ok to say it is too long */
	memcpy(name, spec, len);
	name[len] = '\0';
	if (!group_name_ok(name, why, sizeof(why))) {
		usage_err("create --group: %s (names are 1 to %d of A-Z a-z 0-9 _ . - and do not start with '.')", why,
			  PMQ_GROUP_NAME_MAX);
		return false;
	}
	for (unsigned i = 0; i < gs->n; i++)
		if (!strcmp(gs->names[i], name)) {
			usage_err("create --group: group \"%s\" is named twice", name);
			return false;
		}
	if (gs->n == PMQ_GROUPS_MAX) {
		usage_err("create --group: more than %d groups (a queue has at most %d)", PMQ_GROUPS_MAX, PMQ_GROUPS_MAX);
		return false;
	}
	memcpy(gs->names[gs->n++], name, len + 1); /* len <= PMQ_GROUP_NAME_MAX: checked above */
	size_t at = strlen(gs->list);
	char lease[40] = "";
	if (lease_ns)
		snprintf(lease, sizeof(lease), ":lease=%llu", (unsigned long long)(lease_ns / 1000000ull));
	snprintf(gs->list + at, sizeof(gs->list) - at, "%s%s%s%s", at ? "," : "", name, lossy ? ":lossy" : "", lease);
	return true;
}

int cmd_create(int argc, char **argv)
{
	static const struct option o[] = {
		{ "slots", 1, 0, 's' },  { "payload", 1, 0, 'p' },       { "max-attach", 1, 0, 'a' },
		{ "quota", 1, 0, 'q' },  { "max-deliveries", 1, 0, 'm' }, { "dlq", 1, 0, 'd' },
		{ "lease-ms", 1, 0, 'l' }, { "lease-action", 1, 0, 'A' }, { "mode", 1, 0, 'M' },
		{ "sp", 0, 0, 'P' },     { "sc", 0, 0, 'C' },             { "durability", 1, 0, 'D' },
		{ "side-slots", 1, 0, 'S' }, { "crash-not-delivery", 0, 0, 'N' }, { "max-groups", 1, 0, 'g' },
		{ "group", 1, 0, 'G' },  { 0, 0, 0, 0 },
	};
	static struct group_specs gs;
	bool max_groups_set = false;
	struct pmq_config c;
	pmq_config_init(&c);
	c.dir = opt_dir;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", o, NULL)) != -1) {
		uint64_t ms;
		bool ok = true;
		switch (ch) {
		case 's': ok = arg_u32("--slots", optarg, 1, UINT32_MAX, &c.slot_count); break;
		case 'p': ok = arg_u32("--payload", optarg, 1, UINT32_MAX, &c.max_payload); break;
		case 'a': ok = arg_u32("--max-attach", optarg, 1, UINT32_MAX, &c.max_attach); break;
		case 'q': ok = arg_u32("--quota", optarg, 1, UINT32_MAX, &c.consumer_quota); break;
		case 'm': ok = arg_u32("--max-deliveries", optarg, 1, UINT32_MAX, &c.max_deliveries); break;
		case 'd': ok = arg_u32("--dlq", optarg, 0, UINT32_MAX, &c.dlq_capacity); break;
		case 'S': ok = arg_u32("--side-slots", optarg, 1, UINT32_MAX, &c.side_slots); break;
		case 'l':
			ok = arg_u64("--lease-ms", optarg, 0, UINT64_MAX / 1000000ull, &ms);
			c.lease_ns = ms * 1000000ull; /* bounded above, so no overflow */
			break;
		case 'M': {
			char why[256];
			if (parse_u32(optarg, 8, 0, 07777, &c.mode, why, sizeof(why)))
				return usage_err("create --mode: %s", why);
			break;
		}
		case 'g':
			ok = arg_u32("--max-groups", optarg, 0, PMQ_GROUPS_MAX, &c.max_groups);
			max_groups_set = true;
			break;
		case 'G': ok = group_spec_add(&gs, optarg); break;
		case 'P': c.flags |= PMQ_F_SP; break;
		case 'C': c.flags |= PMQ_F_SC; break;
		case 'N': c.flags |= PMQ_F_CRASH_NOT_DELIVERY; break;
		case 'A':
			if (!strcmp(optarg, "requeue")) c.lease_action = 0;
			else if (!strcmp(optarg, "kill")) c.lease_action = 1;
			else if (!strcmp(optarg, "alarm")) c.lease_action = 2;
			else return usage_err("--lease-action is requeue, kill or alarm, not \"%s\"", optarg);
			break;
		case 'D':
			if (!strcmp(optarg, "process")) c.durability = PMQ_DURABLE_PROCESS;
			else if (!strcmp(optarg, "power")) c.durability = PMQ_DURABLE_POWER;
			else return usage_err("--durability is process or power, not \"%s\"", optarg);
			break;
		default: return usage_err("create: unknown option");
		}
		if (!ok)
			return EX_USAGE;
	}
	if (optind != argc - 1)
		return usage_err("create needs exactly one queue name");
	if (gs.n && !max_groups_set)
		return usage_err("create --group needs --max-groups N: the most groups the queue will ever have (%u to "
				 "%d, fixed at create)", gs.n, PMQ_GROUPS_MAX);
	if (gs.n > c.max_groups)
		return usage_err("create: %u --group given but --max-groups is %u: raise --max-groups (at most %d) or "
				 "name fewer groups", gs.n, c.max_groups, PMQ_GROUPS_MAX);
	if (gs.n)
		c.groups = gs.list;
	pmq_t *q;
	int r = pmq_create(argv[optind], &c, &q);
	if (r < 0)
		return (r == -EACCES || r == -EPERM) && dir_closed("create", argv[optind]) ? EX_PERM
										      : fail("create", argv[optind], r);
	pmq_close(q);
	return done_json(argv[optind], "created");
}

int cmd_delete(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-')
		return usage_err("delete needs exactly one queue name");
	int r = pmq_unlink(argv[1], opt_dir);
	if (r < 0)
		return (r == -EACCES || r == -EPERM) && dir_closed("delete", argv[1]) ? EX_PERM : fail("delete", argv[1], r);
	return done_json(argv[1], "deleted");
}


/* ---- recovery and the daemon ------------------------------------------------------------- */

static int recovered_json(const char *name, int n, const char *by)
{
	char b[1024];
	struct jbuf j;
	jb_init(&j, b, sizeof(b));
	jb_raw(&j, "{\"queue\":");
	jb_str(&j, name);
	jb_printf(&j, ",\"recovered\":%d,\"by\":\"%s\"}", n, by);
	return json_print(&j);
}

int cmd_recover(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-')
		return usage_err("recover needs exactly one queue name");
	const char *name = argv[1];
	char req[300], reply[4096];
	snprintf(req, sizeof(req), "recover %s", name);
	int r = pmqd_request(req, reply, sizeof(reply));
	if (r == 0) { /* pmqd did it (and logged it) */
		int n = 0;
		const char *p = strstr(reply, "\"recovered\":");
		if (p)
			n = atoi(p + strlen("\"recovered\":"));
		if (opt_json)
			return recovered_json(name, n, "pmqd");
		printf("recovery of \"%s\" by pmqd: %d dead attachment(s)\n", name, n);
		return EX_OK;
	}
	if (r == 1 && strncmp(reply, "err ENOENT", 10)) {
		fprintf(stderr, "pmqctl: recover \"%s\": pmqd refused: %s\n", name, reply);
		return strstr(reply, "EPERM") ? EX_PERM : EX_FAIL;
	}
	pmq_t *q; /* pmqd is not running: recover here, with the same library code */
	r = open_queue(name, 0, &q);
	if (r < 0)
		return fail("recover", name, r);
	r = pmq_recover(q);
	pmq_close(q);
	if (r < 0)
		return fail("recover", name, r);
	if (opt_json)
		return recovered_json(name, r, "pmqctl");
	printf("recovered %d dead attachment(s) of \"%s\"\n", r, name);
	return EX_OK;
}
