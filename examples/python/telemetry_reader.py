#!/usr/bin/env python3
"""Read binary telemetry samples (see telemetry_feed.py for the layout) and
print per-sensor summaries once a second, decoding each sample in place from
the queue's shared memory (struct.unpack_from on the zero-copy view: no copy).

    PMQ_DIR=/dev/shm/pmq python3 telemetry_reader.py telemetry [--count N] [--tap]

--tap reads without consuming (pmq_peek): the engine's real consumers still
get every sample; a tap that falls a lap behind skips to the oldest sample.
"""
import argparse
import struct
import time
from dataclasses import dataclass, field

import pmq

SAMPLE = struct.Struct("<IIQd")


@dataclass
class Summary:
    n: int = 0
    lo: float = float("inf")
    hi: float = float("-inf")
    total: float = 0.0
    latency_ns: list = field(default_factory=list)

    def add(self, value, t_ns):
        self.n += 1
        self.lo, self.hi, self.total = min(self.lo, value), max(self.hi, value), self.total + value
        self.latency_ns.append(time.time_ns() - t_ns)


def report(q, sensors, seen):
    st = q.stats()
    print(f"samples {seen}  depth {st.depth}  in flight {st.in_flight}  dead letters {st.dead_letters}")
    for sensor, s in sorted(sensors.items()):
        lat = sorted(s.latency_ns)
        p50 = lat[len(lat) // 2] / 1e3 if lat else 0
        print(f"  sensor {sensor}: n={s.n} min={s.lo:.2f} max={s.hi:.2f} mean={s.total / s.n:.2f} "
              f"age p50={p50:.0f}us")
    sensors.clear()


def consume(q, on_sample, count):
    seen = 0
    while not count or seen < count:
        try:
            m = q.recv(timeout=1.0)
        except pmq.Empty:
            yield seen
            continue
        with m:
            if len(m) != SAMPLE.size:
                m.nack(dead_letter=True)      # not a sample: keep it for inspection
                continue
            sensor, _flags, t_ns, value = SAMPLE.unpack_from(m.data)
            on_sample(sensor, value, t_ns)
        seen += 1
        yield seen


def tap(q, on_sample, count):
    pos, seen = 0, 0
    while not count or seen < count:
        got = False
        for pos, data, _info in q.peek(pos):
            if len(data) == SAMPLE.size:
                sensor, _flags, t_ns, value = SAMPLE.unpack_from(data)
                on_sample(sensor, value, t_ns)
                seen += 1
                got = True
                yield seen
            if count and seen >= count:
                return
        if not got:
            time.sleep(0.05)
            yield seen


def main():
    ap = argparse.ArgumentParser(description="summarise telemetry samples from a pmq queue")
    ap.add_argument("queue")
    ap.add_argument("--count", type=int, default=0, help="stop after N samples (default: until Ctrl-C)")
    ap.add_argument("--tap", action="store_true", help="peek without consuming")
    args = ap.parse_args()
    sensors = {}

    def on_sample(sensor, value, t_ns):
        sensors.setdefault(sensor, Summary()).add(value, t_ns)

    with pmq.Queue.open(args.queue, consumer=not args.tap, producer=False) as q:
        last, seen = time.monotonic(), 0
        for seen in (tap if args.tap else consume)(q, on_sample, args.count):
            if time.monotonic() - last >= 1.0:
                report(q, sensors, seen)
                last = time.monotonic()
        report(q, sensors, seen)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
