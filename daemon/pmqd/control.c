/*
 * control.c - the control thread: its event loop and the control socket.
 *
 * Socket: Unix SOCK_SEQPACKET at <dir>/.pmqd.sock, mode 0660 (elsewhere with
 * --socket, and then <dir>/.pmqd.sock is a link to it: leave_socket_record). One request is
 * one datagram of text, at most PMQD_REQ_MAX bytes, "verb args...\n"; one
 * reply per request: "ok <json>\n" or "err <ERRNO-NAME> <message>\n". The
 * peer's uid comes from SO_PEERCRED, never from the request: a queue may be
 * controlled by root or by the owner of its file. Bad requests (empty, too
 * long, not text, unknown verb, bad arguments) get an error reply and the
 * daemon goes on. docs/pmqd.md lists the verbs.
 *
 * The loop also carries the directory watch, the periodic scan, signals
 * (signalfd: SIGTERM/SIGINT stop, SIGHUP reloads) and the supervisor's
 * requests to re-read a queue's table (need_scan + registry_wake). The verbs
 * themselves are in control_verbs.c; this file owns the sockets and the loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "control_verbs.h"
#include "pmqd.h"

#define MAX_CLIENTS 256
/* Fairness (issue 9 item 7): one uid other than root holds at most PER_UID_MAX
 * connections, and all of them together leave ROOT_RESERVE for root, so no
 * local user can keep root's pmqctl (or other users) out. */
#define PER_UID_MAX 32
#define ROOT_RESERVE 32
#define UID_SLOTS 64 /* distinct non-root uids connected at once; more are refused */
#define TAG_LISTEN 1ull
#define TAG_INOTIFY 2ull
#define TAG_SIGNAL 3ull
#define TAG_KICK 4ull
#define TAG_TIMER 5ull
#define TAG_CLIENT (1ull << 32)

static int listen_fd = -1, ep = -1;
static char sock_path[4096];
static char record_path[4200]; /* DIR/.pmqd.sock as a link to sock_path, "" if none */
static char record_target[8200];

/*
 * --socket outside DIR (issue 9 item 20): libpmq says hello to DIR/.pmqd.sock
 * only, so pmqd leaves a record there: a symbolic link, made by pmqd (root) in
 * its checked directory, naming the real socket. connect() follows it, and so
 * do pmqctl's defaults. A hello carries nothing secret and pmqd verifies its
 * sender by the kernel's credentials, so a reader needs no more check than the
 * directory's own (dir_trust.c).
 */
static void leave_socket_record(const struct pmqd_config *c)
{
	char def[4200];
	snprintf(def, sizeof(def), "%s/%s", c->dir, PMQD_SOCK_NAME);
	if (!strcmp(def, c->socket_path))
		return;
	char cwd[4096] = "";
	if (c->socket_path[0] != '/' && !getcwd(cwd, sizeof(cwd)))
		cwd[0] = '\0';
	size_t lc = strlen(cwd), ls = strlen(c->socket_path);
	if (lc + 1 + ls >= sizeof(record_target)) {
		log_msg(LOG_WARNING, "socket path %s is too long to link from %s --> use an absolute --socket", c->socket_path,
			def);
		return;
	}
	memcpy(record_target, cwd, lc);
	if (lc)
		record_target[lc++] = '/';
	memcpy(record_target + lc, c->socket_path, ls + 1); /* length checked above */
	unlink(def); /* a stale one, or anyone's: the sticky bit lets root (the directory's owner) remove it */
	if (symlink(record_target, def) < 0) {
		log_msg(LOG_WARNING, "cannot leave %s -> %s: %s --> libpmq's hellos will not reach pmqd; deaths are "
			"then found by the token probe", def, record_target, strerror(errno));
		return;
	}
	snprintf(record_path, sizeof(record_path), "%s", def);
	log_msg(LOG_INFO, "control socket %s; %s points to it for libpmq's hellos", c->socket_path, def);
}

static void remove_socket_record(void)
{
	char now[4200];
	ssize_t n = record_path[0] ? readlink(record_path, now, sizeof(now) - 1) : -1;
	if (n < 0)
		return;
	now[n] = '\0';
	if (!strcmp(now, record_target)) /* still ours */
		unlink(record_path);
}
static unsigned n_clients, n_nonroot;
static struct {
	uid_t uid;
	unsigned n;
} uid_count[UID_SLOTS]; /* n == 0: free */

