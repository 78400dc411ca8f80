/*
 * shovel.h - pmq-shovel: moves messages between a pmq queue and a RabbitMQ
 * queue, at least once, in one direction per process (docs/bridge.md).
 *
 * The files: main.c (signals, reconnect loop), config.c (file + flags,
 * credentials file checks), broker.c (connect, login, TLS, declare, error
 * text), identity.c (the identity mapping both ways), to_amqp.c (pmq ->
 * RabbitMQ with publisher confirms), to_pmq.c (RabbitMQ -> pmq with manual
 * acks), status.c (the operator's JSON status file), backoff.c.
 */
#ifndef PMQ_SHOVEL_H
#define PMQ_SHOVEL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <amqp.h>

#include "pmq.h"

enum shovel_direction { DIR_NONE = 0, DIR_PMQ_TO_AMQP, DIR_AMQP_TO_PMQ };
enum shovel_declare { DECLARE_QUORUM = 0, DECLARE_CLASSIC, DECLARE_PASSIVE, DECLARE_NONE };

/* Exit codes (documented in docs/bridge.md and --help). */
#define SHOVEL_EXIT_OK 0
#define SHOVEL_EXIT_RUNTIME 1  /* pmq queue unusable, out of memory ... */
#define SHOVEL_EXIT_USAGE 2    /* bad flag, config file or credentials file */
#define SHOVEL_EXIT_REFUSED 3  /* broker refused login or vhost on the first connection */

#define SHOVEL_STR_MAX 1024

struct shovel_cfg {
	char uri[SHOVEL_STR_MAX];
	char pmq_queue[PMQ_NAME_MAX + 1];
	char pmq_dir[SHOVEL_STR_MAX];     /* "" = libpmq's default */
	char pmq_group[PMQ_GROUP_NAME_MAX + 1]; /* pmq-to-amqp on a queue with groups ("" = none) */
	char amqp_queue[256];             /* AMQP shortstr: at most 255 bytes */
	enum shovel_direction direction;
	unsigned prefetch;                /* basic.qos window (amqp-to-pmq) */
	unsigned batch;                   /* publishes in flight before waiting / acks per basic.ack */
	char credentials_file[SHOVEL_STR_MAX];
	char tls_ca[SHOVEL_STR_MAX], tls_cert[SHOVEL_STR_MAX], tls_key[SHOVEL_STR_MAX];
	bool tls_verify;
	enum shovel_declare declare;
	char dlx[256], dlx_key[256];      /* dead-letter exchange / routing key for the declare */
	bool replicated;                  /* pmq_send with PMQ_REPLICATED */
	bool envelope;                    /* amqp-to-pmq: prefix the identity envelope */
	bool single_active;               /* amqp-to-pmq: declare x-single-active-consumer (order) */
	char status_file[SHOVEL_STR_MAX];
	unsigned heartbeat_s;
	unsigned backoff_min_ms, backoff_max_ms;
	char name[PMQ_NAME_MAX + 32];
	int log_level;
	bool show_status;                 /* --status: print the status file and exit */
	/* from the credentials file, never from the command line */
	char user[256], password[256];
	/* from the URI */
	char host[256], vhost[256];
	int port;
	bool tls;
};

/* What the loops count and the status file shows. */
struct shovel_counters {
	uint64_t received;        /* pmq-to-amqp: taken from pmq; amqp-to-pmq: deliveries */
	uint64_t published;       /* basic.publish sent */
	uint64_t confirmed;       /* broker basic.ack, then pmq_ack */
	uint64_t broker_nacked;   /* broker basic.nack or basic.return: given back to pmq */
	uint64_t pmq_requeued;    /* pmq_nack calls (broker nack, return, lost connection) */
	uint64_t sent_to_pmq;     /* pmq_send committed */
	uint64_t acked_to_broker; /* deliveries settled with basic.ack */
	uint64_t redelivered;     /* seen again: pmq delivery_count > 1 / AMQP redelivered */
	uint64_t rejected_oversize; /* basic.reject requeue=false: larger than max_payload */
	uint64_t connects, disconnects;
};

