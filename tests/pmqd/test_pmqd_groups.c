/*
 * test_pmqd_groups: pmqd supervises consumer-group members as any consumer
 * (docs/groups.md; the library's recovery settles a dead member's lanes):
 *  - a SIGKILLed member of group "a" holding three messages: pmqd notices
 *    (pidfd), recovers it, and the three come back to group "a" only, each
 *    a redelivery (delivery count 2), while group "b" still receives each of
 *    them exactly once, as a first delivery;
 *  - pmqd logs the recovery naming the pid and the queue, and group a's
 *    stats count 3 redelivered and nothing in flight afterwards;
 *  - a lease expiry on a group member requeues within the group (pmqd's
 *    lease check, lease action requeue).
 */
#include "harness.h"

static void with_groups(struct pmq_config *c)
{
	c->slot_count = 16;
	c->max_payload = 64;
	c->max_groups = 2;
	c->groups = "a,b";
}

static void with_groups_lease(struct pmq_config *c)
{
	with_groups(c);
	c->lease_ns = 300000000ull; /* 300 ms */
}

static pmq_t *open_group(const char *name, unsigned flags, const char *group)
{
	struct pmq_open_opts o;
	pmq_t *q = NULL;
	pmq_open_opts_init(&o);
	o.dir = h_dir;
	o.group = group;
	int r = pmq_open_ex(name, flags, &o, &q);
	if (r < 0)
		H_FAIL("open %s group %s: %s (%s)", name, group ? group : "-", pmq_strerror(r), pmq_errmsg());
	return q;
}

/* A child in `group` that takes n messages, reports the count, then blocks until killed. */
static pid_t spawn_member(const char *name, const char *group, unsigned n, unsigned *got)
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
	*got = k;
	return pid;
}

/* pmqd watches pid by pidfd (its hello arrived): only then is its death pmqd's to see */
static void await_pidfd_watch(const char *queue, pid_t pid)
{
	char req[64], reply[16384], key[48];
	snprintf(req, sizeof(req), "stat %s", queue);
	snprintf(key, sizeof(key), "\"pid\":%d,", (int)pid);
	for (int i = 0; i < 1000; i++) {
		if (h_request(req, reply, sizeof(reply)) == 0) {
			char *a = strstr(reply, key), *end = a ? strchr(a, '}') : NULL, *w = a ? strstr(a, "\"pidfd\"") : NULL;
			if (w && (!end || w < end))
				return;
		}
		h_sleep_ms(10);
	}
	H_FAIL("pmqd never watched pid %d of \"%s\" by pidfd", (int)pid, queue);
}

/* Take up to want messages from q without blocking (a blocked waiter would heal the
 * queue itself; these tests are about pmqd doing it), within 5 s; counts by delivery. */
static unsigned drain(pmq_t *q, unsigned want, unsigned *redelivered, char seen[][8])
{
	unsigned n = 0;
	*redelivered = 0;
	uint64_t t0 = h_now_ns();
	while (n < want && h_now_ns() - t0 < 5000000000ull) {
		struct pmq_msg m;
		int r = pmq_recv(q, &m, PMQ_NONBLOCK);
		if (r == -EAGAIN) {
			h_sleep_us(200);
			continue;
		}
		H_CHECK(r == 0, "recv: %s (%s)", pmq_strerror(r), pmq_errmsg());
		*redelivered += m.delivery_count >= 2;
		snprintf(seen[n], 8, "%.*s", (int)(m.len < 7 ? m.len : 7), (const char *)m.data);
		n++;
		H_CHECK(pmq_ack(q, &m) == 0, "ack");
	}
	return n;
}

