/*
 * groups.c - pmqctl's consumer-group commands (docs/groups.md): group create,
 * delete, list and stat; the group-name check that `create --group` shares;
 * the group table that `stat QUEUE` prints; the words for a group error.
 *
 * Everything here goes through libpmq's pmq_group_* calls on an observer
 * handle (no group is joined, nothing is delivered). A group's name is checked
 * here before the library sees it, so a bad name is a usage error (exit 2)
 * that says which character is wrong, not an EINVAL from the file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "parse_num.h"
#include "pmq_admin.h"
#include "pmqctl.h"

/* ---- names and errors ------------------------------------------------------------- */

bool group_name_ok(const char *g, char *why, size_t cap)
{
	size_t n = strlen(g);
	if (n == 0) {
		snprintf(why, cap, "a group name may not be empty");
		return false;
	}
	if (n > PMQ_GROUP_NAME_MAX) {
		snprintf(why, cap, "group name \"%.40s%s\" is %zu characters long; at most %d", g, n > 40 ? "..." : "", n,
			 PMQ_GROUP_NAME_MAX);
		return false;
	}
	if (g[0] == '.') {
		snprintf(why, cap, "group name \"%s\" starts with '.'", g);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)g[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
			  c == '.' || c == '-';
		if (!ok) {
			if (c >= 0x20 && c < 0x7f)
				snprintf(why, cap, "group name \"%s\" has '%c' at position %zu", g, c, i + 1);
			else
				snprintf(why, cap, "group name has byte 0x%02x at position %zu", c, i + 1);
			return false;
		}
	}
	return true;
}

/* the allowed spelling, for every bad-name message */
#define GROUP_NAME_RULE "names are 1 to 31 of A-Z a-z 0-9 _ . - and do not start with '.'"

static const char *group_cause(int err)
{
	switch (-err) {
	case ENOENT: return "no such group";
	case EEXIST: return "the group already exists";
	case ENOSPC: return "the queue's group table is full";
	case EOPNOTSUPP: return "the queue was made without consumer groups";
	case EIDRM: return "the group was deleted";
	case EINVAL: return "invalid group name or flags";
	case ENOSYS: return "this libpmq has no consumer groups";
	default: return pmq_strerror(err);
	}
}

static const char *group_hint(int err, const char *queue)
{
	static char h[512];
	switch (-err) {
	case ENOENT: snprintf(h, sizeof(h), "pmqctl group list %s shows its groups", queue); break;
	case EEXIST:
		snprintf(h, sizeof(h), "pick another name, or pmqctl group delete %s GROUP first", queue);
		break;
	case ENOSPC:
		snprintf(h, sizeof(h), "the group limit is fixed at create (--max-groups): pmqctl group delete %s GROUP "
			 "to make room, or create a new queue with a larger --max-groups", queue);
		break;
	case EOPNOTSUPP:
		snprintf(h, sizeof(h), "groups need room made at create: pmqctl create NEWQUEUE --max-groups N "
			 "[--group NAME[:lossy]...]");
		break;
	case EIDRM: snprintf(h, sizeof(h), "pmqctl group list %s shows the groups that exist", queue); break;
	case EINVAL: snprintf(h, sizeof(h), "group " GROUP_NAME_RULE); break;
	case ENOSYS: snprintf(h, sizeof(h), "install libpmq 1.1 or later (pmqctl --version shows the one in use)"); break;
	case EACCES:
	case EPERM: snprintf(h, sizeof(h), "run as the queue's owner or root"); break;
	default: snprintf(h, sizeof(h), "see docs/groups.md");
	}
	return h;
}

/* "pmqctl: <verb> "<queue>" group "<group>": <cause> (<detail>) --> <hint>"; the exit code */
int group_fail(const char *verb, const char *queue, const char *group, int err)
{
	return group_fail_detail(verb, queue, group, err, pmq_errmsg());
}

