"""A PEP 517 build backend for the pmq binding, standard library only.

The binding is pure Python, so a wheel is a zip of the pmq/ package plus its
metadata. Keeping the backend in-tree with `requires = []` means pip's build
isolation installs nothing, and `pip install ./python` works on a machine
without a package index (docs/decisions.md, "Python binding").
"""
import base64
import hashlib
import io
import os
import tarfile
import zipfile

_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NAME = "pmq"
_TAG = "py3-none-any"


def _version():
    with open(os.path.join(_HERE, "pyproject.toml"), encoding="utf-8") as f:
        for line in f:
            key, _, value = line.partition("=")
            if key.strip() == "version":
                return value.strip().strip('"')
    raise RuntimeError("pyproject.toml has no version line")


def _metadata():
    with open(os.path.join(_HERE, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {_NAME}\n"
        f"Version: {_version()}\n"
        "Summary: Python binding of libpmq, a same-host shared-memory message queue\n"
        "Requires-Python: >=3.9\n"
        "Requires-Dist: cffi>=1.12\n"
        "Description-Content-Type: text/markdown\n\n" + readme
    )


def _package_files():
    root = os.path.join(_HERE, _NAME)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for fn in sorted(filenames):
            if fn.endswith(".py") or fn == "py.typed":
                full = os.path.join(dirpath, fn)
                yield full, os.path.relpath(full, _HERE).replace(os.sep, "/")


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def _write_wheel(wheel_directory, files):
    """files: list of (arcname, bytes). Adds dist-info and RECORD."""
    distinfo = f"{_NAME}-{_version()}.dist-info"
    files = list(files) + [
        (f"{distinfo}/METADATA", _metadata().encode()),
        (f"{distinfo}/WHEEL", (
            "Wheel-Version: 1.0\nGenerator: pmq_build\n"
            f"Root-Is-Purelib: true\nTag: {_TAG}\n").encode()),
    ]
    record = [_record_line(a, d) for a, d in files] + [f"{distinfo}/RECORD,,"]
    files.append((f"{distinfo}/RECORD", ("\n".join(record) + "\n").encode()))
    name = f"{_NAME}-{_version()}-{_TAG}.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for arcname, data in files:
            z.writestr(arcname, data)
    return name


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = []
    for full, arcname in _package_files():
        with open(full, "rb") as f:
            files.append((arcname, f.read()))
    return _write_wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """PEP 660: a .pth file pointing at this source tree."""
    return _write_wheel(wheel_directory, [(f"_{_NAME}_editable.pth", (_HERE + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    base = f"{_NAME}-{_version()}"
    name = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for rel in ("pyproject.toml", "README.md", "_backend/pmq_build.py"):
            t.add(os.path.join(_HERE, rel), arcname=f"{base}/{rel}")
        for full, arcname in _package_files():
            t.add(full, arcname=f"{base}/{arcname}")
        pkg_info = _metadata().encode()
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        info.size = len(pkg_info)
        t.addfile(info, io.BytesIO(pkg_info))
    return name
