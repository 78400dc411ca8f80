/*
 * to_amqp.c - pmq -> RabbitMQ. Each pmq message is published persistent on a
 * channel in confirm mode and stays held in pmq until the broker confirms it:
 * basic.ack -> pmq_ack; basic.nack, basic.return (unroutable) or a lost
 * connection -> pmq_nack (the message is delivered again, with a higher
 * delivery count, which the x-pmq-delivery-count header then shows).
 * At most `window` publishes are unconfirmed at a time (--batch, capped by the
 * pmq queue's consumer quota).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "log.h"
#include "shovel.h"

enum { SLOT_FREE = 0, SLOT_PENDING, SLOT_RETURNED };

struct slot {
	struct pmq_msg m;
	uint8_t state;
};

struct out {
	struct shovel *s;
	struct slot *slots;  /* slots[tag % window] for tags base .. next_tag-1 */
	unsigned window;
	uint64_t base, next_tag; /* oldest unsettled, next delivery tag (the channel counts from 1) */
};

#define IDLE_WAIT_NS 200000000ull /* a stop is noticed within this */

static struct slot *slot_of(struct out *o, uint64_t tag)
{
	return &o->slots[tag % o->window];
}

static void give_back(struct out *o, struct slot *sl, const char *why)
{
	struct shovel *s = o->s;
	int r = pmq_nack(s->q, &sl->m, PMQ_NACK_REQUEUE);
	s->n.pmq_requeued++;
	if (r < 0)
		log_msg(LOG_WARNING, "pmq_nack of ticket %llu (%s): %s; it stays held until the shovel "
				     "closes the queue, then recovery requeues it",
			(unsigned long long)sl->m.ticket, why, pmq_strerror(r));
}

static void settle(struct out *o, uint64_t tag, bool ok)
{
	struct slot *sl = slot_of(o, tag);
	struct shovel *s = o->s;
	if (tag < o->base || tag >= o->next_tag || sl->state == SLOT_FREE)
		return; /* not ours, or settled already */
	if (ok && sl->state == SLOT_PENDING) {
		int r = pmq_ack(s->q, &sl->m);
		if (r == -ESTALE)
			log_msg(LOG_DEBUG, "ticket %llu was taken back by pmq before its ack: it will come "
					   "again, flagged as a redelivery", (unsigned long long)sl->m.ticket);
		else if (r < 0)
			log_msg(LOG_WARNING, "pmq_ack of ticket %llu: %s", (unsigned long long)sl->m.ticket,
				pmq_strerror(r));
		s->n.confirmed++;
	} else {
		s->n.broker_nacked++;
		give_back(o, sl, sl->state == SLOT_RETURNED ? "unroutable" : "broker nack");
	}
	sl->state = SLOT_FREE;
	s->in_flight--;
	while (o->base < o->next_tag && slot_of(o, o->base)->state == SLOT_FREE)
		o->base++;
}

static void settle_range(struct out *o, uint64_t tag, bool multiple, bool ok)
{
	if (!multiple) {
		settle(o, tag, ok);
		return;
	}
	for (uint64_t t = o->base; t <= tag && t < o->next_tag; t++)
		settle(o, t, ok);
}

/* Everything unconfirmed goes back to pmq (connection lost or stopping). */
static void give_back_all(struct out *o, const char *why)
{
	unsigned n = 0;
	for (uint64_t t = o->base; t < o->next_tag; t++) {
		struct slot *sl = slot_of(o, t);
		if (sl->state == SLOT_FREE)
			continue;
		give_back(o, sl, why);
		sl->state = SLOT_FREE;
		n++;
	}
	o->s->in_flight = 0;
	o->base = o->next_tag;
	if (n)
		log_msg(LOG_INFO, "%u unconfirmed message(s) given back to pmq queue %s (%s)", n,
			o->s->cfg.pmq_queue, why);
}

/* basic.return: the broker could not route it (no such queue); its confirm
 * follows, and then it goes back to pmq instead of being acked. */
static int on_return(struct out *o, amqp_channel_t ch)
{
	amqp_message_t msg;
	amqp_rpc_reply_t r = amqp_read_message(o->s->conn, ch, &msg, 0);
	if (r.reply_type != AMQP_RESPONSE_NORMAL)
		return -1;
	uint64_t epoch, ticket;
	if (identity_parse_message_id(msg.properties.message_id, &epoch, &ticket))
		for (uint64_t t = o->base; t < o->next_tag; t++) {
			struct slot *sl = slot_of(o, t);
			if (sl->state == SLOT_PENDING && sl->m.ticket == ticket && sl->m.epoch == epoch) {
				sl->state = SLOT_RETURNED;
				break;
			}
		}
	log_msg(LOG_WARNING, "broker returned pmq:%llu:%llu as unroutable (does queue \"%s\" exist? "
			     "declare = none needs it): it goes back to pmq",
		(unsigned long long)epoch, (unsigned long long)ticket, o->s->cfg.amqp_queue);
	amqp_destroy_message(&msg);
	return 0;
}

/* Read and handle the broker's frames: wait up to wait_ns for the first, then
 * take whatever else is already there. 0, or -1 when the connection is gone. */
