/*
 * test_pmqd_socket_record: pmqd --socket PATH outside its directory (issue 9
 * item 20). libpmq says hello to DIR/.pmqd.sock only; pmqd must leave a
 * record there that leads to its socket, so that an attacher's hello still
 * arrives: a ping through DIR/.pmqd.sock is answered, and a consumer is
 * watched by pidfd (which only a hello gives it), so its death is seen at
 * once rather than by the periodic token probe.
 */
#include "harness.h"

int main(void)
{
	h_setup("sockrec");
	H_CHECK(h_create("q", NULL) == 0, "create");
	snprintf(h_sock, sizeof(h_sock), "%s.sock", h_dir);
	static char sock_arg[300];
	snprintf(sock_arg, sizeof(sock_arg), "%s", h_sock);
	const char *const args[] = { "--probe-ms", "100", "--scan-ms", "200", "--socket", sock_arg, NULL };
	h_start_pmqd_args(args);

	/* the record: what libpmq and pmqctl find in the directory reaches pmqd */
	char saved[300], reply[8192];
	snprintf(saved, sizeof(saved), "%s", h_sock);
	h_sock[0] = '\0';
	int r = h_request("ping", reply, sizeof(reply));
	H_CHECK(r == 0 && !strncmp(reply, "ok ", 3), "ping through %s/.pmqd.sock: %s", h_dir, r ? strerror(-r) : reply);
	snprintf(h_sock, sizeof(h_sock), "%s", saved);

	/* the hello arrived: the consumer is watched by pidfd */
	pmq_t *c = h_open("q", PMQ_CONSUMER);
	int seen = 0;
	for (int i = 0; i < 300 && !seen; i++) {
		seen = h_request("stat q", reply, sizeof(reply)) == 0 && strstr(reply, "\"role\":2,\"watch\":\"pidfd\"");
		if (!seen)
			h_sleep_ms(10);
	}
	H_CHECK(seen, "the consumer's hello reached pmqd through the record: %s", reply);
	pmq_close(c);

	/* a clean stop takes the record away with the socket */
	h_stop_pmqd();
	char rec[400];
	snprintf(rec, sizeof(rec), "%s/.pmqd.sock", h_dir);
	struct stat st;
	H_CHECK(lstat(rec, &st) < 0 && lstat(saved, &st) < 0, "socket and record removed at stop");
	printf("PASS test_pmqd_socket_record\n");
	h_done();
	return 0;
}