struct shovel {
	struct shovel_cfg cfg;
	struct shovel_counters n;
	pmq_t *q;
	uint32_t max_payload, consumer_quota;
	amqp_connection_state_t conn;
	const char *state;        /* "starting", "connecting", "connected", "backoff", "stopping", "stopped" */
	uint64_t state_since_ns;  /* CLOCK_REALTIME */
	uint64_t in_flight;       /* unconfirmed publishes / unacked deliveries */
	char last_error[2048];
	uint64_t last_error_ns;
	uint64_t last_status_ns;  /* CLOCK_MONOTONIC of the last status write */
	bool ever_connected;
	unsigned char *buf;       /* amqp-to-pmq: envelope + body, max_payload bytes */
};

extern volatile sig_atomic_t g_shovel_stop;

/* config.c */
int cfg_parse(struct shovel_cfg *c, int argc, char **argv); /* 0, or an exit code */
void cfg_usage(FILE *f);

/* broker.c: 0 connected; -1 transient (retry); -2 refused (login, vhost, access) */
int broker_connect(struct shovel *s);
void broker_close(struct shovel *s);
/* Text of a failed rpc reply, e.g. "ACCESS_REFUSED - Login was refused ...". */
void broker_reply_text(amqp_rpc_reply_t r, const char *what, char *out, size_t cap);

/* identity.c: see docs/bridge.md "Identity" */
#define SHOVEL_ENV_MAGIC "PQAM"
#define SHOVEL_ENV_VERSION 1
#define SHOVEL_ENV_FIXED 24            /* bytes before the message-id */
#define SHOVEL_ENV_F_REDELIVERED 0x1u  /* the broker's redelivered flag was set */
#define SHOVEL_ENV_F_TIMESTAMP 0x2u    /* timestamp_ns is known */
#define SHOVEL_HDR_EPOCH "x-pmq-epoch"
#define SHOVEL_HDR_TICKET "x-pmq-ticket"
#define SHOVEL_HDR_TS_NS "x-pmq-timestamp-ns"
#define SHOVEL_HDR_DCOUNT "x-pmq-delivery-count"
#define SHOVEL_HDR_REDELIVERED "x-pmq-redelivered"
#define SHOVEL_HDR_QUEUE "x-pmq-queue"
#define SHOVEL_MSGID_MAX 64

/* "pmq:<epoch>:<ticket>" into out (SHOVEL_MSGID_MAX); returns its length. */
int identity_message_id(const struct pmq_msg *m, char *out);
/* Parse it back; false if it is not one of ours. */
bool identity_parse_message_id(amqp_bytes_t id, uint64_t *epoch, uint64_t *ticket);
/* Fill props and the headers entries (array of at least 6) for a pmq message. */
void identity_props(const struct pmq_msg *m, const char *queue, const char *msgid,
		    amqp_basic_properties_t *props, amqp_table_entry_t *entries);
/* Build the envelope for a delivery into buf; returns its total length, or
 * the length it would need (> cap) when it does not fit. */
size_t identity_envelope(const amqp_envelope_t *env, unsigned char *buf, size_t cap);

/* to_amqp.c / to_pmq.c: run until the connection is lost (-1) or a stop (0). */
int run_pmq_to_amqp(struct shovel *s);
int run_amqp_to_pmq(struct shovel *s);

/* status.c */
void status_set_state(struct shovel *s, const char *state);
void status_error(struct shovel *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void status_write(struct shovel *s, bool force);   /* at most once a second unless force */
int status_print(const char *path);                /* --status */
void status_default_path(const struct shovel_cfg *c, char *out, size_t cap);

/* backoff.c */
uint64_t backoff_next_ms(unsigned *attempt, unsigned min_ms, unsigned max_ms);
void shovel_sleep_ms(uint64_t ms); /* returns early on a stop */

uint64_t realtime_ns(void);

#endif
