// test_cxx_header.cpp - pmq.h used from C++11: the header compiles under
// -pedantic -Werror, the functions link with C linkage from libpmq.so, and
// a message makes the round trip. Exit 0 on success, 1 on failure.
// pmq_admin.h (the supervision/replication interface) compiles the same way,
// and pmq.h alone must not carry it.
#include "pmq.h"
#if defined(PMQ_REPL_ON) || defined(PMQ_ATTACH_NO_PROBE) || defined(PMQ_ADMIN_H)
#error "pmq.h carries the admin interface: it belongs in pmq_admin.h"
#endif
#include "pmq_admin.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

static int failures = 0;

static void check(bool ok, const char *what)
{
	if (!ok) {
		std::fprintf(stderr, "FAIL: %s (%s)\n", what, pmq_errmsg());
		failures++;
	}
}

int main()
{
	char dir[] = "/dev/shm/pmq-cxx-XXXXXX";
	if (!mkdtemp(dir)) {
		std::perror("mkdtemp");
		return 77;
	}
	check(std::string(pmq_version()).find('.') != std::string::npos, "pmq_version");
	check(std::strlen(pmq_strerror(-EPROTO)) > 0, "pmq_strerror");

	pmq_config cfg; // a C struct used by its plain name in C++
	pmq_config_init(&cfg);
	cfg.slot_count = 16;
	cfg.max_payload = 64;
	cfg.consumer_quota = 4;
	cfg.dir = dir;
	pmq_t *q = nullptr;
	check(pmq_create("cxx", &cfg, &q) == 0, "pmq_create");
	if (q) {
		const std::string text = "hello from C++";
		check(pmq_send(q, text.data(), text.size(), 0) == 0, "pmq_send");
		pmq_msg m;
		check(pmq_recv(q, &m, PMQ_NONBLOCK) == 0, "pmq_recv");
		check(m.len == text.size() && std::memcmp(m.data, text.data(), m.len) == 0, "payload");
		check(m.delivery_count == 1, "delivery_count");
		check(pmq_ack(q, &m) == 0, "pmq_ack");
		struct pmq_stats st; // "struct": the function pmq_stats hides the type's name, as stat() does

		check(pmq_stats(q, &st) == 0 && st.slot_count == 16, "pmq_stats");
		check(pmq_close(q) == 0, "pmq_close");
	}
	check(pmq_unlink("cxx", dir) == 0, "pmq_unlink");
	check(pmq_open("nope", PMQ_CONSUMER, &q) < 0, "pmq_open of a missing queue fails");
	rmdir(dir);
	if (failures)
		return 1;
	std::printf("pmq.h from C++: OK\n");
	return 0;
}
