#!/usr/bin/env python3
"""Does scraping /metrics slow the data path? A C producer and a C consumer
move N messages through one queue under pmqd, once unscraped and once while
S threads scrape /metrics back to back; prints both rates and the scrape rate.
Not a test (speed is measured, never asserted). From a build tree:

    PMQD=build/daemon/pmqd PMQ_PY_PROBE=build/tests/python/pmq_py_probe \\
    PMQ_LIBRARY=build/src/libpmq.so.1 PYTHONPATH=python \\
        python3 tests/python/bench_metrics.py [N] [SCRAPERS] [ROUNDS]
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import pmq


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_once(probe, name, n):
    cons = subprocess.Popen([probe, "drain", name, str(n)], stdout=subprocess.PIPE, text=True)
    prod = subprocess.Popen([probe, "send", name, str(n)])
    prod.wait()
    out, _ = cons.communicate()
    return float(out.split(":")[1].split()[0])


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
    scrapers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    probe, exe = os.environ["PMQ_PY_PROBE"], os.environ["PMQD"]
    with tempfile.TemporaryDirectory() as d:
        os.environ["PMQ_DIR"] = d
        port = free_port()
        daemon = subprocess.Popen([exe, "--dir", d, "--metrics-listen", f"127.0.0.1:{port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for name in ("bench", "other1", "other2", "other3"):
                pmq.Queue.create(name, slots=4096, payload=64).close()
            time.sleep(1.5)   # pmqd watches them
            url = f"http://127.0.0.1:{port}/metrics"
            base, scraped, scrapes = [], [], [0]
            for _ in range(rounds):
                base.append(run_once(probe, "bench", n))
                stop = threading.Event()

                def scrape():
                    while not stop.is_set():
                        with urllib.request.urlopen(url, timeout=10) as r:
                            r.read()
                        scrapes[0] += 1
                ts = [threading.Thread(target=scrape) for _ in range(scrapers)]
                for t in ts:
                    t.start()
                t0, s0 = time.monotonic(), scrapes[0]
                scraped.append(run_once(probe, "bench", n))
                rate = (scrapes[0] - s0) / (time.monotonic() - t0)
                stop.set()
                for t in ts:
                    t.join()
            med = lambda v: sorted(v)[len(v) // 2]
            print(f"{n} messages, {rounds} rounds, median: unscraped {med(base):,.0f} msg/s, "
                  f"scraped by {scrapers} threads ({rate:,.0f} scrapes/s) {med(scraped):,.0f} msg/s")
            print("all rounds: unscraped", [f"{x:,.0f}" for x in base], "scraped", [f"{x:,.0f}" for x in scraped])
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait()


if __name__ == "__main__":
    main()
