/*
 * transport_pmq.c - pmq as a subject: one queue per channel, in a private
 * directory under /dev/shm, created by the parent and unlinked at the end.
 *   pmq       the queue a user gets: pmq_config_init(), no flags (MPMC).
 *   pmq-spsc  the same with PMQ_F_SP | PMQ_F_SC (1 x 1 only).
 *   pmq-group1 the default queue made with max_groups = 1 and one reliable
 *             group "g0" that every consumer joins (issue 11: a queue with
 *             one group must not be slower than the default queue).
 *   pmq-group2, pmq-group4  2 or 4 reliable groups; the receiving process is
 *             a member of every group (one handle each) and takes each
 *             message from every group before it answers: the difference to
 *             pmq-group1 on the same pinned pair is what each further group
 *             costs a message (issue 11: at most one line transfer a group).
 *             No batch calls (rt and oneway only).
 * recv is zero copy (a pointer into the slot) and release is pmq_ack.
 */
#define _GNU_SOURCE
#include "transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef BENCH_HAVE_PMQ
#include "pmq.h"

static char pmq_dir[64];   /* --queue-dir (at most 40 bytes) + the private part */
enum { PMQ_V_MPMC, PMQ_V_SPSC, PMQ_V_GROUP1, PMQ_V_GROUP2, PMQ_V_GROUP4, PMQ_VARIANTS };
#define PMQ_MAX_GROUPS_HERE 4
/* reliable groups of each variant's queue (0: made without groups) */
static const unsigned pmq_variant_groups[PMQ_VARIANTS] = { 0, 0, 1, 2, 4 };
static const char *const pmq_group_names = "g0,g1,g2,g3"; /* the first 3*G-1 bytes name G groups */
/* [variant][chan]; every variant may be set up at once */
static char pmq_names[PMQ_VARIANTS][TP_MAX_CHANS][64];
static const char *const pmq_variant_tag[PMQ_VARIANTS] = { "mpmc", "spsc", "group1", "group2", "group4" };

static int pmq_dir_in_use(void)
{
	for (int v = 0; v < PMQ_VARIANTS; v++)
		for (int c = 0; c < TP_MAX_CHANS; c++)
			if (pmq_names[v][c][0])
				return 1;
	return 0;
}

struct pmq_ep {
	pmq_t *q;
	pmq_t *more[PMQ_MAX_GROUPS_HERE - 1]; /* receiver of pmq-group2/4: groups g1.. */
	unsigned nmore;
	struct pmq_msg more_msgs[PMQ_MAX_GROUPS_HERE - 1];
	unsigned held;
	int ack_err;            /* first failed ack, reported by the next recv */
	struct pmq_msg msgs[];
};

static int pmq_probe(char *why, size_t n)
{
	(void)why;
	(void)n;
	return 0;
}

static int pmq_setup(int variant, int chan, const struct tp_params *p, char *why, size_t n)
{
	struct pmq_config cfg;
	pmq_t *q;
	int err;

	if (!pmq_dir[0]) {
		const char *base = p->queue_dir ? p->queue_dir : "/dev/shm";
		snprintf(pmq_dir, sizeof(pmq_dir), "%.40s/pmq-bench-q-XXXXXX", base);
		if (!mkdtemp(pmq_dir)) {
			err = -errno;
			pmq_dir[0] = '\0';
			return tp_why(why, n, err, "pmq: mkdtemp %.40s/pmq-bench-q-*: %s", base, strerror(-err));
		}
	}
	if (p->durability == PMQ_DURABLE_POWER && !getenv("PMEM_IS_PMEM_FORCE"))
		setenv("PMEM_IS_PMEM_FORCE", "1", 1);   /* tmpfs: exercise the flush path (README, durability) */
	char *name = pmq_names[variant][chan];
	snprintf(name, sizeof(pmq_names[variant][chan]), "bench-%u-%s-%d", p->run_id, pmq_variant_tag[variant], chan);
	pmq_config_init(&cfg);
	cfg.slot_count = p->slots;
	cfg.max_payload = p->size;
	cfg.durability = (uint32_t)p->durability;
	if (variant == PMQ_V_SPSC)
		cfg.flags |= PMQ_F_SP | PMQ_F_SC;
	char groups[16];
	unsigned ng = pmq_variant_groups[variant];
	if (ng) {
		snprintf(groups, sizeof(groups), "%.*s", (int)(3 * ng - 1), pmq_group_names);
		cfg.max_groups = ng;
		cfg.groups = groups;
	}
	if (cfg.consumer_quota < 2 * p->batch)
		cfg.consumer_quota = 2 * p->batch;
	cfg.dir = pmq_dir;
	err = pmq_create(name, &cfg, &q);
	if (err < 0) {
		tp_why(why, n, err, "pmq: create %s/%s (%u slots of %u B, %u groups): %s (%s)", pmq_dir, name,
		       p->slots, p->size, ng, pmq_strerror(err), pmq_errmsg());
		name[0] = '\0';
		return err;
	}
	pmq_close(q);   /* the children attach on their own; the file stays */
	return 0;
}

