"""joblib files: a pickle stream with each NumPy array's raw bytes written inside it.

joblib pickles a ``NumpyArrayWrapper`` (shape, dtype, alignment) and, right after the
wrapper's ``BUILD``, writes the array: a padding-length byte and padding (joblib 1.2
and later), then the bytes, or, for an object array, a nested pickle. An opcode
reader stops at those bytes. So this module reads the stream with
``pickletools.genops``, notes each wrapper's shape and dtype as they go by, steps over
the array bytes (scanning a nested pickle as a pickle of its own), and hands what is
left, the pickle exactly as joblib wrote it minus the arrays, to the pickle scanner.
The arrays are never read into memory.
"""

from __future__ import annotations

import io
import math
import pickletools
from typing import Any, BinaryIO

from .pickles import MAX_PICKLE_BYTES, scan_pickle
from .report import FileReport

WRAPPERS = frozenset({("joblib.numpy_pickle", "NumpyArrayWrapper")})
COMPRESSED = (b"\x78", b"ZF", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x04\x22\x4d\x18")
_STRINGS = frozenset(
    {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING"}
    | {"SHORT_BINSTRING"}
)
_INTS = frozenset({"BININT", "BININT1", "BININT2", "INT", "LONG1", "LONG4", "LONG"})


class _Wrapper:
    def __init__(self) -> None:
        self.shape: list[int] = []
        self.descr: str | None = None
        self.alignment: int | None = None
        self.expect: str | None = None  # the key whose value comes next
        self.seen_mmap = False
        self.in_shape = False


def looks_compressed(head: bytes) -> bool:
    return head.startswith(COMPRESSED)


def scan_joblib(f: BinaryIO, size: int, where: str = "") -> FileReport:
    """Scan a joblib file; see the module's docstring."""
    report = FileReport(kind="joblib")
    head = f.read(4)
    f.seek(0)
    if looks_compressed(head):
        report.add("error", "A compressed joblib file: its pickle was not read.", where)
        return report
    # Without arrays a joblib file is a plain pickle: one fast pass reads it. The
    # slower walk below (pickletools) runs only when the stream holds array wrappers.
    plain = scan_pickle(f, where, size=size)
    if not any((i.module, i.name) in WRAPPERS for i in plain.imports):
        plain.kind = "joblib"
        return plain
    f.seek(0)
    clean = io.BytesIO()
    try:
        nested = _strip_arrays(f, size, clean, where)
    except (ValueError, EOFError, TypeError) as e:
        report.add("unsafe", f"The joblib stream is truncated or corrupt: {e}", where)
        return report
    clean.seek(0)
    # fickling would call the wrapper's BUILD overtly malicious (a non-standard class
    # given state): picklescan and our policy rate what the stream imports.
    inner = scan_pickle(clean, where)
    report.imports.extend(inner.imports)
    report.findings.extend(inner.findings)
    for sub in nested:
        report.imports.extend(sub.imports)
        report.findings.extend(sub.findings)
    return report


def _strip_arrays(f: BinaryIO, size: int, clean: io.BytesIO, where: str) -> list[FileReport]:
    """Copy the pickle's opcodes to ``clean``, stepping over each array's bytes."""
    nested: list[FileReport] = []
    memo: dict[Any, Any] = {}
    strings: list[str] = []
    wrapper: _Wrapper | None = None
    dtype_call = False  # a numpy.dtype global was just pushed: its descr string is next
    descr: str | None = None  # ... and was read: the next REDUCE builds that dtype
    segment = f.tell()
    while True:
        restart = False
        last: tuple[str, Any] = ("", None)
        for op, arg, pos in pickletools.genops(f):
            name = op.name
            if clean.tell() + (pos or 0) - segment > MAX_PICKLE_BYTES:
                raise ValueError("the pickle part is over the scanner's limit")
            if name in _STRINGS:
                strings.append(str(arg))
                value: Any = str(arg)
            elif name in ("BINGET", "GET", "LONG_BINGET"):
                value = memo.get(arg)
                if isinstance(value, str):
                    strings.append(value)
                elif isinstance(value, tuple) and value[1:] in WRAPPERS:
                    wrapper = _Wrapper()  # the class again, from the memo
                elif value == ("global", "numpy", "dtype"):
                    dtype_call = True
                elif wrapper is not None and isinstance(value, tuple) and value[0] == "dtype":
                    wrapper.descr = value[1]  # the same dtype again, from the memo
            elif name == "REDUCE" and descr is not None:
                value, descr = ("dtype", descr), None  # numpy.dtype(descr, ...) built
                if wrapper is not None and wrapper.descr is None:
                    wrapper.descr = value[1]
            else:
                value = arg
            if dtype_call and name in _STRINGS:
                descr, dtype_call = value, False
            if name == "MEMOIZE":
                memo[len(memo)] = last[1]
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = last[1]
            if name in ("STACK_GLOBAL", "GLOBAL"):
                pair = tuple(str(arg).split(" ", 1)) if name == "GLOBAL" else tuple(strings[-2:])
                value = ("global", *pair)
                if pair in WRAPPERS:
                    wrapper = _Wrapper()
                elif pair == ("numpy", "dtype"):
                    dtype_call = True
            elif wrapper is not None:
                _note(wrapper, name, value)
                if name == "BUILD" and wrapper.seen_mmap:
                    end = (pos or 0) + 1
                    f.seek(segment)
                    clean.write(f.read(end - segment))
                    f.seek(end)
                    sub = _skip_array(f, size, wrapper, where)
                    if sub is not None:
                        nested.append(sub)
                    segment = f.tell()
                    wrapper = None
                    restart = True
                    break
            last = (name, value)
        if not restart:
            if f.read(1):  # another pickle follows (stacked): read it too
                f.seek(-1, 1)
                continue
            end = f.tell()
            f.seek(segment)
            clean.write(f.read(end - segment))
            return nested


def _note(w: _Wrapper, name: str, value: Any) -> None:
    if isinstance(value, str) and name in _STRINGS | {"BINGET", "GET", "LONG_BINGET"}:
        if value in ("shape", "numpy_array_alignment_bytes"):
            w.expect = value
            w.in_shape = value == "shape"
            return
        if value == "allow_mmap":
            w.seen_mmap = True
            return
    if w.in_shape and name in _INTS:
        w.shape.append(int(value))
    elif w.in_shape and (name.startswith("TUPLE") or name == "EMPTY_TUPLE"):
        w.in_shape = False
        if w.expect == "shape":
            w.expect = None
    elif w.expect == "numpy_array_alignment_bytes" and (name in _INTS or name == "NONE"):
        w.alignment = int(value) if name in _INTS else None
        w.expect = None


def _skip_array(f: BinaryIO, size: int, w: _Wrapper, where: str) -> FileReport | None:
    import numpy as np

    if w.descr is None:
        raise ValueError("an array wrapper without a dtype")
    dtype = np.dtype(w.descr)
    if w.alignment is not None and not dtype.hasobject:
        pad = f.read(1)
        if len(pad) != 1:
            raise EOFError("the file ends inside an array's padding")
        f.seek(pad[0], 1)
    if dtype.hasobject:
        start = f.tell()
        for _ in pickletools.genops(f):
            pass
        end = f.tell()
        f.seek(start)
        data = f.read(end - start)
        return scan_pickle(io.BytesIO(data), where + "[object array]", size=len(data))
    nbytes = math.prod(w.shape) * dtype.itemsize
    if f.tell() + nbytes > size:
        raise EOFError("an array runs past the end of the file")
    f.seek(nbytes, 1)
    return None
