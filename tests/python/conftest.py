"""Fixtures of the binding's tests. Each test gets a queue directory of its
own ($PMQ_DIR points at it, as the binding's users set it) and a unique name."""
import importlib.util
import os
import subprocess
import sys

import pytest

# Run straight from a checkout (`pytest tests/python`), the binding is the
# checkout's python/ unless one is installed (run_pytest.sh sets PYTHONPATH).
if importlib.util.find_spec("pmq") is None:
    _SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    sys.path.insert(0, _SRC)
    os.environ["PYTHONPATH"] = _SRC + os.pathsep * bool(os.environ.get("PYTHONPATH")) + \
        os.environ.get("PYTHONPATH", "")   # for the tests' child interpreters


def _tool(var):
    path = os.environ.get(var)
    return path if path and os.access(path, os.X_OK) else None


@pytest.fixture
def qdir(tmp_path, monkeypatch):
    d = tmp_path / "q"
    d.mkdir(mode=0o700)
    monkeypatch.setenv("PMQ_DIR", str(d))
    return d


@pytest.fixture
def name(request):
    return "t_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")[:60]


@pytest.fixture
def probe():
    p = _tool("PMQ_PY_PROBE")
    if not p:
        pytest.skip("PMQ_PY_PROBE (the C probe from the build) not set: run through ctest")
    return p


@pytest.fixture
def pmqctl():
    p = _tool("PMQCTL")
    if not p:
        pytest.skip("PMQCTL not set (daemon not built, or not run through ctest)")
    return p


def run_python(code, env=None, **kw):
    """Run `code` in a fresh interpreter that imports the same binding."""
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, **kw)
