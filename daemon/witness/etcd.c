/*
 * etcd.c - etcd v3 through the JSON gateway (etcd 3.4 serves it at /v3/):
 * one blocking POST per call, endpoints tried in turn, an optional auth token
 * (/v3/auth/authenticate) re-fetched once when etcd says it is invalid.
 * Every reply is parsed strictly: a field that is missing where it must be,
 * or of the wrong type, is -EPROTO, never a default.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"

#define REPLY_MAX (256u << 10)

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t b64_encode(const void *in, size_t n, char *out, size_t cap)
{
	const unsigned char *p = in;
	size_t o = 0;
	if (cap < (n + 2) / 3 * 4 + 1)
		return 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
		out[o++] = B64[v >> 18 & 63];
		out[o++] = B64[v >> 12 & 63];
		out[o++] = i + 1 < n ? B64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? B64[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

static int b64_val(char c)
{
	const char *p = c ? strchr(B64, c) : NULL;
	return p ? (int)(p - B64) : -1;
}

int b64_decode(const char *in, void *out, size_t cap, size_t *outlen)
{
	size_t n = strlen(in), o = 0;
	unsigned char *d = out;
	if (n % 4)
		return -EPROTO;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad || (v[k] = b64_val(in[i + k])) < 0)
				return -EPROTO; /* a character after '=' or outside the alphabet */
		}
		unsigned x = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
		size_t k = 3 - (size_t)pad;
		if (o + k > cap)
			return -EMSGSIZE;
		for (size_t b = 0; b < k; b++)
			d[o++] = (unsigned char)(x >> (16 - 8 * b));
	}
	*outlen = o;
	return 0;
}

int etcd_init(struct etcd *e, const char *spec, bool tls)
{
	const char *p = spec;
	if (strncmp(p, "etcd://", 7)) {
		snprintf(e->err, sizeof(e->err), "\"%s\" does not start with etcd:// --> use etcd://HOST:PORT[,HOST:PORT]",
			 spec);
		return -EINVAL;
	}
	p += 7;
	e->n = 0;
	while (*p) {
		size_t l = strcspn(p, ",");
		const char *colon = memchr(p, ':', l);
		if (!l || !colon || colon == p || colon + 1 == p + l || e->n == ETCD_MAX_ENDPOINTS || l > 255 ||
		    strspn(colon + 1, "0123456789") != (size_t)(p + l - colon - 1)) {
			snprintf(e->err, sizeof(e->err), "bad endpoint \"%.*s\" in %s --> HOST:PORT, at most %d of them",
				 (int)(l > 100 ? 100 : l), p, spec, ETCD_MAX_ENDPOINTS);
			return -EINVAL;
		}
		snprintf(e->url[e->n++], sizeof(e->url[0]), "%s://%.*s", tls ? "https" : "http", (int)l, p);
		p += l;
		if (*p == ',')
			p++;
	}
	if (!e->n) {
		snprintf(e->err, sizeof(e->err), "no endpoint in %s", spec);
		return -EINVAL;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	e->curl = curl_easy_init();
	return e->curl ? 0 : -ENOMEM;
}

void etcd_fini(struct etcd *e)
{
	if (e->curl)
		curl_easy_cleanup(e->curl);
	e->curl = NULL;
}

struct body {
	char *p;
	size_t n;
	bool over;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *arg)
{
	struct body *b = arg;
	size_t n = sz * nm;
	if (b->n + n > REPLY_MAX) {
		b->over = true;
		return 0;
	}
	char *np = realloc(b->p, b->n + n + 1);
	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->n, d, n);
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

/* POST body to one endpoint; the parsed reply (an object) or -errno. */
static int post_one(struct etcd *e, const char *url, const char *path, const char *req, json_t **out,
		    long *http, unsigned timeout_ms)
{
	CURL *c = e->curl;
	char full[400], auth[600], detail[CURL_ERROR_SIZE] = "";
	struct body b = { 0 };
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	if (e->token[0]) {
		snprintf(auth, sizeof(auth), "Authorization: %s", e->token);
		h = curl_slist_append(h, auth);
	}
	snprintf(full, sizeof(full), "%s%s", url, path);
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, full);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, req);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, detail); /* e.g. which certificate check failed */
	if (e->cacert[0])
		curl_easy_setopt(c, CURLOPT_CAINFO, e->cacert);
	if (e->cert[0])
		curl_easy_setopt(c, CURLOPT_SSLCERT, e->cert);
	if (e->keyfile[0])
		curl_easy_setopt(c, CURLOPT_SSLKEY, e->keyfile);
	CURLcode r = curl_easy_perform(c);
	curl_slist_free_all(h);
	*http = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, http);
	if (r != CURLE_OK) {
		free(b.p);
		bool tls = r == CURLE_PEER_FAILED_VERIFICATION || r == CURLE_SSL_CACERT_BADFILE || r == CURLE_SSL_CONNECT_ERROR ||
			   r == CURLE_SSL_CERTPROBLEM || r == CURLE_SSL_CIPHER ||
			   /* etcd refusing our certificate (or its absence) shows as a send or receive error */
			   (!strncmp(url, "https:", 6) && (r == CURLE_SEND_ERROR || r == CURLE_RECV_ERROR));
		snprintf(e->err, sizeof(e->err), "%s: %s%s%s%s", full, b.over ? "reply too large" : curl_easy_strerror(r),
			 detail[0] ? " (" : "", detail, detail[0] ? ")" : "");
		if (tls) {
			size_t l = strlen(e->err);
			snprintf(e->err + l, sizeof(e->err) - l, " --> TLS to etcd failed: check --witness-cacert (the CA "
				 "that signed etcd's certificate) and, if etcd checks clients, --witness-cert/--witness-key-file");
		}
		return r == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : b.over ? -EPROTO : -ECONNREFUSED;
	}
	json_error_t je;
	json_t *j = b.p ? json_loadb(b.p, b.n, JSON_REJECT_DUPLICATES, &je) : NULL;
	free(b.p);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		snprintf(e->err, sizeof(e->err), "%s: HTTP %ld, the reply is not a JSON object", full, *http);
		return -EPROTO;
	}
	*out = j;
	return 0;
}

