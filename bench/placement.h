/*
 * placement.h - where the pages of a queue file landed in physical memory
 * (/proc/self/pagemap; the frame numbers need CAP_SYS_ADMIN, so root). Used
 * to look for why freshly created files of the same queue measure
 * differently: contiguity, huge pages, and how the pages spread over the
 * colours of a physically indexed cache (pages that map to the same sets).
 */
#ifndef PMQ_BENCH_PLACEMENT_H
#define PMQ_BENCH_PLACEMENT_H

#include <stddef.h>

#define PLACE_COLOURS 16u    /* 64 KiB way of a 512 KiB 8-way L2, 4 KiB pages */

struct placement {
	int valid;              /* 0: not measured (no file, or no frame numbers: not root) */
	unsigned pages;         /* 4 KiB pages of the file(s) */
	unsigned runs;          /* physically contiguous runs */
	unsigned huge;          /* pages mapped through a huge page (FilePmdMapped) */
	unsigned colour_max;    /* most pages on one colour (frame % PLACE_COLOURS) */
	unsigned colour_min;
	unsigned colour[PLACE_COLOURS];   /* pages per colour, over every file added */
};

/* Add the pages of `path` to p (several files add up: both channels of a
 * queue). 0, or -errno (-EPERM: frame numbers hidden). */
int placement_add(struct placement *p, const char *path);

/* "pages 64 runs 12 huge 0 colours 2..7" into buf */
void placement_format(const struct placement *p, char *buf, size_t n);

#endif
