/*
 * modes.c - what each process of a run does, per mode. Process 0 (and the
 * other producers) run on the first CPU, the consumers on the second.
 *
 *   rt      0 sends, 1 echoes; 0 records send-to-echo time. The floor and
 *           every subject go through this same loop, so the loop's own cost
 *           (two clock reads, indirect calls) is in the floor too.
 *   oneway  as rt, but 0 puts its clock in the message and 1 records
 *           arrival - departure (one clock, one host); the echo paces it.
 *   rate    0 sends at fixed intervals without waiting for anything and
 *           stamps each message with its *intended* send time; 1 records
 *           arrival - intended, so a stall of the sender or the queue counts
 *           against the latency of every message it delayed (coordinated
 *           omission accounted for).
 *   tput    P producers send as fast as they can (batched where the
 *           transport batches), C consumers read every cache line of every
 *           message; a stop per consumer follows the data.
 */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failf(struct run_ctl *ctl, unsigned idx, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int failf(struct run_ctl *ctl, unsigned idx, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctl->msg[idx], sizeof(ctl->msg[idx]), fmt, ap);
	va_end(ap);
	atomic_store(&ctl->abort, 1);
	return err < 0 ? err : -EIO;
}

/* n processes meet here; 0, or -ECANCELED if one of them failed. */
static int barrier(struct run_ctl *ctl, int which, unsigned n)
{
	atomic_fetch_add(&ctl->arrived[which], 1);
	while (atomic_load(&ctl->arrived[which]) < n) {
		if (atomic_load(&ctl->abort))
			return -ECANCELED;
		if (ctl->nproc > 2)
			sched_yield();  /* more processes than CPUs: let the others arrive */
		else
			cpu_relax();
	}
	return 0;
}

static volatile uint64_t sink;

static int open_end(const struct transport *t, struct run_ctl *ctl, unsigned idx, int chan, int role,
		    void **ep)
{
	int err = t->open(chan, role, &ctl->params, ep);
	if (err < 0)
		return failf(ctl, idx, err, "%s: open channel %d (%s): %s", t->name, chan,
			     role == TP_TX ? "send" : "receive", strerror(-err));
	return 0;
}

/* after every end is open (the other process may wait for ours first) */
static int ready_end(const struct transport *t, struct run_ctl *ctl, unsigned idx, void *ep)
{
	int err;
	if (ep && t->ready && (err = t->ready(ep)) < 0)
		return failf(ctl, idx, err, "%s: not connected: %s", t->name, strerror(-err));
	return 0;
}

/* --- rt and oneway: process 0 --------------------------------------------- */

static int pinger(const struct transport *t, int mode, struct run_ctl *ctl, void *tx, void *rx)
{
	size_t size = ctl->params.size;
	unsigned char *buf = calloc(1, size);
	uint64_t total = ctl->warmup + ctl->count, deadline = UINT64_MAX;
	struct tp_msg m;
	int err = 0;

	if (!buf)
		return failf(ctl, 0, -ENOMEM, "out of memory");
	for (uint64_t i = 0; i < total; i++) {
		if (i == ctl->warmup)
			deadline = now_ns() + ctl->duration_ns;
		uint64_t t0 = now_ns();
		msg_set_word0(buf, mode == MODE_RT ? i + 1 : t0);   /* never 0: floor-8 sees a change */
		if ((err = t->send(tx, buf, size)) < 0) {
			failf(ctl, 0, err, "%s: send #%llu: %s", t->name, (unsigned long long)i, strerror(-err));
			break;
		}
		if ((err = t->recv(rx, &m)) < 0) {
			failf(ctl, 0, err, "%s: receive echo #%llu: %s", t->name, (unsigned long long)i,
			      strerror(-err));
			break;
		}
		uint64_t echo = msg_word0(m.data);
		sink += msg_touch(m.data, m.len);   /* read the whole message, as a user would (floor-8: its one word) */
		t->release(rx);
		uint64_t t1 = now_ns();
		if (mode == MODE_RT) {
			if (echo != i + 1) {
				err = failf(ctl, 0, -EPROTO, "%s: echo #%llu carries %llu", t->name,
					    (unsigned long long)i + 1, (unsigned long long)echo);
				break;
			}
			if (i >= ctl->warmup)
				hist_record(&ctl->hist, t1 - t0);
		}
		if (t1 > deadline)
			break;
	}
	msg_set_word0(buf, MSG_STOP);
	if (err == 0 && (err = t->send(tx, buf, size)) < 0)
		failf(ctl, 0, err, "%s: send stop: %s", t->name, strerror(-err));
	free(buf);
	return err;
}

