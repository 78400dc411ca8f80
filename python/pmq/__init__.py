"""pmq: Python binding of libpmq, a same-host message queue in shared memory.

    import pmq
    q = pmq.Queue.create("py", slots=16, payload=64)
    q.send(b"hello")
    m = q.recv(timeout=1.0)          # seconds
    assert bytes(m.data) == b"hello" and m.delivery_count == 1
    m.ack()

Queues live in $PMQ_DIR (default /dev/shm/pmq). The library is found through
$PMQ_LIBRARY, a build tree of the checkout, or the system loader (pmq._lib).
"""
from ._errors import (ClosedError, Empty, Error, Full, QueueExists, QueueNotFound, SettledError,
                      StaleMessage, UsageError)
from ._lib import CONSUMER, NAME_MAX, PRODUCER, ffi as _ffi, lib as _lib, loaded_from as library
from ._message import Message
from ._queue import PeekInfo, Queue, unlink
from ._types import Attachment, Config, Stats

__version__ = "1.0.0"


def library_version():
    """The loaded libpmq's version string."""
    return _ffi.string(_lib.pmq_version()).decode()


__all__ = [
    "Queue", "Message", "Stats", "Attachment", "Config", "PeekInfo", "unlink", "library_version",
    "Error", "Empty", "Full", "QueueExists", "QueueNotFound", "StaleMessage", "UsageError",
    "SettledError", "ClosedError", "PRODUCER", "CONSUMER", "NAME_MAX", "library",
]
