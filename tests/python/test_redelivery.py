"""Redelivery: a Python consumer SIGKILLed while it holds a message; nack to
the dead letters; max deliveries."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

import pmq

HOLDER = textwrap.dedent("""
    import sys, time, pmq
    q = pmq.Queue.open(sys.argv[1], consumer=True)
    m = q.recv(timeout=5)
    print(m.ticket, m.copy().decode(), flush=True)
    time.sleep(60)     # holds the message until killed
""")


def test_message_held_by_killed_consumer_is_redelivered(qdir, name):
    with pmq.Queue.create(name, slots=16, payload=64) as q:
        q.send(b"survives a crash")
        q.send(b"second")
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, name], stdout=subprocess.PIPE, text=True)
        try:
            line = holder.stdout.readline().split(" ", 1)
            assert line[1].strip() == "survives a crash", line
            held_ticket = int(line[0])
            st = q.stats()
            assert st.in_flight == 1 and st.attachments == 2
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait()
            holder.stdout.close()
        assert holder.returncode == -signal.SIGKILL
        assert q.recover() == 1          # the dead consumer's attachment, proven by its token
        st = q.stats()
        assert st.in_flight == 0 and st.side_ready == 1 and st.attachments == 1
        m = q.recv(timeout=1)            # redeliveries come first
        assert (m.copy(), m.ticket, m.delivery_count) == (b"survives a crash", held_ticket, 2)
        m.ack()
        m = q.recv(timeout=1)
        assert (m.copy(), m.delivery_count) == (b"second", 1)
        m.ack()


def test_open_after_a_crash_recovers_when_nobody_is_attached(qdir, name):
    pmq.Queue.create(name, slots=16, payload=64).close()
    with pmq.Queue.open(name, producer=True) as p:
        p.send(b"orphan")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, name], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().split(" ", 1)[1].strip() == "orphan"
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    with pmq.Queue.open(name, consumer=True) as c:   # first opener runs recovery
        m = c.recv(timeout=1)
        assert (m.copy(), m.delivery_count) == (b"orphan", 2)
        m.ack()


def test_nack_dead_letter_goes_to_the_dlq(qdir, name):
    with pmq.Queue.create(name, slots=16, payload=64) as q:
        q.send(b"poison")
        q.send(b"fine")
        m = q.recv(timeout=1)
        assert m.copy() == b"poison"
        m.nack(dead_letter=True)
        st = q.stats()
        assert (st.dead_letters, st.dead_lettered, st.in_flight) == (1, 1, 0)
        ok = q.recv(timeout=1)
        assert ok.copy() == b"fine"       # the dead letter is not delivered again
        ok.ack()
        with pytest.raises(pmq.Empty):
            q.recv(timeout=0)
        with pmq.Queue.open(name + ".dlq", consumer=True) as dlq:
            d = dlq.recv(timeout=1)
            assert d.copy() == b"poison"
            d.ack()
        assert q.stats().dead_letters == 0


def test_nack_requeue_until_max_deliveries_dead_letters(qdir, name):
    with pmq.Queue.create(name, slots=16, payload=64, max_deliveries=3) as q:
        q.send(b"retry me")
        counts = []
        for _ in range(3):
            m = q.recv(timeout=1)
            counts.append(m.delivery_count)
            m.nack()
        assert counts == [1, 2, 3]
        with pytest.raises(pmq.Empty):
            q.recv(timeout=0)
        st = q.stats()
        assert st.dead_letters == 1 and st.redelivered == 2


def test_dlq_replay_makes_dead_letters_deliverable(qdir, name):
    with pmq.Queue.create(name, slots=16, payload=64) as q:
        q.send(b"back again")
        q.recv(timeout=1).nack(dead_letter=True)
        assert q.dlq_replay() == 1
        m = q.recv(timeout=1)
        assert m.copy() == b"back again"
        m.ack()
        assert q.stats().dead_letters == 0
