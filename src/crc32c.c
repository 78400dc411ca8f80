/*
 * crc32c.c - CRC32C (Castagnoli), used in power mode and for replication.
 * Debian ships no C library for it, so it is here: the SSE4.2 instruction
 * when the CPU has it, a byte-wise table otherwise (computed at load time).
 */
#include <string.h>

#include "internal.h"

static uint32_t crc_table[256];
static int have_sse42;

__attribute__((constructor)) static void crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
#if defined(__x86_64__)
	__builtin_cpu_init();
	have_sse42 = __builtin_cpu_supports("sse4.2");
#endif
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	while (len--)
		c32 = __builtin_ia32_crc32qi(c32, *p++);
	return c32;
}
#endif

uint32_t pmq_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	crc = ~crc;
#if defined(__x86_64__)
	if (have_sse42)
		return ~crc32c_hw(crc, p, len);
#endif
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* Over the immutable header fields (ctl, src and crc itself excluded) and the payload. */
uint32_t slot_crc(const struct pmq_slot *s, const uint8_t *payload, uint32_t len)
{
	/* ticket, origin, ts_ns; then len, deliveries; then everything after crc */
	uint32_t c = pmq_crc32c(0, &s->ticket, offsetof(struct pmq_slot, src) - offsetof(struct pmq_slot, ticket));
	c = pmq_crc32c(c, &s->len, offsetof(struct pmq_slot, crc) - offsetof(struct pmq_slot, len));
	c = pmq_crc32c(c, &s->hflags, sizeof(struct pmq_slot) - offsetof(struct pmq_slot, hflags));
	return pmq_crc32c(c, payload, len);
}
