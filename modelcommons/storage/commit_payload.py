"""Streaming parser for the NDJSON commit body.

The client sends regular files inline, base64-encoded, one JSON object per
line: ``{"key": "file", "value": {"content": "<base64>", "path": ...}}``.
A line may carry hundreds of megabytes, so ``content`` strings are decoded
and written to staged blobs as they arrive; only the rest of each line (the
small JSON around the content) is buffered and parsed.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import AsyncIterator
from typing import Any

from ..errors import BadRequest, PayloadTooLarge
from ..validation.inputs import loads_json
from .blobs import BlobStore, StagedBlob
from .transfer import StagedWriter

MAX_LINE_BYTES = 1024 * 1024  # JSON around the content
_CONTENT = re.compile(rb'[{,]\s*"content"\s*:\s*"')
_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


class Line:
    def __init__(self, data: dict[str, Any], staged: StagedBlob | None) -> None:
        self.data = data
        self.staged = staged


class _Decoder:
    """Incremental base64: decodes whole quanta, carries the rest."""

    def __init__(self, writer: StagedWriter, limit: int) -> None:
        self.writer = writer
        self.carry = b""
        self.limit = limit
        self.decoded = 0

    async def feed(self, text: bytes) -> None:
        if not _B64_ALPHABET.issuperset(text):
            raise BadRequest("File content must be plain base64 (no escapes or whitespace).")
        data = self.carry + text
        cut = len(data) - len(data) % 4
        self.carry = data[cut:]
        if cut:
            try:
                raw = binascii.a2b_base64(data[:cut], strict_mode=True)
            except binascii.Error as exc:
                raise BadRequest(f"File content is not valid base64: {exc}.") from exc
            self.decoded += len(raw)
            if self.decoded > self.limit:
                raise PayloadTooLarge(f"A file in this commit is larger than {self.limit} bytes.")
            await self.writer.write(raw)

    async def finish(self) -> None:
        if self.carry:
            raise BadRequest("File content is not valid base64: truncated data.")
        await self.writer.finish()


async def parse_lines(
    stream: AsyncIterator[bytes],
    blobs: BlobStore,
    executor: Any,
    *,
    max_file_bytes: int,
    max_lines: int,
) -> list[Line]:
    """Parse every line; on any error, discard what was staged and re-raise."""
    lines: list[Line] = []
    staged_all: list[StagedBlob] = []
    head = bytearray()  # the current line, minus content bytes
    decoder: _Decoder | None = None
    staged: StagedBlob | None = None
    scan_from = 0

    def finish_line() -> None:
        nonlocal staged, scan_from
        text = bytes(head).strip()
        head.clear()
        scan_from = 0
        if text:
            data = loads_json(text, f"Line {len(lines) + 1} of the commit")
            if not isinstance(data, dict):
                raise BadRequest(f"Line {len(lines) + 1} of the commit is not a JSON object.")
            lines.append(Line(data, staged))
            if len(lines) > max_lines:
                raise BadRequest(f"Too many lines in this commit (limit {max_lines}).")
        elif staged is not None:
            raise BadRequest("File content outside a JSON line.")
        staged = None

    try:
        async for chunk in stream:
            pos = 0
            while pos < len(chunk):
                if decoder is not None:
                    end = chunk.find(b'"', pos)
                    if end < 0:
                        await decoder.feed(chunk[pos:])
                        pos = len(chunk)
                        continue
                    await decoder.feed(chunk[pos:end])
                    await decoder.finish()
                    decoder = None
                    head.extend(b'"')  # close the (now empty) content string
                    scan_from = len(head)
                    pos = end + 1
                    continue
                nl = chunk.find(b"\n", pos)
                piece = chunk[pos:] if nl < 0 else chunk[pos:nl]
                head.extend(piece)
                if len(head) > MAX_LINE_BYTES:
                    raise PayloadTooLarge("A commit line (besides file content) exceeds 1 MiB.")
                match = _CONTENT.search(head, max(0, scan_from - 16))
                if match is not None and staged is None:
                    # Everything after the opening quote is base64 content.
                    consumed_in_piece = len(piece) - (len(head) - match.end())
                    del head[match.end() :]
                    staged = blobs.stage()
                    staged_all.append(staged)
                    decoder = _Decoder(StagedWriter(staged, executor), max_file_bytes)
                    pos += consumed_in_piece
                    continue
                scan_from = len(head)
                if nl < 0:
                    pos = len(chunk)
                else:
                    finish_line()
                    pos = nl + 1
        if decoder is not None:
            raise BadRequest("The commit body ended inside a file's content.")
        finish_line()
    except BaseException:
        for s in staged_all:
            s.discard()
        raise
    return lines
