#!/usr/bin/env python3
"""Per-message cost of the binding on one handle (send + recv + ack), in a
temporary PMQ_DIR. Not a test (speed is measured, never asserted):

    PMQ_LIBRARY=build/src/libpmq.so.1 PYTHONPATH=python python3 tests/python/bench_binding.py [N]
"""
import os
import sys
import tempfile
import time

import pmq


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    data = b"x" * 32
    with tempfile.TemporaryDirectory() as d:
        with pmq.Queue.create("bench", slots=1024, payload=64, dir=d) as q:
            t = time.perf_counter()
            for _ in range(n):
                q.send(data)
                q.recv(timeout=0).ack()
            dt = time.perf_counter() - t
            print(f"send + recv + ack: {n / dt:,.0f} msg/s ({dt / n * 1e6:.2f} us per message)")
            t = time.perf_counter()
            for _ in range(n):
                q.send(data)
                with q.recv(timeout=0) as m:
                    bytes(m.data)
            dt = time.perf_counter() - t
            print(f"send + with recv: bytes(data): {n / dt:,.0f} msg/s ({dt / n * 1e6:.2f} us per message)")


if __name__ == "__main__":
    os.environ.setdefault("PMQ_DIR", tempfile.gettempdir())
    main()
