"""Bodies read straight from the socket (``modelcommons/server/bodies.py``).

A real uvicorn server on a real socket, with the protocol class ``commons serve``
uses, runs a small ASGI app that takes each PUT body the way the hub's upload
routes do (``SocketBody.read_into``, else ASGI ``receive``) and says which path it
took. Clients are raw sockets, so that the tests control what arrives when:
pipelined requests, ``Expect: 100-continue``, a client that stalls or goes away.
The hub's own upload routes over this path are tested with the real client in
``test_api_uploads.py``, ``test_integrity.py`` and ``test_crash.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import uvloop

from modelcommons.errors import HubError
from modelcommons.server.bodies import BUFFER_BYTES, SOCKET_BODY, BodyTimeout, SocketBody
from modelcommons.server.limits import BoundedHttpToolsProtocol, protocol_for
from modelcommons.settings import Settings

MiB = 1024 * 1024
#: The page size: direct writes need buffers and offsets on its multiples.
ALIGN = 4096


def _page_aligned(buffer: bytes | memoryview) -> bool:
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(memoryview(buffer))) % ALIGN == 0
    except TypeError:  # read-only (the ASGI path's bytes): where it lies is not known
        return False


class RecordingSink:
    """Collects what the reader writes, hashes it, and notes any write that ends
    after the app was told the body failed. With ``delay``, each write takes that
    long (and sets ``writing`` when it starts), so a write can be caught mid-way."""

    def __init__(
        self,
        delay: float = 0.0,
        writing: threading.Event | None = None,
        fail_at: int | None = None,
    ) -> None:
        self.data = bytearray()
        #: Each buffer written: its length, and whether it starts on a page boundary.
        self.writes: list[tuple[int, bool]] = []
        self.fail_at = fail_at
        self.hashed = 0
        self.hasher = hashlib.sha256()
        self.closed = False
        self.late_writes = 0
        self.threads: set[str] = set()
        self.delay = delay
        self.writing = writing

    def writev(self, chunks: Sequence[bytes | memoryview]) -> None:
        if self.writing is not None:
            self.writing.set()
        time.sleep(self.delay)
        if self.closed:
            self.late_writes += 1
        self.threads.add(threading.current_thread().name)
        if self.fail_at is not None and len(self.writes) == self.fail_at:
            raise OSError(errno.ENOSPC, "No space left on device")
        for chunk in chunks:
            self.writes.append((len(chunk), _page_aligned(chunk)))
            self.data += chunk

    def hash(self, data: bytes | memoryview) -> None:
        if self.closed:
            self.late_writes += 1
        self.hasher.update(data)
        self.hashed += len(data)


class App:
    """PUT: store the body, answer how it was read. GET /free: free slots."""

    def __init__(self, protocol: type[BoundedHttpToolsProtocol]) -> None:
        self.protocol = protocol
        self.failures: list[tuple[str, RecordingSink]] = []
        self.started = threading.Event()
        #: For new sinks: how long each write takes, and an event set when one starts;
        #: which write fails (as a full disk would).
        self.write_delay = 0.0
        self.fail_at: int | None = None
        self.writing = threading.Event()
        self.tasks: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "GET":
            bodies = self.protocol.socket_bodies
            await _answer(send, 200, {"free": bodies.free if bodies else None})
            return
        expected = int(dict(scope["headers"]).get(b"x-expect", b"-1"))
        sink = RecordingSink(self.write_delay, self.writing, self.fail_at)
        direct: SocketBody | None = scope.get("extensions", {}).get(SOCKET_BODY)
        task = asyncio.current_task()
        assert task is not None
        self.tasks.append((asyncio.get_running_loop(), task))
        self.started.set()
        try:
            taken = direct is not None and await direct.read_into(sink, expected)
            if not taken:
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise ConnectionResetError("gone")
                    sink.writev([message.get("body", b"")])
                    sink.hash(message.get("body", b""))
                    if not message.get("more_body"):
                        break
        except BaseException as exc:
            sink.closed = True
            self.failures.append((type(exc).__name__, sink))
            if isinstance(exc, HubError):
                await _answer(send, exc.status, exc.body())
                return
            raise
        await _answer(
            send,
            200,
            {
                "direct": taken,
                "size": len(sink.data),
                "sha256": sink.hasher.hexdigest(),
                "stored": hashlib.sha256(sink.data).hexdigest(),
                "threads": sorted(sink.threads),
                "writes": sink.writes,
            },
        )


async def _answer(send: Any, status: int, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(raw))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


class Running:
    def __init__(self, app: App, port: int) -> None:
        self.app = app
        self.port = port

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=30)

    def free_slots(self) -> int:
        with self.connect() as conn:
            conn.sendall(b"GET /free HTTP/1.1\r\nHost: x\r\n\r\n")
            _, _, body = read_response(Reader(conn))
        free: int = json.loads(body)["free"]
        return free


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(**settings: Any) -> Running:
        protocol = protocol_for(Settings(data_dir=tmp_path, **settings))
        app = App(protocol)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, http=protocol, lifespan="off", log_level="error"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=lambda: uvloop.run(server.serve()), daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        servers.append((server, thread))
        return Running(app, port)

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=20)


class Reader:
    """Reads HTTP responses off a socket, keeping what follows one for the next."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.buffer = b""

    def until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            data = self.conn.recv(65536)
            if not data:
                raise EOFError(self.buffer)
            self.buffer += data
        head, self.buffer = self.buffer.split(marker, 1)
        return head

    def exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            data = self.conn.recv(65536)
            if not data:
                raise EOFError(self.buffer)
            self.buffer += data
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out


