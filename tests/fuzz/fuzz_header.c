/*
 * fuzz_header.c - libFuzzer target for the queue-file validator: any bytes
 * as a header, any claimed file size. The validator must answer 0 or
 * -EPROTO and never read out of bounds; an accepted header must describe a
 * layout that fits the file it claims.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static _Alignas(64) uint8_t page[PMQ_HDR_SIZE];
	if (size < 8)
		return 0;
	uint64_t fsize;
	memcpy(&fsize, data, 8);
	data += 8;
	size -= 8;
	memset(page, 0, sizeof(page));
	memcpy(page, data, size < sizeof(page) ? size : sizeof(page));
	const struct pmq_header *h = (const struct pmq_header *)page;
	int rc = format_validate_header(h, fsize, "fuzz");
	if (rc != 0 && rc != -EPROTO)
		abort();
	if (rc == 0) {
		/* accepted: the layout must fit the file and the slots must be a power of two */
		if (h->file_size != fsize || h->side_off + (uint64_t)h->side_count * h->slot_size > fsize ||
		    (h->slot_count & (h->slot_count - 1)) || h->ring_off < h->attach_off)
			abort();
	}
	return 0;
}

/* format.c stamps creation times; the validator never calls it */
uint64_t now_real_ns(void) { return 0; }
