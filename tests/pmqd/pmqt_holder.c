/*
 * pmqt_holder DIR QUEUE N: receive N messages as a consumer, print
 * "held K" and block until killed. Run inside other namespaces by tests.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "pmq.h"

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	struct pmq_open_opts o;
	pmq_t *q;
	pmq_open_opts_init(&o);
	o.dir = argv[1];
	unsigned n = (unsigned)atoi(argv[3]), k = 0;
	if (pmq_open_ex(argv[2], PMQ_CONSUMER, &o, &q) == 0) {
		struct pmq_msg m;
		while (k < n && pmq_recv_timeout(q, &m, 5000000000ull) == 0)
			k++;
	}
	printf("held %u pid %d\n", k, (int)getpid());
	fflush(stdout);
	for (;;)
		pause();
}
