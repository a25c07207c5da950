"""Every global a pickle stream imports, found in one fast pass over its opcodes.

picklescan's walk (``pickletools.genops``) builds a Python tuple for every opcode,
decodes every argument and keeps them all in a list: about 1 MB/s on a stream of
small objects, and the whole stream in memory. This reader applies the same rules
and sees the same opcodes, but steps over each opcode by a table of argument
lengths, seeks over ``BINBYTES``/``BYTEARRAY8``/``LONG4`` payloads instead of reading
them, and decodes only what can name a global. Nothing is unpickled.

What it reports, as picklescan does: every ``GLOBAL`` and ``INST`` name pair, and for
each ``STACK_GLOBAL`` the two strings on top of the stack, pushed by the two opcodes
just before it (memo and ``FRAME`` opcodes, which leave the stack alone, may sit
between) or fetched from the memo. A name it cannot resolve exactly (another
opcode pushed it, a memo slot it did not keep, a string over ``NAME_MAX`` bytes) is
``unknown``, which the policy rates dangerous. ``EXT1``/``EXT2``/``EXT4`` (the
``copyreg`` extension registry, another way to a global) are ``unknown`` too.

A stream that does not parse to its ``STOP`` (an unknown opcode, a cut argument, a
bad text argument, invalid UTF-8 in a string) raises :class:`CorruptPickle` with
the globals seen before the break. Each stacked pickle gets a fresh memo, as each
``pickle.load`` does.
"""

from __future__ import annotations

import codecs
import io
import pickletools
from array import array
from typing import Any, BinaryIO

#: Bytes read from the stream at a time.
CHUNK = 1 << 20
#: A string longer than this is not resolved as a module or attribute name.
NAME_MAX = 1024
#: Memo slots kept (8 bytes each); past this, memo lookups are ``unknown``.
MEMO_MAX = 1 << 26
#: Names resolved by seeking back to a string far behind (each costs a seek).
REREADS_MAX = 1024
_KEEP = 4096  # bytes kept before the position on each refill (recent strings)

_OPS = {op.code.encode("latin-1")[0]: op for op in pickletools.opcodes}
#: Kinds of opcode that need more than a skip of a fixed length.
(
    _UNI1,
    _UNI4,
    _UNI8,
    _STR1,
    _STR4,
    _SKIP1,
    _SKIP4,
    _SKIP8,
    _SKIP4S,
    _TEXT,
    _PAIR,
    _MEMOIZE,
    _PUT1,
    _PUT4,
    _GET1,
    _GET4,
    _STACK_GLOBAL,
    _STOP,
    _EXT,
    _FRAME,
) = range(1, 21)
_KINDS = {
    "SHORT_BINUNICODE": _UNI1,
    "BINUNICODE": _UNI4,
    "BINUNICODE8": _UNI8,
    "SHORT_BINSTRING": _STR1,
    "BINSTRING": _STR4,
    "SHORT_BINBYTES": _SKIP1,
    "LONG1": _SKIP1,
    "BINBYTES": _SKIP4,
    "BINBYTES8": _SKIP8,
    "BYTEARRAY8": _SKIP8,
    "LONG4": _SKIP4S,
    "INT": _TEXT,
    "LONG": _TEXT,
    "FLOAT": _TEXT,
    "STRING": _TEXT,
    "UNICODE": _TEXT,
    "PERSID": _TEXT,
    "GET": _TEXT,
    "PUT": _TEXT,
    "GLOBAL": _PAIR,
    "INST": _PAIR,
    "MEMOIZE": _MEMOIZE,
    "BINPUT": _PUT1,
    "LONG_BINPUT": _PUT4,
    "BINGET": _GET1,
    "LONG_BINGET": _GET4,
    "STACK_GLOBAL": _STACK_GLOBAL,
    "STOP": _STOP,
    "EXT1": _EXT,
    "EXT2": _EXT,
    "EXT4": _EXT,
    "FRAME": _FRAME,
}
#: Per opcode byte: the argument's length for opcodes that are only stepped over,
#: ``-1`` for those in ``_KIND``, ``-2`` for bytes that are no opcode.
_FIXED = [-2] * 256
_KIND = [0] * 256
for _code, _op in _OPS.items():
    if _op.name in _KINDS:
        _FIXED[_code], _KIND[_code] = -1, _KINDS[_op.name]
    else:
        assert _op.arg is None or _op.arg.n >= 0, _op.name
        _FIXED[_code] = 0 if _op.arg is None else _op.arg.n
