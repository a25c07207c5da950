"""The fast opcode reader (``scanning/opcodes.py``) against picklescan's walk and
against streams built to slip past it.

In-process and small: the reader's chunk size is made tiny here (a parameter, not
a stand-in) so that refills, seeks over payloads and names read back from behind
the buffer all happen within a few KB. Its speed is measured in
``benchmarks/scan.py``.
"""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import io
import pickle
import struct
import uuid

import numpy as np
import pytest
from picklescan.scanner import _list_globals

from modelcommons.scanning import opcodes
from modelcommons.scanning.opcodes import CorruptPickle, list_globals
from modelcommons.scanning.scan import scan_file


@pytest.fixture(autouse=True)
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(opcodes, "CHUNK", 64)
    monkeypatch.setattr(opcodes, "_KEEP", 16)


def _objects() -> object:
    return {
        "ordered": collections.OrderedDict((f"k{i}", i) for i in range(50)),
        "dates": [datetime.date(2020, 1, i + 1) for i in range(20)],
        "decimal": decimal.Decimal("1.5"),
        "fraction": fractions.Fraction(1, 3),
        "uuid": uuid.UUID(int=7),
        "counter": collections.Counter("abracadabra"),
        "deque": collections.deque(range(5)),
        "array": np.arange(300, dtype=np.float32),
        "bytes": b"x" * 5000,
        "text": "é" * 3000,
        "big": 1 << 5000,
        "nested": [(i, str(i), float(i)) for i in range(200)],
        "set": {1, 2, 3},
        "frozen": frozenset({"a"}),
    }


@pytest.mark.parametrize("protocol", range(6))
def test_same_globals_as_picklescan(protocol: int) -> None:
    data = pickle.dumps(_objects(), protocol=protocol)
    ours = list_globals(io.BytesIO(data))
    assert ours == _list_globals(io.BytesIO(data))
    assert ("collections", "OrderedDict") in ours


def test_a_name_far_behind_is_read_back() -> None:
    # The module's string is memoized early, then fetched (BINGET) for a second
    # class of the same module long after: the buffer no longer holds it.
    data = pickle.dumps(
        [collections.OrderedDict(), b"y" * 1000, list(range(300)), collections.Counter()],
        protocol=4,
    )
    assert list_globals(io.BytesIO(data)) == {
        ("collections", "OrderedDict"),
        ("collections", "Counter"),
    }


def _sg(module: bytes, name: bytes, between: bytes = b"\x94") -> bytes:
    return (
        b"\x80\x04\x8c" + bytes([len(module)]) + module + between
        + b"\x8c" + bytes([len(name)]) + name + b"\x94\x93\x8c\x02id\x85R."
    )  # fmt: skip


def test_frame_and_memo_opcodes_between_the_names_leave_them_resolved() -> None:
    frame = b"\x95" + struct.pack("<Q", 10)
    assert list_globals(io.BytesIO(_sg(b"os", b"system", frame + b"\x94"))) == {("os", "system")}


def test_any_other_opcode_between_the_names_makes_them_unknown() -> None:
    found = list_globals(io.BytesIO(_sg(b"builtins", b"print", b"\x8c\x04eval0")))
    assert found == {("unknown", "print")}


def test_ext_opcodes_are_unknown_imports() -> None:
    found = list_globals(io.BytesIO(b"\x80\x02\x82\x01)R."))
    assert {m for m, _ in found} == {"unknown"}


def test_protocol_0_global_and_inst() -> None:
    data = b"cos\nsystem\n(S'id'\ntR(S'x'\nisubprocess\ncall\n."
    assert list_globals(io.BytesIO(data)) == {("os", "system"), ("subprocess", "call")}


def test_large_payloads_are_stepped_over_and_what_follows_is_read() -> None:
    payload = b"\x80\x04B" + struct.pack("<I", 100_000) + b"\0" * 100_000 + b"0"
    data = payload + _sg(b"posix", b"system")[2:]
    assert list_globals(io.BytesIO(data)) == {("posix", "system")}


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x04\x8e" + struct.pack("<Q", 1 << 62) + b"0.",  # BINBYTES8 past the end
        b"\x80\x04X" + struct.pack("<I", 200) + b"a" * 100,  # cut inside a string
        b"\x80\x04X" + struct.pack("<I", 300) + b"a" * 298 + b"\xff\xfe.",  # not UTF-8
        b"\x80\x04T" + struct.pack("<i", -5) + b".",  # negative BINSTRING length
        b"\x80\x04I1x\n.",  # a bad protocol 0 int
        b"\x80\x04cos\nsys",  # GLOBAL without its newlines
        b"\x80\x04\xff.",  # no such opcode
        b"\x80\x04N",  # no STOP
    ],
)
def test_streams_that_do_not_parse_are_corrupt(data: bytes) -> None:
    with pytest.raises(CorruptPickle):
        list_globals(io.BytesIO(data))


def test_globals_before_the_break_are_kept() -> None:
    data = _sg(b"os", b"system")[:-1] + b"\xff"
    with pytest.raises(CorruptPickle) as e:
        list_globals(io.BytesIO(data))
    assert e.value.found == {("os", "system")}


def test_stacked_pickles_each_get_a_fresh_memo() -> None:
    first = pickle.dumps(collections.OrderedDict(), protocol=4)
    # The second pickle fetches memo slot 0 as its module name: in a fresh memo
    # (as pickle.load gives it) there is none, so the name is unknown.
    second = b"\x80\x04h\x00\x8c\x06system\x94\x93."
    found = list_globals(io.BytesIO(first + second))
    assert ("unknown", "system") in found


def test_one_pickle_leaves_the_stream_just_past_it() -> None:
    data = pickle.dumps([1, 2], protocol=2) + b"rest"
    stream = io.BytesIO(data)
    list_globals(stream, stacked=False)
    assert stream.read() == b"rest"


def test_a_large_hostile_pickle_is_unsafe_and_a_benign_one_is_not() -> None:
    # Over fickling's size limit: the fast reader's verdict alone.
    bulk = [(i, f"s{i}") for i in range(40_000)]
    benign = pickle.dumps([collections.OrderedDict(), bulk], protocol=4)
    hostile = pickle.dumps([bulk, "x"], protocol=4)[:-1] + _sg(b"os", b"system")[2:]
    assert scan_file(io.BytesIO(benign), "big.pkl", len(benign)).status == "safe"
    report = scan_file(io.BytesIO(hostile), "big.pkl", len(hostile))
    assert report.status == "unsafe"
    assert ("os", "system", "dangerous") in {(i.module, i.name, i.safety) for i in report.imports}


def test_negative_memo_keys_never_resolve_a_name() -> None:
    # A negative GET would index the memo from its end; a loader fails on it.
    data = b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94g-2\nh\x01\x93."
    assert list_globals(io.BytesIO(data)) == {("unknown", "system")}
    with pytest.raises(CorruptPickle):
        list_globals(io.BytesIO(b"(S'os'\np-1\n."))
