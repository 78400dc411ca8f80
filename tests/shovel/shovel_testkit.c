/*
 * shovel_testkit.c - both ends of the shovel tests and bench: fills and checks
 * a pmq queue (libpmq) and a RabbitMQ queue (librabbitmq).
 *
 * Bodies are "n=<seq> t=<realtime ns>" padded with 'x'. The checkers take
 * messages until `count` distinct sequence numbers arrived (or nothing came
 * for idle seconds) and fail on: a lost number, a first arrival out of order,
 * a duplicate not flagged as a redelivery, an identity that does not match
 * (docs/bridge.md "Identity"). They print one summary line and latency
 * percentiles (enqueue to receipt).
 *
 * SHOVEL_KIT_RAW=1: the checkers expect plain bodies (no envelope, no x-pmq-*
 * headers): the baselines of the bench, without the shovel in the path.
 *
 * The broker is named by AMQP_HOST, AMQP_PORT, AMQP_VHOST, AMQP_USER, AMQP_PASS.
 *
 *   pmq-create DIR NAME MAX_PAYLOAD QUOTA SLOTS [GROUPS]   (GROUPS: "a,b": a queue with groups)
 *   pmq-produce DIR NAME FROM COUNT SIZE [RATE]
 *   pmq-verify DIR NAME COUNT IDLE_S         (expects the shovel's envelope)
 *   amqp-declare QUEUE                      (quorum, single active consumer, dead letters to QUEUE.dlq)
 *   amqp-publish QUEUE FROM COUNT SIZE [RATE]
 *   amqp-verify QUEUE COUNT IDLE_S          (expects the x-pmq-* identity)
 *   amqp-count QUEUE                        (prints the ready count)
 *   amqp-get QUEUE                          (prints one message's id and size, acks it)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include "pmq.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "shovel_testkit: %s: %s\n", what, detail);
	exit(2);
}

/* "n=<seq> t=<ns>" padded with 'x' to size (or longer if size is too small) */
static size_t make_body(char *buf, size_t cap, size_t size, uint64_t seq)
{
	int n = snprintf(buf, cap, "n=%" PRIu64 " t=%" PRIu64, seq, now_ns());
	if (n < 0 || (size_t)n >= cap)
		die("body", "buffer too small");
	if ((size_t)n < size)
		memset(buf + n, 'x', size - (size_t)n);
	return (size_t)n < size ? size : (size_t)n;
}

static bool parse_body(const void *p, size_t len, uint64_t *seq, uint64_t *t)
{
	char tmp[64];
	size_t n = len < sizeof(tmp) - 1 ? len : sizeof(tmp) - 1;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	return sscanf(tmp, "n=%" SCNu64 " t=%" SCNu64, seq, t) == 2;
}

static void pace(uint64_t start, uint64_t i, double rate)
{
	if (rate <= 0)
		return;
	uint64_t due = start + (uint64_t)((double)i * 1e9 / rate);
	uint64_t now = now_ns();
	if (due > now)
		nanosleep(&(struct timespec){(time_t)((due - now) / 1000000000u), (long)((due - now) % 1000000000u)}, NULL);
}

/* --- the checker shared by both sides ------------------------------------- */
struct check {
	uint64_t count, distinct, dups, flagged_dups, unflagged, order_bad, bad_id, max_first;
	bool any;
	uint8_t *seen;
	uint64_t *lat;   /* first-arrival latencies */
	uint64_t first_ns, last_ns;
};

static void check_init(struct check *c, uint64_t count)
{
	memset(c, 0, sizeof(*c));
	c->count = count;
	c->seen = calloc(count, 1);
	c->lat = calloc(count, sizeof(uint64_t));
	if (!c->seen || !c->lat)
		die("memory", "calloc");
}

