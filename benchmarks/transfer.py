#!/usr/bin/env python3
"""Transfer benchmark: 1 GiB downloads and verified uploads through a real ``commons serve``.

Run it from the repository root with the project's virtual environment::

    .venv/bin/python benchmarks/transfer.py

Everything runs over 127.0.0.1 with curl as the client, against a page-cache-warm
file in a temporary folder. The hubs run this checkout's ``modelcommons``
(``python -m modelcommons`` with it first on ``PYTHONPATH``), whatever ``commons``
on the PATH would run. Baselines run in the same invocation, interleaved with the
hub runs so that a noisy machine affects both alike:

* downloads are compared with a raw ``socket.sendfile`` HTTP server;
* uploads, the LFS basic PUT and the multipart upload end to end (parts in order
  over one kept-alive connection, as huggingface_hub sends them, then the
  completion; also last to first, for context), all verified by sha256 and fsynced
  on the server, are compared with a raw ``recv_into`` socket-to-file sink that
  fsyncs before it answers (the ceiling: sha256 is faster than the disk here), and,
  for context, with the sink without fsync and single-core ``hashlib.sha256`` over
  the same bytes in memory;
* the hub's peak memory growth is read from ``/proc/PID/status``.

The results, with the machine they came from, overwrite ``benchmarks/RESULTS.md``.
Every process the script starts is stopped by its own PID, and the temporary
folder is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import http.client
import importlib.metadata
import itertools
import json
import mmap
import os
import platform
import queue
import resource
import secrets
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

MB = 1000 * 1000
MiB = 1024 * 1024
GiB = 1024 * MiB
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
USER = "alice"
REPO = "bench"
FILE_NAME = "big.bin"
# Goals from the brief (ratios, so they carry across machines).
GOAL_DOWNLOAD = 0.70  # hub whole-file GET / raw sendfile server
GOAL_UPLOAD = 0.80  # hub verified upload (basic, multipart) / raw sink + fsync
GOAL_MEMORY_MB = 100.0  # server peak RSS growth during a transfer

P = ParamSpec("P")
T = TypeVar("T")


# --------------------------------------------------------------------------
# Baseline servers (run as child processes of this script: --serve KIND)
# --------------------------------------------------------------------------


def _read_head(conn: socket.socket) -> tuple[bytes, bytes]:
    """Read an HTTP request head; return (head, the body bytes read past it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("the client closed the connection inside the head")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _header(head: bytes, name: str) -> str | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.decode("latin-1").partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def serve_file(path: Path, *, zero_copy: bool) -> None:
    """GET serves ``path`` whole, with ``socket.sendfile`` (the zero-copy baseline)
    or, for comparison, with ``readinto`` + ``sendall`` of 4 MiB (a plain copy loop)."""
    size = path.stat().st_size
    buffer = bytearray(4 * MiB)
    view = memoryview(buffer)
    with socket.create_server(("127.0.0.1", 0)) as server:
        print(server.getsockname()[1], flush=True)
        while True:
            conn, _ = server.accept()
            with conn, contextlib.suppress(OSError), path.open("rb", buffering=0) as f:
                _read_head(conn)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n\r\n" % size
                )
                if zero_copy:
                    conn.sendfile(f)
                else:
                    while n := f.readinto(buffer):
                        conn.sendall(view[:n])


def serve_sink(directory: Path) -> None:
    """PUT bodies go to a file with ``recv_into`` (1 MiB): the Python upload ceiling.

    Each body is kept in a new file, as the hub keeps each object, so that both
    pay alike for new pages. With ``?fsync=1`` the file is fsynced before the
    answer, as the hub does before an object becomes visible. With ``?direct=1``
    (context) the body is written past the page cache as the hub's store writes it
    (:func:`_sink_direct`), and fsynced.
    """
    view = memoryview(bytearray(MiB))
    with socket.create_server(("127.0.0.1", 0)) as server:
        print(server.getsockname()[1], flush=True)
        for index in itertools.count():
            conn, _ = server.accept()
            with conn, contextlib.suppress(OSError):
                head, rest = _read_head(conn)
                length = int(_header(head, "content-length") or 0)
                query = head.split(b"\r\n", 1)[0]
                path = directory / f"sink-{index}.bin"
                if b"direct=1" in query:
                    received = _sink_direct(conn, rest, length, path)
                else:
                    received = _sink_buffered(
                        conn, rest, length, path, view, fsync=b"fsync=1" in query
                    )
                status = b"200 OK" if received == length else b"400 Bad Request"
                conn.sendall(
                    b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )


def _sink_buffered(
    conn: socket.socket, rest: bytes, length: int, path: Path, view: memoryview, *, fsync: bool
) -> int:
    """One body through the page cache, as plain code stores it; returns its bytes."""
    with path.open("wb", buffering=0) as f:
        f.write(rest)
        received = len(rest)
        while received < length:
            n = conn.recv_into(view, min(len(view), length - received))
            if not n:
                break
            f.write(view[:n])
            received += n
        if fsync:
            os.fsync(f.fileno())
    return received


