#!/usr/bin/env python3
"""A worker of the "task_queue" work queue (the RabbitMQ work-queues
tutorial's worker.py, on pmq): take one task at a time, sleep a second per
'.', ack. Start several: each task goes to exactly one of them; a worker
killed mid-task has its task redelivered to another (after recovery by pmqd,
a lease expiry, or the next process that opens the queue alone).

    PMQ_DIR=/var/lib/pmq python3 worker.py [--count N]
"""
import argparse
import time

from new_task import QUEUE, declare


def work(body):
    time.sleep(body.count(b"."))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=0, help="stop after N tasks (default: run until Ctrl-C)")
    args = ap.parse_args()
    with declare(QUEUE) as q:
        print(" [*] Waiting for messages. To exit press CTRL+C", flush=True)
        done = 0
        # One message at a time: recv() takes a task only when this worker is
        # free, so a busy worker is never handed a second one (fair dispatch).
        for msg in q:
            with msg:                       # ack on success, requeue if work() raises
                body = msg.copy()
                print(f" [x] Received {body.decode(errors='replace')!r}"
                      f"{' (redelivery %d)' % (msg.delivery_count - 1) if msg.delivery_count > 1 else ''}",
                      flush=True)
                work(body)
                print(" [x] Done", flush=True)
            done += 1
            if args.count and done >= args.count:
                break


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
