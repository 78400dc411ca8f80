/*
 * test_pmqd_unpriv: the unprivileged-user suite (issue 9's standing check).
 * A root pmqd; uid 65534 (nobody) tries what a local user can try:
 *  item 1  a queue owner writes a fake attachment entry naming a root process
 *          (its pid and start time, in_flight 1), holds the entry's token lock,
 *          and lets the 200 ms kill-lease expire: the root process must live,
 *          pmqd must log and requeue instead. A root consumer that said hello
 *          on that queue (owned by 65534) is not killed either: its uid is not
 *          the owner's.
 *  item 4  pmqd refuses a directory that nobody made (owned by 65534) or that
 *          is world-writable without the sticky bit.
 *  item 7  nobody opens 300 control connections and keeps pinging: root's
 *          ping is still answered, and nobody gets at most its share.
 *  item 9  nobody's repl-stat does not show root's replicated queue; a
 *          .pmqd.repl.tmp.<pid> planted by nobody in the sticky standby
 *          directory does not become the promoted node's state file.
 * A part that needs uid 65534 to reach the directory is skipped, saying so,
 * when it cannot (a chroot whose root is 0700); item 1's attack then runs as
 * root against a queue owned by 65534, which is what pmqd sees either way.
 */
#include "harness.h"

#include <poll.h>
#include <sys/mman.h>

#include "layout.h"

static bool nobody_ok;
static pid_t kids[8]; /* killed at exit, pass or fail (H_FAIL exits) */
static int n_kids;

static void kill_kids(void)
{
	for (int i = 0; i < n_kids; i++)
		if (kids[i] > 0 && waitpid(kids[i], NULL, WNOHANG) == 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
}

static pid_t kid(pid_t p)
{
	if (n_kids < 8)
		kids[n_kids++] = p;
	return p;
}

static uint64_t start_time_of(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* comm may hold spaces: fields restart after the last ')' */
	if (p)
		p++;
	for (int f = 3; p && f < 22; f++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

static pid_t spawn_sleeper(void)
{
	pid_t v = fork();
	if (v == 0) {
		for (;;)
			pause();
	}
	return v;
}

static bool alive(pid_t p)
{
	return waitpid(p, NULL, WNOHANG) == 0;
}

/* The attacker: write a consumer entry naming `victim` into the table of
 * DIR/name.pmq, hold its token lock, report the entry index, then wait. */
static pid_t spawn_fake_attacher(const char *name, pid_t victim, int *index)
{
	int up[2];
	H_CHECK(pipe(up) == 0, "pipe");
	uint64_t vst = start_time_of(victim);
	pid_t c = fork();
	if (c == 0) {
		close(up[0]);
		if (nobody_ok && h_become_nobody() < 0)
			_exit(3);
		char path[512];
		snprintf(path, sizeof(path), "%s/%s.pmq", h_dir, name);
		int fd = open(path, O_RDWR);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0)
			_exit(4);
		uint8_t *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED)
			_exit(5);
		const struct pmq_header *h = (const struct pmq_header *)m;
		struct pmq_attach *t = (struct pmq_attach *)(m + h->attach_off);
		int idx = -1;
		for (uint32_t i = 0; i < h->max_attach && idx < 0; i++) {
			uint64_t w = atomic_load(&t[i].word);
			if (at_state(w) != AT_FREE)
				continue;
			struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = PMQ_LOCK_TOKEN(i), .l_len = 1 };
			if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
				continue;
			atomic_store(&t[i].pid, victim);
			atomic_store(&t[i].start_time, vst);
			atomic_store(&t[i].heartbeat, 0);
			atomic_store(&t[i].in_flight, 1);
			if (atomic_compare_exchange_strong(&t[i].word, &w, at_make(AT_ATTACHED, PMQ_CONSUMER, at_inc(w) + 1)))
				idx = (int)i;
		}
		if (write(up[1], &idx, sizeof(idx)) != sizeof(idx))
			_exit(6);
		for (;;)
			pause();
	}
	close(up[1]);
	*index = -1;
	H_CHECK(read(up[0], index, sizeof(*index)) == sizeof(*index) && *index >= 0 && vst != 0, "fake entry written");
	close(up[0]);
	return c;
}

