/*
 * itest.h - shared helpers of the integration tests: a private queue
 * directory per test, self-checking payloads, forked children that die at
 * a named fault point, and a MAP_SHARED ledger where children record what
 * they did so the parent can verify it.
 *
 * A forked child never calls a cmocka assertion (that would longjmp into
 * the child's copy of the test runner): it uses CHILD_CHECK, which exits
 * with a distinct status that the parent's itest_wait_exit() asserts.
 */
#ifndef PMQ_ITEST_H
#define PMQ_ITEST_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pmq_admin.h" /* the tests watch attachments too */

/* ---- time -------------------------------------------------------------------- */

static inline uint64_t itest_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void itest_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- a private queue directory -------------------------------------------------- */

static char itest_dir_path[256];

static int itest_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)f;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static inline void itest_rmtree(const char *path)
{
	nftw(path, itest_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static pid_t itest_dir_owner;

static inline void itest_dir_remove(void);

/* at exit of the process that made it (never a forked child): a failed
 * assertion that skipped the teardown leaves nothing behind */
static void itest_dir_atexit(void)
{
	if (getpid() == itest_dir_owner)
		itest_dir_remove();
}

/* Make /dev/shm/pmq-itest-XXXXXX and point $PMQ_DIR at it (children inherit it). */
static inline const char *itest_dir_make(void)
{
	if (!itest_dir_owner)
		atexit(itest_dir_atexit);
	itest_dir_owner = getpid();
	if (itest_dir_path[0])
		itest_dir_remove(); /* the previous test failed before its teardown */
	snprintf(itest_dir_path, sizeof(itest_dir_path), "/dev/shm/pmq-itest-XXXXXX");
	if (!mkdtemp(itest_dir_path)) {
		perror("mkdtemp /dev/shm");
		exit(77);
	}
	setenv("PMQ_DIR", itest_dir_path, 1);
	return itest_dir_path;
}

static inline void itest_dir_remove(void)
{
	if (itest_dir_path[0])
		itest_rmtree(itest_dir_path);
	itest_dir_path[0] = 0;
}

static inline void itest_queue_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s.pmq", itest_dir_path, name);
}

/* ---- self-checking payloads ------------------------------------------------------ */

#define ITEST_MAGIC 0x504d5154u /* "PMQT" */

struct itest_msg {
	uint32_t magic;
	uint32_t producer;
	uint32_t seq;
	uint32_t len;  /* whole message length, header included */
	uint64_t sum;  /* FNV-1a over the header above and the filler */
	/* filler follows: byte k = (producer * 131 + seq * 7 + k) & 0xff */
};

static inline uint64_t itest_fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Fill buf with message (producer, seq); its length varies with seq. Returns it. */
static inline size_t itest_make(void *buf, size_t cap, uint32_t producer, uint32_t seq)
{
	size_t len = sizeof(struct itest_msg) + (seq * 13u + producer * 5u) % 41u;
	if (len > cap)
		len = cap;
	struct itest_msg *m = buf;
	m->magic = ITEST_MAGIC;
	m->producer = producer;
	m->seq = seq;
	m->len = (uint32_t)len;
	uint8_t *f = (uint8_t *)buf + sizeof(*m);
	for (size_t k = 0; k < len - sizeof(*m); k++)
		f[k] = (uint8_t)(producer * 131u + seq * 7u + k);
	uint64_t h = itest_fnv(0xcbf29ce484222325ull, m, offsetof(struct itest_msg, sum));
	m->sum = itest_fnv(h, f, len - sizeof(*m));
	return len;
}

/* 1 if (data, len) is an intact message; its producer and seq go to *p, *s. */
static inline int itest_check(const void *data, size_t len, uint32_t *p, uint32_t *s)
{
	const struct itest_msg *m = data;
	if (len < sizeof(*m) || m->magic != ITEST_MAGIC || m->len != len)
		return 0;
	const uint8_t *f = (const uint8_t *)data + sizeof(*m);
	for (size_t k = 0; k < len - sizeof(*m); k++)
		if (f[k] != (uint8_t)(m->producer * 131u + m->seq * 7u + k))
			return 0;
	uint64_t h = itest_fnv(0xcbf29ce484222325ull, m, offsetof(struct itest_msg, sum));
	if (itest_fnv(h, f, len - sizeof(*m)) != m->sum)
		return 0;
	*p = m->producer;
	*s = m->seq;
	return 1;
}

/* ---- shared memory and children --------------------------------------------------- */

static inline void *itest_shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap shared");
		exit(99);
	}
	memset(p, 0, len);
	return p;
}

