/*
 * test_pmqd_control: the control socket refuses bad requests with an error
 * reply and keeps serving: random bytes, NULs, a truncated hello, an
 * oversized request, an unknown verb, too many arguments, a forged hello;
 * an unprivileged uid (when we are root) gets EPERM for a queue it does
 * not own, sees no foreign queue in `list`, and may not reload.
 */
#include <grp.h>

#include "harness.h"

static void expect_err(const void *req, size_t len, const char *want)
{
	char reply[70000];
	int r = h_request_raw(req, len, reply, sizeof(reply));
	H_CHECK(r == 0, "request answered (%s)", strerror(-r));
	H_CHECK(!strncmp(reply, "err ", 4), "error reply, got: %s", reply);
	if (want)
		H_CHECK(strstr(reply, want), "reply names %s: %s", want, reply);
}

static void expect_alive(void)
{
	char reply[4096] = "";
	int r = h_request("ping", reply, sizeof(reply));
	H_CHECK(r == 0 && !strncmp(reply, "ok ", 3), "pmqd still answers (%s): %s", strerror(-r), reply);
}

static int control_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int pl = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/.pmqd.sock", h_dir);
	H_CHECK(pl > 0 && (size_t)pl < sizeof(sa.sun_path), "socket path fits");
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	H_CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s", strerror(errno));
	return fd;
}

/* More clients than pmqd serves at once: the extra one waits in the backlog and is answered
 * as soon as others leave, instead of being turned away. */
static void test_client_limit(void)
{
	enum { HOLDERS = 300 }; /* above pmqd's 256 open control connections */
	static int holders[HOLDERS];
	for (int i = 0; i < HOLDERS; i++)
		holders[i] = control_connect();
	int fd = control_connect();
	H_CHECK(send(fd, "ping", 4, MSG_NOSIGNAL) == 4, "ping sent: %s", strerror(errno));
	h_sleep_ms(100);
	for (int i = 0; i < HOLDERS; i++)
		close(holders[i]);
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char reply[4096];
	ssize_t n = recv(fd, reply, sizeof(reply) - 1, 0);
	H_CHECK(n > 0, "the waiting client is answered: %s", n < 0 ? strerror(errno) : "closed");
	reply[n] = '\0';
	H_CHECK(!strncmp(reply, "ok ", 3), "the waiting client gets ok, got: %s", reply);
	close(fd);
	expect_alive();
}

static void test_garbage(void)
{
	unsigned char junk[512];
	srand(42);
	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (unsigned char)rand();
		junk[0] = 0x01; /* never a valid verb */
		expect_err(junk, 1 + (size_t)rand() % sizeof(junk), NULL);
	}
	expect_err("ping\0junk", 9, "EINVAL");
	expect_err("hello orders 1", 14, "EINVAL");            /* truncated */
	expect_err("hello orders x y z", 18, "EINVAL");         /* not numbers */
	expect_err("hello orders 7 99 1", 19, "ESRCH");         /* forged: no such attachment */
	expect_err("hello ../etc 1 1 1", 18, "EINVAL");         /* path in the name */
	expect_err("frobnicate", 10, "EINVAL");
	expect_err("stat a b c d e f g h i j", 24, "E2BIG");
	expect_err("stat nosuchqueue", 16, "ENOENT");
	expect_err(" ", 1, "EINVAL");
	static char big[8192];
	memset(big, 'a', sizeof(big));
	memcpy(big, "stat ", 5);
	expect_err(big, sizeof(big), "EMSGSIZE");
	memset(big, 'b', 4096 + 1);
	expect_err(big, 4096 + 1, "EMSGSIZE");
	expect_alive();

	/* a client that connects, sends half a conversation and vanishes */
	for (int i = 0; i < 300; i++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		char path[512];
		int pl = snprintf(path, sizeof(path), "%s/.pmqd.sock", h_dir);
		H_CHECK(pl > 0 && (size_t)pl < sizeof(sa.sun_path), "socket path fits");
		memcpy(sa.sun_path, path, (size_t)pl + 1);
		int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && i % 2)
			send(fd, "list", 4, MSG_NOSIGNAL);
		close(fd);
	}
	expect_alive();
}

static void test_valid(void)
{
	char reply[70000];
	H_CHECK(h_request("list", reply, sizeof(reply)) == 0 && strstr(reply, "\"orders\""), "list: %s", reply);
	H_CHECK(h_request("stat orders\n", reply, sizeof(reply)) == 0 && !strncmp(reply, "ok {", 4), "stat: %s", reply);
	H_CHECK(h_request("recover orders", reply, sizeof(reply)) == 0 && strstr(reply, "\"recovered\":0"), "recover: %s",
		reply);
}

static void test_unprivileged(void)
{
	if (geteuid() != 0) {
		printf("not root: the unprivileged-uid part is skipped\n");
		return;
	}
	/* uid 65534 must be able to reach the directory at all, or every refusal below would
	 * prove nothing (a chroot whose root directory is 0700, as a build root may be) */
	pid_t probe = fork();
	if (probe == 0) {
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(3);
		_exit(access(h_dir, X_OK) == 0 ? 0 : 1);
	}
	int pst;
	waitpid(probe, &pst, 0);
	if (!WIFEXITED(pst) || WEXITSTATUS(pst) != 0) {
		printf("uid 65534 cannot search %s (a parent directory is not searchable, e.g. a chroot "
		       "whose root is 0700): the unprivileged-uid part is skipped\n", h_dir);
		return;
	}
	/* default socket mode 0660 root:root: the file system refuses uid 65534 */
	int pp[2];
	H_CHECK(pipe(pp) == 0, "pipe");
	pid_t c = fork();
	if (c == 0) {
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(3);
		char reply[4096];
		int r = h_request("ping", reply, sizeof(reply));
		_exit(r == -EACCES ? 0 : 4);
	}
	int st;
	waitpid(c, &st, 0);
	H_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "uid 65534 cannot connect to a 0660 root socket (status %d)", st);

	/* a world-writable socket: pmqd itself must refuse by SO_PEERCRED */
	h_stop_pmqd();
	static const char *const open_mode[] = { "--socket-mode", "0666", NULL };
	h_start_pmqd_args(open_mode);
	c = fork();
	if (c == 0) {
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(3);
		char reply[4096];
		if (h_request("stat orders", reply, sizeof(reply)) || strncmp(reply, "err EPERM", 9))
			_exit(4);
		if (h_request("recover orders", reply, sizeof(reply)) || strncmp(reply, "err EPERM", 9))
			_exit(5);
		if (h_request("reload", reply, sizeof(reply)) || strncmp(reply, "err EPERM", 9))
			_exit(6);
		if (h_request("list", reply, sizeof(reply)) || strstr(reply, "orders"))
			_exit(7);
		if (h_request("ping", reply, sizeof(reply)) || strncmp(reply, "ok ", 3))
			_exit(8);
		_exit(0);
	}
	waitpid(c, &st, 0);
	H_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "uid 65534 refused with EPERM (child status %d)",
		WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	expect_alive();
	close(pp[0]);
	close(pp[1]);
}

int main(void)
{
	h_setup("control");
	H_CHECK(h_create("orders", NULL) == 0, "create");
	h_start_pmqd();
	test_garbage();
	test_valid();
	test_client_limit();
	test_unprivileged();
	printf("PASS test_pmqd_control\n");
	h_done();
	return 0;
}