#: Opcodes that push a string a ``STACK_GLOBAL`` can take as a name.
_STRINGS = frozenset({_UNI1, _UNI4, _UNI8, _STR1, _STR4})
_TEXT_STRINGS = frozenset(b"SV")  # STRING, UNICODE


class CorruptPickle(ValueError):
    """The stream does not parse; ``found`` holds the globals seen before the break."""

    def __init__(self, message: str, found: set[tuple[str, str]]) -> None:
        super().__init__(message)
        self.found = found


class _Reader:
    """The stream, read ahead in chunks: ``buf[i]`` is the byte at ``base + i``."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.base = stream.tell()
        self.buf = b""
        self.eof = False

    def fill(self, i: int, need: int) -> int:
        """Keep ``buf`` from a little before ``i`` and read until ``need`` bytes
        follow ``i`` (or the stream ends); returns ``i``'s new index."""
        keep = min(i, _KEEP)
        parts = [self.buf[i - keep :]]
        have = len(parts[0]) - keep
        while have < need and not self.eof:
            more = self.stream.read(max(CHUNK, need - have))
            if not more:
                self.eof = True
            have += len(more)
            parts.append(more)
        self.base += i - keep
        self.buf = b"".join(parts)
        return keep

    def skip(self, i: int, n: int) -> int:
        """Step ``n`` bytes past ``i`` without reading them: a seek when they run
        past the buffer (a short stream then fails at the next opcode)."""
        if i + n <= len(self.buf):
            return i + n
        target = self.base + i + n
        self.stream.seek(target)
        self.base, self.buf, self.eof = target, b"", False
        return 0

    def check_utf8(self, i: int, n: int) -> int:
        """Decode ``n`` bytes at ``i`` as ``pickle`` does (a loader fails where
        they are not UTF-8), a chunk at a time; returns the index past them."""
        decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")
        while n > 0:
            if i >= len(self.buf):
                i = self.fill(i, 1)
                if i >= len(self.buf):
                    raise ValueError("the stream ends inside a string")
            part = self.buf[i : i + n]
            decoder.decode(part)
            i += len(part)
            n -= len(part)
        decoder.decode(b"", True)
        return i


def list_globals(stream: BinaryIO, *, stacked: bool = True) -> set[tuple[str, str]]:
    """The ``(module, name)`` pairs the pickle(s) from ``stream``'s position import.

    ``stacked``: read pickle after pickle to the end of the stream; otherwise read
    one and leave the stream just past its ``STOP``. Raises :class:`CorruptPickle`.
    """
    found: set[tuple[str, str]] = set()
    r = _Reader(stream)
    i = 0
    while True:
        try:
            i = _one(r, i, found)
        except CorruptPickle:
            raise
        except (ValueError, EOFError, IndexError, OverflowError, MemoryError) as e:
            raise CorruptPickle(str(e), found) from None
        if not stacked:
            stream.seek(r.base + i)
            return found
        if i >= len(r.buf):
            i = r.fill(i, 1)
            if i >= len(r.buf):
                return found


