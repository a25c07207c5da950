"""What reading the start of a Parquet column chunk will cost, from its page headers.

A Parquet file says in its footer how large each column chunk is, but the reader
allocates what each *page header* says: a page's ``uncompressed_page_size`` is
the buffer it decompresses into, and nothing checks the two agree. A file of a
few hundred bytes can declare (and, through zstd or RLE, really hold) pages of
gigabytes. So the preview reads the page headers itself, before pyarrow decodes
anything, and adds up the bytes the pages it will need hold.

Page headers are Thrift structs in the compact protocol. Only four things are
read (page type, both sizes and the number of values); everything else is skipped
by its wire type, which the compact protocol makes possible without the schema.
"""

from __future__ import annotations

import dataclasses
from typing import IO

#: The most bytes one page header may take (statistics can hold min/max values).
MAX_HEADER_BYTES = 64 * 1024
DATA_PAGE, DICTIONARY_PAGE, DATA_PAGE_V2 = 0, 2, 3


class Unreadable(Exception):
    """The bytes are not a page header this reader understands."""


class _Truncated(Unreadable):
    """The header runs past the bytes read."""


@dataclasses.dataclass(frozen=True)
class PageHeader:
    kind: int
    uncompressed: int
    compressed: int
    #: Values (data pages, counting nulls; dictionary entries for dictionary pages).
    values: int
    #: Rows, when the page says (version 2 data pages); None otherwise.
    rows: int | None
    #: Bytes the header itself took.
    length: int


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise _Truncated("truncated page header")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise Unreadable("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def skip(self, wire: int, depth: int = 0) -> None:
        if depth > 16:
            raise Unreadable("page header nested too deeply")
        if wire in (1, 2):  # booleans live in the field header
            return
        if wire == 3:
            self.byte()
        elif wire in (4, 5, 6):
            self.varint()
        elif wire == 7:
            self._advance(8)
        elif wire == 8:
            self._advance(self.varint())
        elif wire in (9, 10):
            head = self.byte()
            size, elem = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            for _ in range(size):
                self.skip(3 if elem in (1, 2) else elem, depth + 1)
        elif wire == 11:
            size = self.varint()
            if size:
                types = self.byte()
                for _ in range(size):
                    self.skip(types >> 4, depth + 1)
                    self.skip(types & 0x0F, depth + 1)
        elif wire == 12:
            for _field, wire_type in self.fields():
                self.skip(wire_type, depth + 1)
        else:
            raise Unreadable(f"unknown Thrift type {wire}")

    def _advance(self, n: int) -> None:
        if n < 0:
            raise Unreadable("negative length")
        if self.pos + n > len(self.data):
            raise _Truncated("truncated page header")
        self.pos += n

    def fields(self) -> _Fields:
        return _Fields(self)


class _Fields:
    """Iterates a struct's (field id, wire type), up to its stop byte."""

    def __init__(self, reader: _Reader) -> None:
        self.reader = reader
        self.last = 0

    def __iter__(self) -> _Fields:
        return self

    def __next__(self) -> tuple[int, int]:
        head = self.reader.byte()
        if head == 0:
            raise StopIteration
        delta, wire = head >> 4, head & 0x0F
        self.last = self.last + delta if delta else self.reader.zigzag()
        return self.last, wire


def _num_values(r: _Reader) -> tuple[int, int | None]:
    """(values, rows) of a data or dictionary page header struct."""
    values, rows = 0, None
    for field, wire in r.fields():
        if field in (1, 3) and wire == 5:
            n = r.zigzag()
            if field == 1:
                values = n
            else:
                rows = n  # only DataPageHeaderV2 has a field 3 that is an i32 count
        else:
            r.skip(wire)
    return values, rows


def read_header(f: IO[bytes], offset: int) -> PageHeader:
    """The page header at ``offset`` (most take a few dozen bytes: read 1 KiB first)."""
    f.seek(offset)
    try:
        return _parse(f.read(1024))
    except _Truncated:
        f.seek(offset)
        return _parse(f.read(MAX_HEADER_BYTES))


def _parse(data: bytes) -> PageHeader:
    r = _Reader(data)
    kind = uncompressed = compressed = -1
    values, rows = 0, None
    for field, wire in r.fields():
        if field in (1, 2, 3) and wire == 5:
            n = r.zigzag()
            if field == 1:
                kind = n
            elif field == 2:
                uncompressed = n
            else:
                compressed = n
        elif field in (5, 7, 8) and wire == 12:
            values, v2_rows = _num_values(r)
            rows = v2_rows if field == 8 else None
        else:
            r.skip(wire)
    if kind < 0 or uncompressed < 0 or compressed < 0 or values < 0:
        raise Unreadable("page header without its sizes")
    return PageHeader(kind, uncompressed, compressed, values, rows, r.pos)


@dataclasses.dataclass(frozen=True)
class ChunkCost:
    #: Bytes held while reading: every page's compressed and decompressed buffers
    #: and decoded values.
    bytes: int
    pages: int


def chunk_cost(
    f: IO[bytes],
    *,
    start: int,
    length: int,
    file_size: int,
    rows: int,
    repeated: bool,
    value_bytes: int,
    budget: int,
    max_pages: int = 10_000,
) -> ChunkCost | None:
    """What reading the first ``rows`` rows of a column chunk costs, or None when
    that is more than ``budget`` bytes or the chunk cannot be read.

    ``start`` and ``length`` place the chunk (from the footer; only the page headers
    are believed about what each page holds). A column with repeated values (lists)
    may need all of a version-1 chunk for ``rows`` rows, since those pages do not
    count rows; ``value_bytes`` is what each value decodes to beyond the page bytes
    (a fixed-length value repeated from a dictionary, say), added per value read."""
    end = min(start + max(length, 0), file_size)
    pos, cost, pages, got_rows = start, 0, 0, 0
    try:
        while pos < end:
            header = read_header(f, pos)
            pages += 1
            pos += header.length + header.compressed
            # Measured with pyarrow: a data page is held compressed, decompressed and
            # decoded; a dictionary page's values are copied twice more as they
            # become an Arrow dictionary.
            copies = 4 if header.kind == DICTIONARY_PAGE else 2
            cost += header.compressed + copies * header.uncompressed
            data = header.kind in (DATA_PAGE, DATA_PAGE_V2)
            if data:
                # Values decoded: a flat column stops at ``rows``; a repeated one may
                # need every value of the page for the rows it holds.
                decoded = header.values if repeated else min(header.values, rows)
                cost += decoded * max(value_bytes, 16)
                got_rows += header.values if header.rows is None else header.rows
            if cost > budget or pages > max_pages:
                return None
            # Version-1 pages of a repeated column do not say how many rows they end.
            if data and got_rows >= rows and (not repeated or header.rows is not None):
                break
    except (Unreadable, OSError, ValueError):
        return None
    return ChunkCost(cost, pages)
