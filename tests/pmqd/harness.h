/*
 * harness.h - helpers shared by the pmqd tests and bench/recovery_latency:
 * a private queue directory, starting and stopping pmqd, control requests,
 * and holder processes that receive messages and then wait to be killed.
 * Each test is a standalone program: exit 0 pass, 1 fail, 77 skip.
 */
#ifndef PMQ_TEST_HARNESS_H
#define PMQ_TEST_HARNESS_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <grp.h>

#include "pmq.h"

#ifndef PMQD_BIN
#define PMQD_BIN "pmqd"
#endif
#ifndef PMQCTL_BIN
#define PMQCTL_BIN "pmqctl"
#endif

static char h_dir[256];
static char h_sock[300]; /* "" = <h_dir>/.pmqd.sock */
static char h_log[300];
static __attribute__((unused)) pid_t h_pmqd = -1;

#define H_FAIL(...)                                                                                                    \
	do {                                                                                                           \
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                   \
		fprintf(stderr, __VA_ARGS__);                                                                          \
		fputc('\n', stderr);                                                                                   \
		fprintf(stderr, "pmqd log: %s\n", h_log);                                                              \
		h_cleanup();                                                                                           \
		exit(1);                                                                                               \
	} while (0)
#define H_CHECK(cond, ...)                                                                                             \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "check failed: %s\n", #cond);                                                  \
			H_FAIL(__VA_ARGS__);                                                                           \
		}                                                                                                      \
	} while (0)

static inline uint64_t h_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void h_sleep_us(unsigned us)
{
	struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static inline void h_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void h_stop_pmqd(void);

static __attribute__((unused)) void h_cleanup(void)
{
	h_stop_pmqd();
	if (h_dir[0] && !getenv("PMQ_TEST_KEEP")) {
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "warning: could not remove %s\n", h_dir);
	}
}

/* Success: clean up everything, the log too. */
static __attribute__((unused)) void h_done(void)
{
	h_cleanup();
	unlink(h_log);
}

static __attribute__((unused)) void h_skip(const char *why)
{
	printf("SKIP: %s\n", why);
	h_cleanup();
	exit(77);
}

/* A private queue directory under /dev/shm, exported as PMQ_DIR. */
static __attribute__((unused)) void h_setup(const char *tag)
{
	snprintf(h_dir, sizeof(h_dir), "/dev/shm/pmqt-%s-%d", tag, (int)getpid());
	mkdir(h_dir, 0755);
	chmod(h_dir, 0755);
	setenv("PMQ_DIR", h_dir, 1);
	snprintf(h_log, sizeof(h_log), "%s.log", h_dir);
	signal(SIGPIPE, SIG_IGN);
}

static __attribute__((unused)) int h_create(const char *name, void (*tune)(struct pmq_config *))
{
	struct pmq_config c;
	pmq_t *q;
	pmq_config_init(&c);
	c.dir = h_dir;
	if (tune)
		tune(&c);
	int r = pmq_create(name, &c, &q);
	if (r == 0)
		pmq_close(q);
	return r;
}

static __attribute__((unused)) pmq_t *h_open(const char *name, unsigned flags)
{
	struct pmq_open_opts o;
	pmq_t *q = NULL;
	pmq_open_opts_init(&o);
	o.dir = h_dir;
	o.owner_uid = PMQ_OWNER_ANY; /* the tests make queues as other users on purpose (uid 65534) */
	int r = pmq_open_ex(name, flags, &o, &q);
	if (r < 0)
		H_FAIL("open %s: %s (%s)", name, pmq_strerror(r), pmq_errmsg());
	return q;
}

/* One request to pmqd; returns 0 with the reply, or -errno if unreachable. */
static __attribute__((unused)) int h_request_raw(const void *req, size_t len, char *reply, size_t cap)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[512];
	if (h_sock[0])
		snprintf(path, sizeof(path), "%s", h_sock);
	else
		snprintf(path, sizeof(path), "%s/.pmqd.sock", h_dir);
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (send(fd, req, len, MSG_NOSIGNAL) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	ssize_t n = recv(fd, reply, cap - 1, 0);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	reply[n] = '\0';
	return 0;
}

static __attribute__((unused)) int h_request(const char *req, char *reply, size_t cap)
{
	return h_request_raw(req, strlen(req), reply, cap);
}

