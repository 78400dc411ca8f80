"""`pip install ./python` into a venv that sees Debian's python3-cffi, with no
package index, then the issue's smallest program as written with PMQ_DIR set."""
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

SMALLEST = textwrap.dedent("""
    import pmq
    q = pmq.Queue.create("py", slots=16, payload=64)
    q.send(b"hello")
    m = q.recv(timeout=1.0)          # seconds
    assert bytes(m.data) == b"hello" and m.delivery_count == 1
    m.ack()
""")


def test_pip_install_into_venv_then_smallest_program(tmp_path, qdir):
    src = os.environ.get("PMQ_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
    venv = tmp_path / "venv"
    r = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot make a venv with pip (python3-venv missing?): {r.stderr.strip()[-200:]}")
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PMQ_DIR=str(qdir))
    import pmq
    if os.path.sep in pmq.library:
        env.setdefault("PMQ_LIBRARY", pmq.library)   # the library this run tests, wherever it was found
    # the command verbatim: works offline because the build backend needs nothing
    r = subprocess.run([py, "-m", "pip", "install", os.path.join(src, "python")], env=env,
                       capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    r = subprocess.run([py, "-c", "import pmq; print(pmq.__file__)"], env=env, capture_output=True,
                       text=True, cwd=tmp_path)
    assert r.returncode == 0 and str(venv) in r.stdout, r.stdout + r.stderr   # the installed copy
    r = subprocess.run([py, "-c", SMALLEST], env=env, capture_output=True, text=True, cwd=tmp_path,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert (qdir / "py.pmq").exists()


def test_installed_library_found_by_the_system_loader(tmp_path, qdir):
    """Without PMQ_LIBRARY and outside a checkout, the binding dlopens libpmq.so.1
    by name: after `cmake --install`, the loader's path finds it."""
    lib = os.environ.get("PMQ_LIBRARY")
    if not lib:
        pytest.skip("PMQ_LIBRARY (the build's library) not set: run through ctest")
    build = os.path.dirname(os.path.dirname(os.path.realpath(lib)))
    prefix = tmp_path / "prefix"
    r = subprocess.run(["cmake", "--install", build, "--prefix", str(prefix)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout[-1000:] + r.stderr[-1000:]
    found = sorted(prefix.rglob("libpmq.so.1"))
    assert found, "cmake --install put no libpmq.so.1 under the prefix"
    src = os.environ.get("PMQ_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
    pkg = tmp_path / "site"
    shutil.copytree(os.path.join(src, "python", "pmq"), pkg / "pmq")   # not in a checkout any more
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PMQ_LIBRARY", "PMQ_BUILD_DIR")}
    env.update(PYTHONPATH=str(pkg), LD_LIBRARY_PATH=str(found[0].parent), PMQ_DIR=str(qdir))
    r = subprocess.run([sys.executable, "-c", "import pmq; print(pmq.library)\n" + SMALLEST], env=env,
                       capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "libpmq.so.1"
    env.pop("LD_LIBRARY_PATH")
    if not any(os.path.exists(os.path.join(d, "libpmq.so.1")) for d in ("/usr/lib", "/usr/local/lib",
                                                                       "/usr/lib/x86_64-linux-gnu")):
        r = subprocess.run([sys.executable, "-c", "import pmq"], env=env, capture_output=True, text=True)
        assert r.returncode != 0 and "PMQ_LIBRARY" in r.stderr   # says what to do
