"""Backends of the outage tests that a test may stop and start: a PostgreSQL server of
its own (``initdb`` in a temporary folder, its own port and socket folder), a
``redis-server`` of its own, and a TCP gate in front of the object store that can
refuse connections or swallow them. The machine's shared PostgreSQL and Redis are
never touched."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .conftest import free_port

PG_BIN = Path("/usr/lib/postgresql")


def postgres_bin(name: str) -> str | None:
    """``initdb`` / ``postgres`` of the newest installed PostgreSQL, or on PATH."""
    found = sorted(PG_BIN.glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    return str(found[-1]) if found else shutil.which(name)


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.05)


class PrivatePostgres:
    """A PostgreSQL server on a port of its own, in a folder of its own. As root, it
    runs as the ``postgres`` user (the server refuses to run as root)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="commons-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            shutil.chown(self.root, user="postgres")
        initdb = postgres_bin("initdb")
        assert initdb is not None
        subprocess.run(
            [initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            user=self.user,
            cwd=self.root,
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/hub"

    def start(self) -> None:
        postgres = postgres_bin("postgres")
        assert postgres is not None
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    postgres,
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.root),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "max_connections=200",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                user=self.user,
                cwd=self.root,
            )
        _wait_port(self.port, self.proc, self.log, "postgres")

    def create(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:  # the port opens a moment before the server accepts sessions
            try:
                with psycopg.connect(self.admin, autocommit=True) as conn:
                    conn.execute("CREATE DATABASE hub")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def crash(self) -> None:
        """Immediate shutdown (SIGQUIT): no checkpoint; the next start replays the WAL,
        as after a crash."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGQUIT)
        self.proc.wait(30)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            self.proc.wait(30)
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """A ``redis-server`` on a port of its own, without persistence: a restart loses
    every key, the harshest case for the queue."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="commons-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = self.root / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [*command, "--save", "", "--appendonly", "no"],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
            )
        _wait_port(self.port, self.proc, self.log, "redis")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


class Gate:
    """A TCP relay in front of ``target`` (host, port). ``refuse()`` closes its port
    and resets every connection through it (a store that is down); ``hang()`` keeps
    accepting but passes nothing on either way (a store that stopped answering);
    ``open()`` serves again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.mode = "open"
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self.open()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def open(self) -> None:
        with self._lock:
            self.mode = "open"
            if self._listener is None:
                listener = socket.socket()
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind(("127.0.0.1", self.port))
                listener.listen(64)
                self._listener = listener
                threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def hang(self) -> None:
        with self._lock:
            self.mode = "hang"

    def refuse(self) -> None:
        with self._lock:
            self.mode = "refuse"
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                # SO_LINGER 0: close with a reset, as a dead server's kernel answers.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self.refuse()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by refuse()
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._relay, args=(client, upstream), daemon=True).start()

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        peer = {a: b, b: a}
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.2)
                if self.mode == "hang":
                    time.sleep(0.2)
                    continue  # nothing passes; the caller's timeout ends it
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peer[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.close()
            with self._lock:
                self._conns = [c for c in self._conns if c not in (a, b)]


def relay_target(endpoint: str) -> tuple[str, int]:
    """(host, port) of an ``http://host:port`` endpoint."""
    host, _, port = endpoint.split("://", 1)[1].rstrip("/").partition(":")
    return host, int(port or 80)


def wait_for(what: str | Callable[[], str], check: Any, seconds: float = 90) -> Any:
    """Poll ``check`` until it is true; ``what`` (or what it returns, for a message
    that says what was seen instead) names it in the failure."""
    deadline = time.monotonic() + seconds
    while not (value := check()):
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"waited {seconds} s for {what if isinstance(what, str) else what()}"
            )
        time.sleep(0.1)
    return value
