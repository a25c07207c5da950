"""Large request bodies read straight from the socket, on worker threads.

uvicorn hands a body to the app in messages of up to 256 KiB, each copied four
times on the way (uvloop's read, httptools' ``on_body``, the request cycle's
buffer, ``receive``'s ``bytes()``) and each a trip through the event loop. For the
routes that store a body of known length whole (LFS PUTs and parts, xorbs,
shards), that was most of the hub's CPU beyond sha256 (``benchmarks/README.md``,
"Notes on the upload figures").

So the connection offers the app the rest of a body (``scope["extensions"]
[SOCKET_BODY]``, a :class:`SocketBody`). When the app takes it, the protocol
stops reading the socket, and three worker threads form a line: one reads the
remaining bytes from a duplicate of the socket's descriptor into a few reused,
page-aligned 2 MiB buffers, one writes each buffer to the sink, one hashes it.
The bytes that came with the request's head go at the front of the first buffer,
so every write but the last is a whole buffer at a multiple of its size: what
the local store needs to send it straight to the device (``storage/direct.py``),
whose latency the writer then waits out while the reader and the hash go on. It
never reads past the announced ``Content-Length``; once the body is in, the
connection gets a fresh parser, so the next request on it is read as usual
(keep-alive works).

When it does not apply, the app reads the body the usual way (ASGI ``receive``):
chunked or TLS bodies, a body the app already began to read, a length other than
the one the app expects, or all slots taken (each slot holds up to three threads
and its buffers while its client sends, so their number bounds what slow clients
can hold).

If the body fails half-way (the client goes away, no byte arrives for
``body_idle_timeout_seconds``, the sink refuses a write), nothing is left running:
every thread has stopped before the error reaches the app, so the caller may drop
or roll back what was written. The answer to that request closes the connection,
whose byte stream is no longer at a request boundary.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import mmap
import os
import queue
import select
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import httptools
from starlette.requests import ClientDisconnect

from ..errors import HubError

if TYPE_CHECKING:
    from .limits import BoundedHttpToolsProtocol

#: The key of a :class:`SocketBody` in the ASGI scope's ``extensions``.
SOCKET_BODY = "modelcommons.socket_body"
#: Buffers per body (8 MiB): one each being read, written and hashed, and one for
#: any of them to lag. Measured with ``benchmarks/transfer.py`` on 2 cores, 2 and 4
#: MiB buffers cost about the same CPU per GiB (0.1-0.3 CPU-s less than 1 MiB ones
#: for multipart parts), 8 MiB ones more. Four 4 MiB buffers per body took a test's
#: four parallel xorb uploads past the 100 MB memory goal once (tests/test_xet.py),
#: so a body holds 8 MiB: 64 MiB with every slot busy.
BUFFER_BYTES = 2 * 1024 * 1024
BUFFERS = 4
#: How often a waiting reader looks whether it should stop.
_POLL_MS = 200


class Sink(Protocol):
    """Where the bytes go (a staged blob, a multipart part): ``writev`` in order on
    one thread, ``hash`` in the same order on another. The shape of
    ``storage.transfer.Sink``, restated because ``server`` may not import ``storage``."""

    def writev(self, chunks: Sequence[bytes | memoryview]) -> None: ...
    def hash(self, data: bytes | memoryview) -> None: ...


class BodyTimeout(HubError):
    status = 408

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"No part of the request body arrived for {seconds:g} s.", code="RequestTimeout"
        )


class _Stopped(Exception):
    """The reader was told to stop (the request's task was cancelled)."""


class SocketBodies:
    """The threads and slots that one server's connections share."""

    def __init__(self, slots: int, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self._free = slots
        self._lock = threading.Lock()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=3 * slots, thread_name_prefix="body"
        )

    def take(self) -> bool:
        with self._lock:
            if self._free == 0:
                return False
            self._free -= 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._free += 1

    @property
    def free(self) -> int:
        return self._free

    def submit(self, job: Any, *args: Any) -> concurrent.futures.Future[Any]:
        return self._executor.submit(job, *args)


def content_length(headers: Sequence[tuple[bytes, bytes]]) -> int | None:
    """The body's length when it is given by one ``Content-Length`` and not chunked."""
    length: int | None = None
    for name, value in headers:
        if name == b"transfer-encoding":
            return None
        if name == b"content-length":
            if length is not None or not value.isdigit():
                return None
            length = int(value)
    return length


class SocketBody:
    """The rest of one request's body, on offer to the app (see the module doc)."""

    def __init__(self, protocol: BoundedHttpToolsProtocol, cycle: Any, length: int) -> None:
        self._protocol = protocol
        self._cycle = cycle
        self._length = length
        self._taken = False

    def _usable(self, expected: int) -> bool:
        p, cycle = self._protocol, self._cycle
        return (
            not self._taken
            and expected == self._length
            and p.cycle is cycle
            and cycle.more_body
            and not cycle.disconnected
            and not cycle.response_complete
            and p.body_seen == len(cycle.body)  # the app has read none of it yet
            and not p.transport.is_closing()
            and p.transport.get_extra_info("sslcontext") is None
            and p.transport.get_extra_info("socket") is not None
        )

    async def read_into(self, sink: Sink, expected: int, *, hashing: bool = True) -> bool:
        """Read the whole body (``expected`` bytes) into ``sink``. False, having done
        nothing, when this body must be read through ``receive`` instead."""
        bodies = self._protocol.socket_bodies
        if bodies is None or not self._usable(expected) or not bodies.take():
            return False
        self._taken = True
        try:
            await self._read(bodies, sink, expected, hashing)
        finally:
            bodies.give_back()
        return True

    async def _read(self, bodies: SocketBodies, sink: Sink, expected: int, hashing: bool) -> None:
        p, cycle = self._protocol, self._cycle
        p.flow.pause_reading()
        if cycle.waiting_for_100_continue:
            p.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        prefix = bytes(cycle.body)
        cycle.body = bytearray()
        fd = os.dup(p.transport.get_extra_info("socket").fileno())
        stop = threading.Event()
        job = bodies.submit(_pump, fd, prefix, expected - len(prefix), sink, hashing, stop, bodies)
        try:
            try:
                await asyncio.wrap_future(job)
            except BaseException:
                # Whatever went wrong (the task cancelled included), the threads stop
                # before the caller drops what they wrote.
                stop.set()
                with contextlib.suppress(BaseException):
                    await asyncio.shield(asyncio.wrap_future(job))
                raise
        except ClientDisconnect:
            cycle.disconnected = True
            p.transport.close()
            raise
        except BaseException:
            cycle.keep_alive = False  # the stream is mid-body: close after the answer
            raise
        finally:
            os.close(fd)
        # The whole body is in: the next request starts at the next byte.
        p.restart_parser()
        p.on_message_complete()
        p.flow.resume_reading()


#: A line between two threads: buffers in order, then None.
_Queue: TypeAlias = "queue.SimpleQueue[memoryview | None]"


def _pump(
    fd: int,
    prefix: bytes,
    remaining: int,
    sink: Sink,
    hashing: bool,
    stop: threading.Event,
    bodies: SocketBodies,
) -> None:
    """Read ``remaining`` bytes from ``fd`` (after ``prefix``, which came with the
    head) and write them to ``sink`` in order on a second thread, hashed on a third;
    returns once every thread is done."""
    free: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
    for _ in range(BUFFERS):
        free.put(mmap.mmap(-1, BUFFER_BYTES))  # page-aligned, for direct writes
    to_write: _Queue = queue.SimpleQueue()

    def write(view: memoryview) -> None:
        sink.writev([view])

    stages: list[concurrent.futures.Future[None]] = []
    if hashing:
        to_hash: _Queue = queue.SimpleQueue()
        stages.append(bodies.submit(_stage, write, to_write, to_hash, None, stop))
        stages.append(bodies.submit(_stage, sink.hash, to_hash, None, free, stop))
    else:
        stages.append(bodies.submit(_stage, write, to_write, None, free, stop))
    failure: BaseException | None = None
    try:
        _read_loop(fd, prefix, remaining, free, to_write, stop, bodies.idle_seconds)
    except BaseException as exc:
        failure = exc
    to_write.put(None)
    for job in stages:  # waits for each to finish; a stage's own error comes first
        error = job.exception()
        if error is not None:
            raise error
    if failure is not None:
        raise failure


def _stage(
    work: Callable[[memoryview], None],
    inbox: _Queue,
    outbox: _Queue | None,
    free: queue.SimpleQueue[mmap.mmap] | None,
    stop: threading.Event,
) -> None:
    """Apply ``work`` to each buffer in order and pass it on (to ``outbox``, or back
    to ``free`` at the end of the line). After a failure, here or anywhere (``stop``),
    work no more, but keep passing buffers on (the reader may be waiting for one);
    raise this stage's own failure at the end."""
    error: BaseException | None = None
    while (view := inbox.get()) is not None:
        if error is None and not stop.is_set():
            try:
                work(view)
            except BaseException as exc:
                error = exc
                stop.set()
        if outbox is not None:
            outbox.put(view)
        else:
            assert free is not None
            buffer = view.obj
            assert isinstance(buffer, mmap.mmap)
            view.release()
            free.put(buffer)
    if outbox is not None:
        outbox.put(None)
    if error is not None:
        raise error


def _read_loop(
    fd: int,
    prefix: bytes,
    remaining: int,
    free: queue.SimpleQueue[mmap.mmap],
    out: _Queue,
    stop: threading.Event,
    idle_seconds: float,
) -> None:
    """Fill buffers with the body, ``prefix`` first, then ``remaining`` bytes from
    the socket, so that every buffer but the last is full: the sink sees writes at
    multiples of ``BUFFER_BYTES``, aligned for direct I/O."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    total = len(prefix) + remaining
    done = 0
    while done < total:
        if stop.is_set():
            raise _Stopped()
        view = memoryview(free.get())[: min(BUFFER_BYTES, total - done)]
        start = 0
        if done < len(prefix):
            start = min(len(prefix) - done, len(view))
            view[:start] = prefix[done : done + start]
        _fill(fd, view, start, poller, stop, idle_seconds)
        out.put(view)
        done += len(view)


def _fill(
    fd: int,
    view: memoryview,
    got: int,
    poller: select.poll,
    stop: threading.Event,
    idle_seconds: float,
) -> None:
    """Read into ``view`` from ``got`` to its end; the descriptor is non-blocking.
    Nothing at all for ``idle_seconds``: :class:`BodyTimeout`."""
    idle_since = time.monotonic()
    while got < len(view):
        try:
            n = os.readv(fd, [view[got:]])
        except (BlockingIOError, InterruptedError):
            if stop.is_set():
                raise _Stopped() from None
            if time.monotonic() - idle_since > idle_seconds:
                raise BodyTimeout(idle_seconds) from None
            poller.poll(_POLL_MS)
            continue
        except (ConnectionResetError, BrokenPipeError):
            raise ClientDisconnect() from None
        if n == 0:
            raise ClientDisconnect()
        got += n
        idle_since = time.monotonic()


def fresh_parser(protocol: Any) -> Any:
    """A new httptools parser for ``protocol``, set up as uvicorn sets up its own."""
    parser = httptools.HttpRequestParser(protocol)
    with contextlib.suppress(AttributeError):  # httptools < 0.6.3
        parser.set_dangerous_leniencies(lenient_data_after_close=True)
    return parser
