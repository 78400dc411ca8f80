/*
 * standby_accept.c - the standby's connections in their handshake (standby.h):
 * up to SB_PENDING at once, each sent the challenge on accept and given one
 * deadline for the whole handshake, however its bytes trickle in. Only a peer
 * that proves the key (HMAC, protocol version 2) is handed to standby.c as a
 * session; the others are dropped with a log line and never touch it. When
 * every slot is taken the oldest handshake gives way to the newcomer.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "repl_node.h"
#include "standby.h"

#define SB_HANDSHAKE_NS 3000000000ull  /* the whole handshake, from accept to AUTH */
#define SB_PENDING_BUF 512             /* a handshake frame is at most 104 bytes */

struct pending {
	bool used;
	struct rp_conn c;
	uint8_t ns[RP_NONCE];
	uint64_t deadline;
};
static struct pending pend[SB_PENDING];

static void pending_drop(struct pending *p)
{
	rp_conn_free(&p->c);
	p->used = false;
}

static void peer_name(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		port = ntohs(a->sin6_port);
	}
	snprintf(out, cap, "%s:%u", host, port);
}

/* Accept one connection into a handshake slot and send it the challenge. An
 * unauthenticated peer never touches the session; when every slot is taken the
 * oldest handshake gives way (a real primary answers within a round trip). */