/* one arrival: its sequence number, enqueue time, whether it says "redelivered" */
static void check_one(struct check *c, uint64_t seq, uint64_t t, bool flagged)
{
	uint64_t now = now_ns();
	if (!c->first_ns)
		c->first_ns = now;
	c->last_ns = now;
	if (seq >= c->count) {
		c->bad_id++;
		return;
	}
	if (c->seen[seq]) {
		c->dups++;
		if (flagged)
			c->flagged_dups++;
		else
			c->unflagged++;
		return;
	}
	if (c->any && seq < c->max_first)
		c->order_bad++;
	if (!c->any || seq > c->max_first)
		c->max_first = seq;
	c->any = true;
	c->seen[seq] = 1;
	c->lat[c->distinct++] = now > t ? now - t : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int check_report(struct check *c, const char *side)
{
	uint64_t lost = c->count - c->distinct;
	qsort(c->lat, c->distinct, sizeof(uint64_t), cmp_u64);
	double secs = c->last_ns > c->first_ns ? (double)(c->last_ns - c->first_ns) / 1e9 : 0;
	printf("%s: distinct=%" PRIu64 " lost=%" PRIu64 " dups=%" PRIu64 " flagged_dups=%" PRIu64
	       " unflagged_dups=%" PRIu64 " order_violations=%" PRIu64 " bad_identity=%" PRIu64
	       " rate=%.0f/s",
	       side, c->distinct, lost, c->dups, c->flagged_dups, c->unflagged, c->order_bad, c->bad_id,
	       secs > 0 ? (double)c->distinct / secs : 0.0);
	if (c->distinct)
		printf(" latency_us p50=%.0f p99=%.0f max=%.0f", (double)c->lat[c->distinct / 2] / 1e3,
		       (double)c->lat[c->distinct * 99 / 100] / 1e3, (double)c->lat[c->distinct - 1] / 1e3);
	printf("\n");
	fflush(stdout);
	free(c->seen);
	free(c->lat);
	return lost || c->unflagged || c->order_bad || c->bad_id ? 1 : 0;
}

/* --- pmq ------------------------------------------------------------------- */
static int pmq_create_cmd(char **a, int n)
{
	struct pmq_config cfg;
	pmq_config_init(&cfg);
	if (n > 5) {
		cfg.groups = a[5];
		cfg.max_groups = 4;
	}
	cfg.dir = a[0];
	cfg.max_payload = (uint32_t)atoi(a[2]);
	cfg.consumer_quota = (uint32_t)atoi(a[3]);
	cfg.slot_count = (uint32_t)atoi(a[4]);
	cfg.max_deliveries = 100000; /* the kill rounds redeliver; nothing may be dead-lettered */
	pmq_t *q;
	int r = pmq_create(a[1], &cfg, &q);
	if (r < 0)
		die("pmq_create", pmq_errmsg());
	pmq_close(q);
	return 0;
}

static pmq_t *open_q(const char *dir, const char *name, unsigned flags)
{
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.dir = dir;
	pmq_t *q;
	int r = pmq_open_ex(name, flags, &o, &q);
	if (r < 0)
		die("pmq_open", pmq_strerror(r));
	return q;
}

static int pmq_produce_cmd(char **a, int n)
{
	pmq_t *q = open_q(a[0], a[1], PMQ_PRODUCER);
	uint64_t from = strtoull(a[2], NULL, 10), count = strtoull(a[3], NULL, 10);
	size_t size = (size_t)atoi(a[4]);
	double rate = n > 5 ? atof(a[5]) : 0;
	char *buf = malloc(size + 64);
	uint64_t start = now_ns();
	for (uint64_t i = 0; i < count; i++) {
		pace(start, i, rate);
		size_t len = make_body(buf, size + 64, size, from + i);
		int r = pmq_send(q, buf, len, 0);
		if (r < 0)
			die("pmq_send", pmq_strerror(r));
	}
	free(buf);
	pmq_close(q);
	return 0;
}

static uint32_t get_le(const unsigned char *p, int n)
{
	uint32_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static int pmq_verify_cmd(char **a)
{
	pmq_t *q = open_q(a[0], a[1], PMQ_CONSUMER);
	struct check c;
	check_init(&c, strtoull(a[2], NULL, 10));
	uint64_t idle_ns = strtoull(a[3], NULL, 10) * 1000000000ull;
	while (c.distinct < c.count) {
		struct pmq_msg m;
		int r = pmq_recv_timeout(q, &m, idle_ns);
		if (r == -ETIMEDOUT)
			break;
		if (r < 0)
			die("pmq_recv", pmq_strerror(r));
		const unsigned char *p = m.data;
		uint64_t seq, t;
		char want[64];
		if (getenv("SHOVEL_KIT_RAW")) {
			if (parse_body(p, m.len, &seq, &t))
				check_one(&c, seq, t, m.delivery_count > 1);
			else
				c.bad_id++;
			pmq_ack(q, &m);
			continue;
		}
		/* the envelope (docs/bridge.md): magic, version, flags, id length,
		 * delivery count, body offset, timestamp, id */
		if (m.len < 24 || memcmp(p, "PQAM", 4) || p[4] != 1) {
			c.bad_id++;
		} else {
			unsigned flags = p[5], idlen = get_le(p + 6, 2), dc = get_le(p + 8, 4), off = get_le(p + 12, 4);
			if (off != 24 + idlen || off > m.len || !parse_body(p + off, m.len - off, &seq, &t)) {
				c.bad_id++;
			} else {
				int wl = snprintf(want, sizeof(want), "t:%" PRIu64, seq);
				if ((int)idlen != wl || memcmp(p + 24, want, idlen) || !(flags & 2))
					c.bad_id++;
				else
					check_one(&c, seq, t, (flags & 1) || dc > 1);
			}
		}
		pmq_ack(q, &m);
	}
	pmq_close(q);
	return check_report(&c, "pmq");
}

/* --- AMQP ------------------------------------------------------------------ */
static const char *env_or(const char *k, const char *d)
{
	const char *v = getenv(k);
	return v && *v ? v : d;
}

static void ok_rpc(amqp_rpc_reply_t r, const char *what)
{
	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return;
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
		die(what, amqp_error_string2(r.library_error));
	if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
		amqp_channel_close_t *m = r.reply.decoded;
		fprintf(stderr, "shovel_testkit: %s: %.*s\n", what, (int)m->reply_text.len, (char *)m->reply_text.bytes);
	} else if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
		amqp_connection_close_t *m = r.reply.decoded;
		fprintf(stderr, "shovel_testkit: %s: %.*s\n", what, (int)m->reply_text.len, (char *)m->reply_text.bytes);
	}
	exit(2);
}

