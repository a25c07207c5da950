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
import collections
import concurrent.futures
import contextlib
import functools
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from starlette.requests import ClientDisconnect
from starlette.types import Receive

from ..errors import BadRequest, PayloadTooLarge

BATCH_BYTES = 1024 * 1024
#: Batches written and hashed while the next one is gathered.
DEPTH = 4
#: Pieces smaller than this are joined before they join a batch.
SMALL_BYTES = 64 * 1024


class Sink(Protocol):
    """Where received bytes go: a staged blob or a multipart part. ``writev`` and
    ``hash`` each run on one worker thread at a time, in the order of the bytes."""

    def writev(self, chunks: Sequence[bytes | memoryview]) -> None: ...
    def hash(self, data: bytes | memoryview) -> None: ...


def _hash_all(sink: Sink, chunks: Sequence[bytes]) -> None:
    for chunk in chunks:
        sink.hash(chunk)


class _Lane:
    """Runs one kind of job (writing, or hashing) on the shared executor, one
    batch at a time and in the order the batches came. After a failure the batches
    behind it fail too, unrun: a write after a failed one would land elsewhere."""

    def __init__(self, executor: concurrent.futures.Executor, job: Callable[[list[bytes]], None]):
        self._executor = executor
        self._job = job
        self._queue: collections.deque[tuple[list[bytes], concurrent.futures.Future[None]]] = (
            collections.deque()
        )
        self._lock = threading.Lock()
        self._running = False
        self._failed: BaseException | None = None

    def submit(self, batch: list[bytes]) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._lock:
            self._queue.append((batch, future))
            if self._running:
                return future
            self._running = True
        self._executor.submit(self._drain)
        return future

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._running = False
                    return
                batch, future = self._queue.popleft()
            if self._failed is not None:
                future.set_exception(self._failed)
                continue
            try:
                self._job(batch)
            except BaseException as exc:
                self._failed = exc
                future.set_exception(exc)
            else:
                future.set_result(None)


class StagedWriter:
    """Sequential writes into a sink, a batch at a time.

    Each batch goes to two lanes on worker threads, one that writes and one that
    hashes (both release the GIL), each keeping the batches in order. Up to
    ``DEPTH`` batches are in flight while the event loop gathers the next, so a
    batch that takes a little longer to hash does not stall receiving.
    """

    def __init__(
        self, staged: Sink, executor: concurrent.futures.Executor, *, hashing: bool = True
    ) -> None:
        self.staged = staged
        self.hashing = hashing
        self._writes = _Lane(executor, staged.writev)
        self._hashes = _Lane(executor, functools.partial(_hash_all, staged)) if hashing else None
        self._batch: list[bytes] = []
        self._batched = 0
        self._small = bytearray()
        self._in_flight: collections.deque[list[concurrent.futures.Future[None]]] = (
            collections.deque()
        )
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
            await self._flush(DEPTH)

    def _take_small(self) -> bytes:
        data, self._small = bytes(self._small), bytearray()
        return data

    def _add(self, data: bytes) -> None:
        self._batch.append(data)
        self._batched += len(data)

    async def _flush(self, depth: int) -> None:
        """Hand the gathered batch to the lanes, then wait until at most ``depth``
        batches are in flight. The lanes' futures are plain executor futures, so a
        batch that ends does not wake the event loop; only one still running is
        awaited."""
        if self._small:
            self._add(self._take_small())
        if self._batch:
            batch, self._batch, self._batched = self._batch, [], 0
            futures = [self._writes.submit(batch)]
            if self._hashes is not None:
                futures.append(self._hashes.submit(batch))
            self._in_flight.append(futures)
        while len(self._in_flight) > depth:
            for future in self._in_flight.popleft():
                if not future.done():
                    await asyncio.wrap_future(future)
                future.result()  # raises what the job raised

    async def finish(self) -> None:
        await self._flush(0)

    async def settle(self) -> None:
        """After a failure: wait for the batches still in flight, so that nothing
        writes to the file once the caller closes or removes it."""
        while self._in_flight:
            for future in self._in_flight.popleft():
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