static int authenticate(struct etcd *e, const char *url, unsigned timeout_ms);

/* One call: each endpoint in turn from the last good one; a gateway error
 * reply ({"error"/"message", "code"}) becomes -EIO/-EACCES with its text. */
static int call(struct etcd *e, const char *path, json_t *req_j, json_t **out, unsigned timeout_ms)
{
	char *req = json_dumps(req_j, JSON_COMPACT);
	json_decref(req_j);
	if (!req)
		return -ENOMEM;
	int r = -ECONNREFUSED;
	for (int t = 0; t < e->n; t++) {
		const char *url = e->url[(e->cur + t) % e->n];
		if (e->user[0] && !e->token[0] && (r = authenticate(e, url, timeout_ms)) < 0) {
			if (r == -EACCES)
				break;
			continue;
		}
		long http;
		json_t *j = NULL;
		for (int again = 0; again < 2; again++) {
			r = post_one(e, url, path, req, &j, &http, timeout_ms);
			if (r < 0)
				break;
			json_t *code = json_object_get(j, "code");
			const char *msg = json_string_value(json_object_get(j, "message"));
			if (!msg)
				msg = json_string_value(json_object_get(j, "error"));
			if (http == 200 && !code) {
				e->cur = (e->cur + t) % e->n;
				*out = j;
				free(req);
				return 0;
			}
			snprintf(e->err, sizeof(e->err), "%s%s: HTTP %ld: %s", url, path, http, msg ? msg : "(no message)");
			json_decref(j);
			j = NULL;
			r = -EIO;
			if (msg && strstr(msg, "invalid auth token") && e->user[0] && !again) {
				e->token[0] = '\0';
				if (authenticate(e, url, timeout_ms) == 0)
					continue; /* the token expired: once more with a fresh one */
			}
			if (msg && (strstr(msg, "permission denied") || strstr(msg, "authentication")))
				r = -EACCES;
			break;
		}
		if (r == -EIO || r == -EACCES || r == -EPROTO)
			break; /* etcd answered: another endpoint would say the same */
	}
	free(req);
	return r;
}