static amqp_connection_state_t amqp_up(void)
{
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *s = amqp_tcp_socket_new(c);
	if (amqp_socket_open(s, env_or("AMQP_HOST", "127.0.0.1"), atoi(env_or("AMQP_PORT", "5672"))))
		die("connect", "failed");
	ok_rpc(amqp_login(c, env_or("AMQP_VHOST", "/"), 1, AMQP_DEFAULT_FRAME_SIZE, 0, AMQP_SASL_METHOD_PLAIN,
			  env_or("AMQP_USER", "guest"), env_or("AMQP_PASS", "guest")),
	       "login");
	amqp_channel_open(c, 1);
	ok_rpc(amqp_get_rpc_reply(c), "channel.open");
	return c;
}

static void amqp_down(amqp_connection_state_t c)
{
	amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
	amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(c);
}

static int amqp_declare_cmd(char **a)
{
	amqp_connection_state_t c = amqp_up();
	char dlq[300];
	snprintf(dlq, sizeof(dlq), "%s.dlq", a[0]);
	amqp_table_entry_t e[4] = {
		{.key = amqp_cstring_bytes("x-queue-type"), .value = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes("quorum")}},
		{.key = amqp_cstring_bytes("x-dead-letter-exchange"), .value = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes("")}},
		{.key = amqp_cstring_bytes("x-dead-letter-routing-key"), .value = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(dlq)}},
		/* as docs/bridge.md asks of a queue the shovel does not declare itself */
		{.key = amqp_cstring_bytes("x-single-active-consumer"), .value = {.kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1}},
	};
	amqp_queue_declare(c, 1, amqp_cstring_bytes(dlq), 0, 1, 0, 0, (amqp_table_t){1, e});
	ok_rpc(amqp_get_rpc_reply(c), "declare dlq");
	amqp_queue_declare(c, 1, amqp_cstring_bytes(a[0]), 0, 1, 0, 0, (amqp_table_t){4, e});
	ok_rpc(amqp_get_rpc_reply(c), "declare");
	amqp_down(c);
	return 0;
}

