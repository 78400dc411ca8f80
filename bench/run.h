/*
 * run.h - one measured run: a transport, a mode, a message size, carried out
 * by forked processes pinned to the two CPUs; and the drivers those
 * processes execute (modes.c).
 */
#ifndef PMQ_BENCH_RUN_H
#define PMQ_BENCH_RUN_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench.h"
#include "histogram.h"
#include "transport.h"

/* word 0 of every payload: a sequence number, a timestamp, or one of these */
#define MSG_STOP UINT64_MAX
#define MSG_WARM (1ull << 63)

enum run_status { RUN_OK = 0, RUN_SKIPPED = 1, RUN_FAILED = 2 };

/* Shared by the parent and the processes of one run (a MAP_SHARED page). */
struct run_ctl {
	_Atomic uint32_t arrived[2];       /* two barriers */
	_Atomic uint32_t abort;            /* a process failed: do not wait for it */
	_Atomic uint32_t prod_done;
	_Atomic uint32_t stops_seen;       /* tput: stop messages consumers took */
	_Atomic uint32_t cons_done;        /* tput: consumers that stopped */
	_Atomic uint64_t warm_rx;          /* tput: warm-up messages received */
	_Atomic uint32_t finished;         /* processes whose mode loop returned (seq_cst: off the hot path) */
	unsigned nproc;
	unsigned producers, consumers;
	uint64_t count, warmup;
	uint64_t duration_ns;
	double rate;
	struct tp_params params;
	uint64_t t_start[BENCH_MAX_PROCS]; /* tput: when each producer began measuring */
	uint64_t t_end[BENCH_MAX_PROCS];   /* tput: when each consumer saw the stop */
	uint64_t nsent[BENCH_MAX_PROCS];
	uint64_t nrecv[BENCH_MAX_PROCS];
	int status[BENCH_MAX_PROCS];
	char msg[BENCH_MAX_PROCS][160];
	struct hist hist;                  /* latency samples (one sampling process) */
};

struct run_result {
	int status;                        /* enum run_status */
	char note[200];
	struct hist hist;
	uint64_t msgs;                     /* tput: messages measured */
	double secs;
	double mps, gbps;
};

/*
 * Run `t` in `mode` with messages of `size` bytes: count samples after warmup
 * (or as many as fit in o->duration). Fills res; never exits.
 */
void run_one(const struct transport *t, int mode, const struct bench_opts *o, unsigned size,
	     uint64_t count, uint64_t warmup, struct run_result *res);

/* The driver of process `idx` (0 .. nproc-1) of a run; returns 0 or -errno
 * with ctl->msg[idx] filled. Producers (sender side) come first. */
int drive(const struct transport *t, int mode, struct run_ctl *ctl, unsigned idx);

/* Wait for n children (pids[i] set to 0 as each is reaped); SIGKILL them when
 * limit_ns has passed or on ^C. 0, -ETIMEDOUT or -EINTR. */
int run_reap(pid_t *pids, unsigned n, uint64_t limit_ns, int *statuses);

/* Cleanup on SIGINT: the parent's handler sets this; run_one checks it. */
extern volatile sig_atomic_t run_interrupted;

#endif
