/*
 * to_pmq.c - RabbitMQ -> pmq. basic.consume with manual acks and a basic.qos
 * window; each delivery is pmq_send'ed (the identity envelope first, unless
 * --envelope no) and acknowledged to the broker only after the send
 * committed (with --replicated: after a standby persisted it). Acks go as
 * one basic.ack multiple=true per --batch deliveries, or sooner when no
 * delivery is waiting. A delivery larger than the pmq queue's max_payload is
 * rejected with requeue=false, which gives it to the queue's dead-letter
 * exchange if one is configured (RabbitMQ drops it otherwise: the log says so).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "log.h"
#include "shovel.h"

struct in {
	struct shovel *s;
	uint64_t last_tag; /* newest delivery sent to pmq and not yet acked to the broker */
	unsigned pending;  /* how many deliveries that ack covers */
};

static int flush_acks(struct in *in)
{
	struct shovel *s = in->s;
	if (!in->pending)
		return 0;
	int r = amqp_basic_ack(s->conn, 1, in->last_tag, 1);
	if (r != AMQP_STATUS_OK) {
		status_error(s, "basic.ack: %s (the %u unacked deliveries come again, flagged redelivered)",
			     amqp_error_string2(r), in->pending);
		return -1;
	}
	s->n.acked_to_broker += in->pending;
	in->pending = 0;
	s->in_flight = 0;
	return 0;
}

/* A frame that is not a delivery: the broker closing or cancelling us. */
static int other_frame(struct in *in)
{
	struct shovel *s = in->s;
	amqp_frame_t f;
	if (amqp_simple_wait_frame(s->conn, &f) != AMQP_STATUS_OK) {
		status_error(s, "connection lost while reading a frame");
		return -1;
	}
	if (f.frame_type != AMQP_FRAME_METHOD)
		return 0;
	switch (f.payload.method.id) {
	case AMQP_CHANNEL_CLOSE_METHOD: {
		const amqp_channel_close_t *m = f.payload.method.decoded;
		status_error(s, "broker closed the channel: %u %.*s", m->reply_code, (int)m->reply_text.len,
			     (const char *)m->reply_text.bytes);
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
	case AMQP_BASIC_CANCEL_METHOD:
		status_error(s, "broker cancelled the consumer on \"%s\" (queue deleted?)", s->cfg.amqp_queue);
		return -1;
	default:
		log_msg(LOG_DEBUG, "ignoring broker method %s", amqp_method_name(f.payload.method.id));
		return 0;
	}
}

static void reject_oversize(struct in *in, const amqp_envelope_t *env, size_t need)
{
	struct shovel *s = in->s;
	const amqp_basic_properties_t *p = &env->message.properties;
	bool has_id = p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG;
	int r = amqp_basic_reject(s->conn, 1, env->delivery_tag, 0);
	s->n.rejected_oversize++;
	log_msg(LOG_WARNING, "message %s%.*s%s (delivery tag %llu) needs %zu bytes in pmq queue %s whose "
			     "max_payload is %u: rejected to RabbitMQ without requeue, so the dead-letter "
			     "exchange of \"%s\" gets it (without one RabbitMQ drops it)%s",
		has_id ? "\"" : "", has_id ? (int)p->message_id.len : 9,
		has_id ? (const char *)p->message_id.bytes : "(no id)", has_id ? "\"" : "",
		(unsigned long long)env->delivery_tag, need, s->cfg.pmq_queue, s->max_payload,
		s->cfg.amqp_queue, r == AMQP_STATUS_OK ? "" : ": the reject did not go out");
}

/* pmq_send, waiting while the ring is full; 0 committed, 1 stopping (not
 * sent), <0 pmq error. */
static int send_to_pmq(struct shovel *s, const void *buf, size_t len)
{
	unsigned flags = PMQ_NONBLOCK | (s->cfg.replicated ? PMQ_REPLICATED : 0);
	long nap_ns = 50000;
	for (;;) {
		int r = pmq_send(s->q, buf, len, flags);
		if (r != -EAGAIN)
			return r;
		/* full: back-pressure; the unacked window keeps the broker from sending more */
		if (g_shovel_stop)
			return 1;
		nanosleep(&(struct timespec){0, nap_ns}, NULL);
		if (nap_ns < 2000000)
			nap_ns *= 2;
	}
}

static int consume(struct shovel *s)
{
	amqp_basic_qos(s->conn, 1, 0, (uint16_t)s->cfg.prefetch, 0);
	amqp_rpc_reply_t r = amqp_get_rpc_reply(s->conn);
	char t[300];
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		broker_reply_text(r, "basic.qos", t, sizeof(t));
		status_error(s, "%s", t);
		return -1;
	}
	/* The order across a restart comes from the queue's single active consumer
	 * (declared by broker.c): a restarted shovel whose predecessor the broker has
	 * not yet seen die waits inactive instead of taking later messages before the
	 * predecessor's unacked ones come back. (An exclusive basic.consume would be
	 * the classic-queue way, but quorum queues accept a second one.) */
	amqp_basic_consume(s->conn, 1, amqp_cstring_bytes(s->cfg.amqp_queue), amqp_empty_bytes, 0, 0, 0,
			   amqp_empty_table);
	r = amqp_get_rpc_reply(s->conn);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		broker_reply_text(r, "basic.consume", t, sizeof(t));
		status_error(s, "%s", t);
		return -1;
	}
	return 0;
}

