"""Interop with C: a C producer (the probe, and pmqctl) sending to a Python
consumer, and Python sending to pmqctl's C consumer."""
import os
import struct
import subprocess

import pmq


def test_c_producer_binary_messages_reach_python(qdir, name, probe):
    with pmq.Queue.create(name, slots=64, payload=64) as q:
        n = 40   # fewer than the slots: the C producer never waits
        r = subprocess.run([probe, "send", name, str(n)], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        for i in range(n):
            with q.recv(timeout=1) as m:
                text = b"c-producer %d" % i
                assert m.data[:len(text)] == text
                (seq,) = struct.unpack_from("=I", m.data, len(text) + 2)   # zero-copy decode
                assert m.data[len(text)] == 0 and m.data[len(text) + 1] == 0xFF and seq == i
                assert m.delivery_count == 1
        st = q.stats()
        assert (st.sent, st.received, st.in_flight) == (n, n, 0)


def test_c_producer_blocks_until_python_drains(qdir, name, probe):
    """More messages than slots: the C side must wait for the Python consumer."""
    with pmq.Queue.create(name, slots=8, payload=64) as q:
        n = 100
        p = subprocess.Popen([probe, "send", name, str(n)], stderr=subprocess.PIPE, text=True)
        try:
            seqs = []
            for _ in range(n):
                with q.recv(timeout=10) as m:
                    seqs.append(struct.unpack_from("=I", m.data, len(m) - 4)[0])
        finally:
            _, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        assert seqs == list(range(n))


def test_pmqctl_send_to_python_and_python_to_pmqctl_recv(qdir, name, pmqctl):
    env = dict(os.environ, PMQ_DIR=str(qdir))
    with pmq.Queue.create(name, slots=16, payload=64) as q:
        r = subprocess.run([pmqctl, "send", name, "from C", "second"], env=env, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        got = []
        for _ in range(2):
            with q.recv(timeout=1) as m:
                got.append(m.copy())
        assert got == [b"from C", b"second"]
        q.send(b"from python")
        r = subprocess.run([pmqctl, "recv", name, "--json"], env=env, capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        import json
        got = json.loads(r.stdout)["messages"][0]  # one document (docs/pmqd.md, JSON)
        assert got["text"] == "from python" and got["delivery_count"] == 1
        assert q.stats().received == 3 and q.stats().in_flight == 0
