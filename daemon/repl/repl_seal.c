/*
 * repl_seal.c - AES-256-GCM records for the replication link (repl_seal.h):
 * session keys by HKDF-SHA256 (OpenSSL EVP_PKEY_HKDF), one cipher context
 * per direction kept for the session, the record's sequence number as IV.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl_seal.h"

struct rp_seal {
	EVP_CIPHER_CTX *ctx;
	uint64_t seq;   /* records sealed or opened so far in this direction */
	bool encrypt;
	bool sealing;   /* which of EVP_Encrypt / EVP_Decrypt the context was set up for */
	uint8_t key[32];
};

static int derive(const uint8_t *key, size_t keylen, const uint8_t ns[32], const uint8_t np[32], const char *dir,
		  bool encrypt, uint8_t out[32])
{
	uint8_t salt[64];
	memcpy(salt, ns, 32);
	memcpy(salt + 32, np, 32);
	char info[64];
	size_t il = (size_t)snprintf(info, sizeof(info), "pmq-repl-2 %s %s", dir, encrypt ? "aead" : "auth");
	EVP_PKEY_CTX *k = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	size_t outlen = 32;
	int ok = k && EVP_PKEY_derive_init(k) > 0 && EVP_PKEY_CTX_set_hkdf_md(k, EVP_sha256()) > 0 &&
		 EVP_PKEY_CTX_set1_hkdf_salt(k, salt, sizeof(salt)) > 0 &&
		 EVP_PKEY_CTX_set1_hkdf_key(k, key, (int)keylen) > 0 &&
		 EVP_PKEY_CTX_add1_hkdf_info(k, (const unsigned char *)info, (int)il) > 0 &&
		 EVP_PKEY_derive(k, out, &outlen) > 0 && outlen == 32;
	EVP_PKEY_CTX_free(k);
	return ok ? 0 : -EIO;
}

struct rp_seal *rp_seal_new(const uint8_t *key, size_t keylen, const uint8_t ns[32], const uint8_t np[32],
			    const char *dir, bool encrypt)
{
	struct rp_seal *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->encrypt = encrypt;
	s->ctx = EVP_CIPHER_CTX_new();
	if (!s->ctx || derive(key, keylen, ns, np, dir, encrypt, s->key)) {
		rp_seal_free(s);
		return NULL;
	}
	return s;
}

void rp_seal_free(struct rp_seal *s)
{
	if (!s)
		return;
	EVP_CIPHER_CTX_free(s->ctx);
	OPENSSL_cleanse(s->key, sizeof(s->key));
	free(s);
}

bool rp_seal_encrypts(const struct rp_seal *s) { return s->encrypt; }

static void make_iv(uint8_t iv[12], uint64_t seq)
{
	uint64_t le = htole64(seq);
	memcpy(iv, &le, 8);
	memset(iv + 8, 0, 4);
}

/* Set the context up for this record: key once per direction of use, IV every time. */
static int start(struct rp_seal *s, bool sealing)
{
	uint8_t iv[12];
	make_iv(iv, s->seq);
	if (s->sealing != sealing || s->seq == 0) {
		s->sealing = sealing;
		if (sealing ? EVP_EncryptInit_ex(s->ctx, EVP_aes_256_gcm(), NULL, s->key, iv) != 1
			    : EVP_DecryptInit_ex(s->ctx, EVP_aes_256_gcm(), NULL, s->key, iv) != 1)
			return -EIO;
		return 0;
	}
	return (sealing ? EVP_EncryptInit_ex(s->ctx, NULL, NULL, NULL, iv) : EVP_DecryptInit_ex(s->ctx, NULL, NULL, NULL, iv)) == 1
		       ? 0
		       : -EIO;
}

int rp_seal_record(struct rp_seal *s, uint8_t *rec, size_t len)
{
	if (len > RP_REC_MAX || start(s, true))
		return -EIO;
	uint32_t l = htole32((uint32_t)len);
	memcpy(rec, &l, RP_REC_HDR);
	uint8_t *body = rec + RP_REC_HDR;
	int n = 0;
	/* the length is always additional data; the body is too when it is not encrypted */
	if (EVP_EncryptUpdate(s->ctx, NULL, &n, rec, RP_REC_HDR) != 1)
		return -EIO;
	if (len && (s->encrypt ? EVP_EncryptUpdate(s->ctx, body, &n, body, (int)len)
			       : EVP_EncryptUpdate(s->ctx, NULL, &n, body, (int)len)) != 1)
		return -EIO;
	if (EVP_EncryptFinal_ex(s->ctx, body + len, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_GET_TAG, RP_REC_TAG, body + len) != 1)
		return -EIO;
	s->seq++;
	return 0;
}

int rp_seal_open(struct rp_seal *s, uint8_t *rec, size_t len)
{
	if (len > RP_REC_MAX || start(s, false))
		return -EIO;
	uint8_t *body = rec + RP_REC_HDR;
	int n = 0;
	if (EVP_DecryptUpdate(s->ctx, NULL, &n, rec, RP_REC_HDR) != 1)
		return -EBADMSG;
	if (len && (s->encrypt ? EVP_DecryptUpdate(s->ctx, body, &n, body, (int)len)
			       : EVP_DecryptUpdate(s->ctx, NULL, &n, body, (int)len)) != 1)
		return -EBADMSG;
	if (EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_SET_TAG, RP_REC_TAG, body + len) != 1 ||
	    EVP_DecryptFinal_ex(s->ctx, body + len, &n) != 1) {
		/* a failed record leaves decrypted garbage in an encrypted body: the caller drops the
		 * connection and uses none of it; the sequence number does not move */
		return -EBADMSG;
	}
	s->seq++;
	return 0;
}
