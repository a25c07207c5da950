"""Moving bytes between a request and the blob store without holding them.

Received chunks are gathered into large buffers, and each buffer is written
and hashed on a worker thread while the event loop receives the next one, so
hashing overlaps with the network instead of stalling it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator

from .blobs import StagedBlob
from .errors import BadRequest, PayloadTooLarge

BUFFER_BYTES = 8 * 1024 * 1024


class StagedWriter:
    """Double-buffered sequential writes into a staged blob."""

    def __init__(self, staged: StagedBlob, executor: concurrent.futures.Executor) -> None:
        self.staged = staged
        self.executor = executor
        self._buffer = bytearray()
        self._pending: asyncio.Future[None] | None = None
        self.received = 0

    async def write(self, data: bytes) -> None:
        self._buffer += data
        self.received += len(data)
        if len(self._buffer) >= BUFFER_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        if self._pending is not None:
            await self._pending
            self._pending = None
        if self._buffer:
            chunk = bytes(self._buffer)
            self._buffer.clear()
            loop = asyncio.get_running_loop()
            self._pending = loop.run_in_executor(self.executor, self.staged.write, chunk)

    async def finish(self) -> None:
        await self._flush()
        if self._pending is not None:
            await self._pending
            self._pending = None


async def receive_exactly(
    stream: AsyncIterator[bytes], writer: StagedWriter, expected: int
) -> None:
    """Stream a request body into ``writer``; it must be exactly ``expected`` bytes."""
    async for chunk in stream:
        if writer.received + len(chunk) > expected:
            raise PayloadTooLarge(f"The body is larger than the announced {expected} bytes.")
        await writer.write(chunk)
    await writer.finish()
    if writer.received != expected:
        raise BadRequest(
            f"The body ended after {writer.received} bytes; {expected} were announced."
        )