static int authenticate(struct etcd *e, const char *url, unsigned timeout_ms)
{
	json_t *req = json_pack("{s:s, s:s}", "name", e->user, "password", e->password);
	char *s = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!s)
		return -ENOMEM;
	json_t *j = NULL;
	long http;
	int r = post_one(e, url, "/v3/auth/authenticate", s, &j, &http, timeout_ms);
	free(s);
	if (r < 0)
		return r;
	const char *tok = json_string_value(json_object_get(j, "token"));
	if (http != 200 || !tok || strlen(tok) >= sizeof(e->token)) {
		const char *msg = json_string_value(json_object_get(j, "message"));
		snprintf(e->err, sizeof(e->err), "%s: authentication as \"%s\" refused: %s --> check the user and the "
			 "password file", url, e->user, msg ? msg : "no token in the reply");
		json_decref(j);
		return -EACCES;
	}
	snprintf(e->token, sizeof(e->token), "%s", tok);
	json_decref(j);
	return 0;
}

/* An int64 the gateway sends as a string ("123"); absent means 0 (proto3
 * leaves zero values out); anything else is -EPROTO. */
static int get_i64(struct etcd *e, json_t *o, const char *name, int64_t *v)
{
	json_t *f = json_object_get(o, name);
	*v = 0;
	if (!f)
		return 0;
	const char *s = json_string_value(f);
	char *end;
	errno = 0;
	long long x = s ? strtoll(s, &end, 10) : 0;
	if (!s || !*s || *end || errno) {
		snprintf(e->err, sizeof(e->err), "etcd reply: field \"%s\" is not an int64 string", name);
		return -EPROTO;
	}
	*v = x;
	return 0;
}

int etcd_lease_grant(struct etcd *e, int64_t ttl_s, int64_t *id, int64_t *granted_s, unsigned timeout_ms)
{
	json_t *j;
	int r = call(e, "/v3/lease/grant", json_pack("{s:I}", "TTL", (json_int_t)ttl_s), &j, timeout_ms);
	if (r < 0)
		return r;
	if ((r = get_i64(e, j, "ID", id)) == 0 && (r = get_i64(e, j, "TTL", granted_s)) == 0 && (*id == 0 || *granted_s <= 0)) {
		snprintf(e->err, sizeof(e->err), "etcd lease grant: no lease in the reply (%s)",
			 json_string_value(json_object_get(j, "error")) ? json_string_value(json_object_get(j, "error")) : "");
		r = -EPROTO;
	}
	json_decref(j);
	return r;
}

int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl_s, unsigned timeout_ms)
{
	char ids[32];
	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	json_t *j;
	int r = call(e, "/v3/lease/keepalive", json_pack("{s:s}", "ID", ids), &j, timeout_ms);
	if (r < 0)
		return r;
	/* a stream of one message: {"result": {"ID": ..., "TTL": ...}}; no TTL = the lease is gone */
	json_t *res = json_object_get(j, "result");
	int64_t got = 0;
	if (!json_is_object(res)) {
		snprintf(e->err, sizeof(e->err), "etcd keepalive: no \"result\" object in the reply");
		r = -EPROTO;
	} else if ((r = get_i64(e, res, "TTL", ttl_s)) == 0 && (r = get_i64(e, res, "ID", &got)) == 0 && got != id) {
		snprintf(e->err, sizeof(e->err), "etcd keepalive: the reply is for lease %lld, not %lld", (long long)got,
			 (long long)id);
		r = -EPROTO;
	}
	json_decref(j);
	return r;
}

int etcd_lease_revoke(struct etcd *e, int64_t id, unsigned timeout_ms)
{
	char ids[32];
	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	json_t *j;
	int r = call(e, "/v3/lease/revoke", json_pack("{s:s}", "ID", ids), &j, timeout_ms);
	if (r == 0)
		json_decref(j);
	return r;
}