def _sink_direct(conn: socket.socket, rest: bytes, length: int, path: Path) -> int:
    """One body the way the hub's store writes it, without the hash: page-aligned 2
    MiB buffers, each written with ``O_DIRECT`` by a second thread while the next
    one is received (the last few bytes, under a block, through the page cache),
    then fsynced. Returns the bytes received."""
    size = 2 * MiB
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    direct = os.open(path, os.O_WRONLY | getattr(os, "O_DIRECT", 0))
    free: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
    full: queue.SimpleQueue[tuple[mmap.mmap, int] | None] = queue.SimpleQueue()
    for _ in range(4):
        free.put(mmap.mmap(-1, size))

    def write() -> None:
        offset = 0
        while (item := full.get()) is not None:
            buffer, n = item
            head = n - n % 4096
            with memoryview(buffer) as view:
                if head:
                    os.pwrite(direct, view[:head], offset)
                if n > head:
                    os.pwrite(fd, view[head:n], offset + head)
            offset += n
            free.put(buffer)

    writer = threading.Thread(target=write)
    writer.start()
    received = 0
    try:
        while received < length:
            buffer = free.get()
            want = min(size, length - received)
            with memoryview(buffer) as view:
                n = len(rest[:want])
                view[:n] = rest[:want]
                rest = rest[want:]
                while n < want and (got := conn.recv_into(view[n:want])):
                    n += got
            full.put((buffer, n))
            received += n
            if n < want:
                break
    finally:
        full.put(None)
        writer.join()
    os.fsync(fd)
    os.close(direct)
    os.close(fd)
    return received


# --------------------------------------------------------------------------
# Processes, memory, HTTP helpers
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Child:
    """A process this script started; stopped by its own PID."""

    name: str
    proc: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_baseline(kind: str, target: Path) -> tuple[Child, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve",
            kind,
            "--serve-path",
            str(target),
        ],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    child = Child(kind, proc)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    if not line.isdigit():
        child.stop()
        raise RuntimeError(f"the {kind} baseline server did not start")
    return child, f"http://127.0.0.1:{line}"


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (and friends) of a process, in bytes."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Vm") and value.strip().endswith("kB"):
            out[key] = int(value.split()[0]) * 1024
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http_json(
    method: str,
    url: str,
    *,
    token: str | None = None,
    body: bytes | None = None,
    content_type: str = "application/json",
) -> Any:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {url} -> {exc.code}: {exc.read()[:500]!r}") from exc
    return json.loads(raw) if raw else None


CURL = shutil.which("curl") or "/usr/bin/curl"


def _curl(args: Sequence[str]) -> list[str]:
    out = subprocess.run(
        [CURL, "-s", "-S", *args], check=True, capture_output=True, text=True, timeout=600
    ).stdout
    return out.split()


def curl_download(url: str, expected: int, range_header: str | None = None) -> float:
    """One GET with curl into /dev/null; curl's %{speed_download} in MB/s."""
    extra = ["-H", f"Range: {range_header}"] if range_header else []
    code, size, speed = _curl(
        ["-o", "/dev/null", "-w", "%{http_code} %{size_download} %{speed_download}", *extra, url]
    )
    wanted = "206" if range_header else "200"
    if code != wanted or int(size) != expected:
        raise RuntimeError(
            f"GET {url} ({range_header}): HTTP {code}, {size} bytes, "
            f"expected {wanted} and {expected}"
        )
    return float(speed) / MB