def _one(r: _Reader, i: int, found: set[tuple[str, str]]) -> int:
    """Read one pickle from ``r.buf[i]`` to its ``STOP``; returns the index past it."""
    fixed, kinds = _FIXED, _KIND
    memo = _Memo()
    # The two strings last pushed: (reference, start, end). A reference is the
    # offset of the opcode that pushed the string, or -1 when it is not known.
    ref1 = start1 = end1 = ref2 = end2 = -2
    resolver = _Names(r)
    seq, sparse = memo.seq, memo.sparse
    buf, base = r.buf, r.base
    hi = len(buf) - 9
    while True:
        if i > hi:
            if not r.eof:
                i = r.fill(i, 9)
                buf, base = r.buf, r.base
            hi = len(buf) - 9 if not r.eof else len(buf) - 1
            if i > hi:
                if i > len(buf):
                    raise ValueError("the stream ends inside an opcode's argument")
                raise ValueError("pickle exhausted before seeing STOP")
        code = buf[i]
        n = fixed[code]
        if n >= 0:
            i += n + 1
            continue
        # The commonest of the rest first: MEMOIZE, then SHORT_BINUNICODE.
        if code == 0x94:
            at = base + i
            if end1 == at:
                end1 = at + 1
                top = ref1
            else:
                top = -1
            if not sparse and len(seq) < MEMO_MAX:
                seq.append(top)
            else:
                memo.memoize(top)
            i += 1
            continue
        # SHORT_BINUNICODE and BINUNICODE are spelled out apart on purpose: a shared
        # branch adds work to the commonest string opcode of this hot loop.
        if code == 0x8C and i + 1 < len(buf):
            j = i + 2 + buf[i + 1]
            if j <= len(buf):
                buf[i + 2 : j].decode("utf-8", "surrogatepass")
                ref2, end2 = ref1, end1
                ref1 = start1 = base + i
                end1 = base + j
                i = j
                continue
        if code == 0x58 and i + 5 <= len(buf):  # BINUNICODE (protocols 1 to 3)
            j = i + 5 + int.from_bytes(buf[i + 1 : i + 5], "little")
            if j <= len(buf):
                buf[i + 5 : j].decode("utf-8", "surrogatepass")
                ref2, end2 = ref1, end1
                ref1 = start1 = base + i
                end1 = base + j
                i = j
                continue
        if (code == 0x72 or code == 0x71) and i + 5 <= len(buf):  # LONG_BINPUT, BINPUT
            at = base + i
            size = 5 if code == 0x72 else 2
            key = int.from_bytes(buf[i + 1 : i + 5], "little") if code == 0x72 else buf[i + 1]
            if end1 == at:
                end1 = at + size
                top = ref1
            else:
                top = -1
            if key == len(seq) and not sparse and key < MEMO_MAX:
                seq.append(top)
            else:
                memo.put(key, top)
            i += size
            continue
        if n == -2:
            raise ValueError(f"at position {r.base + i}, opcode {bytes([code])!r} unknown")
        kind = kinds[code]
        at = base + i
        if kind == _TEXT and code != 0x53 and code != 0x4C and code != 0x50:
            # INT, FLOAT, UNICODE, PUT, GET (protocol 0) with their line in the buffer
            # (STRING, LONG and PERSID, and a line running past it, take the general
            # path below). Values as pickletools' readers find them.
            nl = buf.find(b"\n", i + 1)
            if nl >= 0:
                line = buf[i + 1 : nl]
                if code == 0x70:  # PUT
                    if end1 == at:
                        memo.put(int(line), ref1)
                        end1 = base + nl + 1
                    else:
                        memo.put(int(line), -1)
                elif code == 0x67:  # GET
                    ref2, end2 = ref1, end1
                    ref1, start1, end1 = memo.get(int(line)), at, base + nl + 1
                elif code == 0x56:  # UNICODE
                    line.decode("raw-unicode-escape")
                    ref2, end2 = ref1, end1
                    ref1, start1, end1 = at, at, base + nl + 1
                elif code == 0x46:
                    float(line)
                else:
                    int(line)
                i = nl + 1
                continue
        if kind in (_MEMOIZE, _PUT1, _PUT4, _FRAME):
            size = 1 if kind == _MEMOIZE else 2 if kind == _PUT1 else 5 if kind == _PUT4 else 9
            if i + size > len(buf):
                raise ValueError("the stream ends inside an opcode's argument")
            top = ref1 if end1 == at else -1
            if end1 == at:
                end1 = at + size  # these leave the stack as it was
            if kind == _MEMOIZE:
                memo.memoize(top)
            elif kind == _PUT1:
                memo.put(buf[i + 1], top)
            elif kind == _PUT4:
                memo.put(int.from_bytes(buf[i + 1 : i + 5], "little"), top)
            i += size
            continue
        if kind in _STRINGS:
            width = 1 if kind in (_UNI1, _STR1) else 4 if kind in (_UNI4, _STR4) else 8
            if i + 1 + width > len(buf):
                raise ValueError("the stream ends inside an opcode's argument")
            length = int.from_bytes(buf[i + 1 : i + 1 + width], "little", signed=kind == _STR4)
            if length < 0:
                raise ValueError(f"at position {at}, a string's byte count < 0")
            i += 1 + width
            if kind in (_UNI1, _UNI4, _UNI8):
                if i + length <= len(buf):
                    buf[i : i + length].decode("utf-8", "surrogatepass")
                    i += length
                else:
                    i = r.check_utf8(i, length)
                    buf, base = r.buf, r.base
                    hi = len(buf) - 9 if not r.eof else len(buf) - 1
            else:
                i = r.skip(i, length)
                buf, base = r.buf, r.base
                hi = len(buf) - 9 if not r.eof else len(buf) - 1
            ref2, end2 = ref1, end1
            ref1, start1, end1 = at, at, r.base + i
            continue
        if kind in (_GET1, _GET4):
            size = 2 if kind == _GET1 else 5
            if i + size > len(buf):
                raise ValueError("the stream ends inside an opcode's argument")
            key = buf[i + 1] if kind == _GET1 else int.from_bytes(buf[i + 1 : i + 5], "little")
            ref2, end2 = ref1, end1
            ref1, start1, end1 = memo.get(key), at, at + size
            i += size
            continue
        if kind in (_SKIP1, _SKIP4, _SKIP8, _SKIP4S):
            width = 1 if kind == _SKIP1 else 8 if kind == _SKIP8 else 4
            if i + 1 + width > len(buf):
                raise ValueError("the stream ends inside an opcode's argument")
            length = int.from_bytes(buf[i + 1 : i + 1 + width], "little", signed=kind == _SKIP4S)
            if length < 0:
                raise ValueError(f"at position {at}, a byte count < 0")
            i = r.skip(i + 1 + width, length)
            buf, base = r.buf, r.base
            hi = len(buf) - 9 if not r.eof else len(buf) - 1
            continue
        if kind == _STACK_GLOBAL:
            name = resolver.name(ref1) if end1 == at else None
            module = resolver.name(ref2) if end1 == at and end2 == start1 else None
            found.add((module or "unknown", name or "unknown"))
            i += 1
            continue
        if kind == _STOP:
            return i + 1
        if kind == _EXT:
            found.add(("unknown", f"copyreg extension ({_OPS[code].name})"))
            i += 1 + _OPS[code].arg.n  # type: ignore[union-attr]
            continue
        # Text arguments (protocol 0): whole lines, read by pickletools' own readers.
        search = i + 1
        for _ in range(2 if kind == _PAIR else 1):
            nl = buf.find(b"\n", search)
            while nl < 0 and not r.eof:
                shift = r.fill(i, 2 * (len(buf) - i) + CHUNK) - i  # doubling: linear
                i, search, buf, base = i + shift, search + shift, r.buf, r.base
                nl = buf.find(b"\n", search)
            if nl < 0:
                raise ValueError(f"at position {at}, no newline after a text argument")
            search = nl + 1
        hi = len(buf) - 9 if not r.eof else len(buf) - 1
        op = _OPS[code]
        value = _text_value(op, buf[i + 1 : search])
        adjacent = end1 == at
        if kind == _PAIR:
            first, second = buf[i + 1 : search - 1].split(b"\n", 1)
            found.add((first.decode("utf-8", "replace"), second.decode("utf-8", "replace")))
        elif op.name == "PUT":
            memo.put(int(value), ref1 if adjacent else -1)
            if adjacent:
                end1 = r.base + search
        elif op.name == "GET":
            ref2, end2 = ref1, end1
            ref1, start1, end1 = memo.get(int(value)), at, r.base + search
        elif code in _TEXT_STRINGS:
            ref2, end2 = ref1, end1
            ref1, start1, end1 = at, at, r.base + search
        i = search


