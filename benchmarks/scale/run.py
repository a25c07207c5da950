"""The scale-out deployment under load: 1 replica against 2, same traffic.

Starts, for each configuration, the reference deployment (``deploy/haproxy.cfg`` in
front of N ``commons serve`` replicas and one ``commons worker``, on PostgreSQL at
127.0.0.1:5432, moto's S3 server and Redis at 127.0.0.1:6379), seeds a repository,
and runs ``locustfile.py`` headless (locust: a maintained load tool whose users are
plain Python) with the same users and duration against each. Then a transfer
measurement: one 64 MiB LFS file downloaded by the real ``huggingface_hub`` client
through the hub and through a ``download_redirect`` presigned URL.

    python benchmarks/scale/run.py --users 50 --seconds 30

Writes ``benchmarks/SCALE_RESULTS.md``. Everything runs on this one machine, so two
replicas share its cores with the balancer, the store, the database and locust itself:
the ratio says what the shared setup costs here, not what a second machine would give.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

# The client reads these when imported: Xet off (the hub does not speak it yet).
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from tests.s3 import S3Target, s3_target  # noqa: E402

COMMONS = [sys.executable, "-m", "modelcommons"]
PG_ADMIN = os.environ.get("COMMONS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
MiB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy")


@contextmanager
def database() -> Iterator[str]:
    import psycopg

    name = f"commons_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Deployment:
    """N replicas and a worker behind deploy/haproxy.cfg."""

    def __init__(self, s3: S3Target, db_url: str, replicas: int, root: Path, **extra: str):
        self.root = root
        self.env = {
            **os.environ,
            **s3.env,
            "COMMONS_DATABASE_URL": db_url,
            "COMMONS_BLOB_STORE": s3.url(),
            "COMMONS_SECRET_KEY": secrets.token_urlsafe(32),
            "COMMONS_AUDIT_KEY_FILE": str(root / "audit.key"),
            "COMMONS_TASK_QUEUE": "redis",
            "COMMONS_TASK_QUEUE_NAME": f"bench{secrets.token_hex(4)}",
            "COMMONS_AUTO_MIGRATE": "false",
            "COMMONS_REGULAR_UPLOAD_MAX_BYTES": str(MiB),
            "COMMONS_LOG_REQUESTS": "false",
            **{f"COMMONS_{k.upper()}": v for k, v in extra.items()},
        }
        if s3.endpoint:
            self.env["COMMONS_S3_ENDPOINT_URL"] = s3.endpoint
        self.procs: list[subprocess.Popen[bytes]] = []
        self.replicas = replicas
        self.ports: list[int] = []

    def _spawn(self, args: list[str], name: str, env: dict[str, str] | None = None) -> Any:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            args, env=env or self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        self.procs.append(proc)
        return proc

    def cli(self, *args: str, data: str = "cli") -> str:
        out = subprocess.run(
            [*COMMONS, *args, "--data-dir", str(self.root / data)],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        return out.stdout

    def start(self) -> str:
        self.cli("migrate")
        for i in range(self.replicas):
            port = free_port()
            proc = self._spawn(
                [*COMMONS, "serve", "--port", str(port), "--data-dir", str(self.root / f"r{i}")],
                f"replica{i}",
            )
            wait_healthy(f"http://127.0.0.1:{port}", proc)
            self.ports.append(port)
        self._spawn([*COMMONS, "worker", "--data-dir", str(self.root / "w")], "worker")
        lb = free_port()
        second = self.ports[1] if len(self.ports) > 1 else self.ports[0]
        env = {
            **os.environ,
            "COMMONS_LB_BIND": f"127.0.0.1:{lb}",
            "COMMONS_REPLICA_1": f"127.0.0.1:{self.ports[0]}",
            "COMMONS_REPLICA_2": f"127.0.0.1:{second}",
        }
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        self._spawn([haproxy, "-db", "-f", str(ROOT / "deploy" / "haproxy.cfg")], "lb", env)
        url = f"http://127.0.0.1:{lb}"
        wait_healthy(url)
        return url

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def seed(url: str, token: str, root: Path) -> tuple[str, list[str]]:
    from huggingface_hub import HfApi

    api = HfApi(endpoint=url, token=token)
    repo = "bench/model"
    api.create_repo(repo)
    folder = root / "seed"
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden_size": 32}')
    (folder / "weights.bin").write_bytes(os.urandom(MiB + 5))
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# A bench model\n")
    api.upload_folder(repo_id=repo, folder_path=folder)
    branches = ["main", "b1", "b2", "b3"]
    for branch in branches[1:]:
        api.create_branch(repo, branch=branch)
    return repo, branches


def run_locust(
    url: str, token: str, repo: str, branches: list[str], users: int, seconds: int, out: Path
) -> list[dict[str, str]]:
    env = {
        **os.environ,
        "BENCH_TOKEN": token,
        "BENCH_REPO": repo,
        "BENCH_BRANCHES": ",".join(branches),
    }
    locust = Path(sys.executable).parent / "locust"
    subprocess.run(
        [
            str(locust),
            "-f",
            str(HERE / "locustfile.py"),
            "--headless",
            "-u",
            str(users),
            "-r",
            str(max(1, users // 5)),
            "-t",
            f"{seconds}s",
            "--host",
            url,
            "--csv",
            str(out),
            "--only-summary",
            "--stop-timeout",
            "10",
        ],
        env=env,
        check=False,
        capture_output=True,
        cwd=ROOT,
    )
    with open(f"{out}_failures.csv", newline="") as f:
        FAILURES[out.name] = [
            f"{row['Occurrences']} x {row['Name']}: {row['Error'][:160]}"
            for row in csv.DictReader(f)
        ]
    with open(f"{out}_stats.csv", newline="") as f:
        return list(csv.DictReader(f))


#: Failures of each load run ("r1", "r2"), as locust reports them.
FAILURES: dict[str, list[str]] = {}


def measure(s3: S3Target, replicas: int, users: int, seconds: int) -> list[dict[str, str]]:
    with ExitStack() as stack:
        db_url = stack.enter_context(database())
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scale-bench-")))
        deployment = Deployment(s3, db_url, replicas, root)
        stack.callback(deployment.stop)
        url = deployment.start()
        token = deployment.cli("user", "create", "bench", "--token", "write").split()[-1]
        repo, branches = seed(url, token, root)
        before = os.getloadavg()[0]
        rows = run_locust(url, token, repo, branches, users, seconds, root / f"r{replicas}")
        LOAD[replicas] = (before, os.getloadavg()[0])
        return rows


#: 1-minute load average before and after each configuration's load run.
LOAD: dict[int, tuple[float, float]] = {}


def transfer(s3: S3Target, runs: int) -> dict[str, list[float]]:
    """Seconds for the real client to download one 64 MiB LFS file, proxied and
    redirected (one replica each, no balancer)."""
    from huggingface_hub import HfApi, hf_hub_download

    out: dict[str, list[float]] = {}
    for label, redirect in (("through the hub", "false"), ("redirect to the store", "true")):
        with ExitStack() as stack:
            db_url = stack.enter_context(database())
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scale-dl-")))
            deployment = Deployment(s3, db_url, 1, root, download_redirect=redirect)
            stack.callback(deployment.stop)
            deployment.start()
            url = f"http://127.0.0.1:{deployment.ports[0]}"
            token = deployment.cli("user", "create", "bench", "--token", "write").split()[-1]
            api = HfApi(endpoint=url, token=token)
            api.create_repo("bench/big")
            api.upload_file(
                path_or_fileobj=os.urandom(64 * MiB), path_in_repo="big.bin", repo_id="bench/big"
            )
            times = []
            for i in range(runs):
                start = time.perf_counter()
                hf_hub_download(
                    "bench/big", "big.bin", endpoint=url, token=token, cache_dir=root / f"c{i}"
                )
                times.append(time.perf_counter() - start)
            out[label] = times
    return out


_UPLOAD = """
import os, sys, time
from huggingface_hub import HfApi
api, path = HfApi(), sys.argv[1]
for i in range(int(sys.argv[2])):
    start = time.perf_counter()
    api.upload_file(path_or_fileobj=path, path_in_repo=f"up{i}.bin", repo_id="bench/up")
    print(time.perf_counter() - start, flush=True)
    with open(path, "r+b") as f:  # new bytes for the next run: nothing deduplicates
        f.write(os.urandom(64))
