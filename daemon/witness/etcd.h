/*
 * etcd.h - the few etcd v3 calls the witness needs, through etcd's JSON
 * gateway (POST /v3/...) with libcurl; replies parsed with jansson. Keys and
 * values travel base64-encoded; int64 fields come as JSON strings.
 */
#ifndef PMQ_WITNESS_ETCD_H
#define PMQ_WITNESS_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETCD_MAX_ENDPOINTS 8
#define ETCD_VALUE_MAX 512

struct etcd {
	char url[ETCD_MAX_ENDPOINTS][300]; /* http(s)://HOST:PORT */
	int n, cur;                         /* endpoints; the one that answered last */
	char cacert[4096], cert[4096], keyfile[4096];
	char user[128], password[256], token[512];
	void *curl;
	char err[1024];                     /* the last failure, for logs and status */
};

struct etcd_kv {
	bool found;
	int64_t create_revision, lease;
	char value[ETCD_VALUE_MAX + 1];
	size_t value_len;
};

/* "etcd://H:P[,H:P...]" (https when tls); 0 or -EINVAL with e->err set. */
int etcd_init(struct etcd *e, const char *spec, bool tls);
void etcd_fini(struct etcd *e);
/* With a user and no token yet: get one (the calls below do it too, within their own
 * timeout, but etcd's bcrypt check of the password can take longer than a renewal
 * may wait). 0, or -errno (-EACCES refused) with e->err set. */
int etcd_authenticate(struct etcd *e, unsigned timeout_ms);
/* Each call: 0, or -errno (-ETIMEDOUT/-ECONNREFUSED... unreachable, -EPROTO a reply
 * we cannot read, -EACCES auth) with e->err saying what; timeout_ms bounds it. */
int etcd_lease_grant(struct etcd *e, int64_t ttl_s, int64_t *id, int64_t *granted_s, unsigned timeout_ms);
/* *ttl_s is the lease's new TTL, 0 if etcd no longer knows the lease. */
int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl_s, unsigned timeout_ms);
int etcd_lease_revoke(struct etcd *e, int64_t id, unsigned timeout_ms);
/* Put key=value under lease only if the key does not exist: *won, and the
 * key's create_revision when won; when lost, *cur is the existing key. */
int etcd_create(struct etcd *e, const char *key, const char *value, int64_t lease, bool *won, int64_t *rev,
		struct etcd_kv *cur, unsigned timeout_ms);
int etcd_get(struct etcd *e, const char *key, struct etcd_kv *kv, unsigned timeout_ms);

/* base64 (RFC 4648, padded); decode is strict: -EPROTO on anything else. */
size_t b64_encode(const void *in, size_t n, char *out, size_t cap);
int b64_decode(const char *in, void *out, size_t cap, size_t *outlen);

#endif
