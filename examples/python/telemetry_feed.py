#!/usr/bin/env python3
"""Simulate a telemetry engine: send fixed-layout binary samples, as a C
engine would with

    struct sample { uint32_t sensor; uint32_t flags; uint64_t t_ns; double value; };

(little-endian, 24 bytes: struct format "<IIQd").

    PMQ_DIR=/dev/shm/pmq python3 telemetry_feed.py telemetry --count 1000 [--sensors 4]
"""
import argparse
import math
import struct
import time

import pmq

SAMPLE = struct.Struct("<IIQd")


def main():
    ap = argparse.ArgumentParser(description="send simulated telemetry samples")
    ap.add_argument("queue")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--sensors", type=int, default=4)
    ap.add_argument("--rate", type=float, default=0, help="samples per second (0: as fast as possible)")
    args = ap.parse_args()
    try:
        q = pmq.Queue.create(args.queue, slots=4096, payload=SAMPLE.size)
    except pmq.QueueExists:
        q = pmq.Queue.open(args.queue, producer=True)
    buf = bytearray(SAMPLE.size)
    with q:
        for i in range(args.count):
            sensor = i % args.sensors
            SAMPLE.pack_into(buf, 0, sensor, 0, time.time_ns(), 20 + 5 * math.sin(i / 50) + sensor)
            q.send(buf)
            if args.rate:
                time.sleep(1 / args.rate)
    print(f"sent {args.count} samples to {args.queue!r}")


if __name__ == "__main__":
    main()
