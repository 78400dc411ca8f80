/*
 * bench.h - what the pieces of pmq-bench share: the options, the clock and
 * CPU pinning. The bench measures; it never asserts a target (tests do that
 * for behaviour, the bench only reports).
 */
#ifndef PMQ_BENCH_H
#define PMQ_BENCH_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define BENCH_MIN_SIZE 8u
#define BENCH_MAX_SIZE 65536u
#define BENCH_MAX_SIZES 16
#define BENCH_MAX_PROCS 16      /* producers + consumers */
#define BENCH_MAX_TRANSPORTS 16
#define BENCH_MAX_SETS 32        /* fresh sets of files in the block comparison (--reps) */

enum bench_mode {
	MODE_RT = 0,    /* round trip (ping-pong), sampled by the sender */
	MODE_ONEWAY,    /* one way, sampled by the receiver, one clock, paced by the echo */
	MODE_RATE,      /* fixed rate, latency from the intended send time */
	MODE_TPUT,      /* throughput: messages/s and GB/s */
	MODE_FANOUT,    /* 1 publisher x 4 subscribers: round trip to all and throughput (fanout.h) */
	MODE_COUNT
};

enum bench_wait {
	WAIT_SPIN = 0,       /* busy-poll (peers: non-blocking calls in a loop) */
	WAIT_SPIN_FUTEX = 1, /* pmq's default; peers block in the kernel */
	WAIT_BLOCK = 2,      /* pmq futex only; peers block in the kernel */
};

struct bench_opts {
	unsigned modes;                 /* bit set of 1u << enum bench_mode */
	unsigned sizes[BENCH_MAX_SIZES];
	unsigned nsizes;
	uint64_t count;                 /* measured samples (messages in tput) per run */
	uint64_t warmup;                /* samples excluded before measuring */
	int warmup_set;                 /* 0: derived from count */
	double duration;                /* seconds; a run stops at count or duration */
	int cpu[2];                     /* the two CPUs: producer side, consumer side */
	int durability;                 /* enum pmq_durability */
	int wait;                       /* enum bench_wait */
	unsigned producers, consumers;  /* throughput mode; latency modes use 1 x 1 */
	unsigned slots;                 /* ring slots, pmq and the floor ring alike */
	unsigned batch;                 /* throughput batch (transports that batch) */
	double rate;                    /* fixed-rate mode, messages/s */
	unsigned reps;                  /* interleaved repetitions; rt/oneway: fresh sets of files */
	unsigned blocks;                /* rt/oneway: cycles of blocks per set */
	unsigned block_len;             /* rt/oneway: round trips per block */
	double regime_split[2];         /* rt/oneway: floor-8 p50 (ns) between the regimes */
	uint64_t probe;                 /* rate/tput: floor-8 probe round trips before and after each run */
	const char *transports;         /* comma list, or "all" */
	const char *queue_dir;          /* where pmq's queue files go (default /dev/shm) */
	const char *csv;                /* CSV output file, or NULL */
	const char *plot;               /* PNG output file, or NULL */
	int quiet;
};

/* Fill the defaults; parse argv. 0, 1 for --help (usage printed), -EINVAL with err. */
void opts_defaults(struct bench_opts *o);
int opts_parse(struct bench_opts *o, int argc, char **argv, char *err, size_t errlen);
void opts_usage(FILE *f);
const char *mode_name(int mode);
const char *wait_name(int wait);
/* Parse "8", "4k", "64K", "1m" (binary units); 0 or -EINVAL. */
int parse_size(const char *s, uint64_t *out);

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* A message's first 8 bytes (the echo's sequence word), unaligned-safe. */
static inline uint64_t msg_word0(const void *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void msg_set_word0(void *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* Read every cache line of a message, as a consumer that uses it would. */
static inline uint64_t msg_touch(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t sum = 0, v;
	for (size_t off = 0; off + sizeof(v) <= len; off += 64) {
		memcpy(&v, b + off, sizeof(v));
		sum += v;
	}
	return sum;
}

/* Pin the calling process to one CPU; 0 or -errno. */
int pin_cpu(int cpu);

#endif /* PMQ_BENCH_H */
