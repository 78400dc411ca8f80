/*
 * parse_num.h - the one strict number parser of pmqd, pmqctl and replication
 * (parse_num.c). Every numeric option and config value goes through it, so
 * "-4", "12abc", "0x10" or a number past the range is refused with the same
 * words everywhere instead of being wrapped or truncated by strtoul.
 */
#ifndef PMQ_DAEMON_PARSE_NUM_H
#define PMQ_DAEMON_PARSE_NUM_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse s as an unsigned number in `base` (10, or 8 for modes): digits only,
 * no sign, no spaces, no prefix, no trailing characters, lo <= value <= hi.
 * Returns 0 and *out, or -EINVAL (not a number) / -ERANGE (outside lo..hi);
 * then why[] (if given) holds a sentence naming the input and the range, e.g.
 * "\"12abc\" is not a number (trailing \"abc\"); expected 1 to 4294967295".
 */
int parse_u64(const char *s, unsigned base, uint64_t lo, uint64_t hi, uint64_t *out, char *why, size_t whylen);
int parse_u32(const char *s, unsigned base, uint32_t lo, uint32_t hi, uint32_t *out, char *why, size_t whylen);

#endif
