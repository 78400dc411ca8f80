"""Exceptions: every libpmq failure becomes an Error carrying its errno, the
library's text for it (pmq_strerror) and the calling thread's detail
(pmq_errmsg, read right after the failing call, in the same thread)."""
import errno as _errno

from ._lib import ffi, lib


class Error(OSError):
    """A libpmq call failed. .errno, .strerror, .detail (pmq_errmsg()), .op."""

    def __init__(self, err, strerror, detail="", op=""):
        super().__init__(err, strerror)
        self.detail = detail
        self.op = op

    def __str__(self):
        where = f"{self.op}: " if self.op else ""
        text = f"{where}{self.strerror}"
        if self.detail and self.detail not in text:
            text += f" ({self.detail})"
        name = _errno.errorcode.get(self.errno, str(self.errno))
        return f"[{name}] {text}"


class Empty(Error):
    """recv found no message (non-blocking), or none before its timeout."""


class QueueExists(Error):
    """create: a queue of that name exists (EEXIST)."""


class QueueNotFound(Error):
    """open: no queue of that name (ENOENT)."""


class StaleMessage(Error):
    """ack/nack: the message was taken away meanwhile (lease expired, or
    recovered as if this process were dead); it is or will be delivered again."""


class Full(Error):
    """send(nonblock=True) found the ring full (EAGAIN)."""


class UsageError(Error, ValueError):
    """The binding refused a call before reaching libpmq (errno EINVAL)."""

    def __init__(self, what):
        super().__init__(_errno.EINVAL, what)


class SettledError(UsageError):
    """A message was used after ack/nack, or after its queue was closed."""


class ClosedError(UsageError):
    """A queue was used after close()."""


_BY_ERRNO = {
    _errno.EAGAIN: Empty,
    _errno.ETIMEDOUT: Empty,
    _errno.EEXIST: QueueExists,
    _errno.ENOENT: QueueNotFound,
    _errno.ESTALE: StaleMessage,
}


def error_from(rc, op):
    """The exception for a negative return code `rc` of call `op`."""
    err = -rc
    detail = ffi.string(lib.pmq_errmsg()).decode("utf-8", "replace")
    text = ffi.string(lib.pmq_strerror(rc)).decode("utf-8", "replace")
    return _BY_ERRNO.get(err, Error)(err, text, detail, op)


def check(rc, op):
    """Return rc if it is not negative, else raise the matching Error."""
    if rc < 0:
        raise error_from(rc, op)
    return rc