int group_fail_detail(const char *verb, const char *queue, const char *group, int err, const char *d)
{
	bool det = d && *d;
	fprintf(stderr, "pmqctl: %s \"%s\"", verb, queue);
	if (group)
		fprintf(stderr, " group \"%s\"", group);
	fprintf(stderr, ": %s%s%s%s --> %s\n", group_cause(err), det ? " (" : "", det ? d : "", det ? ")" : "",
		group_hint(err, queue));
	return exit_for(err); /* ENOENT 3, EEXIST 7, EACCES 4, the rest 1 */
}

/* ---- reading and printing ------------------------------------------------------------- */

int groups_read(pmq_t *q, struct pmq_group_info out[PMQ_GROUPS_MAX])
{
	int n = pmq_group_list(q, out, PMQ_GROUPS_MAX);
	if (n < 0)
		return n;
	if (n > PMQ_GROUPS_MAX)
		n = PMQ_GROUPS_MAX; /* the table holds at most that many; never trust a count past the array */
	for (int i = 0; i < n; i++)
		out[i].name[PMQ_GROUP_NAME_MAX] = '\0';
	return n;
}

static const char *kind_of(const struct pmq_group_info *g)
{
	return g->flags & PMQ_GROUP_LOSSY ? "lossy" : "reliable";
}

void group_json(struct jbuf *j, const struct pmq_group_info *g)
{
	jb_raw(j, "{\"group\":");
	jb_str(j, g->name);
	jb_printf(j, ",\"kind\":\"%s\",\"index\":%u,\"head\":%" PRIu64 ",\"lag\":%" PRIu64 ",\"in_flight\":%" PRIu64
		  ",\"side_ready\":%" PRIu64 ",\"dead_letters\":%" PRIu64 ",\"redelivered\":%" PRIu64
		  ",\"dead_lettered\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"consumers\":%u,\"lease_ms\":%u}",
		  kind_of(g), g->index, g->head, g->lag, g->in_flight, g->side_ready, g->dead_letters, g->redelivered,
		  g->dead_lettered, g->lost, g->consumers, g->lease_ms);
}

void groups_json(struct jbuf *j, const struct pmq_group_info *g, int n)
{
	jb_raw(j, "[");
	for (int i = 0; i < n; i++) {
		if (i)
			jb_raw(j, ",");
		group_json(j, &g[i]);
	}
	jb_raw(j, "]");
}

/* a group's lease for people: its own in ms, or "queue" (the queue's applies) */
static const char *lease_text(const struct pmq_group_info *g, char *b, size_t cap)
{
	if (!g->lease_ms)
		return g->flags & PMQ_GROUP_LOSSY ? "-" : "queue";
	snprintf(b, cap, "%ums", g->lease_ms);
	return b;
}

void groups_print_table(const struct pmq_group_info *g, int n, const char *indent)
{
	/* 20 columns for the name: most are short; a longer one pushes its row, not the table */
	printf("%s%-20s %-8s %10s %9s %8s %8s %8s %10s %5s %11s\n", indent, "GROUP", "KIND", "LAG", "INFLIGHT",
	       "WAITING", "REDELIV", "DLQ", "LOST", "CONS", "LEASE");
	for (int i = 0; i < n; i++) {
		char lb[24];
		printf("%s%-20s %-8s %10" PRIu64 " %9" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %10" PRIu64
		       " %5u %11s\n",
		       indent, g[i].name, kind_of(&g[i]), g[i].lag, g[i].in_flight, g[i].side_ready, g[i].redelivered,
		       g[i].dead_letters, g[i].lost, g[i].consumers, lease_text(&g[i], lb, sizeof(lb)));
	}
}

/* ---- pmqctl group create|delete|list|stat ---------------------------------------------------- */

static int group_done(const char *queue, const char *group, const char *what)
{
	if (!opt_json) {
		printf("%s group \"%s\" of \"%s\"\n", what, group, queue);
		return EX_OK;
	}
	char b[1024];
	struct jbuf j;
	jb_init(&j, b, sizeof(b));
	jb_raw(&j, "{\"queue\":");
	jb_str(&j, queue);
	jb_raw(&j, ",\"group\":");
	jb_str(&j, group);
	jb_printf(&j, ",\"%s\":true}", what);
	return json_print(&j);
}

