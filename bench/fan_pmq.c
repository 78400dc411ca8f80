/*
 * fan_pmq.c - pmq in the fan-out comparison. The fan-out is one queue; the
 * return path is a second, default queue (MPMC, no groups) on which every
 * subscriber produces and the publisher consumes. Every handle waits on the
 * futex (PMQ_WAIT_FUTEX): the subscribers share a CPU (fanout.h).
 *   pmq         the default queue (no groups), 1 subscriber: today's queue
 *   pmq-group1  max_groups = 1 and one reliable group, 1 subscriber
 *   pmq-groups  max_groups = 4 and 4 reliable groups, one subscriber each
 * Messages are acked one at a time (pmq_ack), as they are read; with
 * --batch > 1 the throughput phase uses pmq_send_batch, pmq_recv_batch and
 * one pmq_ack_batch per batch instead.
 */
#define _GNU_SOURCE
#include "fanout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef BENCH_HAVE_PMQ
#include "pmq.h"

static char fp_dir[64];
static char fp_fan[64], fp_ret[64];

struct fp_ep {
	pmq_t *fan;             /* publisher: producer; subscriber: consumer (of its group) */
	pmq_t *ret;             /* publisher: consumer; subscriber: producer */
	pmq_t *in;              /* the handle take() reads */
	unsigned held;          /* messages in msgs[] to ack at release() */
	struct pmq_msg msgs[FAN_MAX_BATCH];
};

static int fp_probe(char *why, size_t n)
{
	(void)why;
	(void)n;
	return 0;
}

static int fp_create(const char *name, const struct fan_params *p, unsigned groups, char *why, size_t n)
{
	static const char *const names = "g0,g1,g2,g3";   /* FAN_MAX_SUBS of them */
	char list[16];
	struct pmq_config cfg;
	pmq_t *q;
	pmq_config_init(&cfg);
	cfg.slot_count = p->slots;
	cfg.max_payload = p->size;
	if (cfg.consumer_quota < 2 * p->batch)
		cfg.consumer_quota = 2 * p->batch;   /* a batch must fit what one consumer may hold */
	if (groups) {
		/* "g0" .. "g<groups-1>": each name is 2 characters and a comma */
		snprintf(list, sizeof(list), "%.*s", (int)(3 * groups - 1), names);
		cfg.max_groups = groups;
		cfg.groups = list;
	}
	cfg.dir = fp_dir;
	int err = pmq_create(name, &cfg, &q);
	if (err < 0)
		return tp_why(why, n, err, "pmq: create %s/%s (%u slots of %u B, %u groups): %s (%s)", fp_dir, name,
			      p->slots, p->size, groups, pmq_strerror(err), pmq_errmsg());
	pmq_close(q);   /* the children attach on their own; the file stays */
	return 0;
}

static int fp_setup(unsigned groups, const struct fan_params *p, char *why, size_t n)
{
	int err;
	if (!fp_dir[0]) {
		const char *base = p->queue_dir ? p->queue_dir : "/dev/shm";
		snprintf(fp_dir, sizeof(fp_dir), "%.40s/pmq-bench-fan-XXXXXX", base);
		if (!mkdtemp(fp_dir)) {
			err = -errno;
			fp_dir[0] = '\0';
			return tp_why(why, n, err, "pmq: mkdtemp %.40s/pmq-bench-fan-*: %s", base, strerror(-err));
		}
	}
	snprintf(fp_fan, sizeof(fp_fan), "fan-%u", p->run_id);
	snprintf(fp_ret, sizeof(fp_ret), "ret-%u", p->run_id);
	if ((err = fp_create(fp_fan, p, groups, why, n)) < 0)
		return err;
	if ((err = fp_create(fp_ret, p, 0, why, n)) < 0) {
		pmq_unlink(fp_fan, fp_dir);
		return err;
	}
	return 0;
}

static void fp_teardown(void)
{
	pmq_unlink(fp_fan, fp_dir);
	pmq_unlink(fp_ret, fp_dir);
	rmdir(fp_dir);
	fp_dir[0] = '\0';
}

static int fp_attach(const char *name, unsigned flags, const char *group, pmq_t **q)
{
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.wait = PMQ_WAIT_FUTEX;
	o.dir = fp_dir;
	o.group = group;
	int err = pmq_open_ex(name, flags, &o, q);
	if (err < 0)
		fprintf(stderr, "pmq-bench: fanout: pmq_open %s/%s%s%s: %s (%s)\n", fp_dir, name,
			group ? " group " : "", group ? group : "", pmq_strerror(err), pmq_errmsg());
	return err;
}

static int fp_open_pub(const struct fan_params *p, void **ep)
{
	struct fp_ep *e = calloc(1, sizeof(*e));
	int err;
	(void)p;
	if (!e)
		return -ENOMEM;
	if ((err = fp_attach(fp_fan, PMQ_PRODUCER, NULL, &e->fan)) < 0 ||
	    (err = fp_attach(fp_ret, PMQ_CONSUMER, NULL, &e->ret)) < 0) {
		if (e->fan)
			pmq_close(e->fan);
		free(e);
		return err;
	}
	e->in = e->ret;
	*ep = e;
	return 0;
}

