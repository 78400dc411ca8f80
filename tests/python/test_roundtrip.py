"""Send and receive through the binding: the issue's smallest program, the
message's fields, zero-copy views, context managers, stats."""
import time

import pmq


def test_smallest_program_as_written(qdir):
    q = pmq.Queue.create("py", slots=16, payload=64)
    q.send(b"hello")
    m = q.recv(timeout=1.0)          # seconds
    assert bytes(m.data) == b"hello" and m.delivery_count == 1
    m.ack()
    assert (qdir / "py.pmq").exists()
    st = q.stats()
    assert (st.sent, st.received, st.in_flight, st.depth) == (1, 1, 0, 0)
    q.close()


def test_fields_order_and_bytes_like_inputs(qdir, name):
    with pmq.Queue.create(name, slots=16, payload=64) as q:
        before = time.time()
        payloads = [b"a", bytearray(b"\x00\xffbinary\x00"), memoryview(b"xyz123")[2:], b""]
        for p in payloads:
            q.send(p)
        got = []
        for _ in payloads:
            with q.recv(timeout=1) as m:
                assert isinstance(m.data, memoryview) and m.data.readonly
                assert len(m) == len(m.data)
                assert before - 1 <= m.timestamp <= time.time() + 1
                assert m.timestamp == m.timestamp_ns / 1e9
                got.append((m.ticket, m.copy()))
        assert [g[1] for g in got] == [bytes(p) for p in payloads]
        tickets = [g[0] for g in got]
        assert tickets == sorted(tickets) and len(set(tickets)) == len(tickets)


def test_data_is_zero_copy(qdir, name):
    """The view points into the mapping: a peek copy and the view agree, and
    the same view object is returned each time (no copy per access)."""
    with pmq.Queue.create(name, slots=16, payload=64) as q:
        q.send(b"zero-copy")
        m = q.recv(timeout=1)
        assert m.data is m.data
        assert m.data.obj is not None and not isinstance(m.data.obj, bytes)
        assert m.data.tobytes() == b"zero-copy"
        m.ack()


def test_with_message_acks_on_normal_exit(qdir, name):
    with pmq.Queue.create(name, slots=16, payload=64) as q:
        q.send(b"x")
        with q.recv(timeout=1) as m:
            assert not m.settled
        assert m.settled
        st = q.stats()
        assert st.in_flight == 0 and st.redelivered == 0
        try:
            q.recv(timeout=0)
            raise AssertionError("acked message came back")
        except pmq.Empty:
            pass


def test_exception_inside_with_message_nacks(qdir, name):
    with pmq.Queue.create(name, slots=16, payload=64) as q:
        q.send(b"boom")
        try:
            with q.recv(timeout=1) as m:
                raise RuntimeError("processing failed")
        except RuntimeError:
            pass
        assert m.settled
        again = q.recv(timeout=1)
        assert bytes(again.data) == b"boom" and again.delivery_count == 2
        assert again.ticket == m.ticket
        again.ack()
        assert q.stats().redelivered == 1


def test_queue_context_manager_closes_and_requeues_held(qdir, name):
    with pmq.Queue.create(name, slots=16, payload=64) as q:
        q.send(b"held at close")
        m = q.recv(timeout=1)
        view = m.data
    assert q.closed and m.settled
    try:
        view[0]
        raise AssertionError("view usable after close")
    except ValueError:
        pass
    with pmq.Queue.open(name, consumer=True) as c:
        m2 = c.recv(timeout=1)
        assert bytes(m2.data) == b"held at close" and m2.delivery_count == 2
        m2.ack()


def test_open_roles_and_observer(qdir, name):
    pmq.Queue.create(name, slots=16, payload=64).close()
    with pmq.Queue.open(name, producer=True) as p, pmq.Queue.open(name, consumer=True) as c, \
            pmq.Queue.open(name, producer=False, consumer=False) as obs:
        p.send(b"1")
        try:
            p.recv(timeout=0)
            raise AssertionError("producer-only handle received")
        except pmq.Error as e:
            assert e.errno == 1  # EPERM
        try:
            c.send(b"no")
            raise AssertionError("consumer-only handle sent")
        except pmq.Error as e:
            assert e.errno == 1
        assert obs.stats().depth == 1
        roles = sorted(a.role for a in obs.attachments())
        assert roles == [0, pmq.PRODUCER, pmq.CONSUMER]
        c.recv(timeout=1).ack()
        assert obs.stats().depth == 0