static void lease_kill(struct pmq_config *c)
{
	c->lease_ns = 200000000ull; /* 200 ms */
	c->lease_action = 1;
}

/* Wait (up to 5 s) for pmqd's verdict on a lease: either log line. */
static void wait_verdict(const char *queue, pid_t victim)
{
	char refused[128], killed[128];
	snprintf(refused, sizeof(refused), "on \"%s\" is not killed", queue);
	snprintf(killed, sizeof(killed), "on \"%s\" made no progress", queue);
	for (int i = 0; i < 500 && !h_log_has(refused) && alive(victim); i++)
		h_sleep_ms(10);
	(void)killed;
}

static void item1_fake_attachment(void)
{
	H_CHECK(h_create("fake", lease_kill) == 0, "create fake");
	char path[512];
	snprintf(path, sizeof(path), "%s/fake.pmq", h_dir);
	H_CHECK(chown(path, 65534, 65534) == 0, "chown fake.pmq to 65534");
	h_start_pmqd();

	pid_t victim = kid(spawn_sleeper()); /* a root process */
	int idx;
	pid_t attacker = kid(spawn_fake_attacher("fake", victim, &idx));
	printf("item 1: fake entry %d names root pid %d (attacker %d, as %s)\n", idx, (int)victim, (int)attacker,
	       nobody_ok ? "uid 65534" : "root on a 65534-owned queue");
	wait_verdict("fake", victim);
	H_CHECK(alive(victim), "the root process named by a fake entry was killed by pmqd");
	H_CHECK(h_log_has("on \"fake\" is not killed: it never said hello"),
		"pmqd logs that it does not kill a process known only from the table");
	char reply[8192];
	H_CHECK(h_request("stat fake", reply, sizeof(reply)) == 0 && strstr(reply, "\"watch\":\"probe\"") &&
			!strstr(reply, "\"watch\":\"pidfd\""),
		"the fake entry is watched by token probe only: %s", reply);
	h_kill(attacker);

	/* a root consumer that said hello, on a queue owned by 65534: not killed either */
	pmq_t *p = h_open("fake", PMQ_PRODUCER);
	H_CHECK(pmq_send(p, "x", 1, 0) == 0, "send");
	unsigned got = 0;
	pid_t holder = kid(h_spawn_holder("fake", 1, &got));
	H_CHECK(got == 1, "root holder got its message");
	for (int i = 0; i < 500 && !h_log_has("are not all the queue owner's") && alive(holder); i++)
		h_sleep_ms(10);
	H_CHECK(alive(holder), "pmqd killed a root process for a queue owned by 65534");
	H_CHECK(h_log_has("are not all the queue owner's (65534) --> requeueing instead"),
		"pmqd logs the uid mismatch and requeues");
	pmq_t *q = h_open("fake", PMQ_CONSUMER);
	struct pmq_msg m;
	int r = pmq_recv_timeout(q, &m, 3000000000ull);
	H_CHECK(r == 0 && m.delivery_count == 2, "the lease requeued the message: %s", pmq_strerror(r));
	pmq_ack(q, &m);
	pmq_close(q);
	pmq_close(p);
	h_kill(holder);
	h_kill(victim);
	h_stop_pmqd();
}

