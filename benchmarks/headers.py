#!/usr/bin/env python3
"""Request throughput with and without the caps on request heads (modelcommons/server/limits.py).

Run it from the repository root with the project's virtual environment::

    .venv/bin/python benchmarks/headers.py

Two uvicorn servers run the same trivial ASGI app (so only the HTTP layer is
measured): one with uvicorn's stock httptools protocol (the baseline), one with
``BoundedHttpToolsProtocol`` and the default caps. A client process keeps a few
connections alive and sends requests with a realistic head (about 600 bytes:
Host, User-Agent, Authorization, Accept...) one after another on each, for a few
seconds per run; runs alternate between the servers so that a noisy machine
affects both alike. Medians and the ratio go to ``benchmarks/HEADERS_RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SERVER = """
import sys, uvicorn
from modelcommons.server.limits import BoundedHttpToolsProtocol

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"15")]})
    await send({"type": "http.response.body", "body": b'{"status":"ok"}'})

http = BoundedHttpToolsProtocol if sys.argv[2] == "bounded" else "httptools"
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http=http, loop="uvloop",
            log_level="warning", lifespan="off")
"""

HEAD = (
    b"GET /api/models/alice/tiny-bert/revision/main HTTP/1.1\r\n"
    b"Host: 127.0.0.1\r\n"
    b"User-Agent: huggingface_hub/2.4.0; python/3.11.7; torch/2.13.0; transformers/5.20.0\r\n"
    b"Accept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n"
    b"Authorization: Bearer mc_" + b"x" * 43 + b"\r\n"
    b"X-Amzn-Trace-Id: Root=1-67891233-abcdef012345678912345678\r\n"
    b"Cookie: commons_csrf=" + b"c" * 43 + b"; commons_session=" + b"s" * 43 + b"\r\n"
    b"\r\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _connection(port: int, until: float) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    while time.monotonic() < until:
        writer.write(HEAD)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        done += 1
    writer.close()
    return done


async def _measure(port: int, seconds: float, connections: int) -> int:
    until = time.monotonic() + seconds
    counts = await asyncio.gather(*(_connection(port, until) for _ in range(connections)))
    return sum(counts)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(kind: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port), kind], cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the {kind} server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks/HEADERS_RESULTS.md")
    args = parser.parse_args()
    servers = {kind: start(kind) for kind in ("stock", "bounded")}
    rates: dict[str, list[float]] = {"stock": [], "bounded": []}
    costs: dict[str, list[float]] = {"stock": [], "bounded": []}
    try:
        asyncio.run(_measure(servers["stock"][1], 1.0, args.connections))  # warm up
        asyncio.run(_measure(servers["bounded"][1], 1.0, args.connections))
        for run in range(args.runs):
            for kind in ("stock", "bounded") if run % 2 == 0 else ("bounded", "stock"):
                proc, port = servers[kind]
                before = cpu_seconds(proc.pid)
                count = asyncio.run(_measure(port, args.seconds, args.connections))
                cost = (cpu_seconds(proc.pid) - before) / count * 1e6
                rates[kind].append(count / args.seconds)
                costs[kind].append(cost)
                print(
                    f"run {run + 1} {kind:8s} {count / args.seconds:8.0f} requests/s "
                    f"{cost:6.1f} µs server CPU per request",
                    flush=True,
                )
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait()
    stock, bounded = (statistics.median(rates[k]) for k in ("stock", "bounded"))
    stock_cpu, bounded_cpu = (statistics.median(costs[k]) for k in ("stock", "bounded"))
    ratio = bounded / stock
    runs = {k: ", ".join(f"{r:.0f}" for r in v) for k, v in rates.items()}
    cpu = {k: ", ".join(f"{r:.1f}" for r in v) for k, v in costs.items()}
    rows = [
        f"| uvicorn's stock httptools (baseline) | {stock:.0f} | {runs['stock']} "
        f"| {stock_cpu:.1f} µs | {cpu['stock']} |",
        f"| `BoundedHttpToolsProtocol` | {bounded:.0f} | {runs['bounded']} "
        f"| {bounded_cpu:.1f} µs | {cpu['bounded']} |",
    ]
    cpu_ratio = bounded_cpu / stock_cpu
    report = f"""# Request-head caps: throughput

`benchmarks/headers.py`, {dt.date.today().isoformat()}, on {platform.machine()}
with {os.cpu_count()} CPUs ({platform.python_implementation()} {platform.python_version()}).
A trivial ASGI app behind uvicorn (uvloop), {args.connections} keep-alive connections
sending {len(HEAD)}-byte request heads one after another, {args.runs} alternating runs
of {args.seconds:g} s per server.

| server | median requests/s | runs | median server CPU per request | runs (µs) |
|---|---|---|---|---|
{rows[0]}
{rows[1]}

Bounded / stock throughput: **{ratio:.3f}**; server CPU per request: **{cpu_ratio:.3f}**.
The server's CPU time per request (from `/proc/PID/stat`) is the steadier measure
on a shared machine, where the client and other work compete for the cores and
move requests/s from run to run. The caps cost a comparison per received chunk,
a length check per request and three extra Python calls per request (the
overridden callbacks).
"""
    args.results.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
