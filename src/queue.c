/* Longer than 600 lines on purpose: create and open are one sequence (directory and owner checks, header copy, mapping, attach) read together. */
/*
 * queue.c - lifecycle: create, open, close, unlink; stats and the
 * supervision calls. Everything here may make system calls and allocate:
 * none of it is on the data path.
 */
#include <errno.h>
#include <fcntl.h>
#include <libpmem.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PMQ_DEFAULT_DIR "/dev/shm/pmq"

/* attach.c, used only here */
int attach_presence(struct pmq *q, bool nonblock, bool *exclusive);
int attach_presence_share(struct pmq *q);
/* recover.c */
int recover_settle(struct pmq *q, unsigned owner);

static const char *resolve_dir(const char *dir)
{
	if (dir && *dir)
		return dir;
	const char *env = getenv("PMQ_DIR");
	return env && *env ? env : PMQ_DEFAULT_DIR;
}

/* A name is one path component of [A-Za-z0-9._-], not starting with '.'. */
static int check_name(const char *name, bool allow_dlq, bool *is_dlq, char base[PMQ_NAME_MAX + 1])
{
	if (!name)
		return pmq_fail(-EINVAL, "queue name is NULL");
	size_t n = strlen(name);
	if (n == 0 || n > PMQ_NAME_MAX)
		return pmq_fail(-EINVAL, "queue name \"%.40s\" must be 1..%d characters", name, PMQ_NAME_MAX);
	if (name[0] == '.')
		return pmq_fail(-EINVAL, "queue name \"%s\" must not start with '.'", name);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-' || c == '.'))
			return pmq_fail(-EINVAL, "queue name \"%s\": character 0x%02x not allowed (use A-Z a-z 0-9 . _ -)",
					name, (unsigned char)c);
	}
	*is_dlq = n > 4 && strcmp(name + n - 4, ".dlq") == 0;
	if (*is_dlq && !allow_dlq)
		return pmq_fail(-EINVAL, "queue name \"%s\": the .dlq suffix is reserved for dead letters", name);
	memcpy(base, name, n + 1);
	if (*is_dlq)
		base[n - 4] = 0;
	return 0;
}

static int queue_path(char *out, size_t cap, const char *dir, const char *base)
{
	int n = snprintf(out, cap, "%s/%s.pmq", dir, base);
	if (n < 0 || (size_t)n >= cap)
		return pmq_fail(-ENAMETOOLONG, "queue path %s/%s.pmq is too long", dir, base);
	return 0;
}

