/*
 * fuzz_frame - libFuzzer target for the replication frame parser
 * (daemon/repl/repl_proto.c): every input is a byte stream as a standby would
 * receive it; each frame found is decoded as entry, queue description, side
 * upsert and side free.
 * The parser must never read out of bounds, whatever the bytes. A second pass
 * re-encodes valid frames and checks that they parse back the same. A third
 * feeds the bytes to a secured connection as records (repl_seal.c).
 */
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "repl_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The same bytes as a secured session's stream (protocol 2 records): whatever
 * they are, rp_recv hands out no frame that did not authenticate (nothing here
 * was sealed under the session's keys, so any frame at all is a failure), and
 * reads nothing outside its buffer. */
static void records(const uint8_t *data, size_t size)
{
	static const uint8_t key[] = "fuzz-key-0123456789abcdef", ns[RP_NONCE] = { 1 }, np[RP_NONCE] = { 2 };
	int sv[2];
	if (size > 60000 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return;
	struct rp_conn c;
	if (rp_conn_init_small(&c, sv[1], 1 << 16) ||
	    rp_conn_secure(&c, key, sizeof(key) - 1, ns, np, false, size & 1)) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (size && send(sv[0], data, size, MSG_DONTWAIT) != (ssize_t)size)
		abort();
	shutdown(sv[0], SHUT_WR);
	struct rp_frame f;
	const char *why = NULL;
	int r = rp_recv(&c, &f, 0, &why);
	if (r == 1)
		abort(); /* a frame from bytes never sealed */
	if (r < 0 && r != -ECONNRESET && !why)
		abort(); /* every refusal names its reason */
	rp_conn_free(&c);
	close(sv[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy, so that reads past the input's end are caught by ASan */
	uint8_t *b = malloc(size ? size : 1);
	memcpy(b, data, size);
	size_t off = 0;
	while (off < size) {
		struct rp_frame f;
		const char *why = NULL;
		ssize_t n = rp_parse(b + off, size - off, &f, &why);
		if (n <= 0) {
			if (n < 0 && !why)
				abort(); /* every refusal names its reason */
			break;
		}
		struct pmq_repl_entry e;
		const void *d;
		if (rp_entry_decode(&f, 1u << 20, &e, &d) == 0 && e.len)
			(void)((const volatile uint8_t *)d)[e.len - 1];
		struct pmq_repl_side sd;
		const void *sdata;
		if (rp_side_decode(&f, 1u << 20, &sd, &sdata) == 0) {
			if (sd.index > RP_SIDE_MAX_INDEX || (sd.state != PMQ_REPL_SIDE_READY && sd.state != PMQ_REPL_SIDE_DEAD))
				abort();
			if (sd.len)
				(void)((const volatile uint8_t *)sdata)[sd.len - 1];
			/* the header re-encodes to the same bytes */
			uint8_t sh[RP_SIDE_HDR];
			rp_side_header(sh, &sd);
			if (memcmp(sh, f.payload, RP_SIDE_HDR) || rp_side_aux(&sd) != f.aux)
				abort();
		}
		uint32_t fi, fg;
		if (rp_side_free_decode(&f, &fi, &fg) == 0 && (fi > RP_SIDE_MAX_INDEX || f.len))
			abort();
		struct rp_queue_desc q;
		if (rp_queue_decode(&f, &q) == 0 && (strlen(q.name) > PMQ_NAME_MAX || q.max_groups > PMQ_GROUPS_MAX))
			abort();
		struct pmq_repl_group gr;
		for (unsigned k = 0; f.type == RP_GROUPS && k < PMQ_GROUPS_MAX + 1; k++) {
			if (rp_group_decode(&f, k, &gr))
				continue;
			if (k >= f.ticket || gr.index >= PMQ_GROUPS_MAX || gr.state > PMQ_REPL_GROUP_ACTIVE)
				abort();
			if (gr.state == PMQ_REPL_GROUP_ACTIVE) {
				/* a group the decoder accepts re-encodes to the same bytes (a record of
				 * aux 0 is the first RP_GROUP_REC bytes of one with the lease, which is 0) */
				uint8_t gb[RP_GROUP_REC_LEASE];
				size_t rl = f.aux == RP_GROUPS_LEASE ? RP_GROUP_REC_LEASE : RP_GROUP_REC;
				rp_group_encode(gb, &gr);
				if (memcmp(gb, f.payload + (size_t)k * rl, rl) || !gr.name[0] || gr.floor < gr.start ||
				    gr.head < gr.floor)
					abort();
			}
			/* a lease only on a reliable group, within 1 ms..7 days */
			if (gr.lease_ns && (gr.state != PMQ_REPL_GROUP_ACTIVE || (gr.flags & PMQ_GROUP_LOSSY) ||
					    gr.lease_ns < PMQ_GROUP_LEASE_MIN_NS || gr.lease_ns > PMQ_GROUP_LEASE_MAX_NS))
				abort();
		}
		static uint8_t re[RP_HDR + RP_MAX_PAYLOAD];
		size_t m = rp_encode(re, sizeof(re), f.type, f.qid, f.epoch, f.ticket, f.aux, f.payload, f.len);
		struct rp_frame g;
		if (m != (size_t)n || rp_parse(re, m, &g, &why) != (ssize_t)m || g.ticket != f.ticket || g.len != f.len)
			abort();
		off += (size_t)n;
	}
	free(b);
	records(data, size);
	return 0;
}