/* Wait for confirms until at most `keep` are outstanding. */
static void await_confirms(amqp_connection_state_t c, uint64_t *acked, uint64_t sent, uint64_t keep)
{
	while (sent - *acked > keep) {
		amqp_frame_t f;
		if (amqp_simple_wait_frame(c, &f) != AMQP_STATUS_OK)
			die("publish", "connection lost while waiting for confirms");
		if (f.frame_type != AMQP_FRAME_METHOD)
			continue;
		if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
			amqp_basic_ack_t *k = f.payload.method.decoded;
			if (k->delivery_tag > *acked)
				*acked = k->delivery_tag; /* multiple or not, tags confirm in order here */
		} else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
			die("publish", "broker nacked a message");
		} else if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
			die("publish", "channel closed");
		}
	}
}

static int amqp_publish_cmd(char **a, int n)
{
	amqp_connection_state_t c = amqp_up();
	uint64_t from = strtoull(a[1], NULL, 10), count = strtoull(a[2], NULL, 10);
	size_t size = (size_t)atoi(a[3]);
	double rate = n > 4 ? atof(a[4]) : 0;
	char *buf = malloc(size + 64);
	amqp_confirm_select(c, 1);
	ok_rpc(amqp_get_rpc_reply(c), "confirm.select");
	uint64_t acked = 0, start = now_ns();
	for (uint64_t i = 0; i < count; i++) {
		pace(start, i, rate);
		size_t len = make_body(buf, size + 64, size, from + i);
		char id[64];
		snprintf(id, sizeof(id), "t:%" PRIu64, from + i);
		amqp_basic_properties_t p = {.delivery_mode = 2, .message_id = amqp_cstring_bytes(id),
					     .timestamp = now_ns() / 1000000000u};
		p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG;
		if (amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(a[0]), 0, 0, &p,
				       (amqp_bytes_t){len, buf}))
			die("publish", "failed");
		await_confirms(c, &acked, i + 1, rate > 0 ? 0 : 1000);
		amqp_maybe_release_buffers(c);
	}
	await_confirms(c, &acked, count, 0);
	free(buf);
	amqp_down(c);
	return 0;
}

static const amqp_field_value_t *hdr(const amqp_basic_properties_t *p, const char *k)
{
	if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG))
		return NULL;
	for (int i = 0; i < p->headers.num_entries; i++)
		if (p->headers.entries[i].key.len == strlen(k) && !memcmp(p->headers.entries[i].key.bytes, k, strlen(k)))
			return &p->headers.entries[i].value;
	return NULL;
}