/* pmqd --dir D must exit with status 1 and a message naming the problem. */
static void expect_refused_dir(const char *d, const char *what)
{
	char log[400];
	snprintf(log, sizeof(log), "%s.refuse.log", h_dir);
	pid_t c = fork();
	if (c == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		execl(PMQD_BIN, PMQD_BIN, "--dir", d, "--socket", "/nonexistent/x.sock", (char *)NULL);
		_exit(127);
	}
	int st = 0;
	pid_t w = 0;
	for (int i = 0; i < 500 && (w = waitpid(c, &st, WNOHANG)) == 0; i++)
		h_sleep_ms(10);
	if (w == 0) {
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
	}
	char buf[2048] = "";
	FILE *f = fopen(log, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
	unlink(log);
	H_CHECK(w == c && WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(buf, "refus"),
		"pmqd must refuse %s (%s); it said: %s", d, what, buf);
}

static void item4_directory(void)
{
	char d[sizeof(h_dir) + 16];
	if (strlen(h_dir) > 150)
		H_FAIL("directory name too long for this test: %s", h_dir);
	/* made by nobody, mode 0755 */
	snprintf(d, sizeof(d), "%s/by-nobody", h_dir);
	H_CHECK(mkdir(d, 0755) == 0 && chown(d, 65534, 65534) == 0, "mkdir %s", d);
	expect_refused_dir(d, "owned by uid 65534");
	/* root's, but world-writable without the sticky bit */
	snprintf(d, sizeof(d), "%s/open", h_dir);
	H_CHECK(mkdir(d, 0755) == 0 && chmod(d, 0777) == 0, "mkdir %s", d);
	expect_refused_dir(d, "mode 0777");
	/* a good directory (root's, 0700) under a parent nobody owns: nobody could move it
	 * away and put theirs in its place */
	snprintf(d, sizeof(d), "%s/nobodys", h_dir);
	H_CHECK(mkdir(d, 0755) == 0, "mkdir %s", d);
	char inner[sizeof(d) + 8];
	snprintf(inner, sizeof(inner), "%s/q", d);
	H_CHECK(mkdir(inner, 0700) == 0 && chown(d, 65534, 65534) == 0, "mkdir %s", inner);
	expect_refused_dir(inner, "owned by uid 65534");
	/* what pmqd makes itself: root-owned 01777, accepted on the next start */
	snprintf(d, sizeof(d), "%s/fresh", h_dir);
	char saved[sizeof(h_dir)];
	memcpy(saved, h_dir, sizeof(saved));
	memcpy(h_dir, d, strlen(d) + 1); /* h_dir is at most 150 bytes (checked above) + "/fresh" */
	h_start_pmqd();
	h_stop_pmqd();
	struct stat st;
	H_CHECK(stat(d, &st) == 0 && st.st_uid == 0 && (st.st_mode & 07777) == 01777,
		"pmqd makes its directory root-owned 01777 (got %o uid %u)", st.st_mode & 07777, st.st_uid);
	memcpy(h_dir, saved, sizeof(h_dir));
}

static void item7_flood(void)
{
	static const char *const open_mode[] = { "--socket-mode", "0666", NULL };
	h_start_pmqd_args(open_mode);
	int up[2], stop[2];
	H_CHECK(pipe(up) == 0 && pipe(stop) == 0, "pipe");
	pid_t c = fork();
	if (c == 0) {
		close(up[0]);
		close(stop[1]);
		if (h_become_nobody() < 0)
			_exit(3);
		static int fds[300];
		int open_n = 0;
		char path[512];
		snprintf(path, sizeof(path), "%s/.pmqd.sock", h_dir);
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		if (strlen(path) >= sizeof(sa.sun_path))
			_exit(2);
		memcpy(sa.sun_path, path, strlen(path) + 1);
		for (int i = 0; i < 300; i++) {
			fds[i] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);
			if (connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) == 0)
				open_n++;
		}
		if (write(up[1], &open_n, sizeof(open_n)) != sizeof(open_n))
			_exit(4);
		/* keep every connection busy, so idle reaping cannot help root */
		for (;;) {
			struct pollfd pf = { .fd = stop[0], .events = POLLIN };
			if (poll(&pf, 1, 200) > 0)
				break;
			char buf[512];
			for (int i = 0; i < 300; i++) {
				send(fds[i], "ping", 4, MSG_NOSIGNAL | MSG_DONTWAIT);
				while (recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT) > 0)
					;
			}
		}
		int served = 0;
		char buf[512];
		for (int i = 0; i < 300; i++) {
			send(fds[i], "ping", 4, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		h_sleep_ms(300);
		for (int i = 0; i < 300; i++) {
			ssize_t n;
			bool ok = false;
			while ((n = recv(fds[i], buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0)
				ok = ok || !strncmp(buf, "ok ", 3);
			served += ok;
		}
		_exit(served > 0 && served <= 64 ? 0 : 10 + (served > 64));
	}
	close(up[1]);
	close(stop[0]);
	int n = 0;
	H_CHECK(read(up[0], &n, sizeof(n)) == sizeof(n), "flooder ready");
	h_sleep_ms(500); /* it has pinged on all of them at least twice */
	char reply[4096];
	uint64_t t0 = h_now_ns();
	int r = h_request("ping", reply, sizeof(reply));
	double ms = (double)(h_now_ns() - t0) / 1e6;
	printf("item 7: nobody holds %d connect()s; root's ping: %s after %.1f ms\n", n, r ? strerror(-r) : "answered",
	       ms);
	H_CHECK(r == 0 && !strncmp(reply, "ok ", 3), "root's ping is answered while uid 65534 floods: %s",
		r ? strerror(-r) : reply);
	H_CHECK(write(stop[1], "x", 1) == 1, "stop flooder");
	int st;
	waitpid(c, &st, 0);
	H_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "uid 65534 was served on 1..64 connections (status %d)",
		WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	close(up[0]);
	close(stop[1]);
	h_stop_pmqd();
}

/* repl-stat as uid 65534 (pmqd's socket 0666): nothing of root's replicated queue */
static void item9_repl_stat(void)
{
	char key[300], sdir[300], listen[64], to[64];
	snprintf(key, sizeof(key), "%s.key", h_dir);
	snprintf(sdir, sizeof(sdir), "%s/standby", h_dir);
	FILE *f = fopen(key, "w");
	H_CHECK(f && fprintf(f, "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==\n") > 0, "key");
	fclose(f);
	chmod(key, 0600);
	int port = 20000 + (int)(getpid() % 30000);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(to, sizeof(to), "127.0.0.1:%d", port);
	/* a sticky, world-writable standby directory, as pmqd makes it: nobody may create names */
	mode_t um = umask(0);
	H_CHECK(mkdir(sdir, 01777) == 0, "mkdir %s", sdir);
	umask(um);
	pid_t sb = fork();
	if (sb == 0) {
		int fd = open(h_log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 2);
		char ssock[400];
		snprintf(ssock, sizeof(ssock), "%s/.pmqd.sock", sdir);
		execl(PMQD_BIN, PMQD_BIN, "--dir", sdir, "--standby", "--listen", listen, "--repl-key-file", key,
		      (char *)NULL);
		_exit(127);
	}
	kid(sb); /* killed at exit if a check fails */
	H_CHECK(h_create("rootq", NULL) == 0, "create rootq");
	const char *const args[] = { "--socket-mode", "0666", "--replicate-to", to, "--repl-key-file", key, NULL };
	h_start_pmqd_args(args);
	char reply[16384];
	int seen = 0;
	for (int i = 0; i < 500 && !seen; i++) {
		seen = h_request("repl-stat", reply, sizeof(reply)) == 0 && strstr(reply, "\"rootq\"");
		if (!seen)
			h_sleep_ms(10);
	}
	if (!seen) {
		kill(sb, SIGTERM);
		waitpid(sb, NULL, 0);
		printf("item 9: the replication link did not come up (%s): part skipped\n", reply);
		h_stop_pmqd();
		return;
	}
	int pp[2];
	H_CHECK(pipe(pp) == 0, "pipe");
	pid_t c = fork();
	if (c == 0) {
		close(pp[0]);
		if (h_become_nobody() < 0)
			_exit(3);
		int r = h_request("repl-stat", reply, sizeof(reply));
		if (r)
			snprintf(reply, sizeof(reply), "unreachable: %s", strerror(-r));
		if (write(pp[1], reply, strlen(reply) + 1) < 0)
			_exit(4);
		_exit(0);
	}
	close(pp[1]);
	ssize_t n = read(pp[0], reply, sizeof(reply) - 1);
	reply[n > 0 ? n : 0] = '\0';
	close(pp[0]);
	waitpid(c, NULL, 0);

	/* nobody plants the standby's temporary state name (its pid is the one we forked);
	 * the promotion's save must not write into nobody's file and rename it into place */
	char tmp[400], state[400], rep2[4096];
	snprintf(tmp, sizeof(tmp), "%s/.pmqd.repl.tmp.%d", sdir, (int)sb);
	snprintf(state, sizeof(state), "%s/.pmqd.repl", sdir);
	pid_t planter = fork();
	if (planter == 0) {
		if (h_become_nobody() < 0)
			_exit(3);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
		_exit(fd >= 0 ? 0 : 4);
	}
	int pst;
	waitpid(planter, &pst, 0);
	H_CHECK(WIFEXITED(pst) && WEXITSTATUS(pst) == 0, "uid 65534 planted %s", tmp);
	char saved_sock[sizeof(h_sock)];
	memcpy(saved_sock, h_sock, sizeof(saved_sock));
	size_t sl = strlen(sdir);
	H_CHECK(sl + sizeof("/.pmqd.sock") <= sizeof(h_sock), "standby directory name too long");
	memcpy(h_sock, sdir, sl);
	memcpy(h_sock + sl, "/.pmqd.sock", sizeof("/.pmqd.sock"));
	/* the standby may still be starting (its socket not made yet): retry only while unreachable */
	int pr = -ENOENT;
	for (int i = 0; i < 1000 && (pr == -ENOENT || pr == -ECONNREFUSED); i++) {
		pr = h_request("promote", rep2, sizeof(rep2));
		if (pr == -ENOENT || pr == -ECONNREFUSED)
			h_sleep_ms(10);
	}
	memcpy(h_sock, saved_sock, sizeof(h_sock));
	struct stat sst;
	H_CHECK(pr == 0 && !strncmp(rep2, "ok ", 3), "promote the standby: %s", pr ? strerror(-pr) : rep2);
	H_CHECK(lstat(state, &sst) == 0 && sst.st_uid == 0,
		"the promoted standby's %s must be root's, not the planted file of uid %u", state, (unsigned)sst.st_uid);
	printf("item 9: promotion with a planted %s: state file owned by uid %u\n", tmp, (unsigned)sst.st_uid);
	kill(sb, SIGTERM);
	waitpid(sb, NULL, 0);
	h_stop_pmqd();
	unlink(key);
	printf("item 9: uid 65534's repl-stat: %.200s\n", reply);
	H_CHECK(!strncmp(reply, "ok ", 3) && !strstr(reply, "rootq"), "uid 65534 must not see root's queue: %s", reply);
}

int main(void)
{
	h_setup("unpriv");
	atexit(kill_kids);
	if (geteuid() != 0)
		h_skip("needs root: the suite runs a root pmqd and drops to uid 65534 in children");
	nobody_ok = h_nobody_reaches(h_dir);
	if (!nobody_ok)
		printf("uid 65534 cannot search %s (e.g. a chroot whose root is 0700): items 7 and 9 "
		       "are skipped; item 1's attack runs as root on a queue owned by 65534\n", h_dir);
	item1_fake_attachment();
	item4_directory();
	if (nobody_ok) {
		item7_flood();
		item9_repl_stat();
	}
	printf("PASS test_pmqd_unpriv\n");
	h_done();
	return 0;
}
