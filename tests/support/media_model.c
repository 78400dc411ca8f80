/*
 * media_model.c - the shadow media of media_model.h, interposed at link time
 * (-Wl,--wrap=pmem_...): the test executable's references to the libpmem
 * calls, including those inside the static libpmq_fault.a, land here, and we
 * call the real function after recording what reached the media.
 */
#include "media_model.h"

#include <errno.h>
#include <fcntl.h>
#include <libpmem.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MM_LINE 64u
#define MM_MAX_MAPS 64
#define MM_MAX_FILES 16

struct mm_file {
	dev_t dev;
	ino_t ino;
	size_t len;
	uint8_t *shadow;
};

struct mm_map {
	uint8_t *addr;
	size_t len;
	struct mm_file *file;
};

static pthread_mutex_t mm_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mm_file mm_files[MM_MAX_FILES];
static struct mm_map mm_maps[MM_MAX_MAPS];
static uint64_t mm_persists;
static media_model_hook mm_hook;
static void *mm_hook_arg;

void *__real_pmem_map_file(const char *path, size_t len, int flags, mode_t mode, size_t *mapped_lenp, int *is_pmemp);
int __real_pmem_unmap(void *addr, size_t len);
void __real_pmem_persist(const void *addr, size_t len);
int __real_pmem_msync(const void *addr, size_t len);
void __real_pmem_flush(const void *addr, size_t len);
void __real_pmem_drain(void);

void media_model_set_hook(media_model_hook fn, void *arg)
{
	pthread_mutex_lock(&mm_lock);
	mm_hook = fn;
	mm_hook_arg = arg;
	pthread_mutex_unlock(&mm_lock);
}

uint64_t media_model_persists(void)
{
	pthread_mutex_lock(&mm_lock);
	uint64_t n = mm_persists;
	pthread_mutex_unlock(&mm_lock);
	return n;
}

static struct mm_map *map_of(const void *addr)
{
	const uint8_t *a = addr;
	for (int i = 0; i < MM_MAX_MAPS; i++)
		if (mm_maps[i].addr && a >= mm_maps[i].addr && a < mm_maps[i].addr + mm_maps[i].len)
			return &mm_maps[i];
	return NULL;
}

const uint8_t *media_model_shadow(const void *addr, size_t *len)
{
	pthread_mutex_lock(&mm_lock);
	struct mm_map *m = map_of(addr);
	const uint8_t *s = m ? m->file->shadow : NULL;
	if (m && len)
		*len = m->file->len;
	pthread_mutex_unlock(&mm_lock);
	return s;
}

/* the file behind a new mapping: known (another handle maps it too) or new */
static struct mm_file *file_for(const struct stat *st, const uint8_t *mapping, size_t len)
{
	for (int i = 0; i < MM_MAX_FILES; i++)
		if (mm_files[i].shadow && mm_files[i].dev == st->st_dev && mm_files[i].ino == st->st_ino &&
		    mm_files[i].len == len)
			return &mm_files[i];
	for (int i = 0; i < MM_MAX_FILES; i++) {
		if (mm_files[i].shadow)
			continue;
		uint8_t *s = malloc(len);
		if (!s)
			return NULL;
		memcpy(s, mapping, len); /* what the media holds now: see the header */
		mm_files[i] = (struct mm_file){.dev = st->st_dev, .ino = st->st_ino, .len = len, .shadow = s};
		return &mm_files[i];
	}
	return NULL;
}

void *__wrap_pmem_map_file(const char *path, size_t len, int flags, mode_t mode, size_t *mapped_lenp, int *is_pmemp)
{
	size_t got = 0;
	void *p = __real_pmem_map_file(path, len, flags, mode, &got, is_pmemp);
	if (mapped_lenp)
		*mapped_lenp = got;
	struct stat st;
	if (!p || stat(path, &st))
		return p;
	pthread_mutex_lock(&mm_lock);
	struct mm_file *f = file_for(&st, p, got);
	for (int i = 0; f && i < MM_MAX_MAPS; i++) {
		if (!mm_maps[i].addr) {
			mm_maps[i] = (struct mm_map){.addr = p, .len = got, .file = f};
			break;
		}
	}
	pthread_mutex_unlock(&mm_lock);
	return p;
}

int __wrap_pmem_unmap(void *addr, size_t len)
{
	pthread_mutex_lock(&mm_lock);
	struct mm_file *f = NULL;
	for (int i = 0; i < MM_MAX_MAPS; i++) {
		if (mm_maps[i].addr == addr) {
			mm_maps[i].addr = NULL;
			f = mm_maps[i].file;
		}
	}
	bool mapped = false;
	for (int i = 0; f && i < MM_MAX_MAPS; i++)
		mapped |= mm_maps[i].addr && mm_maps[i].file == f;
	if (f && !mapped) { /* the last mapping: see the header */
		free(f->shadow);
		f->shadow = NULL;
	}
	pthread_mutex_unlock(&mm_lock);
	return __real_pmem_unmap(addr, len);
}

/* copy the cache lines covering [addr, addr+len) from the mapping into the shadow */
static void reach_media(const void *addr, size_t len)
{
	struct mm_map *m = map_of(addr);
	if (!m || !len)
		return;
	size_t from = ((size_t)((const uint8_t *)addr - m->addr)) & ~(size_t)(MM_LINE - 1);
	size_t to = (size_t)((const uint8_t *)addr - m->addr) + len;
	to = (to + MM_LINE - 1) & ~(size_t)(MM_LINE - 1);
	if (to > m->len)
		to = m->len;
	memcpy(m->file->shadow + from, m->addr + from, to - from);
}

static void persist_point(const void *addr)
{
	mm_persists++;
	media_model_hook fn = mm_hook;
	void *arg = mm_hook_arg;
	pthread_mutex_unlock(&mm_lock);
	if (fn)
		fn(arg, addr);
}

void __wrap_pmem_persist(const void *addr, size_t len)
{
	__real_pmem_persist(addr, len);
	pthread_mutex_lock(&mm_lock);
	reach_media(addr, len);
	persist_point(addr); /* unlocks */
}

int __wrap_pmem_msync(const void *addr, size_t len)
{
	int rc = __real_pmem_msync(addr, len);
	pthread_mutex_lock(&mm_lock);
	reach_media(addr, len);
	persist_point(addr); /* unlocks */
	return rc;
}

/* a flush writes its lines back as they are now; the drain is the point that orders them */
void __wrap_pmem_flush(const void *addr, size_t len)
{
	__real_pmem_flush(addr, len);
	pthread_mutex_lock(&mm_lock);
	reach_media(addr, len);
	pthread_mutex_unlock(&mm_lock);
}

void __wrap_pmem_drain(void)
{
	__real_pmem_drain();
	pthread_mutex_lock(&mm_lock);
	persist_point(NULL); /* unlocks */
}

int media_model_power_cut(const uint8_t *image, size_t len, const char *path)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, image + done, len - done);
		if (n < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		done += (size_t)n;
	}
	fsync(fd);
	close(fd);
	return 0;
}
