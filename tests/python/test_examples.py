"""The examples run: new_task.py + worker.py (one task at a time, acked, a
killed worker's task redelivered), and the telemetry feed + reader."""
import os
import signal
import subprocess
import sys

import pmq

EX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python")


def run(args, qdir, **kw):
    env = dict(os.environ, PMQ_DIR=str(qdir))
    return subprocess.run([sys.executable, *args], cwd=EX, env=env, capture_output=True, text=True,
                          timeout=60, **kw)


def test_new_task_then_worker_processes_and_acks(qdir):
    for task in ("First task", "Second."):
        r = run(["new_task.py", task], qdir)
        assert r.returncode == 0 and f"Sent {task!r}" in r.stdout, r.stderr
    r = run(["worker.py", "--count", "2"], qdir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(" [x] Done") == 2
    assert "Received 'First task'" in r.stdout and "Received 'Second.'" in r.stdout
    with pmq.Queue.open("task_queue", producer=False, consumer=False) as q:
        st = q.stats()
        assert (st.sent, st.received, st.in_flight, st.depth) == (2, 2, 0, 0)
        assert q.config().consumer_quota == 1


def test_worker_killed_mid_task_loses_nothing(qdir):
    assert run(["new_task.py", "slow.."], qdir).returncode == 0
    env = dict(os.environ, PMQ_DIR=str(qdir))
    w = subprocess.Popen([sys.executable, "worker.py"], cwd=EX, env=env, stdout=subprocess.PIPE, text=True)
    try:
        for line in w.stdout:
            if "Received" in line:
                break
    finally:
        w.send_signal(signal.SIGKILL)
        w.wait()
        w.stdout.close()
    assert run(["new_task.py", "quick"], qdir).returncode == 0   # its open recovers the dead worker
    r = run(["worker.py", "--count", "2"], qdir)
    assert r.returncode == 0, r.stderr
    received = [line for line in r.stdout.splitlines() if "Received" in line]
    assert received == [" [x] Received 'slow..' (redelivery 1)", " [x] Received 'quick'"], r.stdout


def test_telemetry_feed_and_reader(qdir):
    r = run(["telemetry_feed.py", "tel", "--count", "400", "--sensors", "4"], qdir)
    assert r.returncode == 0, r.stderr
    r = run(["telemetry_reader.py", "tel", "--tap", "--count", "400"], qdir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("n=100 ") == 4, r.stdout
    r = run(["telemetry_reader.py", "tel", "--count", "400"], qdir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("n=100 ") == 4, r.stdout
    with pmq.Queue.open("tel", producer=False, consumer=False) as q:
        assert q.stats().depth == 0 and q.stats().received == 400
