/*
 * repl_seal.h - the replication link's record layer after the handshake
 * (protocol version 2, docs/failover.md "Protocol", docs/decisions.md).
 *
 * Every byte after AUTH_OK travels in records:
 *
 *   u32 len | body[len] | tag[16]
 *
 * sealed with AES-256-GCM under a key per direction, derived with
 * HKDF-SHA256 from the pre-shared key and both handshake nonces (so each
 * session has fresh keys), and a 96-bit IV that is the record's sequence
 * number in that direction. The tag covers the length and the body: a
 * record altered, injected, replayed, reordered or cut fails to open, and
 * a lost record makes every later one fail. With confidentiality on the
 * body is encrypted; off, it is only authenticated (GMAC: the body is
 * additional data). The body is whole frames (repl_proto.h), never a part.
 */
#ifndef PMQ_REPL_SEAL_H
#define PMQ_REPL_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RP_REC_HDR 4u
#define RP_REC_TAG 16u
#define RP_REC_OVER (RP_REC_HDR + RP_REC_TAG)
#define RP_REC_MAX (4u << 20)   /* the largest record body either side sends or accepts */

struct rp_seal;

/* Keys for one direction: `dir` names it ("p2s" or "s2p"). NULL on failure. */
struct rp_seal *rp_seal_new(const uint8_t *key, size_t keylen, const uint8_t ns[32], const uint8_t np[32],
			    const char *dir, bool encrypt);
void rp_seal_free(struct rp_seal *s);
/* Seal rec[RP_REC_HDR + len] in place: writes the length, encrypts the body if
 * asked, appends the tag at rec + RP_REC_HDR + len. 0 or -EIO. */
int rp_seal_record(struct rp_seal *s, uint8_t *rec, size_t len);
/* Open the record at rec (length already read, <= RP_REC_MAX, whole record
 * present): checks the tag, decrypts in place. 0, or -EBADMSG when it does not
 * authenticate (altered, injected, replayed, out of order, wrong key). */
int rp_seal_open(struct rp_seal *s, uint8_t *rec, size_t len);
bool rp_seal_encrypts(const struct rp_seal *s);

#endif
