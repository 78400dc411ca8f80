/*
 * metrics.h - pmqd's Prometheus endpoint: GET /metrics in the text exposition
 * format (docs/pmqd.md lists every series). Off unless --metrics-listen is set.
 *
 *   metrics_http.c  the HTTP server (libmicrohttpd, one thread of its own)
 *   metrics_text.c  the page: a snapshot of the registry, then the text
 *
 * A scrape only reads: pmq_stats and pmq_repl_info on pmqd's observer handle
 * (under the queue's mutex, which only pmqd's threads take, never a producer
 * or consumer) and the registry's atomic counters inside an RCU read section.
 */
#ifndef PMQD_METRICS_H
#define PMQD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* metrics_http.c */
/* Parse "HOST:PORT" ("127.0.0.1:9187", "[::1]:9187", "localhost:9187").
 * 0, or -EINVAL with err naming the problem. */
int metrics_parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len, char *err,
			 size_t errlen);
/* Serve /metrics on `listen` ("" = off: returns 0 and does nothing). 0 or -1 (logged). */
int metrics_start(const char *listen);
void metrics_stop(void);

/* metrics_text.c */
struct mtext {
	char *p;
	size_t len, cap;
	bool oom;
};
/* Append the whole page to t (t->oom on allocation failure). The calling thread
 * must be registered with RCU. */
void metrics_render(struct mtext *t);
void mtext_free(struct mtext *t);

#endif