static int amqp_verify_cmd(char **a)
{
	amqp_connection_state_t c = amqp_up();
	struct check ck;
	check_init(&ck, strtoull(a[1], NULL, 10));
	uint64_t *ticket_of = calloc(ck.count, sizeof(uint64_t)); /* ticket + 1 of each seq's first arrival */
	int idle = atoi(a[2]);
	amqp_basic_qos(c, 1, 0, 2000, 0);
	ok_rpc(amqp_get_rpc_reply(c), "qos");
	amqp_basic_consume(c, 1, amqp_cstring_bytes(a[0]), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
	ok_rpc(amqp_get_rpc_reply(c), "consume");
	unsigned unacked = 0;
	uint64_t last_tag = 0;
	while (ck.distinct < ck.count) {
		amqp_envelope_t env;
		amqp_maybe_release_buffers(c);
		struct timeval tv = {idle, 0};
		amqp_rpc_reply_t r = amqp_consume_message(c, &env, &tv, 0);
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
			break;
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
			amqp_frame_t f; /* not a delivery: say which, stop on a close */
			if (amqp_simple_wait_frame(c, &f) != AMQP_STATUS_OK)
				die("consume", "connection lost");
			if (f.frame_type == AMQP_FRAME_METHOD) {
				fprintf(stderr, "shovel_testkit: broker sent %s while consuming\n",
					amqp_method_name(f.payload.method.id));
				if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
				    f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD)
					exit(2);
			}
			continue;
		}
		ok_rpc(r, "consume_message");
		const amqp_basic_properties_t *p = &env.message.properties;
		uint64_t seq, t, epoch, ticket;
		const amqp_field_value_t *dc = hdr(p, "x-pmq-delivery-count"), *rd = hdr(p, "x-pmq-redelivered"),
					 *tk = hdr(p, "x-pmq-ticket"), *ts = hdr(p, "x-pmq-timestamp-ns");
		char idbuf[80] = "";
		if (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG && p->message_id.len < sizeof(idbuf))
			memcpy(idbuf, p->message_id.bytes, p->message_id.len);
		bool good = parse_body(env.message.body.bytes, env.message.body.len, &seq, &t) && dc && rd && tk && ts &&
			    p->delivery_mode == 2 && (p->_flags & AMQP_BASIC_TIMESTAMP_FLAG) &&
			    sscanf(idbuf, "pmq:%" SCNu64 ":%" SCNu64, &epoch, &ticket) == 2 &&
			    tk->value.i64 == (int64_t)ticket && p->timestamp == (uint64_t)ts->value.i64 / 1000000000u &&
			    rd->value.boolean == (dc->value.i64 > 1);
		if (getenv("SHOVEL_KIT_RAW")) {
			good = parse_body(env.message.body.bytes, env.message.body.len, &seq, &t);
			dc = NULL;
		}
		/* the same message keeps its identity across redeliveries */
		if (good && dc && seq < ck.count) {
			if (ticket_of[seq] && ticket_of[seq] != ticket + 1)
				good = false;
			ticket_of[seq] = ticket + 1;
		}
		if (good)
			check_one(&ck, seq, t, dc ? dc->value.i64 > 1 : env.redelivered);
		else
			ck.bad_id++;
		last_tag = env.delivery_tag;
		amqp_destroy_envelope(&env);
		if (++unacked >= 500) {
			amqp_basic_ack(c, 1, last_tag, 1);
			unacked = 0;
		}
	}
	if (unacked)
		amqp_basic_ack(c, 1, last_tag, 1);
	amqp_down(c);
	free(ticket_of);
	return check_report(&ck, "amqp");
}

static int amqp_count_cmd(char **a)
{
	amqp_connection_state_t c = amqp_up();
	amqp_queue_declare_ok_t *ok = amqp_queue_declare(c, 1, amqp_cstring_bytes(a[0]), 1, 0, 0, 0, amqp_empty_table);
	ok_rpc(amqp_get_rpc_reply(c), "declare passive");
	printf("%u\n", ok->message_count);
	amqp_down(c);
	return 0;
}

static int amqp_get_cmd(char **a)
{
	amqp_connection_state_t c = amqp_up();
	amqp_rpc_reply_t r = amqp_basic_get(c, 1, amqp_cstring_bytes(a[0]), 1);
	ok_rpc(r, "basic.get");
	if (r.reply.id != AMQP_BASIC_GET_OK_METHOD) {
		printf("empty\n");
		amqp_down(c);
		return 1;
	}
	amqp_message_t m;
	ok_rpc(amqp_read_message(c, 1, &m, 0), "read");
	printf("id=%.*s size=%zu\n", (int)m.properties.message_id.len, (char *)m.properties.message_id.bytes,
	       m.body.len);
	amqp_destroy_message(&m);
	amqp_down(c);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int args;
		int (*fn)(char **, int);
	} cmds[] = {
		{"pmq-create", 5, NULL}, {"pmq-produce", 5, pmq_produce_cmd}, {"pmq-verify", 4, NULL},
		{"amqp-declare", 1, NULL}, {"amqp-publish", 4, amqp_publish_cmd}, {"amqp-verify", 3, NULL},
		{"amqp-count", 1, NULL}, {"amqp-get", 1, NULL},
	};
	if (argc < 2)
		die("usage", "see the comment at the top of shovel_testkit.c");
	char **a = argv + 2;
	int n = argc - 2;
	for (unsigned i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name))
			continue;
		if (n < cmds[i].args)
			die(argv[1], "too few arguments");
		if (cmds[i].fn)
			return cmds[i].fn(a, n);
		switch (i) {
		case 0: return pmq_create_cmd(a, n);
		case 2: return pmq_verify_cmd(a);
		case 3: return amqp_declare_cmd(a);
		case 5: return amqp_verify_cmd(a);
		case 6: return amqp_count_cmd(a);
		case 7: return amqp_get_cmd(a);
		}
	}
	die("unknown command", argv[1]);
	return 2;
}
