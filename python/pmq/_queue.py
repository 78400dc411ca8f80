"""pmq.Queue: one libpmq handle (pmq_t). Like the C handle, a Queue is for one
thread at a time; open one per thread that sends or receives concurrently."""
import errno
import os
import warnings
import weakref

from ._errors import ClosedError, Empty, Full, check
from ._lib import (ATTACH_NO_PROBE, CONSUMER, F_CRASH_NOT_DELIVERY, F_SC, F_SP, NONBLOCK,
                   NONBLOCK_OPEN, PEEK_DLQ, PRODUCER, REPLICATED, ffi, lib)
from ._message import Message
from ._types import Attachment, Config, Stats, new_struct

_DURABILITY = {"process": 0, "power": 1}
_LEASE_ACTION = {"requeue": 0, "kill": 1, "alarm": 2}
_WAIT = {"spin_futex": 0, "spin": 1, "futex": 2}
# A blocking recv waits in slices so that Python runs its signal handlers
# (Ctrl-C) between them; a message ends a slice at once, so this costs no latency.
_WAIT_SLICE_NS = 200_000_000
_ATTACH_MAX = 256


def _encode_name(name):
    if not isinstance(name, str):
        raise TypeError(f"queue name must be str, not {type(name).__name__}")
    try:
        return name.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"queue name {name!r} is not encodable as UTF-8") from e


def _encode_dir(d):
    return None if d is None else os.fsencode(d)


def _seconds_to_ns(seconds, what):
    if seconds < 0:
        raise ValueError(f"{what} must be >= 0 seconds, not {seconds}")
    return int(seconds * 1e9)