static int read_frames(struct out *o, uint64_t wait_ns)
{
	struct shovel *s = o->s;
	struct timeval tv = {.tv_sec = (time_t)(wait_ns / 1000000000u), .tv_usec = (suseconds_t)(wait_ns % 1000000000u / 1000)};
	for (unsigned i = 0; i < 4096; i++) {
		amqp_frame_t f;
		int r = amqp_simple_wait_frame_noblock(s->conn, &f, &tv);
		if (r == AMQP_STATUS_TIMEOUT)
			return 0;
		if (r != AMQP_STATUS_OK) {
			status_error(s, "connection lost: %s", amqp_error_string2(r));
			return -1;
		}
		tv = (struct timeval){0, 0};
		if (f.frame_type != AMQP_FRAME_METHOD)
			continue;
		switch (f.payload.method.id) {
		case AMQP_BASIC_ACK_METHOD: {
			const amqp_basic_ack_t *a = f.payload.method.decoded;
			settle_range(o, a->delivery_tag, a->multiple, true);
			break;
		}
		case AMQP_BASIC_NACK_METHOD: {
			const amqp_basic_nack_t *a = f.payload.method.decoded;
			log_msg(LOG_WARNING, "broker nacked delivery tag %llu%s: back to pmq",
				(unsigned long long)a->delivery_tag, a->multiple ? " and before" : "");
			settle_range(o, a->delivery_tag, a->multiple, false);
			break;
		}
		case AMQP_BASIC_RETURN_METHOD:
			if (on_return(o, f.channel))
				return -1;
			break;
		case AMQP_CHANNEL_CLOSE_METHOD: {
			const amqp_channel_close_t *m = f.payload.method.decoded;
			status_error(s, "broker closed the channel: %u %.*s", m->reply_code,
				     (int)m->reply_text.len, (const char *)m->reply_text.bytes);
			return -1;
		}
		case AMQP_CONNECTION_CLOSE_METHOD: {
			const amqp_connection_close_t *m = f.payload.method.decoded;
			status_error(s, "broker closed the connection: %u %.*s", m->reply_code,
				     (int)m->reply_text.len, (const char *)m->reply_text.bytes);
			amqp_connection_close_ok_t ok = {0};
			amqp_send_method(s->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
			return -1;
		}
		default:
			log_msg(LOG_DEBUG, "ignoring broker method %s", amqp_method_name(f.payload.method.id));
		}
	}
	return 0;
}

static int publish(struct out *o, const struct pmq_msg *m)
{
	struct shovel *s = o->s;
	char msgid[SHOVEL_MSGID_MAX];
	amqp_basic_properties_t props;
	amqp_table_entry_t hdr[6];
	identity_message_id(m, msgid);
	identity_props(m, s->cfg.pmq_queue, msgid, &props, hdr);
	amqp_bytes_t body = {.len = m->len, .bytes = (void *)m->data};
	/* mandatory: an unroutable message comes back (basic.return) instead of
	 * being confirmed and dropped */
	int r = amqp_basic_publish(s->conn, 1, amqp_empty_bytes, amqp_cstring_bytes(s->cfg.amqp_queue), 1, 0,
				   &props, body);
	if (r != AMQP_STATUS_OK) {
		status_error(s, "publish: %s", amqp_error_string2(r));
		return -1;
	}
	s->n.published++;
	return 0;
}

int run_pmq_to_amqp(struct shovel *s)
{
	struct out o = {.s = s, .base = 1, .next_tag = 1};
	o.window = s->cfg.batch < s->consumer_quota ? s->cfg.batch : s->consumer_quota;
	if (!o.window)
		o.window = 1;
	o.slots = calloc(o.window, sizeof(*o.slots));
	if (!o.slots) {
		status_error(s, "out of memory for %u in-flight slots", o.window);
		return -1;
	}
	amqp_confirm_select(s->conn, 1);
	amqp_rpc_reply_t rr = amqp_get_rpc_reply(s->conn);
	if (rr.reply_type != AMQP_RESPONSE_NORMAL) {
		char t[300];
		broker_reply_text(rr, "confirm.select", t, sizeof(t));
		status_error(s, "%s", t);
		free(o.slots);
		return -1;
	}
	log_msg(LOG_INFO, "pmq queue %s -> RabbitMQ queue \"%s\": %u publishes in flight at most",
		s->cfg.pmq_queue, s->cfg.amqp_queue, o.window);

	int ret = 0;
	while (!g_shovel_stop) {
		int r = 0;
		while (o.next_tag - o.base < o.window) { /* the span, not the count: slots are by tag */
			struct slot *sl = slot_of(&o, o.next_tag);
			r = s->in_flight ? pmq_recv(s->q, &sl->m, PMQ_NONBLOCK)
					 : pmq_recv_timeout(s->q, &sl->m, IDLE_WAIT_NS);
			if (r == -EAGAIN || r == -ETIMEDOUT || r == -EBUSY || r == -EINTR)
				break;
			if (r < 0) {
				status_error(s, "pmq_recv on %s: %s %s", s->cfg.pmq_queue, pmq_strerror(r),
					     pmq_errmsg());
				ret = -3;
				goto out;
			}
			s->n.received++;
			if (sl->m.delivery_count > 1)
				s->n.redelivered++;
			sl->state = SLOT_PENDING;
			o.next_tag++;
			s->in_flight++;
			if (publish(&o, &sl->m)) {
				ret = -1;
				goto out;
			}
		}
		/* wait for the broker when there is nothing more to send now */
		bool more = r == 0 && o.next_tag - o.base < o.window;
		if (read_frames(&o, s->in_flight && !more ? IDLE_WAIT_NS : 0)) {
			ret = -1;
			goto out;
		}
		amqp_maybe_release_buffers(s->conn);
		status_write(s, false);
	}
	/* stopping: give the broker a few seconds to confirm what it has */
	for (int i = 0; i < 25 && s->in_flight; i++)
		if (read_frames(&o, IDLE_WAIT_NS))
			break;
out:
	give_back_all(&o, ret ? "connection lost" : "stopping");
	free(o.slots);
	return ret;
}