static void pmq_teardown(int variant, int chan)
{
	if (pmq_names[variant][chan][0])
		pmq_unlink(pmq_names[variant][chan], pmq_dir);
	pmq_names[variant][chan][0] = '\0';
	if (pmq_dir[0] && !pmq_dir_in_use()) {
		rmdir(pmq_dir);
		pmq_dir[0] = '\0';
	}
}

static int pmq_path(int variant, int chan, char *buf, size_t n)
{
	if (!pmq_names[variant][chan][0])
		return -ENOENT;
	snprintf(buf, n, "%s/%s.pmq", pmq_dir, pmq_names[variant][chan]);
	return 0;
}

static void pmq_tp_close_handles(struct pmq_ep *e)
{
	pmq_close(e->q);
	for (unsigned g = 0; g < e->nmore; g++)
		pmq_close(e->more[g]);
}

static int pmq_tp_open(int variant, int chan, int role, const struct tp_params *p, void **ep)
{
	struct pmq_open_opts o;
	unsigned nmsg = p->batch > 1 ? p->batch : 1;
	struct pmq_ep *e = calloc(1, sizeof(*e) + nmsg * sizeof(struct pmq_msg));
	if (!e)
		return -ENOMEM;
	pmq_open_opts_init(&o);
	o.wait = p->wait == WAIT_SPIN ? PMQ_WAIT_SPIN
		 : p->wait == WAIT_BLOCK ? PMQ_WAIT_FUTEX : PMQ_WAIT_SPIN_FUTEX;
	o.dir = pmq_dir;
	unsigned ng = role == TP_RX ? pmq_variant_groups[variant] : 0;
	for (unsigned g = 0; g < (ng ? ng : 1); g++) {
		char group[12];
		snprintf(group, sizeof(group), "g%u", g);
		o.group = ng ? group : NULL;
		pmq_t **q = g == 0 ? &e->q : &e->more[g - 1];
		int err = pmq_open_ex(pmq_names[variant][chan], role == TP_TX ? PMQ_PRODUCER : PMQ_CONSUMER, &o, q);
		if (err < 0) {
			fprintf(stderr, "pmq-bench: pmq_open %s%s%s: %s (%s)\n", pmq_names[variant][chan],
				ng ? " group " : "", ng ? group : "", pmq_strerror(err), pmq_errmsg());
			e->nmore = g ? g - 1 : 0;
			if (g)
				pmq_tp_close_handles(e);
			free(e);
			return err;
		}
	}
	e->nmore = ng > 1 ? ng - 1 : 0;
	*ep = e;
	return 0;
}

static void pmq_tp_close(void *ep)
{
	struct pmq_ep *e = ep;
	pmq_tp_close_handles(e);
	free(e);
}

static int pmq_tp_send(void *ep, const void *buf, size_t len)
{
	struct pmq_ep *e = ep;
	return pmq_send(e->q, buf, len, 0);
}

static int pmq_tp_send_batch(void *ep, const struct iovec *iov, unsigned n)
{
	struct pmq_ep *e = ep;
	return pmq_send_batch(e->q, iov, n, 0);
}

static int pmq_tp_recv(void *ep, struct tp_msg *m)
{
	struct pmq_ep *e = ep;
	if (e->ack_err)
		return e->ack_err;
	int err = pmq_recv(e->q, &e->msgs[0], 0);
	if (err < 0)
		return err;
	/* pmq-group2/4: the same message from every further group (the sender is
	 * the only producer, so each group's next message is this one) */
	for (unsigned g = 0; g < e->nmore; g++)
		if ((err = pmq_recv(e->more[g], &e->more_msgs[g], 0)) < 0) {
			for (unsigned k = 0; k < g; k++)
				pmq_ack(e->more[k], &e->more_msgs[k]);
			pmq_ack(e->q, &e->msgs[0]);
			return err;
		}
	e->held = 1;
	m->data = e->msgs[0].data;
	m->len = e->msgs[0].len;
	return 0;
}

static int pmq_tp_recv_batch(void *ep, struct tp_msg *m, unsigned n)
{
	struct pmq_ep *e = ep;
	if (e->ack_err)
		return e->ack_err;
	int k = pmq_recv_batch(e->q, e->msgs, n, 0);
	if (k < 0)
		return k;
	for (int i = 0; i < k; i++) {
		m[i].data = e->msgs[i].data;
		m[i].len = e->msgs[i].len;
	}
	e->held = (unsigned)k;
	return k;
}

