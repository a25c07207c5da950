#!/usr/bin/env python3
"""What the request log costs, measured two ways in one run against a baseline.

Run it from the repository root with the project's virtual environment::

    .venv/bin/python benchmarks/request_log.py      # 9 rounds; a minute or two

1. The middleware alone: a trivial ASGI app called in a loop, bare and wrapped in
   ``request_log.RequestLog`` writing text or JSON to a file.
2. End to end: three ``commons serve`` on one data dir (SQLite), each logging to a
   file as in production: ``COMMONS_LOG_REQUESTS=false``, ``COMMONS_LOG_FORMAT=text``
   and ``COMMONS_LOG_FORMAT=json``. One client, one keep-alive connection per server,
   small GETs one after another; rounds interleave the three. The figure is each
   server's own CPU time per request (from /proc), because on a shared machine other
   load moves latency by more than the log costs.

Results overwrite ``benchmarks/REQUEST_LOG_RESULTS.md`` (or ``--results``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    "off": {"COMMONS_LOG_REQUESTS": "false"},
    "text": {"COMMONS_LOG_FORMAT": "text"},
    "json": {"COMMONS_LOG_FORMAT": "json"},
}
PATHS = {
    "GET /api/health": "/api/health",
    "GET /api/models?search=…&token=… (redacted)": "/api/models?search=bert&limit=5&token=mc_x",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    data_dir: Path, env_extra: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, **env_extra}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelcommons",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                conn.close()
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def round_trip(server: tuple[subprocess.Popen[bytes], int], path: str, count: int) -> float:
    """The server's CPU seconds per request over ``count`` requests on one connection.

    CPU time rather than latency: on a shared machine other processes' load moves
    latency by more than the log costs, while the server's own CPU time per request
    stays put."""
    proc, port = server
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    before = cpu_seconds(proc.pid)
    for _ in range(count):
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
    conn.close()
    return (cpu_seconds(proc.pid) - before) / count


def in_process(count: int, log_format: str | None, log_file: Path) -> float:
    """Seconds per call of a trivial ASGI app, wrapped in RequestLog (writing to
    ``log_file`` in ``log_format``) or bare (``None``): the middleware's own cost."""
    import asyncio
    import logging

    sys.path.insert(0, str(ROOT))
    from modelcommons.server import request_log

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"status":"ok"}'})

    async def send(message):  # type: ignore[no-untyped-def]
        return None

    async def receive():  # type: ignore[no-untyped-def]
        return {"type": "http.request", "body": b""}

    handler = logging.FileHandler(log_file)
    if log_format == "json":
        handler.setFormatter(request_log.JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(request_log.TEXT_FORMAT))
    logger = logging.getLogger(f"bench.{log_format}")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    wrapped = app if log_format is None else request_log.RequestLog(app, logger=logger)
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/models",
        "raw_path": b"/api/models",
        "query_string": b"search=bert&token=mc_abcdefghijklmnop",
        "client": ("127.0.0.1", 50000),
        "commons.principal": "alice",
    }

    async def loop() -> float:
        started = time.perf_counter()
        for _ in range(count):
            await wrapped(dict(scope), receive, send)
        return (time.perf_counter() - started) / count

    result = asyncio.run(loop())
    handler.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=20000, help="in-process calls per round")
    parser.add_argument(
        "--results", type=Path, default=ROOT / "benchmarks" / "REQUEST_LOG_RESULTS.md"
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="commons-logbench-"))
    data = tmp / "data"
    servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    micro: dict[str, list[float]] = {"bare": [], "text": [], "json": []}
    for rep in range(args.rounds):
        for name in micro:
            fmt = None if name == "bare" else name
            micro[name].append(in_process(args.calls, fmt, tmp / f"micro-{name}-{rep}.log"))
        print(
            f"in-process round {rep + 1}: "
            + ", ".join(f"{n} {v[-1] * 1e6:.1f} µs" for n, v in micro.items()),
            flush=True,
        )
    try:
        # The first start makes and migrates the data dir; the others find it ready.
        for name, extra in VARIANTS.items():
            servers[name] = start(data, extra, tmp / f"{name}.log")
        results: dict[str, dict[str, list[float]]] = {p: {v: [] for v in VARIANTS} for p in PATHS}
        for label, path in PATHS.items():
            for server in servers.values():
                round_trip(server, path, 200)  # warm up
            for r in range(args.rounds):
                order = list(VARIANTS)[r % 3 :] + list(VARIANTS)[: r % 3]
                for name in order:
                    mean = round_trip(servers[name], path, args.requests)
                    results[label][name].append(mean)
                print(
                    f"{label} round {r + 1}: "
                    + ", ".join(f"{n} {results[label][n][-1] * 1e6:.0f} µs" for n in VARIANTS),
                    flush=True,
                )
        lines_logged = {n: len((tmp / f"{n}.log").read_text().splitlines()) for n in VARIANTS}
    finally:
        for proc, _ in servers.values():
            proc.send_signal(signal.SIGTERM)
        for proc, _ in servers.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    bare = statistics.median(micro["bare"]) * 1e6
    out = [
        "# Request log cost",
        "",
        f"Measured {dt.date.today().isoformat()} by `benchmarks/request_log.py` on "
        f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}.",
        "",
        "## The middleware alone",
        "",
        f"A trivial ASGI app called {args.calls} times in one event loop, bare and wrapped "
        "in `RequestLog` writing to a file (redaction of a query token, principal, "
        f"formatting, the write); median of {args.rounds} rounds, per call:",
        "",
        "| bare app | text log | json log | text cost | json cost |",
        "|---|---|---|---|---|",
        f"| {bare:.1f} µs | {statistics.median(micro['text']) * 1e6:.1f} µs "
        f"| {statistics.median(micro['json']) * 1e6:.1f} µs "
        f"| {statistics.median(micro['text']) * 1e6 - bare:+.1f} µs "
        f"| {statistics.median(micro['json']) * 1e6 - bare:+.1f} µs |",
        "",
        "## End to end",
        "",
        f"`commons serve` three times (log off, text, json), {args.rounds} interleaved rounds "
        f"of {args.requests} sequential requests on one keep-alive connection per server, "
        "log to a file. The figure is the server process's CPU time (user + system, from "
        "/proc) per request, median over the rounds, which other load on the machine "
        "moves far less than latency; cost = difference from `off`.",
        "",
        "| request | log off | text | json | text cost | json cost |",
        "|---|---|---|---|---|---|",
    ]
    for label, by in results.items():
        med = {n: statistics.median(v) * 1e6 for n, v in by.items()}
        out.append(
            f"| `{label}` | {med['off']:.0f} µs | {med['text']:.0f} µs | {med['json']:.0f} µs "
            f"| {med['text'] - med['off']:+.0f} µs ({(med['text'] / med['off'] - 1) * 100:+.1f}%) "
            f"| {med['json'] - med['off']:+.0f} µs ({(med['json'] / med['off'] - 1) * 100:+.1f}%) |"
        )
    out += [
        "",
        "Every round, per variant (µs of server CPU per request):",
        "",
    ]
    for label, by in results.items():
        for name, values in by.items():
            out.append(f"- `{label}` {name}: " + ", ".join(f"{v * 1e6:.0f}" for v in values))
    out += ["", f"Log lines written: {lines_logged} (startup lines included).", ""]
    args.results.write_text("\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    main()
