/*
 * metrics_http.c - serves GET /metrics with libmicrohttpd on one thread of its
 * own (MHD's internal polling thread). Anything but /metrics is 404, any
 * method but GET or HEAD is 405. The listening socket is made here, so a bad
 * or busy address fails pmqd's start with the exact errno.
 *
 * The page is rendered per request (metrics_text.c); that thread registers
 * with RCU at its first request and unregisters when MHD ends it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "metrics.h"
#include "pmqd.h"

#define METRICS_CONN_LIMIT 32
#define METRICS_CONN_TIMEOUT_S 10
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static struct MHD_Daemon *mhd;
static int listen_fd = -1;
static pthread_key_t rcu_key;
static bool rcu_key_made;
static __thread bool rcu_registered;

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static void rcu_unregister_at_exit(void *unused)
{
	(void)unused;
	rcu_unregister_thread();
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *body, size_t len, bool owned)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body,
								 owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, status == MHD_HTTP_OK ? CONTENT_TYPE : "text/plain");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **req_cls)
{
	static char not_found[] = "not found: pmqd serves /metrics only\n";
	static char not_allowed[] = "method not allowed: use GET /metrics\n";
	static char no_memory[] = "out of memory rendering /metrics\n";
	(void)cls;
	(void)version;
	(void)upload;
	if (*upload_size) { /* a body we do not want: swallow it, answer at the end */
		*upload_size = 0;
		return MHD_YES;
	}
	(void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed, sizeof(not_allowed) - 1, false);
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, not_found, sizeof(not_found) - 1, false);
	if (!rcu_registered) {
		rcu_register_thread();
		pthread_setspecific(rcu_key, (void *)1); /* unregister when MHD ends this thread */
		rcu_registered = true;
	}
	struct mtext t = { 0 };
	metrics_render(&t);
	if (t.oom || !t.p) {
		mtext_free(&t);
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, no_memory, sizeof(no_memory) - 1, false);
	}
	return reply(c, MHD_HTTP_OK, t.p, t.len, true); /* MHD frees t.p */
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_msg(LOG_WARNING, "metrics: %s", buf);
}

int metrics_start(const char *listen_spec)
{
	if (!listen_spec || !*listen_spec)
		return 0;
	struct sockaddr_storage ss;
	socklen_t sl;
	char err[300];
	if (metrics_parse_listen(listen_spec, &ss, &sl, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "--metrics-listen: %s --> use HOST:PORT, e.g. 127.0.0.1:9187", err);
		return -1;
	}
	listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (listen_fd < 0 || setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(listen_fd, (struct sockaddr *)&ss, sl) < 0 || listen(listen_fd, 64) < 0) {
		log_msg(LOG_ERR, "metrics: cannot listen on %s: %s --> pick a free port or drop --metrics-listen",
			listen_spec, strerror(errno));
		if (listen_fd >= 0)
			close(listen_fd);
		listen_fd = -1;
		return -1;
	}
	if (!rcu_key_made) {
		if (pthread_key_create(&rcu_key, rcu_unregister_at_exit) != 0) {
			log_msg(LOG_ERR, "metrics: cannot create a thread key");
			close(listen_fd);
			listen_fd = -1;
			return -1;
		}
		rcu_key_made = true;
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
			       MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_CONNECTION_LIMIT,
			       (unsigned)METRICS_CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
			       (unsigned)METRICS_CONN_TIMEOUT_S, MHD_OPTION_END);
	if (!mhd) {
		log_msg(LOG_ERR, "metrics: cannot start the HTTP server on %s --> see the messages above", listen_spec);
		close(listen_fd);
		listen_fd = -1;
		return -1;
	}
	if (!is_loopback(&ss))
		log_msg(LOG_WARNING, "metrics: %s is not a loopback address: whoever reaches it sees queue names "
				     "and counts --> firewall it, or listen on 127.0.0.1", listen_spec);
	log_msg(LOG_NOTICE, "metrics: serving http://%s/metrics", listen_spec);
	return 0;
}

void metrics_stop(void)
{
	if (mhd) {
		MHD_stop_daemon(mhd); /* joins its thread: no request runs after this */
		mhd = NULL;
	}
	if (listen_fd >= 0) {
		close(listen_fd); /* MHD does not close a socket it was given */
		listen_fd = -1;
	}
}
