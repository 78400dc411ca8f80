/*
 * control_verbs.h - between the control loop (control.c: sockets, clients,
 * events) and the verbs it dispatches to (control_verbs.c). Control thread only.
 */
#ifndef PMQD_CONTROL_VERBS_H
#define PMQD_CONTROL_VERBS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct control_peer {
	int fd;     /* the client's socket: the reply goes here */
	uid_t uid;  /* from SO_PEERCRED, never from the request */
	pid_t pid;  /* likewise, in pmqd's PID namespace */
};

/* dir: the queue directory (for messages); reload: re-read the settings now. */
void control_verbs_init(const char *dir, uint64_t start_ns, void (*reload)(void));
/* One request of len bytes (full: its size before truncation to PMQD_REQ_MAX). */
void control_handle_request(const struct control_peer *peer, char *req, ssize_t len, size_t full);

#endif