/* --- rt and oneway: process 1 --------------------------------------------- */

static int echoer(const struct transport *t, int mode, struct run_ctl *ctl, void *tx, void *rx)
{
	size_t size = ctl->params.size;
	struct tp_msg m;
	int err;

	for (uint64_t i = 0;; i++) {
		if ((err = t->recv(rx, &m)) < 0)
			return failf(ctl, 1, err, "%s: receive #%llu: %s", t->name, (unsigned long long)i,
				     strerror(-err));
		uint64_t t1 = now_ns();
		uint64_t w = msg_word0(m.data);
		if (w == MSG_STOP) {
			t->release(rx);
			return 0;
		}
		if (mode == MODE_ONEWAY && i >= ctl->warmup)
			hist_record(&ctl->hist, t1 - w);
		sink += msg_touch(m.data, m.len);
		err = t->send(tx, m.data, size);
		t->release(rx);
		if (err < 0)
			return failf(ctl, 1, err, "%s: echo #%llu: %s", t->name, (unsigned long long)i,
				     strerror(-err));
	}
}

/* --- rate ----------------------------------------------------------------- */

static int rate_sender(const struct transport *t, struct run_ctl *ctl, void *tx)
{
	size_t size = ctl->params.size;
	unsigned char *buf = calloc(1, size);
	double period = 1e9 / ctl->rate;
	uint64_t total = ctl->warmup + ctl->count;
	uint64_t max_by_time = ctl->warmup + (uint64_t)(ctl->rate * (double)ctl->duration_ns / 1e9) + 1;
	int err = 0;

	if (!buf)
		return failf(ctl, 0, -ENOMEM, "out of memory");
	if (total > max_by_time)
		total = max_by_time;
	uint64_t begin = now_ns() + 1000000;
	for (uint64_t i = 0; i < total; i++) {
		uint64_t intended = begin + (uint64_t)((double)i * period);
		while (now_ns() < intended)
			cpu_relax();    /* behind schedule: send at once, the stamp keeps the debt */
		msg_set_word0(buf, intended);
		if ((err = t->send(tx, buf, size)) < 0) {
			failf(ctl, 0, err, "%s: send #%llu: %s", t->name, (unsigned long long)i, strerror(-err));
			break;
		}
	}
	msg_set_word0(buf, MSG_STOP);
	if (err == 0 && (err = t->send(tx, buf, size)) < 0)
		failf(ctl, 0, err, "%s: send stop: %s", t->name, strerror(-err));
	free(buf);
	return err;
}

static int rate_receiver(const struct transport *t, struct run_ctl *ctl, void *rx)
{
	struct tp_msg m;
	int err;
	for (uint64_t i = 0;; i++) {
		if ((err = t->recv(rx, &m)) < 0)
			return failf(ctl, 1, err, "%s: receive #%llu: %s", t->name, (unsigned long long)i,
				     strerror(-err));
		uint64_t t1 = now_ns();
		uint64_t w = msg_word0(m.data);
		sink += msg_touch(m.data, m.len);
		t->release(rx);
		if (w == MSG_STOP)
			return 0;
		if (i >= ctl->warmup)
			hist_record(&ctl->hist, t1 > w ? t1 - w : 0);
	}
}

