/*
 * registry.c - pmqd's view of queues and attachments, in two liburcu RCU
 * lock-free hash tables (rculfhash).
 *
 * Contract (liburcu's): lookups and iteration run inside rcu_read_lock() and
 * never block the writer; only the control thread adds or removes, so writers
 * need no lock among themselves. A removed attachment is freed (and its pidfd
 * closed) by call_rcu after every reader that could have seen it is gone; a
 * removed queue is closed after synchronize_rcu(), which the caller must not
 * invoke while holding a queue mutex or inside a read section.
 *
 * The registry is also where the two threads meet: besides the flags on each
 * reg_queue (need_scan, need_recover) it owns one wake-up eventfd per thread
 * (registry_wake), so neither thread calls into the other's loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "pmqd.h"

static struct cds_lfht *queues;   /* by name */
static struct cds_lfht *attaches; /* by attach_key() */
static uint32_t next_qid = 1;
static _Atomic unsigned n_queues, n_attaches;
static int wake_fds[REG_WAKE_N] = { -1, -1 };

/* FNV-1a: names are short; no need for more */
static unsigned long hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (unsigned long)h;
}

static unsigned long hash_key(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return (unsigned long)k;
}

static int match_name(struct cds_lfht_node *n, const void *key)
{
	return !strcmp(caa_container_of(n, struct reg_queue, node)->name, key);
}

static int match_key(struct cds_lfht_node *n, const void *key)
{
	return caa_container_of(n, struct reg_attach, node)->key == *(const uint64_t *)key;
}

int registry_init(void)
{
	queues = cds_lfht_new(64, 64, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	attaches = cds_lfht_new(1024, 1024, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	for (int t = 0; t < REG_WAKE_N; t++)
		if ((wake_fds[t] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
			return -errno;
	return queues && attaches ? 0 : -ENOMEM;
}

int registry_wake_fd(enum reg_wake who)
{
	return wake_fds[who];
}

void registry_wake(enum reg_wake who)
{
	uint64_t one = 1;
	ssize_t w = write(wake_fds[who], &one, sizeof(one)); /* a full counter is still a wake-up */
	(void)w;
}

void registry_wake_drain(enum reg_wake who)
{
	uint64_t v;
	ssize_t r = read(wake_fds[who], &v, sizeof(v));
	(void)r;
}

struct cds_lfht *registry_queues(void)
{
	return queues;
}

struct reg_queue *registry_queue_find(const char *name)
{
	struct cds_lfht_iter it;
	cds_lfht_lookup(queues, hash_name(name), match_name, name, &it);
	struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
	return n ? caa_container_of(n, struct reg_queue, node) : NULL;
}

struct reg_attach *registry_attach_find(uint64_t key)
{
	struct cds_lfht_iter it;
	cds_lfht_lookup(attaches, hash_key(key), match_key, &key, &it);
	struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
	return n ? caa_container_of(n, struct reg_attach, node) : NULL;
}

struct reg_queue *registry_queue_add(const char *name, pmq_t *q)
{
	struct reg_queue *rq = calloc(1, sizeof(*rq));
	if (!rq)
		return NULL;
	snprintf(rq->name, sizeof(rq->name), "%s", name);
	rq->qid = next_qid++ & 0xffffffu;
	if (!rq->qid)
		rq->qid = next_qid++;
	rq->q = q;
	pthread_mutex_init(&rq->mu, NULL);
	cds_lfht_node_init(&rq->node);
	rcu_read_lock();
	struct cds_lfht_node *old = cds_lfht_add_unique(queues, hash_name(name), match_name, name, &rq->node);
	rcu_read_unlock();
	if (old != &rq->node) {
		pthread_mutex_destroy(&rq->mu);
		free(rq);
		return NULL;
	}
	n_queues++;
	return rq;
}

static void attach_free_cb(struct rcu_head *h)
{
	struct reg_attach *a = caa_container_of(h, struct reg_attach, rcu);
	if (a->pidfd >= 0)
		close(a->pidfd); /* also leaves the supervisor's epoll set */
	free(a);
}

int registry_attach_add(struct reg_queue *rq, struct reg_attach *a)
{
	a->queue = rq;
	a->key = attach_key(rq->qid, a->index, a->incarnation);
	cds_lfht_node_init(&a->node);
	rcu_read_lock();
	struct cds_lfht_node *old = cds_lfht_add_unique(attaches, hash_key(a->key), match_key, &a->key, &a->node);
	rcu_read_unlock();
	if (old != &a->node)
		return -EEXIST;
	rq->slot[a->index] = a;
	n_attaches++;
	if (a->mode != WATCH_SELF)
		rq->n_reg++;
	if (a->mode == WATCH_PROBE)
		rq->n_probe++;
	return 0;
}

void registry_attach_remove(struct reg_queue *rq, struct reg_attach *a)
{
	rcu_read_lock();
	int r = cds_lfht_del(attaches, &a->node);
	rcu_read_unlock();
	if (rq->slot[a->index] == a)
		rq->slot[a->index] = NULL;
	if (r == 0) {
		n_attaches--;
		if (a->mode != WATCH_SELF)
			rq->n_reg--;
		if (a->mode == WATCH_PROBE)
			rq->n_probe--;
		call_rcu(&a->rcu, attach_free_cb);
	}
}

void registry_queue_remove(struct reg_queue *rq)
{
	for (unsigned i = 0; i < PMQD_MAX_ATTACH; i++)
		if (rq->slot[i])
			registry_attach_remove(rq, rq->slot[i]);
	rcu_read_lock();
	int r = cds_lfht_del(queues, &rq->node);
	rcu_read_unlock();
	if (r)
		return;
	n_queues--;
	synchronize_rcu(); /* no reader can still hold rq */
	pmq_close(rq->q);
	pthread_mutex_destroy(&rq->mu);
	free(rq);
}

unsigned registry_queue_count(void)
{
	return n_queues;
}

unsigned registry_attach_count(void)
{
	return n_attaches;
}

void registry_fini(void)
{
	struct cds_lfht_iter it;
	struct reg_queue *rq;
	for (;;) {
		rq = NULL;
		rcu_read_lock();
		cds_lfht_first(queues, &it);
		struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
		if (n)
			rq = caa_container_of(n, struct reg_queue, node);
		rcu_read_unlock();
		if (!rq)
			break;
		registry_queue_remove(rq);
	}
	rcu_barrier(); /* run every pending attach_free_cb */
	cds_lfht_destroy(queues, NULL);
	cds_lfht_destroy(attaches, NULL);
	for (int t = 0; t < REG_WAKE_N; t++)
		close(wake_fds[t]);
}