/* Start pmqd on h_dir with extra flags (NULL-terminated); wait until it answers. */
static __attribute__((unused)) pid_t h_start_pmqd_args(const char *const *extra)
{
	const char *argv[32] = { PMQD_BIN, "--dir", h_dir };
	int n = 3;
	for (; extra && *extra && n < 30; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	pid_t p = fork();
	if (p == 0) {
		int fd = open(h_log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		execv(PMQD_BIN, (char **)argv);
		_exit(127);
	}
	char reply[4096];
	for (int i = 0; i < 500; i++) {
		if (h_request("ping", reply, sizeof(reply)) == 0 && !strncmp(reply, "ok ", 3)) {
			h_pmqd = p;
			return p;
		}
		int st;
		if (waitpid(p, &st, WNOHANG) == p)
			H_FAIL("pmqd exited at start (status %d); see %s", st, h_log);
		h_sleep_ms(10);
	}
	H_FAIL("pmqd did not answer within 5 s; see %s", h_log);
	return -1;
}

static __attribute__((unused)) pid_t h_start_pmqd(void)
{
	static const char *const def[] = { "--probe-ms", "100", "--scan-ms", "200", NULL };
	return h_start_pmqd_args(def);
}

static __attribute__((unused)) void h_stop_pmqd(void)
{
	if (h_pmqd > 0) {
		kill(h_pmqd, SIGCONT);
		kill(h_pmqd, SIGTERM);
		for (int i = 0; i < 300; i++) {
			if (waitpid(h_pmqd, NULL, WNOHANG) == h_pmqd) {
				h_pmqd = -1;
				return;
			}
			h_sleep_ms(10);
		}
		kill(h_pmqd, SIGKILL);
		waitpid(h_pmqd, NULL, 0);
		h_pmqd = -1;
	}
}

static __attribute__((unused)) void h_kill9_pmqd(void)
{
	if (h_pmqd > 0) {
		kill(h_pmqd, SIGKILL);
		waitpid(h_pmqd, NULL, 0);
		h_pmqd = -1;
	}
}

/*
 * A holder: a child that opens `name` as consumer, receives `n` messages
 * (waiting up to 5 s each), reports how many through a pipe and then blocks
 * forever (until killed), or acks/nacks them on demand. Returns its pid;
 * *got gets the count it received.
 */
static __attribute__((unused)) pid_t h_spawn_holder(const char *name, unsigned n, unsigned *got)
{
	int p[2];
	if (pipe(p) < 0)
		H_FAIL("pipe");
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		struct pmq_open_opts o;
		pmq_t *q;
		pmq_open_opts_init(&o);
		o.dir = h_dir;
		o.owner_uid = PMQ_OWNER_ANY; /* as h_open */
		unsigned k = 0;
		if (pmq_open_ex(name, PMQ_CONSUMER, &o, &q) == 0) {
			struct pmq_msg m;
			while (k < n && pmq_recv_timeout(q, &m, 5000000000ull) == 0)
				k++;
		}
		if (write(p[1], &k, sizeof(k)) != sizeof(k))
			_exit(2);
		for (;;)
			pause();
	}
	close(p[1]);
	unsigned k = 0;
	if (read(p[0], &k, sizeof(k)) != sizeof(k))
		k = 0;
	close(p[0]);
	if (got)
		*got = k;
	return pid;
}

static __attribute__((unused)) void h_kill(pid_t p)
{
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
}

/* Run pmqctl with arguments; returns its exit code; output into out (if any). */
static __attribute__((unused)) int h_pmqctl(char *out, size_t cap, const char *fmt, ...)
{
	char args[2048], cmd[2600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s --dir '%s' %s 2>&1", PMQCTL_BIN, h_dir, args);
	FILE *f = popen(cmd, "r");
	if (!f)
		return -1;
	size_t n = out ? fread(out, 1, cap - 1, f) : 0;
	if (out)
		out[n] = '\0';
	else {
		char sink[4096];
		while (fread(sink, 1, sizeof(sink), f) > 0)
			;
	}
	int st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Does the pmqd log contain s? */
static __attribute__((unused)) int h_log_has(const char *s)
{
	FILE *f = fopen(h_log, "r");
	char line[2048];
	int found = 0;
	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, s) != NULL;
	if (f)
		fclose(f);
	return found;
}

/* Wait (bounded by ms) for pmqd to log s. pmqd logs an action after doing it, so the
 * action's effect (a redelivered message) can be seen before its line is written. */
static __attribute__((unused)) int h_log_wait(const char *s, unsigned ms)
{
	for (unsigned i = 0; i < ms / 10; i++) {
		if (h_log_has(s))
			return 1;
		h_sleep_ms(10);
	}
	return h_log_has(s);
}

/* Drop to uid/gid 65534 (nobody) for good; in a forked child only. */
static __attribute__((unused)) int h_become_nobody(void)
{
	return setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0 ? -1 : 0;
}

/* Can uid 65534 search `path` at all? (not in a chroot whose root is 0700, say) */
static __attribute__((unused)) bool h_nobody_reaches(const char *path)
{
	if (geteuid() != 0)
		return false;
	pid_t c = fork();
	if (c == 0)
		_exit(h_become_nobody() == 0 && access(path, X_OK) == 0 ? 0 : 1);
	int st;
	waitpid(c, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

#endif
