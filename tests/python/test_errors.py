"""Errors: libpmq failures as pmq.Error with errno and pmq_errmsg(); bad
names; a message or queue used after it is settled or closed."""
import errno

import pytest

import pmq


@pytest.mark.parametrize("bad", ["", "a/b", ".hidden", "x" * (pmq.NAME_MAX + 1), "sp ace"])
def test_bad_names_raise_einval_naming_the_problem(qdir, bad):
    with pytest.raises(pmq.Error) as ei:
        pmq.Queue.create(bad, slots=16, payload=64)
    assert ei.value.errno == errno.EINVAL
    assert ei.value.detail, "pmq_errmsg() detail missing"
    assert "name" in ei.value.detail
    assert "[EINVAL]" in str(ei.value) and ei.value.detail in str(ei.value)
    with pytest.raises(pmq.Error) as ei:
        pmq.Queue.open(bad)
    assert ei.value.errno == errno.EINVAL
    assert list(qdir.iterdir()) == []


def test_name_must_be_str(qdir):
    with pytest.raises(TypeError):
        pmq.Queue.create(b"bytes-name")


def test_missing_queue_is_queue_not_found(qdir):
    with pytest.raises(pmq.QueueNotFound) as ei:
        pmq.Queue.open("nope")
    assert ei.value.errno == errno.ENOENT
    assert isinstance(ei.value, OSError)


def test_existing_queue_is_queue_exists(qdir, name):
    with pmq.Queue.create(name, slots=16, payload=64):
        with pytest.raises(pmq.QueueExists) as ei:
            pmq.Queue.create(name, slots=16, payload=64)
        assert ei.value.errno == errno.EEXIST and name in ei.value.detail


def test_bad_config_names_the_field(qdir, name):
    with pytest.raises(pmq.Error) as ei:
        pmq.Queue.create(name, slots=12, payload=64)  # not a power of two
    assert ei.value.errno == errno.EINVAL and "slot" in ei.value.detail
    with pytest.raises(ValueError):
        pmq.Queue.create(name, durability="sometimes")


def test_oversized_message_is_emsgsize(qdir, name):
    with pmq.Queue.create(name, slots=16, payload=8) as q:
        with pytest.raises(pmq.Error) as ei:
            q.send(b"123456789")
        assert ei.value.errno == errno.EMSGSIZE
        assert q.stats().sent == 0


def test_message_used_after_ack_raises(qdir, name):
    with pmq.Queue.create(name, slots=16, payload=64) as q:
        q.send(b"once")
        m = q.recv(timeout=1)
        view = m.data
        assert view.tobytes() == b"once"
        m.ack()
        with pytest.raises(ValueError):
            view[0]                      # the view handed out before
        with pytest.raises(ValueError):
            bytes(view)
        with pytest.raises(pmq.SettledError):
            m.data                       # asking again
        with pytest.raises(pmq.SettledError):
            m.copy()
        with pytest.raises(pmq.SettledError):
            m.ack()                      # a second ack would free someone else's slot
        with pytest.raises(pmq.SettledError):
            m.nack()
        with pytest.raises(pmq.SettledError):
            with m:
                pass
        assert m.ticket >= 0 and m.delivery_count == 1   # the metadata stays readable
        assert q.stats().received == 1 and q.stats().in_flight == 0


def test_message_used_after_nack_raises(qdir, name):
    with pmq.Queue.create(name, slots=16, payload=64) as q:
        q.send(b"x")
        m = q.recv(timeout=1)
        view = m.data
        m.nack()
        with pytest.raises(ValueError):
            view.tobytes()
        with pytest.raises(pmq.SettledError):
            m.ack()
        q.recv(timeout=1).ack()


def test_queue_used_after_close_raises(qdir, name):
    q = pmq.Queue.create(name, slots=16, payload=64)
    q.close()
    q.close()  # harmless
    for call in (lambda: q.send(b"x"), lambda: q.recv(timeout=0), q.stats):
        with pytest.raises(pmq.ClosedError):
            call()


def test_empty_nonblocking_and_timeout(qdir, name):
    import time
    with pmq.Queue.create(name, slots=16, payload=64) as q:
        with pytest.raises(pmq.Empty) as ei:
            q.recv(timeout=0)
        assert ei.value.errno == errno.EAGAIN
        t = time.monotonic()
        with pytest.raises(pmq.Empty) as ei:
            q.recv(timeout=0.05)
        assert ei.value.errno == errno.ETIMEDOUT
        assert time.monotonic() - t >= 0.04


def test_pmq_library_env_pointing_nowhere_is_a_clear_import_error(tmp_path):
    import os
    from conftest import run_python
    env = dict(os.environ, PMQ_LIBRARY=str(tmp_path / "missing.so"))
    r = run_python("import pmq", env=env)
    assert r.returncode != 0
    assert "PMQ_LIBRARY" in r.stderr and "missing.so" in r.stderr
