"""Plain-data results: queue statistics, attachments, configuration."""
from dataclasses import dataclass

from ._lib import ffi


def _fields_of(cls, cdata):
    return cls(**{name: getattr(cdata, name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Stats:
    """A snapshot of struct pmq_stats (each field read once, not all at one instant)."""
    depth: int          # committed messages not yet claimed (main ring)
    in_flight: int      # claimed, not yet settled
    side_ready: int     # redeliveries waiting
    dead_letters: int   # messages in the dead-letter area now
    sent: int           # messages ever claimed by producers
    received: int       # messages ever taken by consumers (main ring)
    redelivered: int    # messages requeued (nack, death, lease) so far
    dead_lettered: int  # messages ever dead-lettered
    aborted: int        # tickets abandoned by dead producers or aborts
    attachments: int    # attached handles
    slot_count: int
    max_payload: int
    side_slots: int
    durability: int     # 0 process, 1 power
    is_pmem: int

    @classmethod
    def _from(cls, st):
        return _fields_of(cls, st)


@dataclass(frozen=True)
class Attachment:
    """One entry of the queue's attachment table (struct pmq_attach_info)."""
    index: int
    role: int           # PRODUCER | CONSUMER bits
    incarnation: int
    pid: int            # as seen by the attacher (its PID namespace)
    start_time: int     # process start time, clock ticks since boot
    heartbeat: int      # bumped by each recv
    in_flight: int      # messages held
    alive: bool         # liveness token held

    @property
    def is_producer(self):
        return bool(self.role & 0x1)

    @property
    def is_consumer(self):
        return bool(self.role & 0x2)

    @classmethod
    def _from(cls, a):
        d = {name: getattr(a, name) for name in cls.__dataclass_fields__}
        d["alive"] = bool(d["alive"])
        return cls(**d)


@dataclass(frozen=True)
class Config:
    """The queue's configuration as stored in its file (struct pmq_config)."""
    flags: int
    slot_count: int
    max_payload: int
    max_attach: int
    consumer_quota: int
    max_deliveries: int
    dlq_capacity: int
    side_slots: int
    durability: int
    lease_ns: int
    lease_action: int
    mode: int

    @classmethod
    def _from(cls, c):
        return _fields_of(cls, c)


def new_struct(name):
    return ffi.new(f"struct {name} *")