static void test_member_death_requeues_in_its_group(void)
{
	H_CHECK(h_create("fan", with_groups) == 0, "create fan with groups a,b: %s", pmq_errmsg());
	pmq_t *p = h_open("fan", PMQ_PRODUCER);
	for (int i = 0; i < 3; i++) {
		char m[8];
		int n = snprintf(m, sizeof(m), "m%d", i);
		H_CHECK(pmq_send(p, m, (size_t)n, 0) == 0, "send");
	}
	unsigned got;
	pid_t c = spawn_member("fan", "a", 3, &got);
	H_CHECK(got == 3, "the member of a received %u of 3", got);
	pmq_t *qa = open_group("fan", PMQ_CONSUMER, "a"); /* before the kill: an open recovers by itself */
	pmq_t *qb = open_group("fan", PMQ_CONSUMER, "b");
	await_pidfd_watch("fan", c);
	h_kill(c);

	char seen[8][8];
	unsigned redeliv;
	unsigned n = drain(qa, 3, &redeliv, seen);
	H_CHECK(n == 3 && redeliv == 3, "group a got %u back, %u as redeliveries (want 3, 3)", n, redeliv);
	struct pmq_msg m;
	H_CHECK(pmq_recv(qa, &m, PMQ_NONBLOCK) == -EAGAIN, "group a has nothing beyond the 3");
	n = drain(qb, 3, &redeliv, seen);
	H_CHECK(n == 3 && redeliv == 0, "group b got %u, %u redelivered (want 3 first deliveries)", n, redeliv);
	H_CHECK(!strcmp(seen[0], "m0") && !strcmp(seen[1], "m1") && !strcmp(seen[2], "m2"), "group b in order: %s %s %s",
		seen[0], seen[1], seen[2]);
	H_CHECK(pmq_recv(qb, &m, PMQ_NONBLOCK) == -EAGAIN, "group b has nothing beyond the 3");

	struct pmq_group_info ga;
	H_CHECK(pmq_group_stats(qa, "a", &ga) == 0, "group stats a");
	H_CHECK(ga.redelivered == 3 && ga.in_flight == 0 && ga.lag == 0,
		"group a: redelivered %llu, in flight %llu, lag %llu (want 3, 0, 0)", (unsigned long long)ga.redelivered,
		(unsigned long long)ga.in_flight, (unsigned long long)ga.lag);
	char line[128];
	snprintf(line, sizeof(line), "consumer pid %d on \"fan\" died --> recovered 1 attachment(s)", (int)c);
	H_CHECK(h_log_wait(line, 2000), "pmqd logged \"%s\"", line);
	printf("ok: a dead member's 3 messages came back to its group only; the other group saw each once\n");
	pmq_close(qa);
	pmq_close(qb);
	pmq_close(p);
}

static void test_lease_requeues_in_the_group(void)
{
	H_CHECK(h_create("leased", with_groups_lease) == 0, "create leased: %s", pmq_errmsg());
	pmq_t *p = h_open("leased", PMQ_PRODUCER);
	H_CHECK(pmq_send(p, "x", 1, 0) == 0, "send");
	unsigned got;
	pid_t c = spawn_member("leased", "a", 1, &got); /* holds it, alive, past the 300 ms lease */
	H_CHECK(got == 1, "the member of a received %u of 1", got);
	pmq_t *qa = open_group("leased", PMQ_CONSUMER, "a");
	char seen[8][8];
	unsigned redeliv;
	unsigned n = drain(qa, 1, &redeliv, seen);
	H_CHECK(n == 1 && redeliv == 1, "group a got the leased message back (%u, %u redelivered)", n, redeliv);
	struct pmq_group_info gb;
	H_CHECK(pmq_group_stats(qa, "b", &gb) == 0 && gb.redelivered == 0 && gb.lag == 1,
		"group b untouched by a's lease: redelivered %llu lag %llu", (unsigned long long)gb.redelivered,
		(unsigned long long)gb.lag);
	H_CHECK(h_log_wait("made no progress", 2000), "pmqd logged the lease expiry (it, not a waiter, requeued)");
	printf("ok: a lease expiry requeued the message in its group\n");
	h_kill(c);
	pmq_close(qa);
	pmq_close(p);
}

int main(void)
{
	h_setup("groups");
	h_start_pmqd();
	struct pmq_config probe;
	pmq_config_init(&probe);
	if (probe.size < offsetof(struct pmq_config, groups) + sizeof(probe.groups))
		h_skip("this libpmq's pmq_config has no groups");
	test_member_death_requeues_in_its_group();
	test_lease_requeues_in_the_group();
	h_done();
	printf("PASS\n");
	return 0;
}