/* --lease-ms N of group create: 1 ms to 7 days (PMQ_GROUP_LEASE_MAX_NS), strictly parsed */
bool group_lease_arg(const char *what, const char *s, uint64_t *lease_ns)
{
	char why[256];
	uint64_t ms;
	if (parse_u64(s, 10, 1, PMQ_GROUP_LEASE_MAX_NS / 1000000ull, &ms, why, sizeof(why))) {
		usage_err("%s: %s (a group's lease in ms; leave it out for the queue's lease)", what, why);
		return false;
	}
	*lease_ns = ms * 1000000ull; /* bounded above: no overflow */
	return true;
}

static int group_create(pmq_t *q, const char *queue, int argc, char **argv)
{
	static const struct option o[] = { { "lossy", 0, 0, 'l' }, { "lease-ms", 1, 0, 'L' }, { 0, 0, 0, 0 } };
	struct pmq_group_opts go;
	pmq_group_opts_init(&go);
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", o, NULL)) != -1) {
		if (ch == 'l')
			go.flags |= PMQ_GROUP_LOSSY;
		else if (ch != 'L')
			return usage_err("group create: unknown option (the options are --lossy and --lease-ms N)");
		else if (!group_lease_arg("group create --lease-ms", optarg, &go.lease_ns))
			return EX_USAGE;
	}
	if (optind != argc - 1)
		return usage_err("group create needs QUEUE and one GROUP name");
	const char *group = argv[optind];
	if ((go.flags & PMQ_GROUP_LOSSY) && go.lease_ns)
		return usage_err("group create \"%s\" group \"%s\": --lossy and --lease-ms together: a lossy group "
				 "holds nothing, so it has no lease (drop one of them)", queue, group);
	int r = pmq_group_create_ex(q, group, &go);
	if (r < 0)
		return group_fail("group create", queue, group, r);
	return group_done(queue, group, "created");
}

static int group_show(pmq_t *q, const char *queue, const char *sub, int argc, char **argv)
{
	bool stat = !strcmp(sub, "stat");
	if (argc > (stat ? 2 : 1))
		return usage_err("group %s: unexpected argument \"%s\"", sub, argv[stat ? 2 : 1]);
	const char *only = stat && argc == 2 ? argv[1] : NULL;
	struct pmq_group_info g[PMQ_GROUPS_MAX];
	int n;
	if (only) {
		int r = pmq_group_stats(q, only, &g[0]);
		if (r < 0)
			return group_fail("group stat", queue, only, r);
		g[0].name[PMQ_GROUP_NAME_MAX] = '\0';
		n = 1;
	} else {
		n = groups_read(q, g);
		if (n < 0)
			return group_fail(stat ? "group stat" : "group list", queue, NULL, n);
	}
	struct pmq_config c;
	pmq_config_init(&c);
	int r = pmq_get_config(q, &c);
	if (r < 0)
		return fail(stat ? "group stat" : "group list", queue, r);
	if (opt_json) {
		static char b[PMQ_GROUPS_MAX * 1024 + 1024]; /* a group object is under 700 bytes */
		struct jbuf j;
		jb_init(&j, b, sizeof(b));
		jb_raw(&j, "{\"queue\":");
		jb_str(&j, queue);
		if (only) {
			jb_raw(&j, ",\"group\":");
			group_json(&j, &g[0]);
			jb_raw(&j, "}");
		} else {
			jb_printf(&j, ",\"max_groups\":%u,\"groups\":", c.max_groups);
			groups_json(&j, g, n);
			jb_raw(&j, "}");
		}
		return json_print(&j);
	}
	if (!stat) {
		printf("queue \"%s\": %d group(s) of at most %u\n", queue, n, c.max_groups);
		for (int i = 0; i < n; i++) {
			char lb[24];
			printf("  %-20s %-8s lag %" PRIu64 ", %u consumer(s), lease %s\n", g[i].name, kind_of(&g[i]),
			       g[i].lag, g[i].consumers, lease_text(&g[i], lb, sizeof(lb)));
		}
		return EX_OK;
	}
	if (only) {
		const struct pmq_group_info *x = &g[0];
		printf("group \"%s\" of \"%s\" (%s, entry %u)\n", x->name, queue, kind_of(x), x->index);
		printf("  lag %" PRIu64 "   head %" PRIu64 "   in flight %" PRIu64 "   redeliveries waiting %" PRIu64
		       "   dead letters %" PRIu64 "\n",
		       x->lag, x->head, x->in_flight, x->side_ready, x->dead_letters);
		printf("  redelivered %" PRIu64 "   dead-lettered %" PRIu64 "   lost %" PRIu64 "   consumers %u\n",
		       x->redelivered, x->dead_lettered, x->lost, x->consumers);
		char lb[24];
		if (x->lease_ms)
			printf("  lease %s (the group's own; lease action: the queue's)\n", lease_text(x, lb, sizeof(lb)));
		else if (!(x->flags & PMQ_GROUP_LOSSY))
			printf("  lease: the queue's (%.3f s)\n", (double)c.lease_ns / 1e9);
		return EX_OK;
	}
	printf("queue \"%s\": %d group(s) of at most %u\n", queue, n, c.max_groups);
	groups_print_table(g, n, "  ");
	return EX_OK;
}