def children_cpu_seconds() -> float:
    """User + system time of this script's finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def curl_upload(url: str, path: Path) -> tuple[float, float]:
    """One PUT with ``curl -T``: bytes / total time (so it includes the server's
    verification and fsync before it answers), in MB/s, and curl's own CPU time
    (the only child process waited for meanwhile)."""
    before = children_cpu_seconds()
    code, size, total = _curl(
        [
            "-T",
            str(path),
            "-H",
            "Expect:",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{size_upload} %{time_total}",
            url,
        ]
    )
    client_cpu = children_cpu_seconds() - before
    if code != "200" or int(size) != path.stat().st_size:
        raise RuntimeError(f"PUT {url}: HTTP {code} after {size} bytes")
    return int(size) / float(total) / MB, client_cpu


# --------------------------------------------------------------------------
# The hub under test
# --------------------------------------------------------------------------


def commons_command() -> list[str]:
    """``python -m modelcommons`` from the checkout this script belongs to, whatever
    ``commons`` on the PATH (or an editable install of another checkout) would run."""
    return [sys.executable, "-m", "modelcommons"]


def checkout_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMONS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@dataclasses.dataclass
class Hub:
    name: str
    child: Child
    url: str
    token: str
    data_dir: Path
    settings: dict[str, int]

    def api(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> Any:
        return http_json(
            method, self.url + path, token=self.token, body=body, content_type=content_type
        )

    def lfs_batch(self, oid: str, size: int) -> dict[str, Any]:
        body = json.dumps(
            {
                "operation": "upload",
                "transfers": ["basic", "multipart"],
                "objects": [{"oid": oid, "size": size}],
            }
        ).encode()
        answer = self.api(
            "POST",
            f"/{USER}/{REPO}.git/info/lfs/objects/batch",
            body,
            "application/vnd.git-lfs+json",
        )
        obj: dict[str, Any] = answer["objects"][0]
        if "actions" not in obj:
            raise RuntimeError(f"the hub did not ask for {oid}: {obj}")
        upload: dict[str, Any] = obj["actions"]["upload"]
        return upload

    def commit_lfs(self, path: str, oid: str, size: int) -> None:
        lines = [
            {"key": "header", "value": {"summary": f"add {path}"}},
            {"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": oid, "size": size}},
        ]
        body = "\n".join(json.dumps(line) for line in lines).encode()
        self.api("POST", f"/api/models/{USER}/{REPO}/commit/main", body, "application/x-ndjson")

    def blob_path(self, oid: str) -> Path | None:
        return next((self.data_dir / "blobs").rglob(oid), None)


def start_hub(name: str, root: Path, multipart_chunk: int) -> Hub:
    commons = commons_command()
    data_dir = root / name
    env = checkout_env()
    env["COMMONS_MULTIPART_CHUNK_BYTES"] = str(multipart_chunk)
    # Whole-file LFS storage is what is measured: no background chunking into the Xet
    # store, which would take CPU from the measured runs and remove the blobs served.
    env["COMMONS_XET_CHUNK_UPLOADS"] = "false"

    def cli(*args: str) -> str:
        return subprocess.run(
            [*commons, *args, "--data-dir", str(data_dir)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
            cwd=ROOT,
        ).stdout

    cli("user", "create", USER)
    token = cli("token", "create", USER, "--write").strip().splitlines()[-1].strip()
    port = free_port()
    log = (root / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [*commons, "serve", "--data-dir", str(data_dir), "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        cwd=ROOT,
    )
    log.close()
    child = Child(f"commons serve ({name})", proc)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            http_json("GET", url + "/api/health")
            break
        except (OSError, RuntimeError):
            if proc.poll() is not None or time.monotonic() > deadline:
                child.stop()
                tail = (root / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the hub did not start:\n{tail}") from None
            time.sleep(0.2)
    sys.path.insert(0, str(ROOT))
    from modelcommons.settings import Settings  # what the server sees, for the record

    settings = Settings.from_env(env=env)
    hub = Hub(
        name,
        child,
        url,
        token,
        data_dir,
        {
            "download_chunk_bytes": settings.download_chunk_bytes,
            "multipart_chunk_bytes": settings.multipart_chunk_bytes,
            "xet_chunk_uploads": int(settings.xet_chunk_uploads),
        },
    )
    hub.api("POST", "/api/repos/create", json.dumps({"name": REPO}).encode())
    return hub


# --------------------------------------------------------------------------
# Test data
# --------------------------------------------------------------------------


def make_file(path: Path, size: int) -> None:
    """``size`` bytes: a 64 MiB random block repeated (os.urandom is slow at 1 GiB)."""
    block = os.urandom(min(size, 64 * MiB))
    with path.open("wb") as f:
        left = size
        while left:
            n = f.write(memoryview(block)[: min(left, len(block))])
            left -= n


def new_content(path: Path) -> tuple[str, float]:
    """Give the file new content (random first 32 bytes) so the hub stores a new
    object; return its sha256 and the seconds a single-core ``hashlib.sha256``
    took over the bytes, mapped from the page cache (populated before timing)."""
    with path.open("r+b") as f:
        os.pwrite(f.fileno(), secrets.token_bytes(32), 0)
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        with mmap.mmap(f.fileno(), 0, flags=flags, prot=mmap.PROT_READ) as mapped:
            start = time.perf_counter()
            digest = hashlib.sha256(mapped).hexdigest()
            seconds = time.perf_counter() - start
    return digest, seconds


class Recycler:
    """Gives every measured upload the same kind of free memory to write into.

    A server whose memory is full of page cache stores new uploads in pages it
    reclaims from old cache. A mostly idle VM instead hands out guest memory
    that its host has taken back, and touching such pages again can make
    writing a new file several times slower (about 0.4 against 4-5 GB/s on the
    VM this was written on). Which pages a writer gets depends on what was
    freed just before: pages of a deleted file that had never been written
    back were reused fast there, pages of a deleted fsynced file were not.

    So before each measured upload, the previous upload's file is deleted,
    then a scratch file a little larger than the upload is written (not
    measured, no fsync) and deleted, which leaves freshly freed, cheap pages
    for the next writer, the hub and the baselines alike.
    """

    def __init__(self, scratch: Path, size: int) -> None:
        self.scratch = scratch
        self.size = size
        self.paths: list[Path] = []

    def keep(self, path: Path | None) -> None:
        if path is not None:
            self.paths.append(path)

    def __call__(self) -> None:
        for path in [*self.paths, *self.scratch.iterdir()]:
            path.unlink(missing_ok=True)
        self.paths.clear()
        pool = self.scratch / "pool.bin"
        write_speed(pool, self.size + self.size // 8)
        pool.unlink()


def write_speed(target: Path, size: int) -> float:
    """Write ``size`` bytes into a new file (kept, like an uploaded object) with
    8 MiB writes and no network or hashing: what storing alone costs here."""
    block = memoryview(bytes(8 * MiB))
    start = time.perf_counter()
    with target.open("wb", buffering=0) as f:
        left = size
        while left:
            left -= f.write(block[: min(left, len(block))])
    return size / (time.perf_counter() - start) / MB


def cat_speed(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
    return path.stat().st_size / (time.perf_counter() - start) / MB


# --------------------------------------------------------------------------
# Multipart upload client (PUT of file slices with sendfile, then complete)
# --------------------------------------------------------------------------


def put_slice(
    conn: http.client.HTTPConnection, url: str, path: Path, offset: int, count: int
) -> str:
    """PUT one part over ``conn`` (kept alive between parts, as huggingface_hub's
    session does); returns its ETag."""
    conn.putrequest("PUT", urllib.parse.urlsplit(url).path, skip_accept_encoding=True)
    conn.putheader("Content-Length", str(count))
    conn.putheader("Content-Type", "application/octet-stream")
    conn.endheaders()
    assert conn.sock is not None
    with path.open("rb") as f:
        sent = conn.sock.sendfile(f, offset, count)
    if sent != count:
        raise RuntimeError(f"sent {sent} of {count} bytes")
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"PUT part {url}: HTTP {response.status}")
    return response.getheader("ETag") or ""


def multipart_upload(
    upload: dict[str, Any], path: Path, oid: str, in_order: bool = True
) -> tuple[float, float]:
    """Upload all parts one after another on one connection, in order as
    huggingface_hub does (or last to first), then complete.
    Returns (seconds for the parts, seconds for the completion)."""
    header: dict[str, str] = upload["header"]
    chunk = int(header["chunk_size"])
    size = path.stat().st_size
    numbers = sorted((int(k) for k in header if k.isdigit()), reverse=not in_order)
    where = urllib.parse.urlsplit(header[str(numbers[0])])
    conn = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=600)
    try:
        start = time.perf_counter()
        etags = []
        for number in numbers:
            offset = (number - 1) * chunk
            etag = put_slice(conn, header[str(number)], path, offset, min(chunk, size - offset))
            etags.append({"partNumber": number, "etag": etag})
        parts_done = time.perf_counter()
    finally:
        conn.close()
    body = json.dumps({"oid": oid, "parts": etags}).encode()
    http_json("POST", upload["href"], body=body, content_type="application/vnd.git-lfs+json")
    return parts_done - start, time.perf_counter() - parts_done


# --------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Series:
    label: str
    unit: str
    values: list[float] = dataclasses.field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def runs(self) -> str:
        return "/".join(f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}" for v in self.values)


@dataclasses.dataclass
class Results:
    size: int
    runs: int
    download_runs: int
    series: dict[str, Series]
    info: dict[str, str]
    settings: dict[str, str]
    peak_reset: bool
    started: float
    seconds: float = 0.0
    #: RSS of each server (by PID) when idle, and each transfer's peak above it, in MB.
    idle: dict[int, int] = dataclasses.field(default_factory=dict)
    above_idle: dict[str, float] = dataclasses.field(default_factory=dict)

    def add(self, key: str, value: float) -> None:
        self.series[key].values.append(value)
        print(f"  {self.series[key].label}: {value:,.1f} {self.series[key].unit}", flush=True)

    def med(self, key: str) -> float:
        return self.series[key].median

    def with_memory(
        self, key: str, pid: int, action: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``action``; record the server's VmHWM after minus VmRSS before under
        ``key``, and the largest VmHWM above its idle RSS in ``above_idle``."""
        reset_peak(pid)
        before = proc_status(pid)["VmRSS"]
        result = action(*args, **kwargs)
        peak = proc_status(pid)["VmHWM"]
        self.add(key, (peak - before) / MB)
        above = (peak - self.idle.setdefault(pid, before)) / MB
        self.above_idle[key] = max(self.above_idle.get(key, above), above)
        return result


