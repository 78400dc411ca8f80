/* shm.h - a zeroed, pre-faulted MAP_SHARED mapping that forked children inherit. */
#ifndef PMQ_BENCH_SHM_H
#define PMQ_BENCH_SHM_H

#include <stddef.h>

/* A tmpfs file in /dev/shm (the medium pmq's queues use), unlinked at once;
 * anonymous shared memory if /dev/shm is not there. NULL on failure. */
void *shm_map(size_t len);
void shm_unmap(void *p, size_t len);

#endif