static unsigned *uid_counter(uid_t uid, bool add)
{
	int free_slot = -1;
	for (int i = 0; i < UID_SLOTS; i++) {
		if (uid_count[i].n && uid_count[i].uid == uid)
			return &uid_count[i].n;
		if (!uid_count[i].n && free_slot < 0)
			free_slot = i;
	}
	if (!add || free_slot < 0)
		return NULL;
	uid_count[free_slot].uid = uid;
	return &uid_count[free_slot].n;
}

/* May one more connection of `uid` be served? Root: while there is any room. */
static bool uid_admit(uid_t uid)
{
	if (uid == 0)
		return true;
	if (n_nonroot >= MAX_CLIENTS - ROOT_RESERVE)
		return false;
	unsigned *c = uid_counter(uid, true);
	if (!c || *c >= PER_UID_MAX)
		return false;
	++*c;
	n_nonroot++;
	return true;
}

static void uid_release(uid_t uid)
{
	if (uid == 0)
		return;
	unsigned *c = uid_counter(uid, false);
	if (c && *c)
		--*c;
	n_nonroot--;
}
static bool accept_paused; /* at MAX_CLIENTS: new connections wait in the backlog */
static struct {
	uid_t uid;
	pid_t pid;
	bool open;
	uint64_t last_ns; /* last request, for reaping idle clients while at the limit */
} clients_cred[65536]; /* by fd; fds above are refused */
#define CLIENT_IDLE_NS (10ull * 1000000000ull)

int control_open(const struct pmqd_config *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(c->socket_path) >= sizeof(sa.sun_path)) {
		log_msg(LOG_ERR, "socket path %s is too long (max %zu) --> use --socket", c->socket_path,
			sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, c->socket_path, strlen(c->socket_path) + 1); /* length checked above */
	snprintf(sock_path, sizeof(sock_path), "%s", c->socket_path);
	listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0)
		return -errno;
	unlink(sa.sun_path); /* stale from a killed pmqd: the instance lock says we are the only one */
	mode_t old = umask(0777 & ~c->socket_mode);
	int r = bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(listen_fd, 128) < 0) {
		int e = errno;
		log_msg(LOG_ERR, "cannot listen on %s: %s", sa.sun_path, strerror(e));
		return -e;
	}
	chmod(sa.sun_path, c->socket_mode);
	if (c->socket_gid >= 0 && chown(sa.sun_path, (uid_t)-1, (gid_t)c->socket_gid) < 0)
		log_msg(LOG_WARNING, "cannot give %s to group %ld: %s", sa.sun_path, c->socket_gid, strerror(errno));
	leave_socket_record(c);
	return listen_fd;
}

void control_close(void)
{
	if (listen_fd >= 0) {
		close(listen_fd);
		unlink(sock_path);
		remove_socket_record();
	}
}

/* Accepting stops at the limit rather than refusing: a burst of short-lived clients whose
 * hangups are still queued behind the listen event must not turn a waiting client away. */
static void set_accepting(bool on)
{
	struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.u64 = TAG_LISTEN };
	if (epoll_ctl(ep, EPOLL_CTL_MOD, listen_fd, &ev) == 0)
		accept_paused = !on;
}

static void client_close(int fd)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	clients_cred[fd].open = false;
	uid_release(clients_cred[fd].uid);
	n_clients--;
	if (accept_paused && n_clients < MAX_CLIENTS)
		set_accepting(true);
}

/* While accepting is paused, clients silent for CLIENT_IDLE_NS make room for others. */
static void reap_idle_clients(void)
{
	if (!accept_paused)
		return;
	uint64_t now = mono_ns();
	for (int fd = 0; fd < (int)(sizeof(clients_cred) / sizeof(clients_cred[0])); fd++)
		if (clients_cred[fd].open && now - clients_cred[fd].last_ns > CLIENT_IDLE_NS)
			client_close(fd);
}

static void on_client(int fd, uint32_t events)
{
	char buf[PMQD_REQ_MAX + 1];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			client_close(fd);
			return;
		}
		if (n == 0) { /* SEQPACKET: 0 is the peer's close (an empty datagram cannot be told apart) */
			client_close(fd);
			return;
		}
		size_t full = (size_t)n;
		clients_cred[fd].last_ns = mono_ns();
		if (n > PMQD_REQ_MAX)
			n = PMQD_REQ_MAX;
		struct control_peer peer = { .fd = fd, .uid = clients_cred[fd].uid, .pid = clients_cred[fd].pid };
		control_handle_request(&peer, buf, n, full);
	}
	if (events & (EPOLLHUP | EPOLLERR))
		client_close(fd);
}