#define CHILD_CHECK(cond)                                                                            \
	do {                                                                                         \
		if (!(cond)) {                                                                       \
			fprintf(stderr, "child %d: %s:%d: check failed: %s (%s)\n", (int)getpid(),    \
				__FILE__, __LINE__, #cond, pmq_errmsg());                            \
			_exit(3);                                                                    \
		}                                                                                    \
	} while (0)

/* Fork a child that runs fn(arg) and exits 0. With `fault` set, PMQ_FAULT is
 * set in the child before fn runs: the library SIGKILLs it at that point. */
static inline pid_t itest_fork(const char *fault, void (*fn)(void *), void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(99);
	}
	if (pid == 0) {
		if (fault)
			setenv("PMQ_FAULT", fault, 1);
		else
			unsetenv("PMQ_FAULT");
		fn(arg);
		_exit(0);
	}
	return pid;
}

/* Wait for a child; returns its raw status. */
static inline int itest_wait(pid_t pid)
{
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

/* Wait for n children; if one fails or timeout_s passes, SIGKILL the rest (so a
 * failure never hangs the suite). Returns how many did not exit 0. */
static inline int itest_wait_all(pid_t *pids, int n, unsigned timeout_s)
{
	int bad = 0, left = n;
	int done[64] = {0};
	uint64_t end = itest_now_ns() + (uint64_t)timeout_s * 1000000000ull;
	while (left > 0) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p <= 0) {
			if (itest_now_ns() > end || bad) {
				for (int i = 0; i < n; i++)
					if (!done[i])
						kill(pids[i], SIGKILL);
				if (!bad)
					fprintf(stderr, "children did not finish in %u s: killed\n", timeout_s);
				bad += !bad;
				end = UINT64_MAX;
			}
			itest_sleep_ms(2);
			continue;
		}
		for (int i = 0; i < n; i++) {
			if (pids[i] == p && !done[i]) {
				done[i] = 1;
				left--;
				if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
					fprintf(stderr, "child %d (#%d) ended with status 0x%x\n", (int)p, i, st);
					bad++;
				}
			}
		}
	}
	return bad;
}

static inline int itest_killed_by(int st, int sig) { return WIFSIGNALED(st) && WTERMSIG(st) == sig; }
static inline int itest_exited_ok(int st) { return WIFEXITED(st) && WEXITSTATUS(st) == 0; }

/* Spin-wait (with short sleeps) until *flag >= want or timeout; 1 on success. */
static inline int itest_await(_Atomic uint32_t *flag, uint32_t want, unsigned timeout_ms)
{
	uint64_t end = itest_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	while (atomic_load(flag) < want) {
		if (itest_now_ns() > end)
			return 0;
		itest_sleep_ms(1);
	}
	return 1;
}

/* ---- a small queue config ------------------------------------------------------------- */

static inline void itest_config(struct pmq_config *c, uint32_t slots)
{
	pmq_config_init(c);
	c->slot_count = slots;
	c->max_payload = 128;
	c->max_attach = 16;
	c->consumer_quota = slots < 32 ? slots : 32;
	c->max_deliveries = 5;
	c->dlq_capacity = 16;
}

#endif /* PMQ_ITEST_H */