static void pmq_tp_release(void *ep)
{
	struct pmq_ep *e = ep;
	/* one call for the batch: one space wake-up check instead of one per message */
	int err = e->held ? pmq_ack_batch(e->q, e->msgs, e->held) : 0;
	for (unsigned g = 0; g < e->nmore && e->held; g++) {
		int ge = pmq_ack(e->more[g], &e->more_msgs[g]);
		if (ge < 0 && err >= 0)
			err = ge;
	}
	if (err < 0 && !e->ack_err) {
		fprintf(stderr, "pmq-bench: pmq_ack_batch of %u messages: %s (%s)\n", e->held, pmq_strerror(err),
			pmq_errmsg());
		e->ack_err = err;
	}
	e->held = 0;
}

#define PMQ_VARIANT(v, suffix)                                                                  \
	static int pmq_setup_##suffix(int c, const struct tp_params *p, char *why, size_t n)    \
	{                                                                                       \
		return pmq_setup(v, c, p, why, n);                                              \
	}                                                                                       \
	static void pmq_teardown_##suffix(int c)                                                \
	{                                                                                       \
		pmq_teardown(v, c);                                                             \
	}                                                                                       \
	static int pmq_open_##suffix(int c, int role, const struct tp_params *p, void **ep)     \
	{                                                                                       \
		return pmq_tp_open(v, c, role, p, ep);                                          \
	}                                                                                       \
	static int pmq_path_##suffix(int c, char *buf, size_t n)                                \
	{                                                                                       \
		return pmq_path(v, c, buf, n);                                                  \
	}
PMQ_VARIANT(PMQ_V_MPMC, mpmc)
PMQ_VARIANT(PMQ_V_SPSC, spsc)
PMQ_VARIANT(PMQ_V_GROUP1, group1)
PMQ_VARIANT(PMQ_V_GROUP2, group2)
PMQ_VARIANT(PMQ_V_GROUP4, group4)

const struct transport tp_pmq = {
	.name = "pmq",
	.caps = TP_MPMC | TP_BATCH,
	.probe = pmq_probe,
	.setup = pmq_setup_mpmc,
	.teardown = pmq_teardown_mpmc,
	.open = pmq_open_mpmc,
	.file_path = pmq_path_mpmc,
	.close = pmq_tp_close,
	.send = pmq_tp_send,
	.send_batch = pmq_tp_send_batch,
	.recv = pmq_tp_recv,
	.recv_batch = pmq_tp_recv_batch,
	.release = pmq_tp_release,
};

const struct transport tp_pmq_spsc = {
	.name = "pmq-spsc",
	.caps = TP_BATCH,
	.probe = pmq_probe,
	.setup = pmq_setup_spsc,
	.teardown = pmq_teardown_spsc,
	.open = pmq_open_spsc,
	.file_path = pmq_path_spsc,
	.close = pmq_tp_close,
	.send = pmq_tp_send,
	.send_batch = pmq_tp_send_batch,
	.recv = pmq_tp_recv,
	.recv_batch = pmq_tp_recv_batch,
	.release = pmq_tp_release,
};

const struct transport tp_pmq_group1 = {
	.name = "pmq-group1",
	.caps = TP_MPMC | TP_BATCH,
	.probe = pmq_probe,
	.setup = pmq_setup_group1,
	.teardown = pmq_teardown_group1,
	.open = pmq_open_group1,
	.file_path = pmq_path_group1,
	.close = pmq_tp_close,
	.send = pmq_tp_send,
	.send_batch = pmq_tp_send_batch,
	.recv = pmq_tp_recv,
	.recv_batch = pmq_tp_recv_batch,
	.release = pmq_tp_release,
};

/* every further group's receiver takes one message from each group: no batch calls */
#define PMQ_GROUPS_TRANSPORT(suffix)                   \
	const struct transport tp_pmq_##suffix = {     \
		.name = "pmq-" #suffix,                \
		.probe = pmq_probe,                    \
		.setup = pmq_setup_##suffix,           \
		.teardown = pmq_teardown_##suffix,     \
		.open = pmq_open_##suffix,             \
		.file_path = pmq_path_##suffix,        \
		.close = pmq_tp_close,                 \
		.send = pmq_tp_send,                   \
		.recv = pmq_tp_recv,                   \
		.release = pmq_tp_release,             \
	}
PMQ_GROUPS_TRANSPORT(group2);
PMQ_GROUPS_TRANSPORT(group4);

#else /* !BENCH_HAVE_PMQ */

static int pmq_absent(char *why, size_t n)
{
	return tp_why(why, n, -ENOSYS, "pmq: libpmq was not built with this bench (no CMake target pmq)");
}

const struct transport tp_pmq = { .name = "pmq", .probe = pmq_absent };
const struct transport tp_pmq_spsc = { .name = "pmq-spsc", .probe = pmq_absent };
const struct transport tp_pmq_group1 = { .name = "pmq-group1", .probe = pmq_absent };
const struct transport tp_pmq_group2 = { .name = "pmq-group2", .probe = pmq_absent };
const struct transport tp_pmq_group4 = { .name = "pmq-group4", .probe = pmq_absent };

#endif