static bool on_tmpfs(int fd_or_dir_fd)
{
	struct statfs sf;
	return fstatfs(fd_or_dir_fd, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
}

static bool pmem_forced(void)
{
	const char *f = getenv("PMEM_IS_PMEM_FORCE");
	return f && strcmp(f, "1") == 0;
}

PMQ_EXPORT const char *pmq_version(void) { return "1.1.0"; }

PMQ_EXPORT void (pmq_open_opts_init)(struct pmq_open_opts *o) { pmq_open_opts_init_sized(o, PMQ_OPEN_OPTS_SIZE_1_0); }

PMQ_EXPORT void pmq_open_opts_init_sized(struct pmq_open_opts *o, size_t size)
{
	/* only the caller's bytes (a 1.0 build's struct is shorter than ours) */
	if (size < PMQ_OPEN_OPTS_SIZE_1_0 || size > sizeof(*o))
		size = size < PMQ_OPEN_OPTS_SIZE_1_0 ? PMQ_OPEN_OPTS_SIZE_1_0 : sizeof(*o);
	memset(o, 0, size);
	o->size = (uint32_t)size;
	o->wait = PMQ_WAIT_SPIN_FUTEX;
	o->spin_ns = 50000;
}

/* ---- create ------------------------------------------------------------------ */

static int make_dir(const char *dir, bool is_default)
{
	/* the shared default directory is sticky and world-writable like /tmp (files stay 0600);
	 * a directory of the caller's own choosing is private */
	if (mkdir(dir, is_default ? 01777 : 0700) == 0) {
		if (is_default)
			chmod(dir, 01777); /* umask must not narrow the shared directory */
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	return pmq_fail(-errno, "cannot create queue directory %s: %s", dir, strerror(errno));
}

/*
 * Open the queue directory and decide whether its entries can be trusted
 * (docs/security.md): whoever owns a directory, or may write it without the
 * sticky bit, can rename our queue away and put a file of its own under the
 * name. So it must be owned by root or by us, and be writable by nobody else
 * unless it is sticky (then others may add names but not move ours, and the
 * owner check on the file catches a name planted before us). Everything after
 * this is opened relative to the returned descriptor, so the directory that
 * was checked is the one used.
 */
static int open_trusted_dir(const char *dir, bool missing_is_noent, const char *base)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		int e = errno;
		if (e == ENOENT && missing_is_noent)
			return pmq_fail(-ENOENT, "queue \"%s\" does not exist in %s (no such directory)", base, dir);
		return pmq_fail(-e, "queue directory %s: cannot open: %s", dir, strerror(e));
	}
	struct stat st;
	if (fstat(dfd, &st)) {
		int e = errno;
		close(dfd);
		return pmq_fail(-e, "queue directory %s: fstat: %s", dir, strerror(e));
	}
	uid_t me = geteuid();
	if (st.st_uid != 0 && st.st_uid != me) {
		close(dfd);
		return pmq_fail(-EACCES,
				"queue directory %s is owned by uid %u, not by you (uid %u) or root: that user could "
				"replace any queue in it; use a directory you own (PMQ_DIR, pmq_config.dir) or one "
				"root made (install -d -m 1777 -o root %s), see docs/security.md",
				dir, (unsigned)st.st_uid, (unsigned)me, dir);
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		close(dfd);
		return pmq_fail(-EACCES,
				"queue directory %s is writable by others (mode %04o) without the sticky bit: anyone "
				"could replace a queue in it; chmod go-w %s, or chmod +t for a shared directory",
				dir, (unsigned)(st.st_mode & 07777), dir);
	}
	return dfd;
}

/* The file must belong to us, to root, or to the owner the caller named: in a shared
 * sticky directory anyone may create a name first (docs/security.md). */
static int check_file_owner(const struct stat *st, uint32_t owner_uid, const char *base, const char *path)
{
	uid_t me = geteuid();
	if (st->st_uid == me || st->st_uid == 0 || owner_uid == PMQ_OWNER_ANY ||
	    (owner_uid != 0 && st->st_uid == (uid_t)owner_uid))
		return 0;
	return pmq_fail(-EACCES,
			"queue \"%s\": %s is owned by uid %u, not by you (uid %u) or root: refusing a queue "
			"someone else may have planted; if that owner is expected, name it in "
			"pmq_open_opts.owner_uid",
			base, path, (unsigned)st->st_uid, (unsigned)me);
}

