/*
 * main.c - pmqd: settings, the single-instance lock, signals, threads.
 *
 * pmqd never forks into the background: in a terminal it is a foreground
 * process, under systemd it is Type=notify (READY=1 once the first scan is
 * done and the socket listens). Exit codes: 0 clean stop, 1 fatal error at
 * start (a config file that cannot be read or has a bad line included), 2 usage
 * (a bad flag), 3 another pmqd already supervises the directory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pmqd.h"
#include "metrics.h"
#include "repl.h"
#include "witness.h"

/* pmqd's settings: owned here, handed to the threads (control via struct pmqd_ctx). */
static struct pmqd_config cfg;
static int saved_argc;
static char **saved_argv;

/* 0, 1 (--help/--version: exit 0), -1 (a bad flag: exit 2), -2 (the config
 * file cannot be used: exit 1, a fatal error at start). */
static int build_config(struct pmqd_config *c, bool quiet)
{
	char err[512] = "";
	config_defaults(c);
	/* the file first, so that flags override it: find --config/-c before the rest */
	int r = config_parse_args(c, saved_argc, saved_argv);
	if (r)
		return r;
	struct pmqd_config flags_only = *c;
	if (c->config_file[0]) {
		config_defaults(c);
		snprintf(c->config_file, sizeof(c->config_file), "%s", flags_only.config_file);
		if (config_load_file(c, err, sizeof(err)) < 0) {
			if (!quiet)
				fprintf(stderr, "pmqd: %s --> fix the file or drop --config\n", err);
			else
				log_msg(LOG_ERR, "%s --> keeping the old settings", err);
			return -2;
		}
		r = config_parse_args(c, saved_argc, saved_argv);
		if (r)
			return r;
	}
	config_finish(c);
	return 0;
}

/* SIGHUP or `reload` (the control thread calls it through pmqd_ctx.reload):
 * re-read; apply what can change live. */
static int reload_settings(struct pmqd_config *c)
{
	struct pmqd_config n;
	if (build_config(&n, true))
		return -1;
	if (strcmp(n.dir, c->dir) || strcmp(n.socket_path, c->socket_path))
		log_msg(LOG_WARNING, "reload: dir or socket changed (%s, %s) --> restart pmqd to apply", n.dir,
			n.socket_path);
	if (strcmp(n.metrics_listen, c->metrics_listen))
		log_msg(LOG_WARNING, "reload: metrics-listen changed (\"%s\") --> restart pmqd to apply",
			n.metrics_listen);
	c->scan_ms = n.scan_ms;
	c->probe_ms = n.probe_ms;
	c->retry_ms = n.retry_ms;
	c->log_level = n.log_level;
	log_set_level(n.log_level);
	supervisor_set_intervals(n.probe_ms, n.retry_ms);
	log_msg(LOG_NOTICE, "reloaded: scan %u ms, probe %u ms, retry %u ms", n.scan_ms, n.probe_ms, n.retry_ms);
	return 0;
}

/* One pmqd per directory: a flock on <dir>/.pmqd.lock, held until we exit. */
static int take_instance_lock(const char *dir)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, PMQD_LOCK_NAME);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
	struct stat st;
	if (fd >= 0 && (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != geteuid())) {
		/* someone else's file in a sticky directory: never lock (or write) theirs; replace it */
		close(fd);
		unlink(path);
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	}
	if (fd < 0) {
		fprintf(stderr, "pmqd: cannot open %s: %s --> check the directory's permissions\n", path,
			strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char buf[32] = "";
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		fprintf(stderr, "pmqd: another pmqd (pid %s) already supervises %s --> stop it first, or use --dir\n",
			buf[0] ? buf : "?", dir);
		close(fd);
		return -2;
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		fprintf(stderr, "pmqd: warning: cannot record our pid in %s\n", path);
	return fd;
}

int main(int argc, char **argv)
{
	saved_argc = argc;
	saved_argv = argv;
	int r = build_config(&cfg, false);
	if (r)
		return r > 0 ? 0 : r == -2 ? 1 : 2;
	log_init(cfg.log_level);

	char why[512];
	if (dir_prepare(cfg.dir, why, sizeof(why)) < 0) {
		fprintf(stderr, "pmqd: queue directory %s %s\n", cfg.dir, why);
		return 1;
	}
	int lock_fd = take_instance_lock(cfg.dir);
	if (lock_fd < 0)
		return lock_fd == -2 ? 3 : 1;

	/* Signals arrive through signalfd on the control thread; block them everywhere. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);

	rcu_register_thread();
	if (sigfd < 0 || registry_init() < 0) {
		log_msg(LOG_ERR, "cannot set up: %s", strerror(errno));
		return 1;
	}
	if (control_open(&cfg) < 0)
		return 1;
	if ((r = supervisor_start(&cfg)) < 0) {
		log_msg(LOG_ERR, "cannot start the supervisor thread: %s", strerror(-r));
		return 1;
	}
	if (repl_start(cfg.dir) < 0 || witness_start(cfg.dir) < 0)
		return 1;
	if (metrics_start(cfg.metrics_listen) < 0)
		return 1;
	log_msg(LOG_NOTICE, "pmqd %s starting (libpmq %s): dir %s, scan %u ms, probe %u ms", PMQD_VERSION,
		pmq_version(), cfg.dir, cfg.scan_ms, cfg.probe_ms);
	struct pmqd_ctx ctx = { .cfg = &cfg, .sigfd = sigfd, .reload = reload_settings };
	r = control_run(&ctx);
	control_close(); /* no new hellos while we detach */
	metrics_stop(); /* before the registry goes: a scrape reads it */
	witness_stop();
	repl_stop();
	supervisor_stop();
	registry_fini();
	rcu_unregister_thread();
	log_msg(LOG_NOTICE, "stopped");
	close(lock_fd);
	return r < 0 ? 1 : 0;
}