def test_stats_and_attachments_are_dataclasses(qdir, name):
    import dataclasses
    with pmq.Queue.create(name, slots=32, payload=128, max_deliveries=3) as q:
        q.send(b"1")
        q.send(b"2")
        m = q.recv(timeout=1)
        st = q.stats()
        assert dataclasses.is_dataclass(st)
        assert (st.depth, st.in_flight, st.sent, st.slot_count, st.max_payload) == (1, 1, 2, 32, 128)
        (a,) = q.attachments()
        assert dataclasses.is_dataclass(a) and a.alive and a.in_flight == 1
        assert a.is_producer and a.is_consumer
        import os
        assert a.pid == os.getpid()
        cfg = q.config()
        assert (cfg.slot_count, cfg.max_deliveries, cfg.mode) == (32, 3, 0o600)
        m.ack()


def test_full_ring_nonblocking_send_raises_full(qdir, name):
    with pmq.Queue.create(name, slots=2, payload=8) as q:
        q.send(b"1")
        q.send(b"2")
        try:
            q.send(b"3", nonblock=True)
            raise AssertionError("third send into two slots went through")
        except pmq.Full as e:
            assert e.errno == 11


def test_peek_taps_without_claiming(qdir, name):
    with pmq.Queue.create(name, slots=16, payload=64) as q:
        for i in range(3):
            q.send(b"m%d" % i)
        seen = [(data, info.ticket) for _pos, data, info in q.peek()]
        assert [d for d, _ in seen] == [b"m0", b"m1", b"m2"]
        assert q.stats().depth == 3
        assert q.recv(timeout=1).copy() == b"m0"


def test_iteration_yields_messages(qdir, name):
    with pmq.Queue.create(name, slots=16, payload=64) as q:
        q.send(b"a")
        q.send(b"b")
        it = iter(q)
        got = []
        for _ in range(2):
            with next(it) as m:
                got.append(m.copy())
        assert got == [b"a", b"b"]


def test_blocking_recv_releases_the_gil(qdir, name):
    """A thread blocked in recv() lets another thread (own handle) send to it."""
    import threading
    pmq.Queue.create(name, slots=16, payload=64).close()
    got = []
    with pmq.Queue.open(name, consumer=True) as c, pmq.Queue.open(name, producer=True) as p:
        t = threading.Thread(target=lambda: got.append(c.recv(timeout=10).copy()))
        t.start()
        time.sleep(0.2)            # the consumer thread is inside pmq_recv_timeout now
        p.send(b"across threads")
        t.join(timeout=10)
        assert got == [b"across threads"]


def test_recv_without_timeout_is_interruptible(qdir, name):
    """Ctrl-C stops a worker blocked in recv() (it waits in slices)."""
    import signal
    import subprocess
    import sys
    pmq.Queue.create(name, slots=16, payload=64).close()
    code = ("import pmq, sys\n"
            f"q = pmq.Queue.open({name!r}, consumer=True)\n"
            "print('waiting', flush=True)\n"
            "try:\n    q.recv()\nexcept KeyboardInterrupt:\n    print('interrupted', flush=True)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "waiting"
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=5)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert out.strip() == "interrupted"


def test_unreferenced_queue_detaches_cleanly(qdir, name):
    import gc
    import warnings
    keeper = pmq.Queue.create(name, slots=16, payload=64)
    q = pmq.Queue.open(name, consumer=True)
    keeper.send(b"x")
    q.recv(timeout=1)              # held, then dropped with the queue
    assert keeper.stats().attachments == 2
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        del q
        gc.collect()
    assert any(issubclass(x.category, ResourceWarning) for x in w)
    st = keeper.stats()
    assert st.attachments == 1 and st.in_flight == 0 and st.side_ready == 1   # requeued by close
    keeper.close()


def test_dir_argument_and_unlink(qdir, tmp_path, name):
    other = tmp_path / "elsewhere"
    other.mkdir(mode=0o700)
    with pmq.Queue.create(name, slots=16, payload=64, dir=str(other)) as q:
        q.send(b"there")
        assert (other / f"{name}.pmq").exists() and not (qdir / f"{name}.pmq").exists()
        assert oct((other / f"{name}.pmq").stat().st_mode & 0o777) == oct(0o600)
        with pmq.Queue.open(name, consumer=True, dir=str(other)) as c:
            assert c.recv(timeout=1).copy() == b"there"
    pmq.unlink(name, dir=str(other))
    assert not (other / f"{name}.pmq").exists()
    try:
        pmq.Queue.open(name, dir=str(other))
        raise AssertionError("opened an unlinked queue")
    except pmq.QueueNotFound:
        pass
