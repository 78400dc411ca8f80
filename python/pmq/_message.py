"""A received message: a zero-copy view into the queue's mapping that is
valid until the message is settled (ack/nack) or its queue is closed."""
import errno

from ._errors import SettledError, check
from ._lib import NACK_DEADLETTER, NACK_REQUEUE, ffi, lib


class Message:
    """Returned by Queue.recv(). Settle it exactly once with ack() or nack().

    `with msg:` acks on normal exit and nacks (requeues) when the block raises.
    """

    __slots__ = ("_queue", "_msg", "_view", "_settled", "__weakref__")

    def __init__(self, queue, cmsg):
        self._queue = queue
        self._msg = cmsg       # struct pmq_msg *, owned by this object
        self._view = None      # the one memoryview handed out, released at settle
        self._settled = None   # None while held, else why it is not usable

    # --- what was received (kept after settling: they are copies) ---------
    @property
    def ticket(self):
        return self._msg.ticket

    @property
    def epoch(self):
        return self._msg.epoch

    @property
    def delivery_count(self):
        return self._msg.delivery_count

    @property
    def timestamp_ns(self):
        """Enqueue time, CLOCK_REALTIME nanoseconds."""
        return self._msg.timestamp_ns

    @property
    def timestamp(self):
        """Enqueue time in seconds since the epoch (as time.time())."""
        return self._msg.timestamp_ns / 1e9

    def __len__(self):
        return self._msg.len

    # --- the payload --------------------------------------------------------
    @property
    def data(self):
        """A read-only memoryview of the payload, in the queue's shared memory.

        Released when the message is settled: using it afterwards raises
        ValueError. Keep bytes beyond that with copy(). Slices of it are views
        of the same memory but are not released with it: do not keep them.
        """
        self._check_held("data")
        if self._view is None:
            buf = ffi.buffer(self._msg.data, self._msg.len)
            self._view = memoryview(buf).toreadonly()
        return self._view

    def copy(self):
        """The payload as bytes of its own (usable after settling)."""
        self._check_held("copy")
        return ffi.unpack(ffi.cast("const char *", self._msg.data), self._msg.len)

    # --- settling -------------------------------------------------------------
    @property
    def settled(self):
        return self._settled is not None

    def ack(self):
        """Done with it: the queue frees it. StaleMessage if it was taken away."""
        self._settle("ack", lambda q: lib.pmq_ack(q, self._msg))

    def nack(self, dead_letter=False):
        """Give it back: delivered again (an attempt is counted), or with
        dead_letter=True moved straight to the queue's dead letters."""
        flags = NACK_DEADLETTER if dead_letter else NACK_REQUEUE
        self._settle("nack", lambda q: lib.pmq_nack(q, self._msg, flags))

    def __enter__(self):
        self._check_held("with")
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._settled is None:
            if exc_type is None:
                self.ack()
            else:
                self.nack()
        return False

    def __repr__(self):
        state = self._settled or "held"
        return (f"<pmq.Message ticket={self.ticket} len={len(self)} "
                f"delivery_count={self.delivery_count} {state}>")

    # --- internals ------------------------------------------------------------
    def _check_held(self, what):
        if self._settled is not None:
            raise SettledError(f"message ticket {self.ticket} used ({what}) after it was {self._settled}")

    def _settle(self, op, call):
        self._check_held(op)
        handle = self._queue._live_handle(op)
        rc = call(handle)
        if op == "nack" and rc == -errno.ENOSPC:  # no side-area room: still held, may retry
            check(rc, op)
        # Any other outcome (done, or ESTALE: no longer ours) ends our hold.
        self._invalidate("acked" if op == "ack" else "nacked")
        check(rc, op)

    def _invalidate(self, why):
        """Called when settled or when the queue closes: the memory may be reused."""
        if self._settled is None:
            self._settled = why
            if self._view is not None:
                try:
                    self._view.release()
                except BufferError:
                    pass  # something (e.g. numpy) still exports it: that is the caller's to drop
                self._view = None
            self._queue._held.discard(self)