void sb_accept(int listen_fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = accept4(listen_fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct pending *p = NULL;
	for (int i = 0; i < SB_PENDING; i++)
		if (!pend[i].used) {
			p = &pend[i];
			break;
		}
	if (!p) {
		p = &pend[0];
		for (int i = 1; i < SB_PENDING; i++)
			if (pend[i].deadline < p->deadline)
				p = &pend[i];
		standby_refuse(p->c.peer, "a peer still unauthenticated when a newer connection needed its handshake slot", NULL);
		pending_drop(p);
	}
	if (rp_conn_init_small(&p->c, fd, SB_PENDING_BUF)) {
		close(fd);
		return;
	}
	peer_name(&ss, p->c.peer, sizeof(p->c.peer));
	rp_tune_socket(fd, 10000);
	uint64_t my_epoch = atomic_load(&g_node_epoch);
	uint64_t my_role = atomic_load(&g_node_role) == NODE_STANDBY ? RP_NODE_STANDBY : RP_NODE_PRIMARY;
	/* the challenge fits an empty socket buffer: the flush does not wait */
	if (rp_random(p->ns, sizeof(p->ns)) ||
	    rp_send(&p->c, RP_CHALLENGE, 0, my_epoch, RP_VERSION, my_role, p->ns, sizeof(p->ns)) || rp_flush(&p->c, 100)) {
		rp_conn_free(&p->c);
		return;
	}
	p->deadline = repl_now_ns() + SB_HANDSHAKE_NS;
	p->used = true;
}

/* An authenticated primary: answer, check epochs, secure the connection and hand it
 * over. 1 handed over, 0 dropped. */
static int pending_complete(struct pending *p, const uint8_t np[RP_NONCE], uint64_t peer_epoch, uint64_t flags,
			    struct sb_auth *out)
{
	uint8_t mac[RP_MAC];
	uint64_t my_epoch = atomic_load(&g_node_epoch);
	uint64_t my_role = atomic_load(&g_node_role) == NODE_STANDBY ? RP_NODE_STANDBY : RP_NODE_PRIMARY;
	if (rp_mac(g_repl.key, g_repl.keylen, "pmq-repl-2 standby", np, p->ns, my_epoch, my_role, mac) ||
	    rp_send(&p->c, RP_AUTH_OK, 0, my_epoch, RP_VERSION, my_role, mac, sizeof(mac)) || rp_flush(&p->c, 1000)) {
		pending_drop(p);
		return 0;
	}
	if (my_role != RP_NODE_STANDBY || peer_epoch < my_epoch) {
		log_msg(LOG_WARNING, "standby: primary %s is at epoch %llu, this node is %s at epoch %llu --> it "
			"must fence itself (it was told); rejoin it as a standby with pmqctl rejoin", p->c.peer,
			(unsigned long long)peer_epoch, repl_role_name(atomic_load(&g_node_role)),
			(unsigned long long)my_epoch);
		pending_drop(p);
		return 0;
	}
	if (rp_conn_grow(&p->c, 4u << 20, 1u << 16) ||
	    rp_conn_secure(&p->c, g_repl.key, g_repl.keylen, p->ns, np, false, (flags & RP_F_ENCRYPT) != 0)) {
		log_msg(LOG_ERR, "standby: cannot set up the session with %s (out of memory or OpenSSL failed)", p->c.peer);
		pending_drop(p);
		return 0;
	}
	out->c = p->c; /* the buffers and keys go to the caller */
	out->peer_epoch = peer_epoch;
	out->encrypt = (flags & RP_F_ENCRYPT) != 0;
	p->used = false;
	return 1;
}

/* Advance one handshake: whatever arrived, or its deadline. */
static int pending_step(struct pending *p, uint64_t now, struct sb_auth *out)
{
	struct rp_frame f;
	const char *why = "";
	int r = rp_recv(&p->c, &f, 0, &why);
	if (r == 0) {
		if (now > p->deadline) {
			standby_refuse(p->c.peer, "a peer that did not complete the handshake within 3 s", NULL);
			pending_drop(p);
		}
		return 0;
	}
	if (r < 0) {
		if (r == -ECONNRESET)
			log_msg(LOG_INFO, "standby: %s closed the connection during the handshake", p->c.peer);
		else
			standby_refuse(p->c.peer, r == -EMSGSIZE ? "a handshake frame larger than any handshake frame" : why, NULL);
		pending_drop(p);
		return 0;
	}
	if (f.type != RP_AUTH || f.len != RP_NONCE + RP_MAC) {
		standby_refuse(p->c.peer, "a frame before authentication", &f);
		pending_drop(p);
		return 0;
	}
	if (f.ticket != RP_VERSION) {
		char what[200];
		snprintf(what, sizeof(what), "a primary speaking replication protocol version %llu (this standby speaks %u) "
			 "--> run the same pmqd release on both hosts", (unsigned long long)(f.ticket ? f.ticket : 1),
			 RP_VERSION);
		standby_refuse(p->c.peer, what, NULL);
		pending_drop(p);
		return 0;
	}
	uint8_t np[RP_NONCE], want[RP_MAC];
	memcpy(np, f.payload, RP_NONCE);
	if ((f.aux & ~(uint64_t)RP_F_ENCRYPT) ||
	    rp_mac(g_repl.key, g_repl.keylen, "pmq-repl-2 primary", p->ns, np, f.epoch, f.aux, want) ||
	    !rp_mac_equal(f.payload + RP_NONCE, want)) {
		standby_refuse(p->c.peer, "a peer with the wrong key (HMAC-SHA256 mismatch; check --repl-key-file on both hosts)",
		       NULL);
		pending_drop(p);
		return 0;
	}
	return pending_complete(p, np, f.epoch, f.aux, out);
}

int sb_pending_fds(struct pollfd *p, int *map)
{
	int n = 0;
	for (int i = 0; i < SB_PENDING; i++)
		if (pend[i].used) {
			p[n] = (struct pollfd){ .fd = pend[i].c.fd, .events = POLLIN };
			map[n++] = i;
		}
	return n;
}

int sb_pending_step(int i, bool readable, uint64_t now, struct sb_auth *out)
{
	if (i < 0 || i >= SB_PENDING || !pend[i].used || (!readable && now <= pend[i].deadline))
		return 0;
	return pending_step(&pend[i], now, out);
}

void sb_pending_drop_all(void)
{
	for (int i = 0; i < SB_PENDING; i++)
		if (pend[i].used)
			pending_drop(&pend[i]);
}
