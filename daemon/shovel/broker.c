/*
 * broker.c - one AMQP connection and channel 1: TCP or TLS, login, the
 * queue declare, and readable text for the broker's refusals.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>

#include "log.h"
#include "shovel.h"

void broker_reply_text(amqp_rpc_reply_t r, const char *what, char *out, size_t cap)
{
	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		snprintf(out, cap, "%s: ok", what);
		return;
	case AMQP_RESPONSE_NONE:
		snprintf(out, cap, "%s: no reply from the broker", what);
		return;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		snprintf(out, cap, "%s: %s", what, amqp_error_string2(r.library_error));
		return;
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			const amqp_connection_close_t *m = r.reply.decoded;
			snprintf(out, cap, "%s: broker closed the connection: %u %.*s", what, m->reply_code,
				 (int)m->reply_text.len, (const char *)m->reply_text.bytes);
		} else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			const amqp_channel_close_t *m = r.reply.decoded;
			snprintf(out, cap, "%s: broker closed the channel: %u %.*s", what, m->reply_code,
				 (int)m->reply_text.len, (const char *)m->reply_text.bytes);
		} else {
			snprintf(out, cap, "%s: unexpected broker method 0x%08x", what, r.reply.id);
		}
		return;
	}
	snprintf(out, cap, "%s: unknown reply", what);
}

/* A refusal that retrying will not cure: bad login, unknown vhost, no access,
 * a queue that is missing (passive) or declared with other arguments. */
static bool reply_is_refusal(amqp_rpc_reply_t r)
{
	if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION)
		return false;
	unsigned code = 0;
	if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
		code = ((const amqp_connection_close_t *)r.reply.decoded)->reply_code;
	else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
		code = ((const amqp_channel_close_t *)r.reply.decoded)->reply_code;
	return code == AMQP_ACCESS_REFUSED || code == AMQP_NOT_ALLOWED || code == AMQP_NOT_FOUND ||
	       code == AMQP_PRECONDITION_FAILED;
}

static int fail(struct shovel *s, amqp_rpc_reply_t r, const char *what)
{
	char text[2048];
	broker_reply_text(r, what, text, sizeof(text));
	bool refused = reply_is_refusal(r);
	if (refused && r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
		const amqp_connection_close_t *m = r.reply.decoded;
		size_t n = strlen(text);
		if (m->reply_code == AMQP_NOT_ALLOWED)
			snprintf(text + n, sizeof(text) - n, " (does vhost \"%s\" exist, and may user \"%s\" use it?)",
				 s->cfg.vhost, s->cfg.user);
		else if (m->reply_code == AMQP_ACCESS_REFUSED)
			snprintf(text + n, sizeof(text) - n, " (check username/password in %s)",
				 s->cfg.credentials_file[0] ? s->cfg.credentials_file : "a credentials file");
	}
	status_error(s, "%s", text);
	broker_close(s);
	return refused ? -2 : -1;
}

