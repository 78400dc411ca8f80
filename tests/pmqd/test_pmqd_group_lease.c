/*
 * test_pmqd_group_lease: pmqd applies each holder's own lease, its group's when the
 * group has one (docs/groups.md "Leases"), the queue's otherwise:
 *  - queue lease 30 s, group "fast" with a 200 ms lease, group "slow" without: a live
 *    member of each holds the one message. pmqd requeues fast's within fast (its
 *    consumer gets it again, delivery 2, well before 30 s) and logs it with the group's
 *    lease; slow's member keeps its message (in flight 1, nothing redelivered);
 *  - pmqd's stat shows the queue's shortest lease (lease_min_ns) so its probe follows it;
 *  - a hostile record lease (1 ns, all ones) stays within 1 ms..7 days in pmqd's view;
 *  - a group made with a 250 ms lease (pmq_group_create_ex) while pmqd watches the
 *    queue: pmqd learns its lease at its next look and requeues its holder in time.
 */
#include "harness.h"

#include <stdatomic.h>
#include <sys/mman.h>

#define MS 1000000ull

static void with_group_leases(struct pmq_config *c)
{
	c->slot_count = 16;
	c->max_payload = 64;
	c->max_groups = 2;
	c->groups = "fast:lease=200,slow";
	c->lease_ns = 30000 * MS; /* the queue's: long */
}

static void with_one_group(struct pmq_config *c)
{
	c->slot_count = 16;
	c->max_payload = 64;
	c->max_groups = 2;
	c->groups = "plain";
	c->lease_ns = 30000 * MS;
}

static pmq_t *open_group(const char *name, const char *group)
{
	struct pmq_open_opts o;
	pmq_t *q = NULL;
	pmq_open_opts_init(&o);
	o.dir = h_dir;
	o.group = group;
	int r = pmq_open_ex(name, PMQ_CONSUMER, &o, &q);
	if (r < 0)
		H_FAIL("open %s group %s: %s (%s)", name, group, pmq_strerror(r), pmq_errmsg());
	return q;
}

/* A live member of `group` that takes one message, says so, and holds it until killed.
 * *t_recv gets the time it reported (after its receive). */
static pid_t spawn_holder_in(const char *name, const char *group, uint64_t *t_recv)
{
	int p[2];
	H_CHECK(pipe(p) == 0, "pipe");
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		struct pmq_open_opts o;
		pmq_t *q;
		pmq_open_opts_init(&o);
		o.dir = h_dir;
		o.group = group;
		unsigned k = 0;
		struct pmq_msg m;
		if (pmq_open_ex(name, PMQ_CONSUMER, &o, &q) == 0 && pmq_recv_timeout(q, &m, 5000000000ull) == 0)
			k = 1;
		if (write(p[1], &k, sizeof(k)) != sizeof(k))
			_exit(2);
		for (;;)
			pause();
	}
	close(p[1]);
	unsigned k = 0;
	if (read(p[0], &k, sizeof(k)) != sizeof(k))
		k = 0;
	*t_recv = h_now_ns();
	close(p[0]);
	H_CHECK(k == 1, "the member of %s received its message", group);
	return pid;
}

/* The next message of q within ms (non-blocking receives: a blocked waiter could heal the
 * queue itself; this test is about pmqd). Returns 0 and *m, or -EAGAIN. */
static int recv_within(pmq_t *q, struct pmq_msg *m, unsigned ms)
{
	uint64_t t0 = h_now_ns();
	while (h_now_ns() - t0 < (uint64_t)ms * MS) {
		int r = pmq_recv(q, m, PMQ_NONBLOCK);
		if (r != -EAGAIN)
			return r;
		h_sleep_ms(2);
	}
	return -EAGAIN;
}

static struct pmq_group_info stats_of(pmq_t *q, const char *g)
{
	struct pmq_group_info gi;
	int r = pmq_group_stats(q, g, &gi);
	H_CHECK(r == 0, "group stats %s: %s", g, pmq_strerror(r));
	return gi;
}