/* --- tput ------------------------------------------------------------------ */

static int send_many(const struct transport *t, void *tx, struct iovec *iov, unsigned n, unsigned batch)
{
	if (batch > 1 && t->send_batch) {
		unsigned done = 0;
		while (done < n) {
			int k = t->send_batch(tx, iov + done, n - done);
			if (k < 0)
				return k;
			done += (unsigned)k;
		}
		return 0;
	}
	for (unsigned i = 0; i < n; i++) {
		int err = t->send(tx, iov[i].iov_base, iov[i].iov_len);
		if (err < 0)
			return err;
	}
	return 0;
}

static int producer(const struct transport *t, struct run_ctl *ctl, unsigned idx, void *tx)
{
	size_t size = ctl->params.size;
	unsigned batch = ctl->params.batch;
	unsigned P = ctl->producers;
	uint64_t warm = ctl->warmup / P, count = ctl->count / P + (idx < ctl->count % P);
	unsigned char *buf = calloc(batch, size);
	struct iovec *iov = calloc(batch, sizeof(*iov));
	uint64_t seq = 0, sent = 0;
	int err = 0;

	if (!buf || !iov)
		return failf(ctl, idx, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < batch; i++) {
		iov[i].iov_base = buf + (size_t)i * size;
		iov[i].iov_len = size;
	}
	for (uint64_t done = 0; done < warm;) {
		unsigned n = warm - done < batch ? (unsigned)(warm - done) : batch;
		for (unsigned i = 0; i < n; i++)
			msg_set_word0(iov[i].iov_base, MSG_WARM | seq++);
		if ((err = send_many(t, tx, iov, n, batch)) < 0)
			goto fail;
		done += n;
	}
	/* measure only once every warm-up message is through */
	while (atomic_load(&ctl->warm_rx) < warm * P) {
		if (atomic_load(&ctl->abort)) {
			err = -ECANCELED;
			goto fail_quiet;
		}
		sched_yield();
	}
	if ((err = barrier(ctl, 1, P)) < 0)     /* producers start together */
		goto fail_quiet;
	uint64_t deadline = now_ns() + ctl->duration_ns;
	ctl->t_start[idx] = now_ns();
	for (uint64_t chunk = 0; sent < count; chunk++) {
		unsigned n = count - sent < batch ? (unsigned)(count - sent) : batch;
		for (unsigned i = 0; i < n; i++)
			msg_set_word0(iov[i].iov_base, seq++ & ~MSG_WARM);
		if ((err = send_many(t, tx, iov, n, batch)) < 0)
			goto fail;
		sent += n;
		if ((chunk & 255) == 255 && now_ns() > deadline)
			break;
	}
	ctl->nsent[idx] = sent;
	/* the last producer to finish sends one stop per consumer, behind all
	 * data; a consumer may take several in one batch, so it keeps sending
	 * while every stop sent is taken and some consumer still runs */
	if (atomic_fetch_add(&ctl->prod_done, 1) + 1 == P) {
		uint32_t stops = 0;
		msg_set_word0(buf, MSG_STOP);
		while (atomic_load(&ctl->cons_done) < ctl->consumers) {
			if (stops < ctl->consumers || atomic_load(&ctl->stops_seen) >= stops) {
				if ((err = t->send(tx, buf, size)) < 0)
					goto fail;
				stops++;
			} else if (atomic_load(&ctl->abort)) {
				break;
			} else {
				sched_yield();
			}
		}
	}
	free(buf);
	free(iov);
	return 0;
fail:
	failf(ctl, idx, err, "%s: send: %s", t->name, strerror(-err));
fail_quiet:
	free(buf);
	free(iov);
	return err;
}