static int init_file(int fd, const struct pmq_config *cfg, const struct pmq_geometry *g)
{
	void *m = mmap(NULL, g->file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	struct pmq_header *h = m;
	format_init_header(h, cfg, g);
	for (uint64_t j = 0; j < cfg->slot_count; j++)
		atomic_store_explicit(&((struct pmq_slot *)((uint8_t *)m + g->ring_off + j * g->slot_size))->ctl,
				      ctl_free(0), memory_order_relaxed); /* not shared yet */
	for (uint64_t e = 0; e < g->side_count; e++)
		atomic_store_explicit(&((struct pmq_slot *)((uint8_t *)m + g->side_off + e * g->slot_size))->ctl,
				      ctl_free(0), memory_order_relaxed);
	group_init_area(m, cfg, g); /* groups made with the queue: before anyone can open it */
	int rc = msync(m, g->file_size, MS_SYNC) ? -errno : 0;
	munmap(m, g->file_size);
	return rc;
}

PMQ_EXPORT int pmq_create(const char *name, const struct pmq_config *cfg_in, pmq_t **out)
{
	if (!out)
		return pmq_fail(-EINVAL, "pmq_create: NULL output handle pointer");
	*out = NULL;
	bool is_dlq;
	char base[PMQ_NAME_MAX + 1];
	int rc = check_name(name, false, &is_dlq, base);
	if (rc)
		return rc;
	struct pmq_config cfg;
	if (cfg_in) {
		if (cfg_in->size < offsetof(struct pmq_config, dir) + sizeof(cfg_in->dir) || cfg_in->size > 4096)
			return pmq_fail(-EINVAL, "config: size %u is wrong; call pmq_config_init() first", cfg_in->size);
		/* only the caller's bytes (a 1.0 build's struct is shorter); the rest as init leaves it */
		pmq_config_init(&cfg);
		memcpy(&cfg, cfg_in, cfg_in->size < sizeof(cfg) ? cfg_in->size : sizeof(cfg));
		if (cfg.size > sizeof(cfg))
			cfg.size = sizeof(cfg);
	} else {
		pmq_config_init(&cfg);
	}
	/* a consumer can never hold more than the ring: the default quota fits small rings too */
	if (cfg.consumer_quota > cfg.slot_count && cfg.slot_count >= 2 && !(cfg.slot_count & (cfg.slot_count - 1)))
		cfg.consumer_quota = cfg.slot_count;
	if ((rc = format_validate_config(&cfg)))
		return rc;
	if ((rc = group_parse_list(cfg_groups(&cfg), cfg_max_groups(&cfg), NULL, NULL)))
		return rc;
	struct pmq_geometry g;
	if ((rc = format_geometry(&cfg, &g)))
		return rc;
	const char *dir = resolve_dir(cfg.dir);
	if ((rc = make_dir(dir, strcmp(dir, PMQ_DEFAULT_DIR) == 0)))
		return rc;
	char path[4096], tmp[4200], leaf[PMQ_NAME_MAX + 8], tmp_leaf[PMQ_NAME_MAX + 64];
	if ((rc = queue_path(path, sizeof(path), dir, base)))
		return rc;
	snprintf(leaf, sizeof(leaf), "%s.pmq", base);
	snprintf(tmp_leaf, sizeof(tmp_leaf), ".%s.tmp.%d.%llu", base, (int)getpid(), (unsigned long long)now_mono_ns());
	snprintf(tmp, sizeof(tmp), "%s/%s", dir, tmp_leaf);
	int dfd = open_trusted_dir(dir, false, base);
	if (dfd < 0)
		return dfd;
	int fd = openat(dfd, tmp_leaf, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, cfg.mode);
	if (fd < 0) {
		rc = pmq_fail(-errno, "queue \"%s\": cannot create %s: %s", base, tmp, strerror(errno));
		close(dfd);
		return rc;
	}
	if (cfg.durability == PMQ_DURABLE_POWER && on_tmpfs(fd) && !pmem_forced()) {
		rc = pmq_fail(-EINVAL, "queue \"%s\": power durability on tmpfs (%s) cannot survive power loss; "
				       "use a persistent file system (or PMEM_IS_PMEM_FORCE=1 for tests)",
			      base, dir);
		goto fail;
	}
	if (fchmod(fd, cfg.mode)) { /* the umask must not change what was asked for */
		rc = pmq_fail(-errno, "queue \"%s\": chmod: %s", base, strerror(errno));
		goto fail;
	}
	if ((rc = posix_fallocate(fd, 0, (off_t)g.file_size))) {
		/* reserve the pages now: running out later would be a SIGBUS on the data path */
		rc = pmq_fail(-rc, "queue \"%s\": cannot reserve %llu bytes in %s: %s", base,
			      (unsigned long long)g.file_size, dir, strerror(rc));
		goto fail;
	}
	if ((rc = init_file(fd, &cfg, &g))) {
		rc = pmq_fail(rc, "queue \"%s\": cannot initialise the file: %s", base, strerror(-rc));
		goto fail;
	}
	if (cfg.durability == PMQ_DURABLE_POWER)
		fsync(fd);
	/* publish the finished file under its name atomically; EEXIST if someone was first */
	if (linkat(dfd, tmp_leaf, dfd, leaf, 0)) {
		rc = errno == EEXIST ? pmq_fail(-EEXIST, "queue \"%s\" already exists in %s", base, dir)
				     : pmq_fail(-errno, "queue \"%s\": cannot link %s: %s", base, path, strerror(errno));
		goto fail;
	}
	unlinkat(dfd, tmp_leaf, 0);
	close(fd);
	close(dfd);
	struct pmq_open_opts o;
	pmq_open_opts_init(&o);
	o.dir = dir;
	/* with groups a consumer names its group: the creator's handle is a producer */
	return pmq_open_ex(base, g.max_groups ? PMQ_PRODUCER : PMQ_PRODUCER | PMQ_CONSUMER, &o, out);
fail:
	unlinkat(dfd, tmp_leaf, 0);
	close(fd);
	close(dfd);
	return rc;
}

/* ---- open ---------------------------------------------------------------------- */

static void say_hello(struct pmq *q)
{
	/* best effort, once per attach, never per message: tell pmqd we are here */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int n = snprintf(path, sizeof(path), "%s/.pmqd.sock", q->dir);
	if (n < 0 || (size_t)n >= sizeof(path) || access(path, F_OK))
		return;
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	memcpy(a.sun_path, path, (size_t)n + 1);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0) {
		char msg[PMQ_NAME_MAX + 64];
		int len = snprintf(msg, sizeof(msg), "hello %s %u %u %d\n", q->name, q->index, q->incarnation,
				   (int)getpid());
		send(s, msg, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	close(s);
}

static void handle_geometry(struct pmq *q, const struct pmq_header *h)
{
	/* h is our private copy of the mapped header, validated as a whole: every bound
	 * and offset comes from it, never from the mapping, which a peer may rewrite */
	q->slot_count = h->slot_count;
	q->slot_shift = h->slot_shift;
	q->slot_mask = h->slot_count - 1;
	q->slot_size = h->slot_size;
	q->side_count = h->side_count;
	q->max_payload = h->max_payload;
	q->max_attach = h->max_attach;
	q->quota = h->consumer_quota;
	q->max_deliveries = h->max_deliveries;
	q->qflags = h->flags;
	q->power = h->durability == PMQ_DURABLE_POWER;
	q->dlq_capacity = h->dlq_capacity;
	q->lease_ns = h->lease_ns;
	q->lease_action = h->lease_action;
	q->attach = (struct pmq_attach *)((uint8_t *)q->hdr + h->attach_off);
	q->ring = (uint8_t *)q->hdr + h->ring_off;
	q->side = (uint8_t *)q->hdr + h->side_off;
	uint64_t held_off;
	format_held_geometry(h->attach_off, h->max_attach, h->consumer_quota, &held_off, &q->held_stride, &q->held_cap);
	q->held = (uint8_t *)q->hdr + held_off; /* inside the validated geometry: ring_off derives from it */
}

static int map_queue(struct pmq *q, const char *path, uint64_t size)
{
	char via[64];
	snprintf(via, sizeof(via), "/proc/self/fd/%d", q->fd);
	size_t len = 0;
	int is_pmem = 0;
	/* map the file we opened and checked (O_NOFOLLOW, regular), not whatever the path
	 * names by now: libpmem reopens it through /proc/self/fd */
	void *m = pmem_map_file(via, 0, 0, 0, &len, &is_pmem);
	if (!m)
		return pmq_fail(-errno, "queue \"%s\": cannot map %s: %s", q->name, path, pmem_errormsg());
	if (len != size) {
		pmem_unmap(m, len);
		return pmq_fail(-EPROTO, "queue \"%s\": file changed size while opening", q->name);
	}
	q->hdr = m;
	q->map_len = len;
	q->is_pmem = is_pmem != 0;
	return 0;
}

/* Pre-fault every page so the data path never takes a page fault (an observer, pmqd or
 * pmqctl, has no data path and touches only what it reads). On tmpfs a read fault is
 * enough: shmem keeps no dirty accounting, so its pages are mapped writable at once, and
 * a read fault maps 16 pages (fault-around); elsewhere (DAX, a page-cache file) a clean
 * mapping would fault on its first write, so populate for writing. The first open after
 * a crash (exclusive) reads every slot through the mapping right after this, so a
 * truncated file would fault there anyway: it touches one byte per page itself, ~25 %
 * faster than the kernel's page-by-page populate (1 GiB: ~65 vs ~85 ms,
 * docs/benchmarks.md). An attached open keeps the populate, which reports a truncation
 * as an error rather than a SIGBUS. */
static void prefault_mapping(struct pmq *q, bool exclusive)
{
	if (q->is_pmem || !on_tmpfs(q->fd)) {
		madvise(q->hdr, q->map_len, MADV_POPULATE_WRITE);
		return;
	}
	if (!exclusive) {
		madvise(q->hdr, q->map_len, MADV_POPULATE_READ);
		return;
	}
	const volatile uint8_t *m = (const volatile uint8_t *)q->hdr;
	uint8_t sink = 0;
	/* plain volatile reads: only the fault matters, not the bytes */
	for (size_t off = 0; off < q->map_len; off += 4096)
		sink ^= m[off];
	(void)sink;
}

PMQ_EXPORT int pmq_open(const char *name, unsigned flags, pmq_t **out) { return pmq_open_ex(name, flags, NULL, out); }

PMQ_EXPORT int pmq_open_ex(const char *name, unsigned flags, const struct pmq_open_opts *o, pmq_t **out)
{
	if (!out)
		return pmq_fail(-EINVAL, "pmq_open: NULL output handle pointer");
	*out = NULL;
	bool is_dlq;
	char base[PMQ_NAME_MAX + 1];
	int rc = check_name(name, true, &is_dlq, base);
	if (rc)
		return rc;
	if (flags & ~(PMQ_PRODUCER | PMQ_CONSUMER | PMQ_NONBLOCK_OPEN))
		return pmq_fail(-EINVAL, "pmq_open: unknown flags 0x%x", flags);
	if (is_dlq && (flags & PMQ_PRODUCER))
		return pmq_fail(-EINVAL, "queue \"%s\": dead letters are opened as consumer only", name);
	struct pmq_open_opts opts;
	pmq_open_opts_init(&opts);
	if (o) {
		/* 1.0 callers pass the struct without `group`: copy what they have */
		if (o->size < PMQ_OPEN_OPTS_SIZE_1_0 || o->size > 4096 || o->wait > PMQ_WAIT_FUTEX)
			return pmq_fail(-EINVAL, "pmq_open_ex: bad options (size %u, wait %u); use pmq_open_opts_init()",
					o->size, o->wait);
		memcpy(&opts, o, o->size < sizeof(opts) ? o->size : sizeof(opts));
		if (o->size < sizeof(opts))
			opts.group = NULL; /* a 1.0 caller has no group field */
		opts.size = sizeof(opts);
	}
	const char *dir = resolve_dir(opts.dir);
	char path[4096];
	if ((rc = queue_path(path, sizeof(path), dir, base)))
		return rc;

	struct pmq *q = calloc(1, sizeof(*q));
	if (!q)
		return pmq_fail(-ENOMEM, "pmq_open: out of memory");
	snprintf(q->name, sizeof(q->name), "%s", base);
	snprintf(q->dir, sizeof(q->dir), "%s", dir);
	q->wait = opts.wait;
	q->spin_ns = opts.spin_ns;
	send_clock_init(&q->clock);
	q->role = is_dlq ? AT_ROLE_DLQ : (flags & (PMQ_PRODUCER | PMQ_CONSUMER));
	q->probe_fd = -1;
	q->token_fd = -1;
	q->fd = -1;
	/* from the first descriptor until the handle is registered, a fork waits: the child
	 * must never inherit a lock-holding descriptor that its fork handler cannot see */
	attach_fork_gate_enter();
	int dfd = open_trusted_dir(dir, true, base);
	if (dfd < 0) {
		rc = dfd;
		goto fail_q;
	}
	char leaf[PMQ_NAME_MAX + 8];
	snprintf(leaf, sizeof(leaf), "%s.pmq", base);
	q->fd = openat(dfd, leaf, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	int open_errno = errno;
	close(dfd);
	if (q->fd < 0) {
		int e = open_errno;
		rc = e == EISDIR ? pmq_fail(-EPROTO, "queue \"%s\": %s is a directory, not a queue file", base, path)
		     : e == ENOENT ? pmq_fail(-ENOENT, "queue \"%s\" does not exist in %s", base, dir)
		     : e == ELOOP ? pmq_fail(-ELOOP, "queue \"%s\": %s is a symbolic link; refused", base, path)
				  : pmq_fail(-e, "queue \"%s\": cannot open %s: %s", base, path, strerror(e));
		goto fail_q;
	}
	struct stat st;
	struct pmq_header hcopy;
	if (fstat(q->fd, &st)) {
		rc = pmq_fail(-errno, "queue \"%s\": fstat: %s", base, strerror(errno));
		goto fail_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = pmq_fail(-EPROTO, "queue \"%s\": %s is not a regular file", base, path);
		goto fail_fd;
	}
	if ((rc = check_file_owner(&st, opts.owner_uid, base, path)))
		goto fail_fd;
	memset(&hcopy, 0, sizeof(hcopy));
	if (st.st_size >= (off_t)sizeof(hcopy) && pread(q->fd, &hcopy, sizeof(hcopy), 0) != (ssize_t)sizeof(hcopy)) {
		rc = pmq_fail(-EIO, "queue \"%s\": cannot read the header", base);
		goto fail_fd;
	}
	if ((rc = format_validate_header(&hcopy, (uint64_t)st.st_size, base)))
		goto fail_fd;
	if ((rc = map_queue(q, path, (uint64_t)st.st_size)))
		goto fail_fd;
	/* the file may have changed since the read, and a peer may be rewriting the mapped
	 * header right now: copy it ONCE, validate the copy, and take everything from it */
	memcpy(&hcopy, q->hdr, sizeof(hcopy));
	if ((rc = format_validate_header(&hcopy, q->map_len, base)))
		goto fail_map;
	PMQ_FAULT("open.header_copied"); /* tests rewrite the mapped header here */
	handle_geometry(q, &hcopy);
	group_handle_geometry(q, &hcopy);
	if ((rc = group_join(q, opts.group)))
		goto fail_map;
	if (q->group_lossy && !(q->lossy_buf = malloc(q->max_payload))) {
		rc = pmq_fail(-ENOMEM, "pmq_open: out of memory for the lossy copy buffer");
		goto fail_map;
	}
	if (q->power && !q->is_pmem && on_tmpfs(q->fd) && !pmem_forced()) {
		rc = pmq_fail(-EINVAL, "queue \"%s\": power durability on tmpfs cannot survive power loss", base);
		goto fail_map;
	}
	bool exclusive;
	if ((rc = attach_presence(q, (flags & PMQ_NONBLOCK_OPEN) != 0, &exclusive)))
		goto fail_map;
	if ((rc = attach_join(q, q->role)))
		goto fail_map;
	group_mark_attachment(q);
	attach_open_descriptions(q);
	if (q->role != 0)
		prefault_mapping(q, exclusive);
	if (exclusive) {
		/* nobody else is attached: whole-file recovery, then share the presence. A boot
		 * record that fails its checksum is damage, not evidence of a reboot
		 * (docs/decisions.md): recovery then runs as for any exclusive open */
		char boot[40];
		format_read_boot_id(boot);
		enum boot_match bm = format_check_boot_record(q->hdr, boot);
		recover_whole_file(q, bm == BOOT_OTHER);
		if (bm != BOOT_SAME) {
			format_write_boot_record(q->hdr, boot);
			durable_persist(q, q->hdr->boot_id, offsetof(struct pmq_header, tail) -
								  offsetof(struct pmq_header, boot_id));
		}
		attach_presence_share(q);
	} else {
		recover_dead_owners(q); /* cheap: one lock probe per attached entry */
	}
	attach_register_handle(q);
	attach_fork_gate_leave();
	say_hello(q);
	*out = q;
	return 0;
fail_map:
	pmem_unmap(q->hdr, q->map_len);
fail_fd:
	close(q->fd);
fail_q:
	attach_fork_gate_leave();
	free(q->lossy_buf);
	free(q);
	return rc;
}

/* ---- close / unlink ------------------------------------------------------------- */

PMQ_EXPORT int pmq_close(pmq_t *q)
{
	if (!q)
		return pmq_fail(-EINVAL, "pmq_close: NULL queue handle");
	/* once unregistered, the fork handler no longer closes our descriptors in a child:
	 * no fork until they are closed here */
	attach_fork_gate_enter();
	attach_unregister_handle(q);
	int rc = 0;
	if (!q->forked) {
		if (q->resv) {
			slot_abort_at(q, q->resv, q->resv_ctl, (uint32_t)(q->resv_ticket >> q->slot_shift));
			q->resv = NULL;
		}
		/* settle what we hold (as a nack would), then free our entry */
		int settled = recover_settle(q, q->index);
		if (settled < 0)
			rc = pmq_fail(-ENOSPC, "queue \"%s\": some held messages could not be requeued (side area "
					       "full); left for recovery",
				      q->name);
		attach_leave(q, settled >= 0);
	}
	pmem_unmap(q->hdr, q->map_len);
	if (q->probe_fd >= 0)
		close(q->probe_fd);
	if (q->token_fd >= 0)
		close(q->token_fd);
	if (q->fd >= 0)
		close(q->fd); /* drops token and presence */
	attach_fork_gate_leave();
	free(q->lossy_buf);
	free(q);
	return rc;
}

PMQ_EXPORT int pmq_unlink(const char *name, const char *dir)
{
	bool is_dlq;
	char base[PMQ_NAME_MAX + 1];
	int rc = check_name(name, false, &is_dlq, base);
	if (rc)
		return rc;
	char path[4096];
	if ((rc = queue_path(path, sizeof(path), resolve_dir(dir), base)))
		return rc;
	if (unlink(path))
		return pmq_fail(-errno, "queue \"%s\": cannot remove %s: %s", base, path, strerror(errno));
	return 0;
}

/* ---- stats and supervision ----------------------------------------------------------- */

PMQ_EXPORT int pmq_stats(pmq_t *q, struct pmq_stats *st)
{
	if (!st)
		return pmq_fail(-EINVAL, "pmq_stats: NULL argument");
	int rc = handle_check(q);
	if (rc)
		return rc;
	struct pmq_header *h = q->hdr;
	memset(st, 0, sizeof(*st));
	/* relaxed: a snapshot for humans; each word is read once */
	uint64_t tail = atomic_load_explicit(&h->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
	if (q->max_groups)
		head = group_oldest_head(q, tail); /* groups: the main head is unused */
	st->depth = tail > head ? tail - head : 0; /* a heal can leave head past tail */
	if (st->depth > q->slot_count)
		st->depth = q->slot_count;
	st->sent = tail;
	st->received = head;
	for (uint32_t i = 0; i < q->max_attach; i++) {
		uint64_t w = atomic_load_explicit(&q->attach[i].word, memory_order_relaxed);
		if (at_state(w) != AT_ATTACHED)
			continue;
		st->attachments++;
		st->in_flight += atomic_load_explicit(&q->attach[i].in_flight, memory_order_relaxed);
	}
	st->side_ready = atomic_load_explicit(&h->side_hint, memory_order_relaxed);
	st->dead_letters = atomic_load_explicit(&h->dlq_count, memory_order_relaxed);
	st->redelivered = atomic_load_explicit(&h->redelivered, memory_order_relaxed);
	st->dead_lettered = atomic_load_explicit(&h->dead_lettered, memory_order_relaxed);
	st->aborted = atomic_load_explicit(&h->aborted, memory_order_relaxed);
	st->slot_count = q->slot_count;
	st->max_payload = q->max_payload;
	st->side_slots = q->side_count;
	st->durability = q->power ? PMQ_DURABLE_POWER : PMQ_DURABLE_PROCESS;
	st->is_pmem = q->is_pmem;
	return 0;
}

PMQ_EXPORT int (pmq_get_config)(pmq_t *q, struct pmq_config *cfg)
{
	return pmq_get_config_sized(q, cfg, PMQ_CONFIG_SIZE_1_0);
}

PMQ_EXPORT int pmq_get_config_sized(pmq_t *q, struct pmq_config *out, size_t size)
{
	if (!out)
		return pmq_fail(-EINVAL, "pmq_get_config: NULL argument");
	int rc = handle_check(q);
	if (rc)
		return rc;
	if (size < PMQ_CONFIG_SIZE_1_0)
		return pmq_fail(-EINVAL, "pmq_get_config: struct of %zu bytes is shorter than any pmq_config", size);
	struct pmq_config full, *cfg = &full;
	pmq_config_init(cfg); /* from the handle's validated copy: the mapping may have changed */
	cfg->flags = q->qflags;
	cfg->slot_count = q->slot_count;
	cfg->max_payload = q->max_payload;
	cfg->max_attach = q->max_attach;
	cfg->consumer_quota = q->quota;
	cfg->max_deliveries = q->max_deliveries;
	cfg->dlq_capacity = q->dlq_capacity;
	cfg->side_slots = q->side_count;
	cfg->durability = q->power ? PMQ_DURABLE_POWER : PMQ_DURABLE_PROCESS;
	cfg->lease_ns = q->lease_ns;
	cfg->lease_action = q->lease_action;
	cfg->max_groups = q->max_groups;
	cfg->dir = NULL;
	if (size > sizeof(full))
		size = sizeof(full);
	full.size = (uint32_t)size;
	memcpy(out, &full, size); /* only the caller's bytes */
	return 0;
}

/* Is entry idx still the incarnation we were asked about? Called after loading a slot
 * word that names idx: the acquire fence pairs with the release fence a joiner issues
 * after its join CAS and before any claim (attach_join), so if the word we loaded is a
 * newcomer's claim, this load sees the newcomer's incarnation. */
static bool holder_unchanged(const struct pmq *q, uint32_t idx, uint32_t incarnation)
{
	atomic_thread_fence(memory_order_acquire);
	uint64_t w = atomic_load_explicit(&q->attach[idx].word, memory_order_relaxed);
	return at_state(w) == AT_ATTACHED && at_inc(w) == incarnation;
}

PMQ_EXPORT int pmq_requeue_holder(pmq_t *q, uint32_t idx, uint32_t incarnation)
{
	int rc = handle_check(q);
	if (rc)
		return rc;
	if (idx >= q->max_attach)
		return pmq_fail(-EINVAL, "queue \"%s\": attachment %u out of range", q->name, idx);
	if (!holder_unchanged(q, idx, incarnation))
		return pmq_fail(-ESTALE, "queue \"%s\": attachment %u is no longer incarnation %u", q->name, idx,
				incarnation);
	PMQ_FAULT("requeue.after_check");
	uint32_t add = (q->qflags & PMQ_F_CRASH_NOT_DELIVERY) ? 0 : 1;
	int n = 0;
	/* the holder may die, be recovered and be replaced at the same index while we walk:
	 * each word that names idx is moved only if idx is still the incarnation asked about
	 * (the move's CAS on that exact word then rules out a change after the check) */
	unsigned tag = group_tag_of(q, idx); /* groups: the holder's lane */
	for (uint32_t j = 0; j < q->slot_count; j++) {
		struct pmq_slot *s = main_slot(q, j);
		uint64_t c = atomic_load_explicit(main_word(q, tag, j), memory_order_acquire);
		if (ctl_state(c) != ST_CLAIMED || ctl_owner(c) != idx)
			continue;
		if (!holder_unchanged(q, idx, incarnation))
			goto replaced;
		/* the holder may be alive: copy, mark, and leave the slot pinned until it acks */
		struct move_req m = {.src = s, .src_tag = tag, .src_is_side = 0, .src_idx = j, .src_ctl = c,
				     .actor = q->index, .free_source = false, .add_deliveries = add, .force_reason = 0};
		if (side_move(q, &m) == 0)
			n++;
	}
	for (uint32_t e = 0; e < q->side_count; e++) {
		struct pmq_slot *d = side_slot(q, e);
		uint64_t c = atomic_load_explicit(&d->ctl, memory_order_acquire);
		if (ctl_state(c) != ST_CLAIMED || ctl_owner(c) != idx || (c & CTL_F_DLQ))
			continue;
		if (!holder_unchanged(q, idx, incarnation))
			goto replaced;
		struct move_req m = {.src = d, .src_is_side = 1, .src_idx = e, .src_ctl = c, .actor = q->index,
				     .free_source = false, .add_deliveries = add, .force_reason = 0};
		if (side_move(q, &m) == 0)
			n++;
	}
	return n;
replaced:
	if (n)
		return n;
	return pmq_fail(-ESTALE, "queue \"%s\": attachment %u was replaced (no longer incarnation %u)", q->name, idx,
			incarnation);
}
