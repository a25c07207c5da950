"""The streaming NDJSON parser: same result whatever the chunk boundaries."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modelcommons.errors import BadRequest, PayloadTooLarge
from modelcommons.storage.blobs import LocalBlobStore
from modelcommons.storage.commit_payload import parse_lines

EXECUTOR = concurrent.futures.ThreadPoolExecutor(2)


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _parse(store: LocalBlobStore, body: bytes, chunk: int, **kw: int) -> list:
    return asyncio.run(
        parse_lines(
            _chunks(body, chunk),
            store,
            EXECUTOR,
            max_file_bytes=kw.get("max_file_bytes", 1 << 30),
            max_lines=kw.get("max_lines", 100),
        )
    )


def _body(files: dict[str, bytes]) -> bytes:
    lines = [json.dumps({"key": "header", "value": {"summary": 'a "content": "x" trap'}})]
    for path, data in files.items():
        lines.append(
            json.dumps(
                {
                    "key": "file",
                    "value": {
                        "content": base64.b64encode(data).decode(),
                        "path": path,
                        "encoding": "base64",
                    },
                }
            )
        )
    lines.append(json.dumps({"key": "deletedFile", "value": {"path": "old.txt"}}))
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64, 4096, 1 << 20])
def test_chunk_boundaries_do_not_matter(tmp_path: Path, chunk: int) -> None:
    store = LocalBlobStore(tmp_path)
    files = {"a.bin": os.urandom(1000), "empty.txt": b"", "b.txt": b"hello"}
    lines = _parse(store, _body(files), chunk)
    assert [ln.data["key"] for ln in lines] == ["header", "file", "file", "file", "deletedFile"]
    assert lines[0].data["value"]["summary"] == 'a "content": "x" trap'
    for line in lines[1:4]:
        path = line.data["value"]["path"]
        assert line.data["value"]["content"] == ""  # content went to the blob, not memory
        assert line.staged is not None
        assert line.staged.sha256() == hashlib.sha256(files[path]).hexdigest()
        assert line.staged.size == len(files[path])
        line.staged.discard()


def test_key_order_and_whitespace(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    body = b'{"value":{"path":"p","encoding":"base64" ,  "content" :  "aGk="},"key":"file"}'
    (line,) = _parse(store, body, 3)
    assert line.data == {"value": {"path": "p", "encoding": "base64", "content": ""}, "key": "file"}
    assert line.staged is not None and line.staged.sha256() == hashlib.sha256(b"hi").hexdigest()


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (b'{"key":"file","value":{"content":"aGk\\u003d"}}', BadRequest, "plain base64"),
        (b'{"key":"file","value":{"content":"a"}}', BadRequest, "truncated"),
        (b'{"key":"file","value":{"content":"aGk=', BadRequest, "ended inside"),
        (b"[1, 2]", BadRequest, "not a JSON object"),
        (b'{"key":"file","value":{"content":"' + b"A" * 400 + b'"}}', PayloadTooLarge, "larger"),
    ],
)
def test_bad_bodies_are_refused_and_leave_nothing(
    tmp_path: Path, body: bytes, error: type[Exception], message: str
) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(error, match=message):
        _parse(store, body, 7, max_file_bytes=100)
    assert list(store.staging.iterdir()) == []


def test_too_many_lines(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    body = b"\n".join([b'{"key":"deletedFile","value":{"path":"x"}}'] * 5)
    with pytest.raises(BadRequest, match="Too many lines"):
        _parse(store, body, 64, max_lines=3)