def _text_value(op: pickletools.OpcodeInfo, line: bytes) -> Any:
    """A text argument's value, as ``pickletools``' reader for it finds it (the
    common ones parsed here directly: a reader call per opcode is slow)."""
    name = op.name
    if name in ("INT", "GET", "PUT"):  # read_decimalnl_short
        body = line[:-1]
        return False if body == b"00" else True if body == b"01" else int(body)
    if name == "FLOAT":
        return float(line[:-1])
    if name == "UNICODE":
        return line[:-1].decode("raw-unicode-escape")
    return op.arg.reader(io.BytesIO(line))  # type: ignore[union-attr]


class _Memo:
    """The memo's slots as references to the strings they hold (-1: not a known
    string). Slots 0..n-1 sit in an array, any others in a dict."""

    def __init__(self) -> None:
        self.seq = array("q")
        self.sparse: dict[int, int] = {}
        self.lost = False  # too many slots to keep: every lookup is unknown

    def memoize(self, ref: int) -> None:
        self.put(len(self.seq) + len(self.sparse), ref)

    def put(self, key: int, ref: int) -> None:
        if key < 0:
            raise ValueError("negative PUT argument")
        seq = self.seq
        if key < len(seq):
            seq[key] = ref
        elif key == len(seq) and len(seq) < MEMO_MAX:
            seq.append(ref)
            sparse = self.sparse
            while sparse and len(seq) in sparse:
                seq.append(sparse.pop(len(seq)))
        elif len(self.sparse) < MEMO_MAX // 16:
            self.sparse[key] = ref
        else:
            self.lost = True

    def get(self, key: int) -> int:
        if self.lost or key < 0:
            return -1
        if key < len(self.seq):
            return self.seq[key]
        return self.sparse.get(key, -1)


