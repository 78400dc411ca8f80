/* placement.c - see placement.h. */
#define _GNU_SOURCE
#include "placement.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096u
#define PFN_MASK ((1ull << 55) - 1)
#define PRESENT (1ull << 63)

/* FilePmdMapped of the mapping at addr, in 4 KiB pages */
static unsigned huge_pages_at(const void *addr)
{
	char line[256], want[32];
	unsigned kb = 0;
	int in = 0;
	snprintf(want, sizeof(want), "%lx-", (unsigned long)(uintptr_t)addr);
	FILE *f = fopen("/proc/self/smaps", "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, ' ') && strchr(line, '-') < strchr(line, ' ') &&
		    line[0] != ' ' && !strchr(line, ':'))
			in = !strncmp(line, want, strlen(want));
		else if (in && !strncmp(line, "FilePmdMapped:", 14))
			kb += (unsigned)strtoul(line + 14, NULL, 10);
		else if (in && !strncmp(line, "ShmemPmdMapped:", 15))
			kb += (unsigned)strtoul(line + 15, NULL, 10);
	}
	if (f)
		fclose(f);
	return kb / 4;
}

int placement_add(struct placement *p, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	struct stat st;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_size <= 0) {
		err = -EINVAL;
		close(fd);
		return err;
	}
	size_t len = (size_t)st.st_size, npages = (len + PAGE - 1) / PAGE;
	volatile const uint8_t *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -errno;
	for (size_t i = 0; i < npages; i++)
		(void)m[i * PAGE];      /* map every page (the writer created them all) */
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t *e = calloc(npages, sizeof(*e));
	unsigned colour[PLACE_COLOURS] = { 0 };
	if (pm < 0 || !e) {
		err = pm < 0 ? -errno : -ENOMEM;
		goto out;
	}
	off_t off = (off_t)((uintptr_t)m / PAGE * sizeof(uint64_t));
	if (pread(pm, e, npages * sizeof(*e), off) != (ssize_t)(npages * sizeof(*e))) {
		err = -EIO;
		goto out;
	}
	uint64_t prev = 0;
	for (size_t i = 0; i < npages; i++) {
		uint64_t pfn = e[i] & PFN_MASK;
		if (!(e[i] & PRESENT) || !pfn) {
			err = -EPERM;   /* frame numbers read as 0 without CAP_SYS_ADMIN */
			goto out;
		}
		if (i == 0 || pfn != prev + 1)
			p->runs++;
		prev = pfn;
		colour[pfn % PLACE_COLOURS]++;
	}
	p->pages += (unsigned)npages;
	p->huge += huge_pages_at((const void *)m);
	p->valid = 1;
	p->colour_max = 0;
	p->colour_min = UINT32_MAX;
	for (unsigned c = 0; c < PLACE_COLOURS; c++) {
		p->colour[c] += colour[c];
		p->colour_max = p->colour[c] > p->colour_max ? p->colour[c] : p->colour_max;
		p->colour_min = p->colour[c] < p->colour_min ? p->colour[c] : p->colour_min;
	}
out:
	if (pm >= 0)
		close(pm);
	free(e);
	munmap((void *)m, len);
	return err;
}

void placement_format(const struct placement *p, char *buf, size_t n)
{
	if (!p->valid)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "pages %u runs %u huge %u colours %u..%u", p->pages, p->runs, p->huge,
			 p->colour_min, p->colour_max);
}