/* pmqd's stat of queue reports lease_min_ns == want, within ms */
static int await_lease_min(const char *queue, uint64_t want, unsigned ms)
{
	char req[64], reply[16384], key[64];
	snprintf(req, sizeof(req), "stat %s", queue);
	snprintf(key, sizeof(key), "\"lease_min_ns\":%llu,", (unsigned long long)want);
	for (unsigned i = 0; i < ms / 10; i++) {
		if (h_request(req, reply, sizeof(reply)) == 0 && strstr(reply, key))
			return 1;
		h_sleep_ms(10);
	}
	return 0;
}

static void test_group_lease_requeues_only_its_holder(void)
{
	H_CHECK(h_create("gl", with_group_leases) == 0, "create gl: %s", pmq_errmsg());
	pmq_t *p = h_open("gl", PMQ_PRODUCER);
	H_CHECK(await_lease_min("gl", 200 * MS, 5000), "pmqd's stat of gl names the 200 ms group lease as shortest");
	H_CHECK(pmq_send(p, "x", 1, 0) == 0, "send");
	uint64_t t_fast, t_slow;
	pid_t hf = spawn_holder_in("gl", "fast", &t_fast);
	pid_t hs = spawn_holder_in("gl", "slow", &t_slow);
	pmq_t *qf = open_group("gl", "fast"), *qs = open_group("gl", "slow");
	struct pmq_msg m;
	int r = recv_within(qf, &m, 5000);
	double waited = (double)(h_now_ns() - t_fast) / 1e6;
	H_CHECK(r == 0, "fast's message came back within 5 s (the queue's lease is 30 s): %s", pmq_strerror(r));
	H_CHECK(m.delivery_count == 2 && m.len == 1, "it is the held message again (delivery %u)", m.delivery_count);
	printf("group lease 200 ms: requeued within the group after %.1f ms\n", waited);
	char line[160];
	snprintf(line, sizeof(line), "consumer pid %d on \"gl\" made no progress", (int)hf);
	H_CHECK(h_log_wait(line, 2000), "pmqd logged the lease expiry of pid %d", (int)hf);
	H_CHECK(h_log_wait("(lease 0.2 s) --> requeued 1", 2000), "with the group's lease, 0.2 s");
	H_CHECK(pmq_ack(qf, &m) == 0, "ack the redelivery");
	/* slow's holder is past fast's lease many times over, within the queue's: untouched */
	h_sleep_ms(1000);
	H_CHECK(recv_within(qs, &m, 50) == -EAGAIN, "slow's consumer gets nothing: its member still holds it");
	struct pmq_group_info gs = stats_of(p, "slow"), gf = stats_of(p, "fast");
	H_CHECK(gs.in_flight == 1 && gs.redelivered == 0 && gs.side_ready == 0,
		"slow: in flight %llu, redelivered %llu, waiting %llu (want 1, 0, 0)", (unsigned long long)gs.in_flight,
		(unsigned long long)gs.redelivered, (unsigned long long)gs.side_ready);
	H_CHECK(gf.redelivered == 1 && gf.lease_ms == 200 && gs.lease_ms == 0,
		"fast: redelivered %llu, lease %u ms; slow lease %u ms", (unsigned long long)gf.redelivered, gf.lease_ms,
		gs.lease_ms);
	snprintf(line, sizeof(line), "consumer pid %d on \"gl\" made no progress", (int)hs);
	H_CHECK(!h_log_has(line), "no lease action on slow's holder pid %d", (int)hs);
	printf("ok: the 200 ms group lease requeued its holder's message; the other group's holder kept its\n");
	h_kill(hf);
	h_kill(hs);
	pmq_close(qf);
	pmq_close(qs);
	pmq_close(p);
}