class _Names:
    """A string pushed at a reference, read back from the buffer, or by seeking."""

    def __init__(self, r: _Reader) -> None:
        self.r = r
        self.known: dict[int, str | None] = {}
        self.rereads = 0

    def name(self, ref: int) -> str | None:
        if ref < 0:
            return None
        if ref in self.known:
            return self.known[ref]
        r = self.r
        start = ref - r.base
        # A string behind the buffer's start was read before a refill or a seek.
        head = r.buf[start : start + 9 + NAME_MAX] if start >= 0 else b""
        if start < 0:
            if self.rereads >= REREADS_MAX:
                return None
            self.rereads += 1
            here = r.stream.tell()
            r.stream.seek(ref)
            head = r.stream.read(9 + NAME_MAX)
            r.stream.seek(here)
        value = _string(head)
        self.known[ref] = value
        return value


def _string(head: bytes) -> str | None:
    """The string the opcode at the start of ``head`` pushes, when it fits."""
    op = _OPS.get(head[0]) if head else None
    if op is None or op.arg is None:
        return None
    if op.name in ("STRING", "UNICODE"):
        line = head[1 : head.find(b"\n", 1) + 1]
        if not line:
            return None
        try:
            value = op.arg.reader(io.BytesIO(line))
        except ValueError:
            return None
        return value if isinstance(value, str) else None
    width = 1 if op.arg.n == -2 else 4 if op.arg.n in (-3, -4) else 8 if op.arg.n == -5 else 0
    if not width or len(head) < 1 + width:
        return None
    length = int.from_bytes(head[1 : 1 + width], "little", signed=op.name == "BINSTRING")
    if length < 0 or length > NAME_MAX or len(head) < 1 + width + length:
        return None
    data = head[1 + width : 1 + width + length]
    if "UNICODE" in op.name:
        return data.decode("utf-8", "surrogatepass")
    if "STRING" in op.name:
        return data.decode("latin-1")
    return None