static int declare_queue(struct shovel *s)
{
	const struct shovel_cfg *c = &s->cfg;
	amqp_table_entry_t e[4];
	int n = 0;
	if (c->declare == DECLARE_NONE)
		return 0;
	if (c->declare == DECLARE_QUORUM) {
		e[n].key = amqp_cstring_bytes("x-queue-type");
		e[n].value.kind = AMQP_FIELD_KIND_UTF8;
		e[n].value.value.bytes = amqp_cstring_bytes("quorum");
		n++;
	}
	if (c->direction == DIR_AMQP_TO_PMQ && c->single_active) {
		/* one consumer delivers at a time: the order survives a shovel restart */
		e[n].key = amqp_cstring_bytes("x-single-active-consumer");
		e[n].value.kind = AMQP_FIELD_KIND_BOOLEAN;
		e[n].value.value.boolean = 1;
		n++;
	}
	if (c->declare != DECLARE_PASSIVE && c->dlx[0]) {
		e[n].key = amqp_cstring_bytes("x-dead-letter-exchange");
		e[n].value.kind = AMQP_FIELD_KIND_UTF8;
		e[n].value.value.bytes = amqp_cstring_bytes(c->dlx);
		n++;
		if (c->dlx_key[0]) {
			e[n].key = amqp_cstring_bytes("x-dead-letter-routing-key");
			e[n].value.kind = AMQP_FIELD_KIND_UTF8;
			e[n].value.value.bytes = amqp_cstring_bytes(c->dlx_key);
			n++;
		}
	}
	amqp_table_t args = {.num_entries = n, .entries = e};
	bool passive = c->declare == DECLARE_PASSIVE;
	amqp_queue_declare(s->conn, 1, amqp_cstring_bytes(c->amqp_queue), passive, !passive, 0, 0,
			   passive ? amqp_empty_table : args);
	amqp_rpc_reply_t r = amqp_get_rpc_reply(s->conn);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		char what[300];
		snprintf(what, sizeof(what), "declare queue \"%s\" (%s)", c->amqp_queue,
			 passive ? "passive: it must exist" : c->declare == DECLARE_QUORUM ? "durable quorum" : "durable classic");
		return fail(s, r, what);
	}
	return 0;
}

int broker_connect(struct shovel *s)
{
	const struct shovel_cfg *c = &s->cfg;
	amqp_rpc_reply_t r;
	s->conn = amqp_new_connection();
	if (!s->conn) {
		status_error(s, "out of memory for an AMQP connection");
		return -1;
	}
	amqp_socket_t *sock;
	if (c->tls) {
		sock = amqp_ssl_socket_new(s->conn);
		if (!sock) {
			status_error(s, "cannot create a TLS socket");
			broker_close(s);
			return -1;
		}
		amqp_ssl_socket_set_verify_peer(sock, c->tls_verify);
		amqp_ssl_socket_set_verify_hostname(sock, c->tls_verify);
		if (c->tls_ca[0] && amqp_ssl_socket_set_cacert(sock, c->tls_ca) != AMQP_STATUS_OK) {
			status_error(s, "TLS CA file %s cannot be loaded", c->tls_ca);
			broker_close(s);
			return -2;
		}
		if (c->tls_cert[0] && amqp_ssl_socket_set_key(sock, c->tls_cert, c->tls_key) != AMQP_STATUS_OK) {
			status_error(s, "TLS certificate %s / key %s cannot be loaded", c->tls_cert, c->tls_key);
			broker_close(s);
			return -2;
		}
	} else {
		sock = amqp_tcp_socket_new(s->conn);
		if (!sock) {
			status_error(s, "cannot create a TCP socket");
			broker_close(s);
			return -1;
		}
	}
	struct timeval tv = {.tv_sec = 10};
	int st = amqp_socket_open_noblock(sock, c->host, c->port, &tv);
	if (st != AMQP_STATUS_OK) {
		status_error(s, "connect to %s:%d: %s", c->host, c->port, amqp_error_string2(st));
		broker_close(s);
		return -1;
	}
	amqp_set_rpc_timeout(s->conn, &(struct timeval){.tv_sec = 30});
	r = amqp_login(s->conn, c->vhost, 1, AMQP_DEFAULT_FRAME_SIZE, (int)c->heartbeat_s,
		       AMQP_SASL_METHOD_PLAIN, c->user, c->password);
	if (r.reply_type != AMQP_RESPONSE_NORMAL)
		return fail(s, r, "login");
	amqp_channel_open(s->conn, 1);
	r = amqp_get_rpc_reply(s->conn);
	if (r.reply_type != AMQP_RESPONSE_NORMAL)
		return fail(s, r, "channel.open");
	return declare_queue(s);
}

void broker_close(struct shovel *s)
{
	if (!s->conn)
		return;
	/* best effort: the socket may be dead already */
	amqp_connection_close(s->conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(s->conn);
	s->conn = NULL;
}
