/* consumer.c - what a user of the installed package writes: create a queue
 * in a private directory, send, receive, ack. Exit 0 on success. */
#include <pmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	char dir[] = "/dev/shm/pmq-install-XXXXXX";
	if (!mkdtemp(dir))
		return 2;
	struct pmq_config cfg;
	pmq_config_init(&cfg);
	cfg.slot_count = 8;
	cfg.max_payload = 64;
	cfg.consumer_quota = 4;
	cfg.dir = dir;
	pmq_t *q;
	int rc = pmq_create("installed", &cfg, &q);
	if (rc) {
		fprintf(stderr, "pmq_create: %s (%s)\n", pmq_strerror(rc), pmq_errmsg());
		rmdir(dir);
		return 1;
	}
	struct pmq_msg m;
	int ok = pmq_send(q, "ping", 4, 0) == 0 && pmq_recv(q, &m, PMQ_NONBLOCK) == 0 && m.len == 4 &&
		 memcmp(m.data, "ping", 4) == 0 && pmq_ack(q, &m) == 0;
	pmq_close(q);
	pmq_unlink("installed", dir);
	rmdir(dir);
	printf("installed libpmq %s: %s\n", pmq_version(), ok ? "ok" : "FAILED");
	return ok ? 0 : 1;
}