int run_amqp_to_pmq(struct shovel *s)
{
	struct in in = {.s = s};
	if (consume(s))
		return -1;
	if (s->cfg.declare == DECLARE_PASSIVE || s->cfg.declare == DECLARE_NONE)
		log_msg(LOG_INFO, "queue \"%s\" is declared by someone else: it keeps the order across shovel "
				  "restarts only with x-single-active-consumer = true", s->cfg.amqp_queue);
	log_msg(LOG_INFO, "RabbitMQ queue \"%s\" -> pmq queue %s: prefetch %u, ack every %u%s%s", s->cfg.amqp_queue,
		s->cfg.pmq_queue, s->cfg.prefetch, s->cfg.batch, s->cfg.replicated ? ", replicated" : "",
		s->cfg.envelope ? "" : ", no envelope");
	int ret = 0;
	bool warned_unreplicated = false;
	while (!g_shovel_stop) {
		if (in.pending && (in.pending >= s->cfg.batch ||
				   (!amqp_data_in_buffer(s->conn) && !amqp_frames_enqueued(s->conn))) &&
		    flush_acks(&in)) {
			ret = -1;
			break;
		}
		amqp_maybe_release_buffers(s->conn);
		status_write(s, false);
		amqp_envelope_t env;
		struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
		amqp_rpc_reply_t r = amqp_consume_message(s->conn, &env, &tv, 0);
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
			continue;
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
		    r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
			if (other_frame(&in)) {
				ret = -1;
				break;
			}
			continue;
		}
		if (r.reply_type != AMQP_RESPONSE_NORMAL) {
			char t[300];
			broker_reply_text(r, "consume", t, sizeof(t));
			status_error(s, "%s", t);
			ret = -1;
			break;
		}
		s->n.received++;
		if (env.redelivered)
			s->n.redelivered++;
		s->in_flight = in.pending + 1u;
		const void *data = env.message.body.bytes;
		size_t len = env.message.body.len;
		if (s->cfg.envelope) {
			len = identity_envelope(&env, s->buf, s->max_payload);
			data = s->buf;
		}
		if (len > s->max_payload) {
			reject_oversize(&in, &env, len);
			amqp_destroy_envelope(&env);
			s->in_flight = in.pending;
			continue;
		}
		int sr = send_to_pmq(s, data, len);
		if (sr == -ENOTSUP || sr == -ENOLINK) {
			/* committed locally, not replicated: acking is right (resending would
			 * duplicate); say so once per episode */
			if (!warned_unreplicated)
				log_msg(LOG_WARNING, "pmq queue %s: %s; messages are committed locally only",
					s->cfg.pmq_queue, pmq_errmsg());
			warned_unreplicated = true;
			sr = 0;
		} else if (sr == 0) {
			warned_unreplicated = false;
		}
		if (sr) {
			if (sr < 0)
				status_error(s, "pmq_send to %s: %s %s", s->cfg.pmq_queue, pmq_strerror(sr),
					     pmq_errmsg());
			amqp_destroy_envelope(&env);
			ret = sr < 0 ? -3 : 0;
			break;
		}
		s->n.sent_to_pmq++;
		in.pending++;
		in.last_tag = env.delivery_tag;
		amqp_destroy_envelope(&env);
	}
	if (ret != -1 && flush_acks(&in))
		ret = ret ? ret : -1;
	return ret;
}