static int parse_kv(struct etcd *e, json_t *kvs, struct etcd_kv *kv)
{
	memset(kv, 0, sizeof(*kv));
	if (!kvs)
		return 0; /* proto3: an empty list is left out */
	if (!json_is_array(kvs) || json_array_size(kvs) > 1) {
		snprintf(e->err, sizeof(e->err), "etcd range reply: \"kvs\" is not a list of at most one key");
		return -EPROTO;
	}
	if (!json_array_size(kvs))
		return 0;
	json_t *o = json_array_get(kvs, 0);
	const char *v = json_string_value(json_object_get(o, "value"));
	int r;
	if (!json_is_object(o) || (r = get_i64(e, o, "create_revision", &kv->create_revision)) ||
	    (r = get_i64(e, o, "lease", &kv->lease)) || kv->create_revision <= 0) {
		snprintf(e->err, sizeof(e->err), "etcd range reply: a key without a create_revision");
		return -EPROTO;
	}
	if (v && (r = b64_decode(v, kv->value, ETCD_VALUE_MAX, &kv->value_len)) < 0) {
		snprintf(e->err, sizeof(e->err), "etcd range reply: the value is not base64 of at most %d bytes",
			 ETCD_VALUE_MAX);
		return -EPROTO;
	}
	kv->value[kv->value_len] = '\0';
	kv->found = true;
	return 0;
}

int etcd_get(struct etcd *e, const char *key, struct etcd_kv *kv, unsigned timeout_ms)
{
	char k64[1400];
	if (!b64_encode(key, strlen(key), k64, sizeof(k64)))
		return -ENAMETOOLONG;
	json_t *j;
	int r = call(e, "/v3/kv/range", json_pack("{s:s}", "key", k64), &j, timeout_ms);
	if (r < 0)
		return r;
	r = parse_kv(e, json_object_get(j, "kvs"), kv);
	json_decref(j);
	return r;
}

int etcd_create(struct etcd *e, const char *key, const char *value, int64_t lease, bool *won, int64_t *rev,
		struct etcd_kv *cur, unsigned timeout_ms)
{
	char k64[1400], v64[ETCD_VALUE_MAX * 2], ls[32];
	if (!b64_encode(key, strlen(key), k64, sizeof(k64)) || !b64_encode(value, strlen(value), v64, sizeof(v64)))
		return -ENAMETOOLONG;
	snprintf(ls, sizeof(ls), "%lld", (long long)lease);
	/* create_revision == 0: the key does not exist */
	json_t *req = json_pack("{s:[{s:s, s:s, s:s, s:s}], s:[{s:{s:s, s:s, s:s}}], s:[{s:{s:s}}]}",
		"compare", "target", "CREATE", "result", "EQUAL", "key", k64, "createRevision", "0",
		"success", "requestPut", "key", k64, "value", v64, "lease", ls,
		"failure", "requestRange", "key", k64);
	json_t *j;
	int r = call(e, "/v3/kv/txn", req, &j, timeout_ms);
	if (r < 0)
		return r;
	json_t *succ = json_object_get(j, "succeeded");
	json_t *hdr = json_object_get(j, "header");
	json_t *resp = json_object_get(j, "responses");
	*won = succ && json_is_true(succ);
	if ((succ && !json_is_boolean(succ)) || !json_is_object(hdr) || !json_is_array(resp) || json_array_size(resp) != 1) {
		snprintf(e->err, sizeof(e->err), "etcd txn reply: not the shape of a one-operation txn");
		r = -EPROTO;
	} else if (*won) {
		/* the put's revision is the key's create_revision (the key did not exist) */
		r = get_i64(e, hdr, "revision", rev);
		if (!r && *rev <= 0)
			r = -EPROTO;
	} else {
		json_t *rr = json_object_get(json_array_get(resp, 0), "response_range");
		r = json_is_object(rr) ? parse_kv(e, json_object_get(rr, "kvs"), cur) : -EPROTO;
		if (r == -EPROTO && !json_is_object(rr))
			snprintf(e->err, sizeof(e->err), "etcd txn reply: the failure branch has no range response");
	}
	json_decref(j);
	return r;
}

int etcd_authenticate(struct etcd *e, unsigned timeout_ms)
{
	if (!e->user[0] || e->token[0])
		return 0;
	int r = -ECONNREFUSED;
	for (int t = 0; t < e->n; t++) {
		int i = (e->cur + t) % e->n;
		if ((r = authenticate(e, e->url[i], timeout_ms)) == 0) {
			e->cur = i;
			return 0;
		}
		if (r == -EACCES)
			break; /* etcd answered: another endpoint would say the same */
	}
	return r;
}