int cmd_group(int argc, char **argv)
{
	if (argc < 2)
		return usage_err("group needs a sub-command: group create|delete|list|stat QUEUE ...");
	const char *sub = argv[1];
	bool create = !strcmp(sub, "create"), del = !strcmp(sub, "delete"), list = !strcmp(sub, "list"),
	     stat = !strcmp(sub, "stat");
	if (!create && !del && !list && !stat)
		return usage_err("unknown group command \"%s\" (create, delete, list, stat)", sub);
	if (argc < 3 || argv[2][0] == '-')
		return usage_err("group %s needs a queue name", sub);
	const char *queue = argv[2];
	/* the group names given are checked before the queue is opened: a bad name is the
	 * same usage error whatever the queue */
	for (int i = 3; i < argc; i++) {
		char why[256];
		if (argv[i][0] == '-' && (create && !strcmp(argv[i], "--lossy")))
			continue;
		if (create && !strncmp(argv[i], "--lease-ms", 10) && (argv[i][10] == '=' || argv[i][10] == '\0')) {
			i += argv[i][10] == '\0'; /* its value, checked by group_create */
			continue;
		}
		if (argv[i][0] == '-')
			return usage_err("group %s: unknown option \"%s\"", sub, argv[i]);
		if (!group_name_ok(argv[i], why, sizeof(why)))
			return usage_err("group %s \"%s\": %s (" GROUP_NAME_RULE ")", sub, queue, why);
	}
	if ((create || del) && argc < 4)
		return usage_err("group %s needs QUEUE and a GROUP name", sub);
	pmq_t *q;
	/* list and stat only read (any owner's queue, as stat); create and delete change
	 * the file: only the caller's or root's queue, as for a producer */
	int r = open_queue_ex(queue, 0, NULL, list || stat, &q);
	if (r < 0)
		return fail(create ? "group create" : del ? "group delete" : list ? "group list" : "group stat", queue, r);
	int ex;
	if (create) {
		ex = group_create(q, queue, argc - 2, argv + 2);
	} else if (del) {
		if (argc != 4)
			ex = usage_err("group delete needs QUEUE and one GROUP name");
		else if ((r = pmq_group_delete(q, argv[3])) < 0)
			ex = group_fail("group delete", queue, argv[3], r);
		else
			ex = group_done(queue, argv[3], "deleted");
	} else {
		ex = group_show(q, queue, sub, argc - 2, argv + 2);
	}
	pmq_close(q);
	return ex;
}