static void test_group_made_later_gets_its_lease(void)
{
	H_CHECK(h_create("gl2", with_one_group) == 0, "create gl2: %s", pmq_errmsg());
	pmq_t *p = h_open("gl2", PMQ_PRODUCER);
	H_CHECK(await_lease_min("gl2", 30000 * MS, 5000), "pmqd watches gl2 with the queue's lease only");
	struct pmq_group_opts o;
	pmq_group_opts_init(&o);
	o.lease_ns = 250 * MS;
	H_CHECK(pmq_group_create_ex(p, "late", &o) == 0, "group create late (250 ms): %s", pmq_errmsg());
	/* pmqd reads the group table's shortest lease at each look at the queue (pmq_lease_min) */
	H_CHECK(await_lease_min("gl2", 250 * MS, 8000), "pmqd learned the new group's 250 ms lease");
	H_CHECK(pmq_send(p, "y", 1, 0) == 0, "send");
	uint64_t t0;
	pid_t h = spawn_holder_in("gl2", "late", &t0);
	pmq_t *q = open_group("gl2", "late");
	struct pmq_msg m;
	int r = recv_within(q, &m, 5000);
	double waited = (double)(h_now_ns() - t0) / 1e6;
	H_CHECK(r == 0 && m.delivery_count == 2, "late's message requeued within 5 s: %s", pmq_strerror(r));
	printf("ok: a group made while pmqd watched: its 250 ms lease requeued after %.1f ms\n", waited);
	H_CHECK(pmq_ack(q, &m) == 0, "ack");
	h_kill(h);
	pmq_close(q);
	pmq_close(p);
}

/* The lease word of group `name`'s record in queue's file: records are 256 B at a page-aligned
 * table, the name 8 B in, the lease 56 B in (docs/format.md). *map/len: the mapping to unmap. */
static _Atomic uint64_t *record_lease(const char *queue, const char *name, void **map, size_t *len)
{
	char path[600], want[32] = { 0 };
	snprintf(path, sizeof(path), "%s/%s.pmq", h_dir, queue);
	snprintf(want, sizeof(want), "%s", name);
	int fd = open(path, O_RDWR);
	H_CHECK(fd >= 0, "open %s", path);
	struct stat st;
	H_CHECK(fstat(fd, &st) == 0, "fstat");
	*len = (size_t)st.st_size;
	uint8_t *m = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	H_CHECK(m != MAP_FAILED, "mmap");
	*map = m;
	for (size_t off = 0; off + 256 <= *len; off += 256)
		if (!memcmp(m + off + 8, want, sizeof(want)))
			return (_Atomic uint64_t *)(void *)(m + off + 56);
	H_FAIL("no record of group %s in %s", name, path);
	return NULL;
}

/* A hostile writer of the file sets a group's lease to 1 ns or to all ones: pmqd's view
 * (stat's lease_min_ns, the probe interval) stays inside 1 ms..7 days and it goes on
 * answering; a record set back to 0 gives the queue's lease again. */
static void test_hostile_record_lease_is_bounded(void)
{
	void *map, *map2;
	size_t len, len2;
	_Atomic uint64_t *slow = record_lease("gl", "slow", &map, &len);
	_Atomic uint64_t *fast = record_lease("gl", "fast", &map2, &len2);
	H_CHECK(atomic_load(fast) == 200 * MS, "fast's record holds its 200 ms lease");
	atomic_store(slow, 1);
	H_CHECK(await_lease_min("gl", PMQ_GROUP_LEASE_MIN_NS, 5000), "a 1 ns record lease reads as 1 ms in pmqd");
	atomic_store(slow, UINT64_MAX);
	atomic_store(fast, UINT64_MAX);
	H_CHECK(await_lease_min("gl", 30000 * MS, 5000), "all-ones leases read as 7 days: the queue's 30 s is shortest");
	atomic_store(slow, 0);
	atomic_store(fast, 200 * MS);
	H_CHECK(await_lease_min("gl", 200 * MS, 5000), "restored: 200 ms again");
	char reply[256];
	H_CHECK(h_request("ping", reply, sizeof(reply)) == 0 && !strncmp(reply, "ok ", 3), "pmqd still answers");
	munmap(map, len);
	munmap(map2, len2);
	printf("ok: hostile record leases (1 ns, all ones) stayed within 1 ms..7 days in pmqd\n");
}

int main(void)
{
	h_setup("glease");
	h_start_pmqd();
	test_group_lease_requeues_only_its_holder();
	test_hostile_record_lease_is_bounded();
	test_group_made_later_gets_its_lease();
	h_done();
	printf("PASS\n");
	return 0;
}
