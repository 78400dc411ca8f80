/*
 * queue_admin.c - pmqctl's queue administration: create (every pmq_config
 * field as a flag), delete, and recover (through pmqd when it runs, else here
 * with the same library code).
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

/* ---- create / delete ------------------------------------------------------------- */

int cmd_create(int argc, char **argv)
{
	static const struct option o[] = {
		{ "slots", 1, 0, 's' },  { "payload", 1, 0, 'p' },       { "max-attach", 1, 0, 'a' },
		{ "quota", 1, 0, 'q' },  { "max-deliveries", 1, 0, 'm' }, { "dlq", 1, 0, 'd' },
		{ "lease-ms", 1, 0, 'l' }, { "lease-action", 1, 0, 'A' }, { "mode", 1, 0, 'M' },
		{ "sp", 0, 0, 'P' },     { "sc", 0, 0, 'C' },             { "durability", 1, 0, 'D' },
		{ "side-slots", 1, 0, 'S' }, { "crash-not-delivery", 0, 0, 'N' }, { 0, 0, 0, 0 },
	};
	struct pmq_config c;
	pmq_config_init(&c);
	c.dir = opt_dir;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", o, NULL)) != -1) {
		unsigned long v = optarg ? strtoul(optarg, NULL, 0) : 0;
		switch (ch) {
		case 's': c.slot_count = (uint32_t)v; break;
		case 'p': c.max_payload = (uint32_t)v; break;
		case 'a': c.max_attach = (uint32_t)v; break;
		case 'q': c.consumer_quota = (uint32_t)v; break;
		case 'm': c.max_deliveries = (uint32_t)v; break;
		case 'd': c.dlq_capacity = (uint32_t)v; break;
		case 'S': c.side_slots = (uint32_t)v; break;
		case 'l': c.lease_ns = (uint64_t)v * 1000000ull; break;
		case 'M': c.mode = (uint32_t)strtoul(optarg, NULL, 8); break;
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
		default: return EX_USAGE;
		}
	}
	if (optind != argc - 1)
		return usage_err("create needs exactly one queue name");
	pmq_t *q;
	int r = pmq_create(argv[optind], &c, &q);
	if (r < 0)
		return fail("create", argv[optind], r);
	pmq_close(q);
	if (!opt_json)
		printf("created \"%s\" in %s\n", argv[optind], qdir());
	return EX_OK;
}

int cmd_delete(int argc, char **argv)
{
	if (argc != 2)
		return usage_err("delete needs exactly one queue name");
	int r = pmq_unlink(argv[1], opt_dir);
	if (r < 0)
		return fail("delete", argv[1], r);
	return EX_OK;
}


/* ---- recovery and the daemon ------------------------------------------------------------- */

int cmd_recover(int argc, char **argv)
{
	if (argc != 2)
		return usage_err("recover needs exactly one queue name");
	const char *name = argv[1];
	char req[300], reply[4096];
	snprintf(req, sizeof(req), "recover %s", name);
	int r = pmqd_request(req, reply, sizeof(reply));
	if (r == 0) { /* pmqd did it (and logged it) */
		if (opt_json)
			printf("%s\n", reply);
		else
			printf("recovery of \"%s\" by pmqd: %s\n", name, reply);
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
		printf("{\"queue\":\"%s\",\"recovered\":%d,\"by\":\"pmqctl\"}\n", name, r);
	else
		printf("recovered %d dead attachment(s) of \"%s\"\n", r, name);
	return EX_OK;
}
