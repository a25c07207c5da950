"""Moving bytes between a request and the blob store without holding them.

Received chunks are gathered into large buffers, and each buffer is written
and hashed on a worker thread while the event loop receives the next one, so
hashing overlaps with the network instead of stalling it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

from .errors import BadRequest, PayloadTooLarge

BUFFER_BYTES = 8 * 1024 * 1024


class Sink(Protocol):
    """Where received bytes go: a staged blob or a multipart part."""

    def append(self, data: bytes | memoryview) -> None: ...
    def hash(self, data: bytes | memoryview) -> None: ...


class StagedWriter:
    """Double-buffered sequential writes into a staged blob.

    Two preallocated buffers alternate: while the event loop fills one, the
    other is written to disk and hashed, and those two jobs run in parallel on
    worker threads (both release the GIL). Only one buffer is ever in flight,
    so appends and hash updates stay in order.
    """

    def __init__(
        self, staged: Sink, executor: concurrent.futures.Executor, *, hashing: bool = True
    ) -> None:
        self.staged = staged
        self.hashing = hashing
        self.executor = executor
        # Buffers grow to BUFFER_BYTES only as data arrives, so the many small
        # files of a commit never pay for two large allocations each.
        self._buffers = (bytearray(), bytearray())
        self._current = 0
        self._filled = 0
        self._pending: list[asyncio.Future[None]] = []
        self.received = 0

    async def write(self, data: bytes) -> None:
        self.received += len(data)
        view = memoryview(data)
        while view:
            buffer = self._buffers[self._current]
            piece = view[: BUFFER_BYTES - self._filled]
            end = self._filled + len(piece)
            if len(buffer) < end:
                buffer[self._filled :] = piece  # still growing: no buffer views exist
            else:
                buffer[self._filled : end] = piece
            self._filled = end
            view = view[len(piece) :]
            if self._filled == BUFFER_BYTES:
                await self._flush()

    async def _wait(self) -> None:
        pending, self._pending = self._pending, []
        for outcome in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome

    async def _flush(self) -> None:
        await self._wait()  # the other buffer is free again once its jobs are done
        if self._filled:
            chunk = memoryview(self._buffers[self._current])[: self._filled]
            loop = asyncio.get_running_loop()
            self._pending = [loop.run_in_executor(self.executor, self.staged.append, chunk)]
            if self.hashing:
                self._pending.append(loop.run_in_executor(self.executor, self.staged.hash, chunk))
            self._current = 1 - self._current
            self._filled = 0

    async def finish(self) -> None:
        await self._flush()
        await self._wait()

    async def settle(self) -> None:
        """After a failure: wait for the jobs still running on worker threads, so
        that nothing writes to the file once the caller closes or removes it."""
        pending, self._pending = self._pending, []
        for future in pending:
            with contextlib.suppress(BaseException):
                await future


async def receive_exactly(
    stream: AsyncIterator[bytes], writer: StagedWriter, expected: int
) -> None:
    """Stream a request body into ``writer``; it must be exactly ``expected`` bytes.
    Bytes are written as they arrive: nothing is allocated ahead of them."""
    try:
        async for chunk in stream:
            if writer.received + len(chunk) > expected:
                raise PayloadTooLarge(f"The body is larger than the announced {expected} bytes.")
            await writer.write(chunk)
        await writer.finish()
    except BaseException:
        await writer.settle()
        raise
    if writer.received != expected:
        raise BadRequest(
            f"The body ended after {writer.received} bytes; {expected} were announced."
        )