SERIES: list[tuple[str, str, str]] = [
    ("cat", "`cat file > /dev/null` (page-cache read ceiling)", "MB/s"),
    ("dl_sendfile", "GET, raw `socket.sendfile` server (baseline)", "MB/s"),
    ("dl_copy", "GET, raw Python `readinto` + `sendall` 4 MiB server (context)", "MB/s"),
    ("dl_hub", "GET, hub `resolve` whole file", "MB/s"),
    ("dl_hub_range0", "GET, hub `resolve` with `Range: bytes=0-` (206)", "MB/s"),
    ("dl_hub_range_mid", "GET, hub `resolve`, middle half as one range (206)", "MB/s"),
    ("sha256", "`hashlib.sha256`, single core, same bytes in memory (context)", "MB/s"),
    ("write", "write into a new file, 8 MiB writes, no network (storage cost alone)", "MB/s"),
    ("up_sink", "PUT, raw `recv_into` → file sink, no fsync (context)", "MB/s"),
    ("up_sink_fsync", "PUT, raw sink + fsync before answering (upload baseline)", "MB/s"),
    (
        "up_sink_direct",
        "PUT, raw sink writing past the page cache (`O_DIRECT`, as the hub) + fsync (context)",
        "MB/s",
    ),
    ("up_hub", "PUT, hub LFS basic (signed URL, sha256-verified, fsynced)", "MB/s"),
    ("up_hub_mp", "hub LFS multipart, parts in order + complete (end to end)", "MB/s"),
    ("up_hub_mp_parts", "… multipart in order: the part PUTs alone", "MB/s"),
    ("up_hub_mp_complete", "… multipart in order: the completion call", "s"),
    ("up_hub_mp_ooo", "hub LFS multipart, parts last to first + complete (context)", "MB/s"),
    ("up_hub_mp_ooo_complete", "… multipart last to first: the completion call", "s"),
    ("cpu_up_sink", "server CPU time, raw sink + fsync (user + system, all threads)", "s"),
    ("cpu_up_sink_direct", "server CPU time, raw `O_DIRECT` sink + fsync", "s"),
    ("cpu_up_hub", "server CPU time, hub basic PUT", "s"),
    ("cpu_up_hub_mp", "server CPU time, hub multipart in order", "s"),
    ("cpu_client_up_sink", "client (curl) CPU time, PUT to the raw sink + fsync", "s"),
    ("cpu_client_up_hub", "client (curl) CPU time, hub basic PUT", "s"),
    ("mem_up", "hub peak RSS growth, basic PUT", "MB"),
    ("mem_up_mp", "hub peak RSS growth, multipart upload", "MB"),
    ("mem_dl", "hub peak RSS growth, GET whole file", "MB"),
    ("mem_dl_range", "hub peak RSS growth, GET `Range: bytes=0-`", "MB"),
]


def machine_info() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in cpuinfo.splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    flags = next(
        (
            line.split(":", 1)[1].split()
            for line in cpuinfo.splitlines()
            if line.startswith("flags")
        ),
        [],
    )
    mem_kb = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )

    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "absent"

    curl = subprocess.run([CURL, "--version"], capture_output=True, text=True).stdout
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "sha_ni": "yes" if "sha_ni" in flags else "no",
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "openssl": ssl.OPENSSL_VERSION,
        "curl": curl.split("\n", 1)[0].split(" (")[0],
        "server stack": ", ".join(
            f"{p} {version(p)}" for p in ("starlette", "uvicorn", "uvloop", "httptools", "anyio")
        ),
    }


