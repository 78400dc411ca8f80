#!/usr/bin/env python3
"""Send one task to the "task_queue" work queue (the RabbitMQ work-queues
tutorial's new_task.py, on pmq). A task is text; each '.' in it stands for
one second of work for the worker.

    PMQ_DIR=/var/lib/pmq python3 new_task.py "A task with three dots..."
"""
import sys

import pmq

QUEUE = "task_queue"


def declare(name):
    """Create the queue if nobody has yet (both sides may start first)."""
    try:
        # The file outlives every process: the queue is durable across crashes
        # and restarts of producers, workers and pmqd. durability="power" would
        # also persist each message before send() returns (power loss).
        # consumer_quota=1: a worker holds at most one unacked task (a second
        # recv() before the ack fails with EBUSY), RabbitMQ's prefetch of 1.
        return pmq.Queue.create(name, slots=1024, payload=4096, durability="process",
                                consumer_quota=1)
    except pmq.QueueExists:
        return pmq.Queue.open(name)


def main():
    message = " ".join(sys.argv[1:]) or "Hello World!"
    with declare(QUEUE) as q:
        # Every message is kept in the queue's file until a worker acks it:
        # persistent, with no flag to ask for it.
        q.send(message.encode())
    print(f" [x] Sent {message!r}")


if __name__ == "__main__":
    main()
