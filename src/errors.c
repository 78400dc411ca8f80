/*
 * errors.c - error text: pmq_strerror for codes, pmq_errmsg for the calling
 * thread's detail of its last failure (Aeron-style). Never prints.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local char last_detail[512];

int pmq_fail(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_detail, sizeof(last_detail), fmt, ap);
	va_end(ap);
	return err;
}

PMQ_EXPORT const char *pmq_errmsg(void) { return last_detail; }

PMQ_EXPORT const char *pmq_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0: return "success";
	case EAGAIN: return "would block: queue full or empty";
	case EINVAL: return "invalid argument";
	case EPROTO: return "not a valid pmq queue file (corrupt, truncated, foreign or newer format)";
	case EMSGSIZE: return "message larger than the queue's slot payload";
	case ENOENT: return "no such queue (or consumer group)";
	case EEXIST: return "queue (or consumer group) already exists";
	case EPERM: return "operation not allowed for this handle's role";
	case EACCES: return "permission denied";
	case ESTALE: return "message was taken away (lease expired or recovered); it will be redelivered";
	case EBUSY: return "consumer holds its quota of messages";
	case ENOSPC: return "no room in the side area (or file system, or group table)";
	case ETIMEDOUT: return "timed out";
	case EUSERS: return "attachment table full";
	case ESHUTDOWN: return "queue is fenced: refusing producers";
	case ENOLINK: return "standby out of sync: committed locally, not replicated";
	case EBADFD: return "handle inherited across fork: open a new one in the child";
	case ENOMEM: return "out of memory";
	case ELOOP: return "queue path is a symbolic link";
	case ENOTSUP: return "not supported (e.g. groups on a queue made without them)";
	case EIDRM: return "the handle's consumer group was deleted";
	case EDQUOT: return "dead-letter capacity exhausted";
	case EFAULT: return "bad address";
	case EIO: return "input/output error";
	default: return "unknown error";
	}
}