static int fp_open_sub(int grouped, const struct fan_params *p, unsigned idx, void **ep)
{
	char group[8];
	struct fp_ep *e = calloc(1, sizeof(*e));
	int err;
	(void)p;
	if (!e)
		return -ENOMEM;
	snprintf(group, sizeof(group), "g%u", idx);
	if ((err = fp_attach(fp_fan, PMQ_CONSUMER, grouped ? group : NULL, &e->fan)) < 0 ||
	    (err = fp_attach(fp_ret, PMQ_PRODUCER, NULL, &e->ret)) < 0) {
		if (e->fan)
			pmq_close(e->fan);
		free(e);
		return err;
	}
	e->in = e->fan;
	*ep = e;
	return 0;
}

static int fp_open_sub_plain(const struct fan_params *p, unsigned idx, void **ep)
{
	return fp_open_sub(0, p, idx, ep);
}

static int fp_open_sub_grouped(const struct fan_params *p, unsigned idx, void **ep)
{
	return fp_open_sub(1, p, idx, ep);
}

static void fp_close(void *ep)
{
	struct fp_ep *e = ep;
	pmq_close(e->fan);
	pmq_close(e->ret);
	free(e);
}

static int fp_publish(void *ep, const void *buf, size_t len, int nonblock)
{
	struct fp_ep *e = ep;
	return pmq_send(e->fan, buf, len, nonblock ? PMQ_NONBLOCK : 0);
}

static int fp_take(void *ep, struct tp_msg *m, uint64_t timeout_ns)
{
	struct fp_ep *e = ep;
	int err = timeout_ns == FAN_FOREVER ? pmq_recv(e->in, &e->msgs[0], 0)
					    : pmq_recv_timeout(e->in, &e->msgs[0], timeout_ns);
	if (err < 0)
		return err;
	e->held = 1;
	m->data = e->msgs[0].data;
	m->len = e->msgs[0].len;
	return 0;
}

static int fp_take_batch(void *ep, struct tp_msg *m, unsigned n)
{
	struct fp_ep *e = ep;
	int k = pmq_recv_batch(e->in, e->msgs, n < FAN_MAX_BATCH ? n : FAN_MAX_BATCH, 0);
	if (k < 0)
		return k;
	for (int i = 0; i < k; i++) {
		m[i].data = e->msgs[i].data;
		m[i].len = e->msgs[i].len;
	}
	e->held = (unsigned)k;
	return k;
}

static void fp_release(void *ep)
{
	struct fp_ep *e = ep;
	if (e->held) {
		int err = e->held == 1 ? pmq_ack(e->in, &e->msgs[0]) : pmq_ack_batch(e->in, e->msgs, e->held);
		if (err < 0)
			fprintf(stderr, "pmq-bench: fanout: ack of %u: %s (%s)\n", e->held, pmq_strerror(err),
				pmq_errmsg());
	}
	e->held = 0;
}

static int fp_publish_batch(void *ep, const struct iovec *iov, unsigned n)
{
	struct fp_ep *e = ep;
	return pmq_send_batch(e->fan, iov, n, 0);
}

static int fp_echo(void *ep, const void *buf, size_t len)
{
	struct fp_ep *e = ep;
	return pmq_send(e->ret, buf, len, 0);
}

static int fp_setup_default(const struct fan_params *p, char *why, size_t n)
{
	return fp_setup(0, p, why, n);
}

static int fp_setup_grouped(const struct fan_params *p, char *why, size_t n)
{
	return fp_setup(p->nsubs, p, why, n);
}

#define FP_COMMON                                                                                  \
	.probe = fp_probe, .teardown = fp_teardown, .open_pub = fp_open_pub, .close = fp_close,    \
	.publish = fp_publish, .take = fp_take, .release = fp_release, .echo = fp_echo,               \
	.publish_batch = fp_publish_batch, .take_batch = fp_take_batch

const struct fan_tp fan_pmq_default = {
	.name = "pmq", .what = "the default queue (no groups), 1 subscriber; return: a default queue",
	.nsubs = 1, .setup = fp_setup_default, .open_sub = fp_open_sub_plain, FP_COMMON,
};
const struct fan_tp fan_pmq_group1 = {
	.name = "pmq-group1", .what = "max_groups=1, one reliable group, 1 subscriber; return: a default queue",
	.nsubs = 1, .setup = fp_setup_grouped, .open_sub = fp_open_sub_grouped, FP_COMMON,
};
const struct fan_tp fan_pmq_groups = {
	.name = "pmq-groups", .what = "max_groups=4, 4 reliable groups, one subscriber each; return: one default "
				      "queue, 4 producers",
	.nsubs = FAN_MAX_SUBS, .setup = fp_setup_grouped, .open_sub = fp_open_sub_grouped, FP_COMMON,
};

#else /* !BENCH_HAVE_PMQ */

static int fp_absent(char *why, size_t n)
{
	return tp_why(why, n, -ENOSYS, "pmq: libpmq was not built with this bench (no CMake target pmq)");
}

const struct fan_tp fan_pmq_default = { .name = "pmq", .nsubs = 1, .probe = fp_absent };
const struct fan_tp fan_pmq_group1 = { .name = "pmq-group1", .nsubs = 1, .probe = fp_absent };
const struct fan_tp fan_pmq_groups = { .name = "pmq-groups", .nsubs = FAN_MAX_SUBS, .probe = fp_absent };

#endif