class Queue:
    """A handle on one queue. Make one with Queue.create() or Queue.open()."""

    def __init__(self, _handle, name, roles):
        self._q = _handle
        self.name = name
        self.roles = roles
        self._held = weakref.WeakSet()   # messages received and not settled

    # --- lifecycle --------------------------------------------------------------
    @classmethod
    def create(cls, name, slots=1024, payload=1024, *, dir=None, max_attach=None,
               consumer_quota=None, max_deliveries=None, dlq_capacity=None, side_slots=None,
               durability="process", lease=None, lease_action="requeue", mode=0o600,
               single_producer=False, single_consumer=False, crash_not_delivery=False):
        """Create queue `name` and attach as producer and consumer.

        slots: main ring slots (power of two); payload: largest message, bytes;
        lease: consumer lease in seconds for pmqd (0 = none, None = default 30 s);
        dir: directory (default $PMQ_DIR or /dev/shm/pmq). QueueExists if it exists.
        """
        cfg = new_struct("pmq_config")
        lib.pmq_config_init_sized(cfg, ffi.sizeof(cfg[0]))
        cfg.slot_count = slots
        cfg.max_payload = payload
        for field, value in (("max_attach", max_attach), ("consumer_quota", consumer_quota),
                             ("max_deliveries", max_deliveries), ("dlq_capacity", dlq_capacity),
                             ("side_slots", side_slots)):
            if value is not None:
                setattr(cfg, field, value)
        try:
            cfg.durability = _DURABILITY[durability]
            cfg.lease_action = _LEASE_ACTION[lease_action]
        except KeyError as e:
            raise ValueError(f"durability is one of {sorted(_DURABILITY)} and lease_action one of "
                             f"{sorted(_LEASE_ACTION)}; {e.args[0]!r} is neither") from None
        if lease is not None:
            cfg.lease_ns = _seconds_to_ns(lease, "lease")
        cfg.mode = mode
        cfg.flags = ((F_SP if single_producer else 0) | (F_SC if single_consumer else 0)
                     | (F_CRASH_NOT_DELIVERY if crash_not_delivery else 0))
        keep = ffi.new("char[]", _encode_dir(dir)) if dir is not None else ffi.NULL
        cfg.dir = keep
        out = ffi.new("pmq_t **")
        check(lib.pmq_create(_encode_name(name), cfg, out), f"create {name!r}")
        return cls(out[0], name, PRODUCER | CONSUMER)

    @classmethod
    def open(cls, name, *, producer=None, consumer=None, dir=None, wait=None, spin=None,
             nonblock=False):
        """Open queue `name` ("name.dlq" for its dead letters, consumer only).

        With neither producer nor consumer given, opens as both; with only one
        given, the other is off; producer=False, consumer=False is an observer
        (stats, attachments, peek). wait: "spin_futex" (default), "spin" or
        "futex"; spin: seconds to spin before sleeping. nonblock: fail (Error
        EWOULDBLOCK) instead of waiting for another process's recovery.
        """
        if producer is None and consumer is None:
            producer = consumer = True
        flags = (PRODUCER if producer else 0) | (CONSUMER if consumer else 0)
        opts = new_struct("pmq_open_opts")
        lib.pmq_open_opts_init_sized(opts, ffi.sizeof(opts[0]))
        if wait is not None:
            try:
                opts.wait = _WAIT[wait]
            except KeyError:
                raise ValueError(f"wait is one of {sorted(_WAIT)}, not {wait!r}") from None
        if spin is not None:
            opts.spin_ns = _seconds_to_ns(spin, "spin")
        keep = ffi.new("char[]", _encode_dir(dir)) if dir is not None else ffi.NULL
        opts.dir = keep
        out = ffi.new("pmq_t **")
        check(lib.pmq_open_ex(_encode_name(name), flags | (NONBLOCK_OPEN if nonblock else 0),
                              opts, out), f"open {name!r}")
        return cls(out[0], name, flags)

    def close(self):
        """Detach. Messages still held are requeued by the library and their
        views become unusable. Closing twice is harmless."""
        if self._q is None:
            return
        for m in list(self._held):
            m._invalidate("released by close()")
        handle, self._q = self._q, None
        check(lib.pmq_close(handle), f"close {self.name!r}")

    @property
    def closed(self):
        return self._q is None

    def __del__(self):
        # Nobody can be using the handle once the object is unreachable (a call in
        # progress holds a reference, and so does every held Message), so closing
        # here keeps the one-thread-at-a-time rule. Like an unclosed file, it warns.
        if getattr(self, "_q", None) is not None:
            warnings.warn(f"unclosed {self!r}", ResourceWarning, stacklevel=2)
            try:
                self.close()
            except Exception:
                pass

    def __enter__(self):
        self._live_handle("with")
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def __repr__(self):
        roles = "+".join(r for bit, r in ((PRODUCER, "producer"), (CONSUMER, "consumer"))
                         if self.roles & bit) or "observer"
        return f"<pmq.Queue {self.name!r} {roles}{' closed' if self.closed else ''}>"

    # --- sending ------------------------------------------------------------------
    def send(self, data, *, nonblock=False, replicated=False):
        """Send one message (any bytes-like object, copied in). Blocks while the
        ring is full, unless nonblock: then Full. replicated: return only once a
        standby has persisted it (needs pmqd replication)."""
        q = self._live_handle("send")
        flags = (NONBLOCK if nonblock else 0) | (REPLICATED if replicated else 0)
        with ffi.from_buffer(data) as buf:
            rc = lib.pmq_send(q, buf, len(buf), flags)
        if rc == -errno.EAGAIN:
            raise Full(errno.EAGAIN, "queue full", "", f"send to {self.name!r}")
        check(rc, f"send to {self.name!r}")

    # --- receiving ----------------------------------------------------------------
    def recv(self, timeout=None):
        """The next message (redeliveries first).

        timeout: None waits for ever, 0 does not wait, else seconds.
        Raises Empty when there is none in time.
        """
        q = self._live_handle("recv")
        cmsg = new_struct("pmq_msg")
        if timeout is None:
            while True:
                rc = lib.pmq_recv_timeout(q, cmsg, _WAIT_SLICE_NS)
                if rc != -errno.ETIMEDOUT:  # ETIMEDOUT: wait another slice (signals ran meanwhile)
                    break
                q = self._live_handle("recv")
        elif timeout == 0:
            rc = lib.pmq_recv(q, cmsg, NONBLOCK)
        else:
            rc = lib.pmq_recv_timeout(q, cmsg, _seconds_to_ns(timeout, "timeout"))
        if rc < 0:
            if rc in (-errno.EAGAIN, -errno.ETIMEDOUT):  # no detail: pmq_errmsg would be an older one
                raise Empty(-rc, "no message" + ("" if timeout == 0 else " before the timeout"),
                            "", f"recv from {self.name!r}")
            check(rc, f"recv from {self.name!r}")
        m = Message(self, cmsg)
        self._held.add(m)
        return m

    def __iter__(self):
        """Messages as they come, for ever: `for msg in q: with msg: ...`."""
        while True:
            yield self.recv()

    # --- operations ---------------------------------------------------------------
    def stats(self):
        st = new_struct("pmq_stats")
        check(lib.pmq_stats(self._live_handle("stats"), st), f"stats of {self.name!r}")
        return Stats._from(st)

    def config(self):
        c = new_struct("pmq_config")
        lib.pmq_config_init_sized(c, ffi.sizeof(c[0]))
        check(lib.pmq_get_config_sized(self._live_handle("config"), c, ffi.sizeof(c[0])), f"config of {self.name!r}")
        return Config._from(c)

    def attachments(self, probe=True):
        """The attached handles. probe=False skips the liveness probe (then alive is True)."""
        out = ffi.new("struct pmq_attach_info[]", _ATTACH_MAX)
        n = check(lib.pmq_attachments_ex(self._live_handle("attachments"), out, _ATTACH_MAX,
                                         0 if probe else ATTACH_NO_PROBE), f"attachments of {self.name!r}")
        return [Attachment._from(out[i]) for i in range(min(n, _ATTACH_MAX))]

    def recover(self):
        """Recover dead attachments now; returns how many."""
        return check(lib.pmq_recover(self._live_handle("recover")), f"recover {self.name!r}")

    def dlq_replay(self, max=2**32 - 1):
        """Make up to `max` dead letters deliverable again; returns how many."""
        return check(lib.pmq_dlq_replay(self._live_handle("dlq_replay"), max), f"dlq replay {self.name!r}")

    def dlq_purge(self, max=2**32 - 1):
        """Drop up to `max` dead letters; returns how many."""
        return check(lib.pmq_dlq_purge(self._live_handle("dlq_purge"), max), f"dlq purge {self.name!r}")

    def peek(self, pos=0, *, dead_letters=False, max_bytes=None):
        """Copies of committed messages at or after `pos` without claiming them
        (a tap: consumers still get every one). Yields (next_pos, bytes, info)
        where info has .ticket, .delivery_count, .timestamp_ns; stops when
        there is none yet. Pass next_pos back to continue later."""
        q = self._live_handle("peek")
        cap = max_bytes if max_bytes is not None else self.stats().max_payload
        buf = ffi.new("char[]", max(cap, 1))
        cpos = ffi.new("uint64_t *", pos)
        while True:
            info = new_struct("pmq_msg")
            rc = lib.pmq_peek(q, cpos, buf, cap, info, PEEK_DLQ if dead_letters else 0)
            if rc == -errno.ENOENT:  # nothing (yet) at or after pos
                return
            check(rc, f"peek {self.name!r}")
            yield cpos[0], ffi.unpack(buf, min(rc, cap)), PeekInfo(info.ticket, info.delivery_count,
                                                                   info.timestamp_ns, rc)

    # --- internals ----------------------------------------------------------------
    def _live_handle(self, op):
        if self._q is None:
            raise ClosedError(f"{op} on queue {self.name!r} after close()")
        return self._q


class PeekInfo:
    __slots__ = ("ticket", "delivery_count", "timestamp_ns", "length")

    def __init__(self, ticket, delivery_count, timestamp_ns, length):
        self.ticket, self.delivery_count, self.timestamp_ns, self.length = (
            ticket, delivery_count, timestamp_ns, length)

    def __repr__(self):
        return (f"PeekInfo(ticket={self.ticket}, delivery_count={self.delivery_count}, "
                f"timestamp_ns={self.timestamp_ns}, length={self.length})")


def unlink(name, dir=None):
    """Remove queue `name`'s file (attached handles keep working until closed)."""
    check(lib.pmq_unlink(_encode_name(name), ffi.new("char[]", _encode_dir(dir)) if dir else ffi.NULL),
          f"unlink {name!r}")