def read_response(reader: Reader) -> tuple[int, dict[str, str], bytes]:
    head = reader.until(b"\r\n\r\n").decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in head[1:])}
    return status, headers, reader.exactly(int(headers.get("content-length", "0")))


def put_head(length: int, *, expect: int | None = None, extra: str = "") -> bytes:
    return (
        f"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
        f"X-Expect: {length if expect is None else expect}\r\n{extra}\r\n"
    ).encode()


def body_of(n: int) -> bytes:
    return os.urandom(n)


def test_a_body_is_read_from_the_socket_and_the_next_request_on_the_connection_is_served(
    serve: Callable[..., Running],
) -> None:
    hub = serve()
    body = body_of(5 * MiB + 123)
    with hub.connect() as conn:
        # The PUT, its whole body and a pipelined GET in one go: the reader must stop
        # at Content-Length, and the fresh parser must find the GET.
        conn.sendall(put_head(len(body)) + body + b"GET /free HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(conn)
        status, _, raw = read_response(reader)
        assert status == 200
        answer = json.loads(raw)
        assert answer["direct"] is True
        assert answer["size"] == len(body)
        assert answer["sha256"] == answer["stored"] == hashlib.sha256(body).hexdigest()
        assert all(name.startswith("body") for name in answer["threads"])
        status, _, raw = read_response(reader)
        assert status == 200 and json.loads(raw) == {"free": 8}
        # And again, on the same connection (keep-alive, as the stock client sends parts).
        second = body_of(3 * MiB)
        conn.sendall(put_head(len(second)) + second)
        status, _, raw = read_response(reader)
        assert status == 200
        assert json.loads(raw)["direct"] is True
        assert json.loads(raw)["sha256"] == hashlib.sha256(second).hexdigest()


def test_expect_100_continue_is_answered_before_the_body_is_read(
    serve: Callable[..., Running],
) -> None:
    hub = serve()
    body = body_of(2 * MiB)
    with hub.connect() as conn:
        conn.sendall(put_head(len(body), extra="Expect: 100-continue\r\n"))
        reader = Reader(conn)
        assert reader.until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue"
        conn.sendall(body)
        status, _, raw = read_response(reader)
        assert status == 200
        assert json.loads(raw)["direct"] is True
        assert json.loads(raw)["sha256"] == hashlib.sha256(body).hexdigest()


def test_chunked_bodies_and_unexpected_lengths_take_the_asgi_path(
    serve: Callable[..., Running],
) -> None:
    hub = serve()
    body = body_of(MiB + 7)
    with hub.connect() as conn:
        reader = Reader(conn)
        chunked = b"".join(
            b"%x\r\n%s\r\n" % (len(piece), piece) for piece in (body[: MiB // 2], body[MiB // 2 :])
        )
        conn.sendall(
            b"PUT /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"X-Expect: %d\r\n\r\n" % len(body) + chunked + b"0\r\n\r\n"
        )
        status, _, raw = read_response(reader)
        assert status == 200
        assert json.loads(raw)["direct"] is False
        assert json.loads(raw)["sha256"] == hashlib.sha256(body).hexdigest()
        # The app expects another length than the client announced: not taken, so the
        # app's own checks (the hub's 413 or 400) see the body as it is.
        conn.sendall(put_head(len(body), expect=len(body) - 1) + body)
        status, _, raw = read_response(reader)
        assert status == 200
        assert json.loads(raw)["direct"] is False
        assert json.loads(raw)["size"] == len(body)


def test_with_every_slot_taken_a_body_goes_through_asgi(serve: Callable[..., Running]) -> None:
    hub = serve(socket_body_slots=1)
    slow = body_of(2 * MiB)
    with hub.connect() as holder:
        holder.sendall(put_head(len(slow)) + slow[:1000])
        deadline = time.monotonic() + 10
        while hub.free_slots() != 0:
            assert time.monotonic() < deadline, "the slow upload never took the slot"
            time.sleep(0.05)
        body = body_of(MiB)
        with hub.connect() as other:
            other.sendall(put_head(len(body)) + body)
            status, _, raw = read_response(Reader(other))
        assert status == 200
        assert json.loads(raw)["direct"] is False
        assert json.loads(raw)["sha256"] == hashlib.sha256(body).hexdigest()
        holder.sendall(slow[1000:])
        status, _, raw = read_response(Reader(holder))
        assert status == 200
        assert json.loads(raw)["direct"] is True
        assert json.loads(raw)["sha256"] == hashlib.sha256(slow).hexdigest()
    assert hub.free_slots() == 1


def test_a_stalled_body_gets_408_and_the_connection_is_closed(
    serve: Callable[..., Running],
) -> None:
    hub = serve(body_idle_timeout_seconds=1)
    with hub.connect() as conn:
        conn.sendall(put_head(MiB) + b"x" * 1000)
        reader = Reader(conn)
        status, headers, raw = read_response(reader)
        assert status == 408
        assert json.loads(raw)["error"] == BodyTimeout(1).message
        assert headers.get("connection") == "close"
        assert conn.recv(1) == b""  # closed: the stream is mid-body
    assert [name for name, _ in hub.app.failures] == ["BodyTimeout"]
    assert hub.free_slots() == 8


def test_a_client_that_goes_away_mid_body_leaves_nothing_running(
    serve: Callable[..., Running],
) -> None:
    hub = serve()
    with hub.connect() as conn:
        conn.sendall(put_head(8 * MiB) + body_of(3 * MiB))
        time.sleep(0.3)
    deadline = time.monotonic() + 10
    while not hub.app.failures:
        assert time.monotonic() < deadline, "the app never heard of the disconnect"
        time.sleep(0.05)
    name, sink = hub.app.failures[0]
    assert name == "ClientDisconnect"
    assert len(sink.data) < 8 * MiB
    time.sleep(0.5)
    assert sink.late_writes == 0  # both threads had stopped when the app heard of it
    assert hub.free_slots() == 8


def test_a_cancelled_request_stops_its_reader(serve: Callable[..., Running]) -> None:
    """Server shutdown cancels the request's task: the reader thread must finish
    the write it is in and stop before the task ends (the caller then drops what
    was written). The cancel comes in the middle of a slow write: a reader left
    running would end that write after the app heard of the cancel."""
    hub = serve()
    hub.app.write_delay = 0.5
    with hub.connect() as conn:
        conn.sendall(put_head(16 * MiB) + body_of(5 * MiB))
        assert hub.app.writing.wait(10), "the reader never began a write"
        for loop, task in hub.app.tasks:
            loop.call_soon_threadsafe(task.cancel)
        deadline = time.monotonic() + 10
        while not hub.app.failures:
            assert time.monotonic() < deadline, "the request was never cancelled"
            time.sleep(0.05)
        name, sink = hub.app.failures[0]
        assert name == "CancelledError"
        # More of the body arrives: nobody may read it into the dropped sink now.
        conn.setblocking(False)
        with contextlib.suppress(BlockingIOError, ConnectionError):  # or closed by now
            conn.send(body_of(2 * MiB))
        time.sleep(1.0)  # longer than a write: one still running would have ended
    assert sink.late_writes == 0
    assert hub.free_slots() == 8


def test_the_sink_gets_whole_page_aligned_buffers_even_after_bytes_read_with_the_head(
    serve: Callable[..., Running],
) -> None:
    """uvicorn reads the first bytes of a body with the head; they go at the front
    of the first buffer, so every write but the last is a whole, page-aligned buffer
    at a multiple of its size, as direct I/O needs (``storage/direct.py``)."""
    hub = serve()
    body = body_of(3 * BUFFER_BYTES + 5000)
    with hub.connect() as conn:
        conn.sendall(put_head(len(body)) + body[:777])  # arrives with the head
        time.sleep(0.2)
        conn.sendall(body[777:])
        status, _, raw = read_response(Reader(conn))
    assert status == 200
    answer = json.loads(raw)
    assert answer["direct"] is True
    assert answer["sha256"] == answer["stored"] == hashlib.sha256(body).hexdigest()
    writes = [tuple(w) for w in answer["writes"]]
    assert writes == [(BUFFER_BYTES, True)] * 3 + [(5000, True)]


def test_a_write_that_fails_stops_the_reader_and_the_hash(serve: Callable[..., Running]) -> None:
    """A full disk half-way: the app gets the sink's own error once every thread has
    stopped, nothing is written or hashed after it, and the slot is free again."""
    hub = serve()
    hub.app.fail_at = 1
    body = body_of(6 * BUFFER_BYTES)
    with hub.connect() as conn:

        def send() -> None:
            with contextlib.suppress(OSError):  # the server closes the connection
                conn.sendall(put_head(len(body)) + body)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        deadline = time.monotonic() + 10
        while not hub.app.failures:
            assert time.monotonic() < deadline, "the app never heard of the failed write"
            time.sleep(0.05)
        with contextlib.suppress(OSError):  # ends the sender, should it still be sending
            conn.shutdown(socket.SHUT_RDWR)
        sender.join(10)
    name, sink = hub.app.failures[0]
    assert name == "OSError"
    assert len(sink.data) == BUFFER_BYTES  # the first write only
    assert sink.hashed <= BUFFER_BYTES
    time.sleep(0.5)
    assert sink.late_writes == 0
    assert hub.free_slots() == 8


def test_a_slow_client_that_keeps_sending_is_not_timed_out(
    serve: Callable[..., Running],
) -> None:
    """The idle limit is on silence, not on the whole body: a client that trickles
    a few bytes at a time gets its body in whole, though it takes longer than the
    limit in all."""
    hub = serve(body_idle_timeout_seconds=1)
    body = body_of(64 * 1024)
    pieces = [body[i : i + 8192] for i in range(0, len(body), 8192)]
    with hub.connect() as conn:
        conn.sendall(put_head(len(body)))
        started = time.monotonic()
        for piece in pieces:
            time.sleep(0.3)
            conn.sendall(piece)
        status, _, raw = read_response(Reader(conn))
    assert time.monotonic() - started > 2  # well past the 1 s idle limit in all
    assert status == 200
    answer = json.loads(raw)
    assert answer["direct"] is True
    assert answer["sha256"] == hashlib.sha256(body).hexdigest()
