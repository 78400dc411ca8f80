"""pmqd's Prometheus /metrics: scraped with curl, parsed with
prometheus_client's text parser (Debian python3-prometheus-client); values
equal `pmqctl stat --json`; other paths 404; concurrent scrapes under load."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request

import pytest

import pmq

parser = pytest.importorskip("prometheus_client.parser",
                             reason="python3-prometheus-client not installed (apt-get install python3-prometheus-client)")

STAT_FIELDS = {  # pmqctl stat --json key -> metric sample name
    "depth": "pmq_queue_depth", "in_flight": "pmq_queue_in_flight",
    "side_ready": "pmq_queue_redeliveries_waiting", "dead_letters": "pmq_queue_dead_letters",
    "sent": "pmq_queue_sent_total", "received": "pmq_queue_received_total",
    "redelivered": "pmq_queue_redelivered_total", "dead_lettered": "pmq_queue_dead_lettered_total",
    "aborted": "pmq_queue_aborted_total", "slot_count": "pmq_queue_slots",
    "max_payload": "pmq_queue_max_payload_bytes",
}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pmqd:
    def __init__(self, exe, qdir, *extra, logname="pmqd.log"):
        self.qdir = qdir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(qdir.parent / logname, "w+")
        self.proc = subprocess.Popen([exe, "--dir", str(qdir), "--metrics-listen", f"127.0.0.1:{self.port}",
                                      "--scan-ms", "100", "--probe-ms", "50", *extra],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.get("/metrics")
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("pmqd did not serve /metrics: " + self.logtext())
                time.sleep(0.05)

    def logtext(self):
        self.log.seek(0)
        return self.log.read()

    def get(self, path, method="GET"):
        req = urllib.request.Request(self.url + path, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers.get("Content-Type"), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read().decode()

    def stop(self):
        """SIGTERM; asserts a clean exit (0, no sanitizer report in the log)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            text = self.logtext()
            self.log.close()
        assert self.proc.returncode == 0 and "Sanitizer" not in text, text[-3000:]


def pmqd_exe():
    exe = os.environ.get("PMQD")
    if not exe or not os.access(exe, os.X_OK):
        pytest.skip("PMQD not set (daemon not built, or not run through ctest)")
    r = subprocess.run([exe, "--help"], capture_output=True, text=True)
    if "metrics-listen" not in r.stdout:
        pytest.skip("this pmqd has no --metrics-listen")
    return exe


@pytest.fixture
def pmqd(qdir):
    d = Pmqd(pmqd_exe(), qdir)
    yield d
    d.stop()


