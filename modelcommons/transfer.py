"""Moving bytes between a request and the blob store without holding them.

Received chunks are gathered into batches of about 1 MiB, and each batch is
written and hashed on worker threads while the event loop receives the next, so
hashing overlaps with the network instead of stalling it.

Why batches of the chunks themselves, and why 1 MiB: measured on the 2-core VM of
``benchmarks/RESULTS.md``, copying every chunk into an 8 MiB buffer and writing
and hashing that buffer cost two to three times the CPU of doing the same over
1 MiB (a batch that is still in the CPU's cache when it is hashed and written; the
kernel's copy into the page cache dominated the profile), and the copy itself is
one more pass over every byte. Bodies arrive as immutable ``bytes`` (uvicorn, the
base64 decoder), so keeping references is safe; small pieces are joined so that a
batch stays a few dozen buffers for one ``writev``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Sequence
from typing import Protocol

from starlette.requests import ClientDisconnect
from starlette.types import Receive

from .errors import BadRequest, PayloadTooLarge

BATCH_BYTES = 1024 * 1024
#: Pieces smaller than this are joined before they join a batch.
SMALL_BYTES = 64 * 1024


class Sink(Protocol):
    """Where received bytes go: a staged blob or a multipart part. ``writev`` and
    ``hash`` each run on one worker thread at a time, in the order of the bytes."""

    def writev(self, chunks: Sequence[bytes]) -> None: ...
    def hash(self, data: bytes | memoryview) -> None: ...


def _hash_all(sink: Sink, chunks: Sequence[bytes]) -> None:
    for chunk in chunks:
        sink.hash(chunk)


class StagedWriter:
    """Sequential writes into a sink, a batch at a time.

    While the event loop gathers one batch, the previous one is written and
    hashed, the two jobs in parallel on worker threads (both release the GIL).
    Only one batch is ever in flight, so writes and hash updates stay in order.
    """

    def __init__(
        self, staged: Sink, executor: concurrent.futures.Executor, *, hashing: bool = True
    ) -> None:
        self.staged = staged
        self.hashing = hashing
        self.executor = executor
        self._batch: list[bytes] = []
        self._batched = 0
        self._small = bytearray()
        self._pending: list[concurrent.futures.Future[None]] = []
        self.received = 0

    async def write(self, data: bytes) -> None:
        self.received += len(data)
        if len(data) < SMALL_BYTES:
            self._small += data
            if len(self._small) < SMALL_BYTES:
                return
            data = self._take_small()
        else:
            if self._small:
                self._add(self._take_small())
            if type(data) is not bytes:  # never keep a view of a buffer its owner reuses
                data = bytes(data)
        self._add(data)
        if self._batched >= BATCH_BYTES:
            await self._flush()

    def _take_small(self) -> bytes:
        data, self._small = bytes(self._small), bytearray()
        return data

    def _add(self, data: bytes) -> None:
        self._batch.append(data)
        self._batched += len(data)

    async def _wait(self) -> None:
        """Wait for the batch in flight. Its jobs are plain executor futures, so a
        job that ends does not wake the event loop; only one still running is
        awaited (usually none: the next batch took longer to arrive)."""
        pending, self._pending = self._pending, []
        for future in pending:
            if not future.done():
                await asyncio.wrap_future(future)
        for future in pending:
            future.result()  # raises what the job raised

    async def _flush(self) -> None:
        await self._wait()  # the previous batch is written and hashed
        if self._small:
            self._add(self._take_small())
        if self._batch:
            batch, self._batch, self._batched = self._batch, [], 0
            self._pending = [self.executor.submit(self.staged.writev, batch)]
            if self.hashing:
                self._pending.append(self.executor.submit(_hash_all, self.staged, batch))

    async def finish(self) -> None:
        await self._flush()
        await self._wait()

    async def settle(self) -> None:
        """After a failure: wait for the jobs still running on worker threads, so
        that nothing writes to the file once the caller closes or removes it."""
        pending, self._pending = self._pending, []
        for future in pending:
            with contextlib.suppress(BaseException):
                await asyncio.wrap_future(future)


async def receive_exactly(receive: Receive, writer: StagedWriter, expected: int) -> None:
    """Stream a request body into ``writer``; it must be exactly ``expected`` bytes.
    Bytes are written as they arrive: nothing is allocated ahead of them.

    It reads the ASGI ``receive`` itself rather than Starlette's ``Request.stream``:
    a 1 GiB body is about 4,000 messages, each of which went through one more
    async generator there."""
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk: bytes = message.get("body", b"")
            if writer.received + len(chunk) > expected:
                raise PayloadTooLarge(f"The body is larger than the announced {expected} bytes.")
            if chunk:
                await writer.write(chunk)
            if not message.get("more_body", False):
                break
        await writer.finish()
    except BaseException:
        await writer.settle()
        raise
    if writer.received != expected:
        raise BadRequest(
            f"The body ended after {writer.received} bytes; {expected} were announced."
        )