static int consumer(const struct transport *t, struct run_ctl *ctl, unsigned idx, void *rx)
{
	unsigned batch = ctl->params.batch;
	int use_batch = batch > 1 && t->recv_batch;
	struct tp_msg *m = calloc(batch, sizeof(*m));
	uint64_t got = 0, sum = 0;
	int stop = 0;

	if (!m)
		return failf(ctl, idx, -ENOMEM, "out of memory");
	while (!stop) {
		int k = use_batch ? t->recv_batch(rx, m, batch) : t->recv(rx, m);
		if (k < 0) {
			free(m);
			return failf(ctl, idx, k, "%s: receive: %s", t->name, strerror(-k));
		}
		if (!use_batch)
			k = 1;
		unsigned warm = 0;
		for (int i = 0; i < k; i++) {
			uint64_t w = msg_word0(m[i].data);
			if (w == MSG_STOP) {
				stop++;     /* FIFO: every data message is already in front of us */
				continue;
			}
			if (w & MSG_WARM)
				warm++;
			else
				got++;
			sum += msg_touch(m[i].data, m[i].len);
		}
		t->release(rx);
		if (warm)
			atomic_fetch_add(&ctl->warm_rx, warm);
	}
	ctl->t_end[idx] = now_ns();
	ctl->nrecv[idx] = got;
	atomic_fetch_add(&ctl->stops_seen, (uint32_t)stop);
	atomic_fetch_add(&ctl->cons_done, 1);
	sink = sum;
	free(m);
	return 0;
}

/* --- dispatch --------------------------------------------------------------- */

/*
 * A sender keeps its end open until every process of the run has finished:
 * some peers drop what is still queued when the sending socket closes (zmq
 * after its linger, under load), which would leave a receiver waiting for a
 * stop that never comes. Off the measured path, so sleeping is fine.
 */
static void hold_until_all_finished(struct run_ctl *ctl)
{
	uint64_t deadline = now_ns() + ctl->duration_ns + 30ull * 1000000000u;
	struct timespec ms = { .tv_nsec = 1000000 };
	while (atomic_load(&ctl->finished) < ctl->nproc && !atomic_load(&ctl->abort) && now_ns() < deadline)
		nanosleep(&ms, NULL);
}

int drive(const struct transport *t, int mode, struct run_ctl *ctl, unsigned idx)
{
	void *tx = NULL, *rx = NULL;
	int err;
	int sender = idx < ctl->producers;

	if (mode == MODE_RT || mode == MODE_ONEWAY) {
		/* process 0: sends on 0, hears on 1; process 1 the other way round */
		if ((err = open_end(t, ctl, idx, sender ? 0 : 1, TP_TX, &tx)) < 0 ||
		    (err = open_end(t, ctl, idx, sender ? 1 : 0, TP_RX, &rx)) < 0)
			goto out;
	} else if ((err = open_end(t, ctl, idx, 0, sender ? TP_TX : TP_RX, sender ? &tx : &rx)) < 0) {
		goto out;
	}
	if ((err = ready_end(t, ctl, idx, tx)) < 0 || (err = ready_end(t, ctl, idx, rx)) < 0)
		goto out;
	if ((err = barrier(ctl, 0, ctl->nproc)) < 0)
		goto out;
	switch (mode) {
	case MODE_RT:
	case MODE_ONEWAY:
		err = sender ? pinger(t, mode, ctl, tx, rx) : echoer(t, mode, ctl, tx, rx);
		break;
	case MODE_RATE:
		err = sender ? rate_sender(t, ctl, tx) : rate_receiver(t, ctl, rx);
		break;
	case MODE_TPUT:
		err = sender ? producer(t, ctl, idx, tx) : consumer(t, ctl, idx, rx);
		break;
	}
	atomic_fetch_add(&ctl->finished, 1);
	if (tx && err == 0)
		hold_until_all_finished(ctl);
out:
	if (tx)
		t->close(tx);
	if (rx)
		t->close(rx);
	return err;
}
