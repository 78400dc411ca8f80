/*
 * media_model.h - a model of the persistence domain for power-mode tests.
 *
 * Link a test with media_model.c and the --wrap options of
 * pmq_media_model_link() (tests/CMakeLists.txt): every pmem_map_file,
 * pmem_unmap, pmem_persist, pmem_msync, pmem_flush and pmem_drain the library
 * makes goes through here first. For each mapped file the model keeps a
 * shadow copy that holds only what was flushed: it starts as the file's
 * content when first mapped (the file is on the media then: created by
 * write + fsync, or written by media_model_power_cut), and each persist (or
 * flush) copies the cache lines it covers from the mapping into the shadow.
 * Stores never flushed never reach the shadow, which is what the media holds
 * after a power cut with the most unhelpful cache: nothing written back that
 * was not asked for.
 *
 * A shadow lives while some mapping of its file exists: a file mapped again
 * after its last unmap starts from its content (tests cut the power while the
 * queue is open; what a close leaves unflushed is not modelled).
 *
 * media_model_power_cut() writes a shadow (or a saved copy of one) as a new
 * file, which a test then opens as the queue after the reboot.
 */
#ifndef PMQ_MEDIA_MODEL_H
#define PMQ_MEDIA_MODEL_H

#include <stddef.h>
#include <stdint.h>

/* called after every persist point (persist, msync, drain) has reached the shadow;
 * addr is in the mapping that was flushed (NULL for a drain) */
typedef void (*media_model_hook)(void *arg, const void *addr);
void media_model_set_hook(media_model_hook fn, void *arg);

/* The shadow of the file mapped at (or containing) addr; NULL if addr is in no
 * mapping the model knows. *len gets the file's size. */
const uint8_t *media_model_shadow(const void *addr, size_t *len);

/* persist points so far (every file) */
uint64_t media_model_persists(void);

/* Write image (len bytes, e.g. a shadow or a saved copy of one) as the new file
 * path (0600, replaced if it exists) and fsync it: what a reboot finds. 0 or -errno. */
int media_model_power_cut(const uint8_t *image, size_t len, const char *path);

#endif /* PMQ_MEDIA_MODEL_H */
