/*
 * unit_queue.h - small helpers of the unit tests that look inside a queue:
 * a private directory on /dev/shm, a queue made to measure, handles by role,
 * counts of side-area states, and an attachment that looks like a process
 * that died (its entry ATTACHED, its token free).
 */
#ifndef PMQ_UNIT_QUEUE_H
#define PMQ_UNIT_QUEUE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpmem.h>

#include "internal.h"

static char uq_dir[64];

static inline void uq_dir_make(const char *tag)
{
	snprintf(uq_dir, sizeof(uq_dir), "/dev/shm/pmq-%s-%d", tag, (int)getpid());
	mkdir(uq_dir, 0700);
}

static inline void uq_dir_remove(void)
{
	pmq_unlink("t", uq_dir);
	rmdir(uq_dir);
}

struct uq_shape {
	uint32_t slots, side, dlq_cap, max_deliveries, quota;
	uint32_t durability, flags;
};

static inline struct pmq *uq_create(const struct uq_shape *sh)
{
	struct pmq_config c;
	pmq_config_init(&c);
	c.slot_count = sh->slots;
	c.max_payload = 64;
	c.max_attach = 8;
	c.max_deliveries = sh->max_deliveries ? sh->max_deliveries : 5;
	c.consumer_quota = sh->quota ? sh->quota : sh->slots;
	c.side_slots = sh->side;
	c.dlq_capacity = sh->dlq_cap;
	c.durability = sh->durability;
	c.flags = sh->flags;
	c.dir = uq_dir;
	pmq_unlink("t", uq_dir);
	pmq_t *q = NULL;
	int rc = pmq_create("t", &c, &q);
	if (rc) {
		fprintf(stderr, "create: %s\n", pmq_errmsg());
		abort();
	}
	return q;
}

static inline struct pmq *uq_open(const char *name, unsigned role)
{
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.dir = uq_dir;
	pmq_t *q = NULL;
	if (pmq_open_ex(name, role, &o, &q)) {
		fprintf(stderr, "open %s: %s\n", name, pmq_errmsg());
		abort();
	}
	return q;
}

static inline unsigned uq_side_count(struct pmq *q, unsigned state)
{
	unsigned n = 0;
	for (uint32_t e = 0; e < q->side_count; e++)
		n += ctl_state(atomic_load(&side_slot(q, e)->ctl)) == state;
	return n;
}

static inline uint64_t uq_dlq_count(struct pmq *q) { return atomic_load(&q->hdr->dlq_count); }

/* A handle whose process "died": its descriptor (token and presence locks) is
 * closed and its memory released; its entry and the words naming it stay as a SIGKILL
 * leaves them. */
static inline void uq_die(struct pmq *q)
{
	attach_unregister_handle(q);
	close(q->fd);
	if (q->probe_fd >= 0)
		close(q->probe_fd);
	if (q->token_fd >= 0)
		close(q->token_fd);
	pmem_unmap(q->hdr, q->map_len);
	free(q);
}

#endif /* PMQ_UNIT_QUEUE_H */
