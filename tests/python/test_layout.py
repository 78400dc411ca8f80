"""The binding's cdef declares the C structs by hand (cffi ABI mode): every
size and field offset must equal what the C compiler makes of pmq.h."""
import subprocess

from pmq import _ffi as ffi


def test_struct_layout_matches_the_c_header(probe):
    out = subprocess.run([probe, "layout"], capture_output=True, text=True, check=True).stdout
    checked = 0
    for line in out.splitlines():
        what, kind, value = line.split()
        if kind == "size":
            assert ffi.sizeof("struct " + what) == int(value), what
        else:
            struct, field = what.split(".")
            assert ffi.offsetof("struct " + struct, field) == int(value), what
        checked += 1
    assert checked > 40