def curl_metrics(d):
    if not shutil.which("curl"):
        pytest.skip("curl not installed (apt-get install curl)")
    r = subprocess.run(["curl", "-sS", "--fail", "--max-time", "10", d.url + "/metrics"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def samples(text):
    """{(sample name, frozenset(labels)): value}, and the families by name."""
    fams = list(parser.text_string_to_metric_families(text))
    out = {}
    for f in fams:
        assert f.documentation, f"{f.name} has no HELP"
        assert f.type in ("gauge", "counter", "histogram"), f"{f.name}: TYPE {f.type}"
        for s in f.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate sample {key}"
            out[key] = s.value
    return out, {f.name: f for f in fams}


def q_value(vals, sample, queue, **labels):
    return vals[(sample, frozenset(dict(queue=queue, **labels).items()))]


def wait_for(pred, what, timeout=10):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_metrics_match_pmqctl_stat(pmqd, qdir, pmqctl):
    with pmq.Queue.create("orders", slots=64, payload=128) as q:
        for i in range(9):
            q.send(b"order %d" % i)
        q.recv(timeout=1).ack()
        q.recv(timeout=1).nack()                      # a redelivery waiting
        q.recv(timeout=1).nack(dead_letter=True)      # a dead letter
        held = q.recv(timeout=1)                      # one in flight (a redelivery first)
        wait_for(lambda: ("orders" in pmqd.get("/metrics")[2]), "pmqd to watch the queue")
        text = curl_metrics(pmqd)
        attached = q.stats().attachments              # ours and pmqd's observer
        stat = json.loads(subprocess.run([pmqctl, "--dir", str(qdir), "stat", "orders", "--json",
                                          "--interval", "0"],
                                         capture_output=True, text=True, check=True).stdout)
        vals, fams = samples(text)
        for key, sample in STAT_FIELDS.items():
            assert q_value(vals, sample, "orders") == stat[key], (key, sample)
        assert stat["in_flight"] == 1 and stat["dead_letters"] == 1 and stat["sent"] == 9
        assert q_value(vals, "pmq_queue_attachments", "orders") == attached == 2
        assert vals[("pmqd_queues", frozenset())] == 1
        # names as Prometheus wants them: counters end in _total, the histogram in _seconds
        for name, f in fams.items():
            if f.type == "counter":
                assert all(s.name.endswith("_total") for s in f.samples), name
        assert fams["pmq_queue_recovery_duration_seconds"].type == "histogram"
        held.ack()


def test_bad_path_is_404_and_other_methods_405(pmqd):
    status, ctype, body = pmqd.get("/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    for path in ("/", "/metric", "/metrics/x", "/favicon.ico"):
        assert pmqd.get(path)[0] == 404, path
    assert pmqd.get("/metrics", method="POST")[0] == 405
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", pmqd.url + "/nope"],
                       capture_output=True, text=True) if shutil.which("curl") else None
    if r:
        assert r.stdout == "404"


HOLDER = textwrap.dedent("""
    import sys, time, pmq
    q = pmq.Queue.open(sys.argv[1], consumer=True)
    m = q.recv(timeout=5)
    print("held", flush=True)
    time.sleep(60)
""")


def test_recovery_counted_with_latency(pmqd, qdir):
    with pmq.Queue.create("jobs", slots=16, payload=64) as q:
        q.send(b"job")
        wait_for(lambda: 'pmq_queue_depth{queue="jobs"}' in pmqd.get("/metrics")[2], "pmqd to watch jobs")
        h = subprocess.Popen([sys.executable, "-c", HOLDER, "jobs"], stdout=subprocess.PIPE, text=True)
        try:
            assert h.stdout.readline().strip() == "held"
            wait_for(lambda: samples(pmqd.get("/metrics")[2])[0].get(
                ("pmq_queue_in_flight", frozenset({("queue", "jobs")}))) == 1, "the held message in metrics")
        finally:
            h.kill()
            h.wait()
            h.stdout.close()

        def recovered():
            vals, _ = samples(pmqd.get("/metrics")[2])
            return q_value(vals, "pmq_queue_recoveries_total", "jobs") >= 1
        wait_for(recovered, "pmqd to recover the killed consumer")
        vals, _ = samples(curl_metrics(pmqd))
        assert q_value(vals, "pmq_queue_recoveries_total", "jobs") == 1
        assert q_value(vals, "pmq_queue_recovered_attachments_total", "jobs") == 1
        assert q_value(vals, "pmq_queue_redelivered_total", "jobs") == 1
        assert q_value(vals, "pmq_queue_recovery_duration_seconds_count", "jobs") == 1
        assert 0 < q_value(vals, "pmq_queue_recovery_duration_seconds_sum", "jobs") < 10
        assert q_value(vals, "pmq_queue_recovery_duration_seconds_bucket", "jobs", le="+Inf") == 1
        assert q_value(vals, "pmq_queue_recovery_duration_seconds_bucket", "jobs", le="10") == 1
        m = q.recv(timeout=1)
        assert m.delivery_count == 2
        m.ack()


def test_concurrent_scrapes_under_load(pmqd, qdir, probe):
    n_msgs, scrapers, per_scraper = 100000, 6, 20
    with pmq.Queue.create("load", slots=1024, payload=64) as q:
        wait_for(lambda: 'queue="load"' in pmqd.get("/metrics")[2], "pmqd to watch load")
        prod = subprocess.Popen([probe, "send", "load", str(n_msgs)], stderr=subprocess.PIPE, text=True)
        errors, seen = [], []

        def scrape():
            last = -1
            for _ in range(per_scraper):
                status, _, body = pmqd.get("/metrics")
                if status != 200:
                    errors.append(status)
                    return
                vals, _ = samples(body)
                sent = q_value(vals, "pmq_queue_sent_total", "load")
                if sent < last:
                    errors.append(f"sent_total went back from {last} to {sent}")
                last = sent
                seen.append(sent)
        threads = [threading.Thread(target=scrape) for _ in range(scrapers)]
        for t in threads:
            t.start()
        got = 0
        while got < n_msgs:
            m = q.recv(timeout=10)
            m.ack()
            got += 1
        for t in threads:
            t.join(timeout=60)
        _, err = prod.communicate(timeout=30)
        assert prod.returncode == 0, err
        assert not errors, errors
        assert len(seen) == scrapers * per_scraper
        vals, _ = samples(pmqd.get("/metrics")[2])
        assert q_value(vals, "pmq_queue_sent_total", "load") == n_msgs
        assert q_value(vals, "pmq_queue_received_total", "load") == n_msgs
        assert q_value(vals, "pmq_queue_depth", "load") == 0


def test_metrics_off_by_default(qdir):
    exe = os.environ.get("PMQD")
    if not exe:
        pytest.skip("PMQD not set")
    port = _free_port()
    p = subprocess.Popen([exe, "--dir", str(qdir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: (qdir / ".pmqd.sock").exists(), "pmqd to start")
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
    finally:
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=10)
    assert "metrics: serving" not in out


def test_bad_metrics_listen_is_a_usage_error(qdir):
    exe = os.environ.get("PMQD")
    if not exe:
        pytest.skip("PMQD not set")
    for bad in ("9187", "127.0.0.1:", "127.0.0.1:70000", "nohost:9187"):
        r = subprocess.run([exe, "--dir", str(qdir), "--metrics-listen", bad], capture_output=True, text=True,
                           timeout=10)
        assert r.returncode == 2, (bad, r.stderr)
        assert "--metrics-listen" in r.stderr


def _documented_series():
    import re
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    with open(os.path.join(src, "docs", "pmqd.md"), encoding="utf-8") as f:
        doc = f.read()
    return set(re.findall(r"^\| `(pmqd?_[a-z_]+)", doc, re.M)), src


def test_docs_list_every_exported_series(pmqd):
    with pmq.Queue.create("documented", slots=16, payload=64):
        wait_for(lambda: 'queue="documented"' in pmqd.get("/metrics")[2], "pmqd to watch the queue")
        _, fams = samples(pmqd.get("/metrics")[2])
    documented, _ = _documented_series()
    exported = set()
    for f in fams.values():
        exported.add(f.name + ("_total" if f.type == "counter" else ""))
    assert exported - documented == set(), "exported but not in docs/pmqd.md"
    replication_only = {"pmq_queue_replication_lag_entries", "pmq_queue_replication_lag_seconds",
                        "pmq_queue_replication_in_sync", "pmq_queue_replication_role",
                        "pmq_queue_replication_fenced", "pmq_queue_replication_epoch",
                        # with an etcd witness only (tests/witness checks them)
                        "pmq_witness_state", "pmq_witness_lease_remaining_seconds",
                        "pmq_witness_last_renewal_age_seconds",
                        # for queues with consumer groups only (tests/pmqctl/test_pmqctl_groups.sh checks them)
                        "pmq_group_lag", "pmq_group_in_flight", "pmq_group_redeliveries_waiting",
                        "pmq_group_dead_letters", "pmq_group_redelivered_total", "pmq_group_dead_lettered_total",
                        "pmq_group_lost_total", "pmq_group_consumers", "pmq_group_lossy",
                        "pmq_group_lease_seconds"}
    assert documented - exported == replication_only, "documented but not exported (without replication or groups)"


def test_grafana_dashboard_uses_documented_series():
    import re
    documented, src = _documented_series()
    with open(os.path.join(src, "docs", "grafana", "pmq.json"), encoding="utf-8") as f:
        dash = json.load(f)
    used = set()
    for p in dash["panels"]:
        for t in p.get("targets", []):
            used |= set(re.findall(r"\b(pmqd?_[a-z_]+?)(?:_bucket|_sum|_count)?\b(?=[{\[ )]|$)", t["expr"]))
    assert used, "no series in the dashboard"
    assert used - documented == set(), "dashboard queries series pmqd does not export"
    assert {"pmq_queue_depth", "pmq_queue_recovery_duration_seconds", "pmq_queue_replication_lag_seconds"} <= used


def test_replication_lag_series_on_a_replicating_primary(tmp_path, monkeypatch):
    exe = pmqd_exe()
    if "--replicate-to" not in subprocess.run([exe, "--help"], capture_output=True, text=True).stdout:
        pytest.skip("this pmqd has no replication")
    primary, standby = tmp_path / "primary", tmp_path / "standby"
    primary.mkdir(mode=0o700)
    standby.mkdir(mode=0o700)
    key = tmp_path / "key"
    key.write_bytes(os.urandom(32).hex().encode())
    key.chmod(0o600)
    sport = _free_port()
    sb = Pmqd(exe, standby, "--standby", "--listen", f"127.0.0.1:{sport}", "--repl-key-file", str(key),
              logname="standby.log")
    monkeypatch.setenv("PMQ_DIR", str(primary))
    q = pmq.Queue.create("mirrored", slots=64, payload=64)
    pr = Pmqd(exe, primary, "--replicate-to", f"127.0.0.1:{sport}", "--repl-key-file", str(key),
              "--repl-timeout-ms", "300", logname="primary.log")
    try:
        for i in range(10):
            q.send(b"m%d" % i)

        def metric(name):
            vals, _ = samples(pr.get("/metrics")[2])
            return vals.get((name, frozenset({("queue", "mirrored")})))
        wait_for(lambda: metric("pmq_queue_replication_lag_entries") == 0 and metric("pmq_queue_sent_total") == 10,
                 "the standby to confirm everything: " + pr.logtext()[-500:])
        # a slow start may have degraded it once; caught up, it is back in sync
        wait_for(lambda: metric("pmq_queue_replication_in_sync") == 1, "the queue in sync")
        assert metric("pmq_queue_replication_lag_seconds") == 0
        vals, _ = samples(pr.get("/metrics")[2])
        assert q_value(vals, "pmq_queue_replication_role", "mirrored", role="primary") == 1
        assert q_value(vals, "pmq_queue_replication_role", "mirrored", role="standby") == 0
        assert q_value(vals, "pmq_queue_replication_fenced", "mirrored") == 0
        wait_for(lambda: 'queue="mirrored"' in sb.get("/metrics")[2], "the standby's pmqd to watch the mirror")
        sb_vals, _ = samples(sb.get("/metrics")[2])       # a mirror has no lag of its own
        assert ("pmq_queue_replication_lag_entries", frozenset({("queue", "mirrored")})) not in sb_vals
        assert q_value(sb_vals, "pmq_queue_replication_role", "mirrored", role="standby") == 1
        assert q_value(sb_vals, "pmq_queue_replication_epoch", "mirrored") == \
            q_value(vals, "pmq_queue_replication_epoch", "mirrored")
        assert q_value(sb_vals, "pmq_queue_sent_total", "mirrored") == 10   # the mirror holds all ten

        sb.proc.send_signal(signal.SIGSTOP)               # the standby stops confirming

        def stopped():
            with open(f"/proc/{sb.proc.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "T"
        try:
            wait_for(stopped, "the standby to stop")
            for i in range(5):
                q.send(b"late %d" % i)
            time.sleep(0.05)
            wait_for(lambda: metric("pmq_queue_replication_in_sync") == 0, "the queue to be marked degraded")
            assert metric("pmq_queue_replication_lag_entries") == 5
            assert metric("pmq_queue_replication_lag_seconds") > 0.05
        finally:
            sb.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: metric("pmq_queue_replication_lag_entries") == 0, "the standby to catch up", timeout=20)
        wait_for(lambda: metric("pmq_queue_replication_in_sync") == 1, "the queue back in sync", timeout=20)
    finally:
        q.close()
        try:
            pr.stop()
        finally:
            sb.stop()