static void on_accept(void)
{
	for (;;) {
		if (n_clients >= MAX_CLIENTS) {
			set_accepting(false);
			return;
		}
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct ucred cr;
		socklen_t cl = sizeof(cr);
		if (fd >= 65536 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0) {
			const char busy[] = "err EBUSY too many control connections --> retry\n";
			send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		if (!uid_admit(cr.uid)) {
			char busy[160];
			int n = snprintf(busy, sizeof(busy),
					 "err EBUSY uid %u has %d control connections open (or all users %d) --> close some "
					 "and retry\n", (unsigned)cr.uid, PER_UID_MAX, MAX_CLIENTS - ROOT_RESERVE);
			send(fd, busy, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		clients_cred[fd].uid = cr.uid;
		clients_cred[fd].pid = cr.pid;
		clients_cred[fd].last_ns = mono_ns();
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = TAG_CLIENT | (unsigned)fd };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			uid_release(cr.uid);
			close(fd);
			continue;
		}
		clients_cred[fd].open = true;
		n_clients++;
	}
}

/* ---- the loop ------------------------------------------------------------------- */

static const struct pmqd_ctx *ctx;
static int timer_fd = -1;

static void arm_timer(unsigned ms)
{
	struct itimerspec its = { .it_interval = { ms / 1000, (long)(ms % 1000) * 1000000L } };
	its.it_value = its.it_interval;
	timerfd_settime(timer_fd, 0, &its, NULL);
}

static void request_reload(void)
{
	sd_notify(0, "RELOADING=1");
	ctx->reload(ctx->cfg);
	arm_timer(ctx->cfg->scan_ms);
	discover_scan_all();
	sd_notify(0, "READY=1");
}

int control_run(const struct pmqd_ctx *context)
{
	ctx = context;
	const struct pmqd_config *c = ctx->cfg;
	int sigfd = ctx->sigfd;
	control_verbs_init(c->dir, mono_ns(), request_reload);
	ep = epoll_create1(EPOLL_CLOEXEC);
	timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	int ino = discover_init(c);
	if (ep < 0 || timer_fd < 0 || ino < 0)
		return -1;
	struct { int fd; uint64_t tag; } srcs[] = {
		{ listen_fd, TAG_LISTEN }, { ino, TAG_INOTIFY }, { sigfd, TAG_SIGNAL },
		{ registry_wake_fd(REG_WAKE_CONTROL), TAG_KICK },     { timer_fd, TAG_TIMER },
	};
	for (unsigned i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = srcs[i].tag };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, srcs[i].fd, &ev) < 0)
			return -1;
	}
	arm_timer(c->scan_ms);
	discover_scan_all();
	sd_notify(0, "READY=1\nSTATUS=supervising");
	log_msg(LOG_NOTICE, "ready: %u queue(s), %u attachment(s) in %s, control socket %s", registry_queue_count(),
		registry_attach_count(), c->dir, c->socket_path);

	for (;;) {
		struct epoll_event evs[32];
		int n = epoll_wait(ep, evs, 32, -1);
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			uint64_t v;
			ssize_t r;
			if (tag & TAG_CLIENT) {
				on_client((int)(tag & 0xffffffffu), evs[i].events);
			} else if (tag == TAG_LISTEN) {
				on_accept();
			} else if (tag == TAG_INOTIFY) {
				discover_on_inotify();
			} else if (tag == TAG_KICK) {
				registry_wake_drain(REG_WAKE_CONTROL);
				discover_scan_flagged();
			} else if (tag == TAG_TIMER) {
				r = read(timer_fd, &v, sizeof(v));
				discover_scan_all();
				reap_idle_clients();
			} else if (tag == TAG_SIGNAL) {
				struct signalfd_siginfo si;
				while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP) {
						log_msg(LOG_NOTICE, "SIGHUP --> reloading %s",
							c->config_file[0] ? c->config_file : "settings");
						request_reload();
					} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
						log_msg(LOG_NOTICE, "%s --> stopping", strsignal((int)si.ssi_signo));
						sd_notify(0, "STOPPING=1");
						discover_fini();
						close(timer_fd);
						close(ep);
						return 0;
					}
				}
			}
			(void)r;
		}
	}
}