"""


def uploads(s3: S3Target, runs: int) -> dict[str, list[float]]:
    """Seconds for the real client (Git LFS multipart, ``HF_HUB_DISABLE_XET=1``) to
    upload one 64 MiB file in 16 MiB parts and commit it, the parts through the hub
    and straight to the store (``upload_presigned_parts``), one replica each."""
    out: dict[str, list[float]] = {}
    for label, presigned in (("parts through the hub", "false"), ("parts to the store", "true")):
        with ExitStack() as stack:
            db_url = stack.enter_context(database())
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scale-up-")))
            deployment = Deployment(
                s3,
                db_url,
                1,
                root,
                upload_presigned_parts=presigned,
                multipart_chunk_bytes=str(16 * MiB),
                xet_chunk_uploads="false",
            )
            stack.callback(deployment.stop)
            deployment.start()
            url = f"http://127.0.0.1:{deployment.ports[0]}"
            token = deployment.cli("user", "create", "bench", "--token", "write").split()[-1]
            from huggingface_hub import HfApi

            HfApi(endpoint=url, token=token).create_repo("bench/up")
            path = root / "up.bin"
            path.write_bytes(os.urandom(64 * MiB))
            env = {**os.environ, "HF_ENDPOINT": url, "HF_TOKEN": token}
            env["HF_HUB_DISABLE_XET"] = "1"
            done = subprocess.run(
                [sys.executable, "-c", _UPLOAD, str(path), str(runs)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            out[label] = [float(line) for line in done.stdout.split()]
    return out


def _num(row: dict[str, str], key: str) -> float:
    try:
        return float(row[key])
    except (KeyError, ValueError):
        return float("nan")


def report(
    results: dict[int, list[dict[str, str]]], dl: dict[str, list[float]], users: int, seconds: int
) -> str:
    one = {r["Name"]: r for r in results[1]}
    two = {r["Name"]: r for r in results[2]}
    lines = [
        "# Scale-out under load: 1 replica against 2",
        "",
        "`python benchmarks/scale/run.py` (locust "
        f"{_version('locust')}, {users} users, {seconds} s per configuration, users "
        "waiting 0.2-0.6 s between requests; the requests the Hugging Face client and a "
        "browser send, written as locust tasks in `benchmarks/scale/locustfile.py`, since "
        "the client library itself does not run under locust's gevent). "
        "The reference deployment of `deploy/`: "
        "HAProxy, N `commons serve` replicas and one `commons worker` on PostgreSQL, "
        "moto's S3 server and Redis, all on this machine "
        f"({os.cpu_count()} cores, {platform.processor() or platform.machine()}).",
        "",
        "**Measured on a shared, busy machine** (other sessions building and testing on "
        "the same cores; 1-minute load average before / after the load run: "
        + ", ".join(
            f"{n} replica{'s' if n > 1 else ''} {a:.1f} / {b:.1f}" for n, (a, b) in LOAD.items()
        )
        + "), with everything, locust included, on those cores: the replicas compete "
        "with each other, the balancer, the store and the load generator. The ratios say "
        "what the shared setup costs on one machine, not what a second machine would add; "
        "treat differences under ~20 % as noise.",
        "",
        "| operation | requests 1 / 2 | failures 1 / 2 | req/s 1 / 2 | p50 ms 1 / 2 | "
        "p99 ms 1 / 2 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in [n for n in one if n != "Aggregated"] + ["Aggregated"]:
        a, b = one.get(name), two.get(name)
        if a is None or b is None:
            continue
        lines.append(
            f"| {name} | {a['Request Count']} / {b['Request Count']} | "
            f"{a['Failure Count']} / {b['Failure Count']} | "
            f"{_num(a, 'Requests/s'):.1f} / {_num(b, 'Requests/s'):.1f} | "
            f"{a['50%']} / {b['50%']} | {a['99%']} / {b['99%']} |"
        )
    agg1, agg2 = one["Aggregated"], two["Aggregated"]
    lines += [
        "",
        "## Ratios (2 replicas / 1 replica)",
        "",
        f"- throughput: {_num(agg2, 'Requests/s') / _num(agg1, 'Requests/s'):.2f}",
        f"- p50 latency: {_num(agg2, '50%') / _num(agg1, '50%'):.2f}",
        f"- p99 latency: {_num(agg2, '99%') / _num(agg1, '99%'):.2f}",
        f"- errors: {agg1['Failure Count']} with 1 replica, {agg2['Failure Count']} with 2",
        "",
        *[
            f"  - {n} replica{'s' if n != '1' else ''}: {line}"
            for n, lines in (("1", FAILURES.get("r1", [])), ("2", FAILURES.get("r2", [])))
            for line in lines[:8]
        ],
        "",
        "## Downloads: through the hub against a redirect to the store",
        "",
        "One 64 MiB LFS file, downloaded by `huggingface_hub` (`hf_hub_download`) from "
        "one replica with blobs in moto, seconds per download:",
        "",
        "| path | runs (s) | median s | MB/s |",
        "|---|---|---:|---:|",
    ]
    for label, times in dl.items():
        med = statistics.median(times)
        lines.append(
            f"| {label} | {', '.join(f'{t:.2f}' for t in times)} | {med:.2f} | "
            f"{64 * MiB / 1e6 / med:.0f} |"
        )
    lines += [
        "",
        "moto keeps objects in its own Python process and serves them slowly, so both "
        "rows are bound by it here; a redirect's gain is the hub's CPU and bandwidth, "
        "which a real store (S3, MinIO, a CDN) then carries.",
        "",
    ]
    return "\n".join(lines)


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--download-runs", type=int, default=3)
    parser.add_argument("--results", type=Path, default=HERE.parent / "SCALE_RESULTS.md")
    parser.add_argument(
        "--uploads-only",
        type=int,
        metavar="RUNS",
        help="only compare multipart parts through the hub and straight to the store",
    )
    args = parser.parse_args()
    targets = s3_target()
    s3 = next(targets)
    if args.uploads_only:
        try:
            up = uploads(s3, args.uploads_only)
        finally:
            targets.close()
        for label, times in up.items():
            runs = ", ".join(f"{t:.2f}" for t in times)
            median = statistics.median(times)
            print(f"| {label} | {runs} | {median:.2f} | {64 * MiB / 1e6 / median:.0f} |")
        return
    try:
        results = {n: measure(s3, n, args.users, args.seconds) for n in (1, 2)}
        dl = transfer(s3, args.download_runs)
    finally:
        targets.close()
    text = report(results, dl, args.users, args.seconds)
    args.results.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