@contextlib.contextmanager
def workspace(parent: str | None, size: int) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="commons-bench-", dir=parent))
    try:
        need = size * 6
        free = shutil.disk_usage(root).free
        if free < need:
            raise SystemExit(
                f"{root} has {free / GiB:.1f} GiB free; about {need / GiB:.1f} GiB are needed"
            )
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_benchmark(args: argparse.Namespace) -> Results:
    size = args.size_mib * MiB
    results = Results(
        size,
        args.runs,
        args.download_runs,
        {key: Series(label, unit) for key, label, unit in SERIES},
        machine_info(),
        {},
        peak_reset=True,
        started=time.monotonic(),
    )
    children: list[Child] = []
    with workspace(args.tmp_dir, size) as root:
        try:
            _run(args, results, root, children)
        finally:
            for child in reversed(children):
                child.stop()
    results.seconds = time.monotonic() - results.started
    results.settings["load average at end"] = f"{os.getloadavg()[0]:.2f}"
    return results


def _run(args: argparse.Namespace, results: Results, root: Path, children: list[Child]) -> None:
    size = results.size
    source = root / "source.bin"
    print(f"Writing a {size // MiB} MiB test file in {root}", flush=True)
    make_file(source, size)

    # The basic hub takes the whole file in one PUT; the other gets multipart.
    basic = start_hub("hub-basic", root, multipart_chunk=max(2 * GiB, size + 1))
    children.append(basic.child)
    multipart: Hub | None = None
    if not args.no_multipart:
        multipart = start_hub(
            "hub-multipart", root, multipart_chunk=min(256 * MiB, max(MiB, size // 4))
        )
        children.append(multipart.child)
    scratch = root / "baselines"
    scratch.mkdir()
    sink, sink_url = start_baseline("sink", scratch)
    children.append(sink)
    results.peak_reset = reset_peak(basic.child.pid)
    for hub in (basic, multipart):
        if hub is not None:
            results.idle[hub.child.pid] = proc_status(hub.child.pid)["VmRSS"]
    results.settings = {
        "load average at start": f"{os.getloadavg()[0]:.2f}",
        "file": f"{size // MiB} MiB ({size:,} bytes), page cache warm",
        "hub download chunk": f"{basic.settings['download_chunk_bytes'] // MiB} MiB",
        "basic hub multipart threshold": f"{basic.settings['multipart_chunk_bytes']:,} bytes",
        "hub RSS when idle": f"{proc_status(basic.child.pid)['VmRSS'] / MB:.0f} MB",
        "background Xet chunking": "on" if basic.settings["xet_chunk_uploads"] else "off",
    }
    if multipart:
        results.settings["multipart hub part size"] = (
            f"{multipart.settings['multipart_chunk_bytes'] // MiB} MiB"
        )

    recycle = Recycler(scratch, size)

    def fresh_object() -> str:
        """New content for the next hub upload; timing its sha256 is a baseline row."""
        oid, seconds = new_content(source)
        results.add("sha256", size / seconds / MB)
        return oid

    def hub_put() -> None:
        oid = fresh_object()
        href = basic.lfs_batch(oid, size)["href"]
        recycle()
        before = cpu_seconds(basic.child.pid)
        speed, client_cpu = results.with_memory(
            "mem_up", basic.child.pid, curl_upload, href, source
        )
        results.add("up_hub", speed)
        results.add("cpu_up_hub", cpu_seconds(basic.child.pid) - before)
        results.add("cpu_client_up_hub", client_cpu)
        recycle.keep(basic.blob_path(oid))

    def sink_put(query: str, key: str) -> None:
        recycle()
        before = cpu_seconds(sink.pid)
        speed, client_cpu = curl_upload(sink_url + query, source)
        results.add(key, speed)
        if key == "up_sink_fsync":
            results.add("cpu_up_sink", cpu_seconds(sink.pid) - before)
            results.add("cpu_client_up_sink", client_cpu)
        if key == "up_sink_direct":
            results.add("cpu_up_sink_direct", cpu_seconds(sink.pid) - before)

    def plain_write(path: Path) -> None:
        recycle()
        results.add("write", write_speed(path, size))

    def multipart_put(hub: Hub, in_order: bool) -> None:
        oid = fresh_object()
        upload = hub.lfs_batch(oid, size)
        if "header" not in upload:
            raise RuntimeError("the multipart hub answered a basic upload")
        recycle()
        if in_order:
            before = cpu_seconds(hub.child.pid)
            parts, complete = results.with_memory(
                "mem_up_mp", hub.child.pid, multipart_upload, upload, source, oid
            )
            results.add("cpu_up_hub_mp", cpu_seconds(hub.child.pid) - before)
            results.add("up_hub_mp", size / (parts + complete) / MB)
            results.add("up_hub_mp_parts", size / parts / MB)
            results.add("up_hub_mp_complete", complete)
        else:
            parts, complete = multipart_upload(upload, source, oid, in_order=False)
            results.add("up_hub_mp_ooo", size / (parts + complete) / MB)
            results.add("up_hub_mp_ooo_complete", complete)
        recycle.keep(hub.blob_path(oid))

    print("Uploads", flush=True)
    for i in range(args.runs):
        print(f" run {i + 1}/{args.runs}", flush=True)
        steps: list[Callable[[], None]] = [
            hub_put,
            functools.partial(sink_put, "", "up_sink"),
            functools.partial(sink_put, "/?fsync=1", "up_sink_fsync"),
            functools.partial(sink_put, "/?fsync=1&direct=1", "up_sink_direct"),
            functools.partial(plain_write, scratch / f"write-{i}.bin"),
        ]
        if multipart:
            steps += [
                functools.partial(multipart_put, multipart, True),
                functools.partial(multipart_put, multipart, False),
            ]
        for step in steps[i % len(steps) :] + steps[: i % len(steps)]:  # rotate the order
            step()
    recycle()
    sink.stop()
    if multipart:
        multipart.child.stop()
    if args.no_downloads:
        return

    print("Downloads", flush=True)
    oid, _ = new_content(source)  # a fresh object for the downloads, uploaded unmeasured
    curl_upload(basic.lfs_batch(oid, size)["href"], source)
    basic.commit_lfs(FILE_NAME, oid, size)
    served = basic.blob_path(oid) or source  # the very file the hub serves
    sendfile, sendfile_url = start_baseline("sendfile", served)
    children.append(sendfile)
    copy, copy_url = start_baseline("copy", served)
    children.append(copy)
    url = f"{basic.url}/{USER}/{REPO}/resolve/main/{FILE_NAME}"
    quarter = size // 4
    middle = (f"bytes={quarter}-{3 * quarter - 1}", 2 * quarter)
    for _ in range(2):  # warm-up: page cache, connections, first-request costs
        curl_download(sendfile_url, size)
        curl_download(copy_url, size)
        curl_download(url, size)
    downloads: list[Callable[[], None]] = [
        lambda: results.add("dl_sendfile", curl_download(sendfile_url, size)),
        lambda: results.add("dl_copy", curl_download(copy_url, size)),
        lambda: results.add(
            "dl_hub", results.with_memory("mem_dl", basic.child.pid, curl_download, url, size)
        ),
        lambda: results.add(
            "dl_hub_range0",
            results.with_memory(
                "mem_dl_range", basic.child.pid, curl_download, url, size, "bytes=0-"
            ),
        ),
        lambda: results.add("dl_hub_range_mid", curl_download(url, middle[1], middle[0])),
    ]
    for i in range(args.download_runs):
        print(f" run {i + 1}/{args.download_runs}", flush=True)
        results.add("cat", cat_speed(served))
        for step in downloads[i % len(downloads) :] + downloads[: i % len(downloads)]:
            step()


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

MEMORY_KEYS = ("mem_up", "mem_up_mp", "mem_dl", "mem_dl_range")


def _verdict(value: float, goal: float, *, below: bool = False) -> str:
    met = value < goal if below else value >= goal
    return "**met**" if met else "**missed**"


def render(results: Results) -> str:
    s = results.series
    med = results.med
    downloads = bool(s["dl_hub"].values)
    ratios = []
    if downloads:
        ratios += [
            (
                "hub GET / sendfile GET",
                med("dl_hub") / med("dl_sendfile"),
                f"≥ {GOAL_DOWNLOAD:.2f}",
            ),
            (
                "hub GET `Range: bytes=0-` / sendfile GET",
                med("dl_hub_range0") / med("dl_sendfile"),
                f"≥ {GOAL_DOWNLOAD:.2f} (held to goal 1)",
            ),
            (
                "hub GET middle range / sendfile GET",
                med("dl_hub_range_mid") / med("dl_sendfile"),
                "none (context)",
            ),
            ("hub GET / raw copy-loop GET", med("dl_hub") / med("dl_copy"), "none (context)"),
            ("hub GET / `cat`", med("dl_hub") / med("cat"), "≥ 0.20 (performance.md goal 1)"),
        ]
    ratios += [
        (
            "hub basic PUT (verified) / raw sink + fsync",
            med("up_hub") / med("up_sink_fsync"),
            f"≥ {GOAL_UPLOAD:.2f}",
        ),
    ]
    if s["up_hub_mp"].values:
        ratios += [
            (
                "hub multipart in order, end to end / raw sink + fsync",
                med("up_hub_mp") / med("up_sink_fsync"),
                f"≥ {GOAL_UPLOAD:.2f}",
            ),
            (
                "hub multipart last to first, end to end / raw sink + fsync",
                med("up_hub_mp_ooo") / med("up_sink_fsync"),
                "none (context)",
            ),
        ]
    ratios += [
        (
            "hub basic PUT (verified) / raw `O_DIRECT` sink + fsync",
            med("up_hub") / med("up_sink_direct"),
            "none (context)",
        ),
        ("hub basic PUT (verified) / raw sink", med("up_hub") / med("up_sink"), "none (context)"),
        ("hub basic PUT (verified) / sha256", med("up_hub") / med("sha256"), "none (context)"),
        (
            "hub basic PUT (verified) / new-file write",
            med("up_hub") / med("write"),
            "none (context)",
        ),
    ]

    lines = [
        "# Transfer benchmark results",
        "",
        "Written by `benchmarks/transfer.py` (rerun it to refresh this file; see README.md).",
        f"One invocation took {results.seconds / 60:.1f} min. Every figure is the median of "
        f"{results.runs} upload runs or {results.download_runs} download runs, individual runs "
        "shown, baselines interleaved with the hub runs in the same invocation. "
        "MB = 10^6 bytes. Client: curl over 127.0.0.1 (the multipart parts are sent with "
        "`socket.sendfile` from Python over one kept-alive connection), sharing the "
        "machine's cores with the server.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in results.info.items()),
        *(f"| {k} | {v} |" for k, v in results.settings.items()),
        "",
        "## Throughput",
        "",
        "| measurement | median | unit | runs |",
        "|---|---:|---|---|",
    ]
    for key, series in s.items():
        if series.values and not key.startswith("mem_"):
            shown = f"{series.median:,.0f}" if series.unit == "MB/s" else f"{series.median:.2f}"
            lines.append(f"| {series.label} | {shown} | {series.unit} | {series.runs()} |")
    lines += [
        "",
        "## Ratios against the goals",
        "",
        "| ratio | value | goal | |",
        "|---|---:|---|---|",
    ]
    for name, value, goal in ratios:
        verdict = ""
        if goal.startswith("≥"):
            verdict = _verdict(value, float(goal.split()[1]))
        lines.append(f"| {name} | {value:.2f} | {goal} | {verdict} |")

    reset = (
        "VmHWM was reset before each transfer (`/proc/PID/clear_refs` 5), so each "
        "growth figure is that transfer's own peak"
        if results.peak_reset
        else "`clear_refs` was not writable, so VmHWM is the peak since the server started"
    )
    lines += [
        "",
        "## Server memory",
        "",
        "Per transfer: VmHWM after it minus VmRSS before it, of the `commons serve` "
        f"process ({reset}). Above idle: the highest VmHWM seen in any transfer of that "
        "kind minus the server's RSS when idle, before the first transfer, which also "
        "counts memory a transfer left allocated for the next one. "
        f"Goal: < {GOAL_MEMORY_MB:.0f} MB whatever the file size.",
        "",
        "| transfer | growth, median MB | growth, max MB | peak above idle MB | runs | |",
        "|---|---:|---:|---:|---|---|",
    ]
    for key in MEMORY_KEYS:
        series = s[key]
        if series.values:
            worst = max(max(series.values), results.above_idle.get(key, 0.0))
            lines.append(
                f"| {series.label.removeprefix('hub peak RSS growth, ')} | "
                f"{series.median:.1f} | {max(series.values):.1f} | "
                f"{results.above_idle.get(key, float('nan')):.1f} | {series.runs()} | "
                f"{_verdict(worst, GOAL_MEMORY_MB, below=True)} |"
            )
    lines += ["", "## Interpretation", "", *interpret(results), ""]
    return "\n".join(lines)


def interpret(results: Results) -> list[str]:
    med = results.med
    size = results.size
    chunk = results.settings.get("hub download chunk", "?")
    out = []

    if results.series["dl_hub"].values:
        dl = med("dl_hub") / med("dl_sendfile")
        text = (
            f"* **Whole-file download: {dl:.2f} of the sendfile baseline** (goal "
            f"{GOAL_DOWNLOAD:.2f}, {'met' if dl >= GOAL_DOWNLOAD else 'missed'}). The hub moves "
            f"{med('dl_hub'):,.0f} MB/s through Starlette's `FileResponse` loop ({chunk} reads "
            f"on a worker thread, one ASGI send each; uvicorn offers no pathsend or zerocopysend), "
            f"against {med('dl_sendfile'):,.0f} MB/s for zero-copy `sendfile` and "
            f"{med('dl_copy'):,.0f} MB/s for a bare Python copy loop."
        )
        if med("dl_sendfile") < med("dl_copy"):
            text += (
                " Here `sendfile` over loopback is slower than copying, so it is no ceiling: "
                f"against the copy loop the hub reaches {med('dl_hub') / med('dl_copy'):.2f}."
            )
        out.append(text)

        r0 = med("dl_hub_range0") / med("dl_sendfile")
        rm = med("dl_hub_range_mid") / med("dl_sendfile")
        out.append(
            f"* **Range download: {r0:.2f} (`bytes=0-`) and {rm:.2f} (middle half) of the sendfile "
            f"baseline**, against {dl:.2f} for the plain GET: single-range responses "
            f"{'keep up with' if min(r0, rm) >= 0.9 * dl else 'fall behind'} whole-file ones "
            "(held to the whole-file goal, "
            f"{'met' if min(r0, rm) >= GOAL_DOWNLOAD else 'missed'})."
        )

    up = med("up_hub") / med("up_sink_fsync")
    sec = {
        key: size / MB / med(key)
        for key in ("up_hub", "sha256", "write", "up_sink", "up_sink_fsync", "up_sink_direct")
    }
    write = results.series["write"].values
    out.append(
        f"* **Verified basic upload: {up:.2f} of the raw sink + fsync** (goal "
        f"{GOAL_UPLOAD:.2f}, {'met' if up >= GOAL_UPLOAD else 'missed'}). A {size // MiB} MiB "
        f"PUT takes {sec['up_hub']:.2f} s from curl's start to the server's answer; the raw "
        f"sink receives and stores the same bytes in {sec['up_sink']:.2f} s, or "
        f"{sec['up_sink_fsync']:.2f} s with the fsync the hub also does before answering, and "
        f"single-core sha256 alone takes {sec['sha256']:.2f} s. The hub reaches "
        f"{med('up_hub') / med('up_sink'):.2f} of the raw sink without fsync, and "
        f"{med('up_hub') / med('up_sink_direct'):.2f} of a raw sink that stores the bytes "
        f"as the hub does, past the page cache ({sec['up_sink_direct']:.2f} s, context)."
    )
    if results.series["up_hub_mp"].values:
        mp = med("up_hub_mp") / med("up_sink_fsync")
        ooo = med("up_hub_mp_ooo") / med("up_sink_fsync")
        out.append(
            f"* **Multipart, parts in order (as the stock client sends them), end to end: "
            f"{mp:.2f} of the raw sink + fsync** (goal {GOAL_UPLOAD:.2f}, "
            f"{'met' if mp >= GOAL_UPLOAD else 'missed'}). The part PUTs run at "
            f"{med('up_hub_mp_parts'):,.0f} MB/s, each written straight into the object and "
            f"hashed as it arrives, so the completion only closes, fsyncs and links the "
            f"object: {med('up_hub_mp_complete'):.2f} s. Parts sent last to first (context) "
            f"reach {ooo:.2f}: all but one go to part files of their own, which the "
            f"completion copies in (`copy_file_range`) and re-reads to hash, in "
            f"{med('up_hub_mp_ooo_complete'):.2f} s."
        )
    floor = sec["up_sink_fsync"] / (sec["up_sink_fsync"] + sec["sha256"])
    cores = int(results.info.get("nproc", "1") or 1)
    busy = med("cpu_client_up_hub") + med("cpu_up_hub")
    packed = sec["up_sink_fsync"] / (busy / cores)
    out.append(
        f"* **The floor on this machine.** A verified upload must hash every byte, "
        f"{sec['sha256']:.2f} s of one core here, and the client shares the machine's "
        f"{cores} cores: curl spent {med('cpu_client_up_hub'):.2f} CPU-s sending the file to "
        f"the hub ({med('cpu_client_up_sink'):.2f} to the sink), the hub "
        f"{med('cpu_up_hub'):.2f}. If hashing overlapped with nothing, the upload would take "
        f"at least the sink's time plus sha256's, {sec['up_sink_fsync'] + sec['sha256']:.2f} s "
        f"({floor:.2f} of the sink + fsync); with the client's and the hub's CPU time spread "
        f"perfectly over the cores, at least {busy / cores:.2f} s ({packed:.2f}). The hub "
        f"reaches {up:.2f}. The load average (1 minute) was "
        f"{results.settings.get('load average at start', '?')} at the start and "
        f"{results.settings.get('load average at end', '?')} at the end of this run."
    )
    out.append(
        f"* **Where the time goes.** Per {size // MiB} MiB the hub's process spends "
        f"{med('cpu_up_hub'):.2f} CPU-s on a basic PUT and {med('cpu_up_hub_mp'):.2f} on a "
        f"multipart upload, the raw sink {med('cpu_up_sink'):.2f}: sha256 alone needs "
        f"{sec['sha256']:.2f} s of one core; the raw `O_DIRECT` sink spends "
        f"{med('cpu_up_sink_direct'):.2f}. The hub reads an upload's body from the socket "
        "on a worker thread into reused, page-aligned 2 MiB buffers; a second thread "
        "writes each straight to the device (`O_DIRECT`, `modelcommons/storage/direct.py`) "
        "while a third hashes it (`modelcommons/server/bodies.py`). The bytes are copied "
        "once, from the socket into a buffer, and reading, writing and hashing overlap as "
        "far as the cores allow. The raw sink copies them twice (into its buffer, then into "
        "the page cache, whose new pages are costly here) and its fsync then writes the "
        "whole file while the client waits: that is why the hub can beat it. The client, "
        "the reader, the hashing and the kernel share this machine's "
        f"{results.info.get('nproc', '?')} cores."
    )
    if min(write) < 0.5 * max(write):
        out.append(
            f"* Caution: writing {size // MiB} MiB into a new file, with no network and no "
            f"hashing, ranged from {min(write):,.0f} to {max(write):,.0f} MB/s across runs. "
            "On this machine the cost of new page-cache pages, not the code under test, "
            "spreads the upload rows; the medians and the interleaved baselines are the "
            "figures to compare."
        )

    mem = {
        k: max(max(results.series[k].values), results.above_idle.get(k, 0.0))
        for k in MEMORY_KEYS
        if results.series[k].values
    }
    worst = max(mem.values())
    out.append(
        f"* **Memory: the server's peak never rose more than {worst:.1f} MB** above its idle "
        f"RSS or its RSS before a transfer, for a {size // MiB} MiB "
        f"transfer (goal < {GOAL_MEMORY_MB:.0f} MB, "
        f"{'met' if worst < GOAL_MEMORY_MB else 'missed'}): "
        + ", ".join(
            f"{results.series[k].label.removeprefix('hub peak RSS growth, ')} {v:.1f} MB"
            for k, v in mem.items()
        )
        + "."
    )
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="file size [1024]")
    parser.add_argument("--runs", type=int, default=5, help="upload runs [5]")
    parser.add_argument("--download-runs", type=int, default=5, help="download runs [5]")
    parser.add_argument(
        "--no-multipart", action="store_true", help="skip the multipart upload path"
    )
    parser.add_argument(
        "--no-downloads",
        action="store_true",
        help="measure uploads only (a quicker run; the report leaves downloads out)",
    )
    parser.add_argument("--tmp-dir", default=None, help="parent of the temporary folder")
    parser.add_argument(
        "--results",
        type=Path,
        default=HERE / "RESULTS.md",
        help="where to write the report [benchmarks/RESULTS.md]",
    )
    parser.add_argument("--serve", choices=("sendfile", "copy", "sink"), help=argparse.SUPPRESS)
    parser.add_argument("--serve-path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve in ("sendfile", "copy"):
        serve_file(args.serve_path, zero_copy=args.serve == "sendfile")
        return
    if args.serve == "sink":
        serve_sink(args.serve_path)
        return
    if args.runs < 1 or args.download_runs < 1:
        parser.error("--runs and --download-runs must be at least 1")
    results = run_benchmark(args)
    report = render(results)
    args.results.write_text(report)
    print()
    print(report)
    print(f"\nWrote {args.results}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
