"""The scale-out deployment at full size, for correctness (the tests run small ones):

    python benchmarks/scale/correctness.py commits --commits 1000 --clients 50
    python benchmarks/scale/correctness.py kills --rounds 100

``commits``: the real ``huggingface_hub`` client, from ``--clients`` threads, makes
``--commits`` commits through ``deploy/haproxy.cfg`` and 2 replicas to 4 branches;
then every branch's history must hold exactly the commits sent to it, once each, one
after another (each commit's parent is the one before it), and every file the bytes
sent (compared by sha256 from the tree listing).

``kills``: ``--rounds`` times, an LFS upload (a multipart part or a basic PUT,
alternately) is sent slowly through the balancer, the replica receiving it is
SIGKILLed half-way, the client retries (the balancer sends it to the other), the file
is committed and downloaded whole, and the dead replica is started again (on an empty
data dir). Then ``commons fsck`` must find nothing.

Prints one line of results per check, for ``benchmarks/SCALE_RESULTS.md``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import COMMONS, Deployment, database, wait_healthy  # noqa: E402

from tests.s3 import s3_target  # noqa: E402

MiB = 1024 * 1024
CHUNK = 5 * MiB


def commits(url: str, token: str, total: int, clients: int) -> list[str]:
    from huggingface_hub import HfApi

    api = HfApi(endpoint=url, token=token)
    repo = "bench/busy"
    api.create_repo(repo)
    branches = ["main", "b1", "b2", "b3"]
    for branch in branches[1:]:
        api.create_branch(repo, branch=branch)
    seeded = len(list(api.list_repo_commits(repo)))
    sent: dict[str, dict[str, tuple[str, str]]] = {b: {} for b in branches}  # title->file
    lock = threading.Lock()
    failures: list[str] = []
    counter = iter(range(total))

    def client(n: int) -> None:
        own = HfApi(endpoint=url, token=token)
        for i in counter:
            branch = branches[i % len(branches)]
            title = f"commit {i} by client {n}"
            data = f"{i} {secrets.token_hex(16)}\n".encode()
            try:
                own.upload_file(
                    path_or_fileobj=data,
                    path_in_repo=f"f/{i}.txt",
                    repo_id=repo,
                    revision=branch,
                    commit_message=title,
                )
            except Exception as exc:
                with lock:
                    failures.append(f"{title}: {type(exc).__name__}: {exc}"[:300])
                continue
            with lock:
                sent[branch][title] = (f"f/{i}.txt", _git_blob_id(data))

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client, n) for n in range(clients)]:
            future.result()
    seconds = time.perf_counter() - start
    out = [
        f"{total} commits from {clients} clients to {len(branches)} branches through "
        f"2 replicas: {seconds:.0f} s ({total / seconds:.1f} commits/s), "
        f"{len(failures)} failed after the client's own retries"
    ]
    out += [f"  failure: {f}" for f in failures[:10]]
    lost = duplicated = nonlinear = wrong = 0
    for branch in branches:
        history = list(api.list_repo_commits(repo, revision=branch))
        titles = [c.title for c in history if c.title.startswith("commit ")]
        duplicated += len(titles) - len(set(titles))
        lost += len(set(sent[branch]) - set(titles))
        wrong += len(set(titles) - set(sent[branch]))  # on a branch it was not sent to
        # Linear and complete: the listing follows first parents from the head; it
        # holds each commit once, and exactly the seed commits plus those sent.
        ids = [c.commit_id for c in history]
        if len(ids) != len(set(ids)) or len(ids) != seeded + len(sent[branch]):
            nonlinear += 1
        files = {
            f.path: f
            for f in api.list_repo_tree(repo, revision=branch, path_in_repo="f", expand=True)
        }
        for path, blob_id in sent[branch].values():
            entry = files.get(path)
            if entry is None or getattr(entry, "blob_id", None) != blob_id:
                wrong += 1
    out.append(
        f"  histories: {lost} lost, {duplicated} duplicated, {nonlinear} branches not "
        f"linear, {wrong} files missing, foreign or with other bytes"
    )
    return out


def _git_blob_id(data: bytes) -> str:
    """What the tree listing gives for a file that is not LFS: its git blob id."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class KillDeployment(Deployment):
    def replica_dir(self, i: int) -> Path:
        return self.root / f"r{i}"

    def restart(self, i: int) -> None:
        port = self.ports[i]
        shutil.rmtree(self.replica_dir(i), ignore_errors=True)  # an empty data dir
        proc = self._spawn(
            [*COMMONS, "serve", "--port", str(port), "--data-dir", str(self.replica_dir(i))],
            f"replica{i}",
        )
        self.replica_procs[i] = proc
        wait_healthy(f"http://127.0.0.1:{port}", proc)

    def start(self) -> str:
        url = super().start()
        self.replica_procs = self.procs[: self.replicas]
        return url


def _receiving(d: KillDeployment) -> int | None:
    for i in range(d.replicas):
        scratch = d.replica_dir(i) / "scratch"
        if scratch.exists() and any(scratch.iterdir()):
            return i
    return None


def _put_killed(d: KillDeployment, url: str, body: bytes) -> int:
    release = threading.Event()
    outcome: list[Any] = []

    def stream() -> Iterator[bytes]:
        yield body[: 256 * 1024]
        release.wait(60)
        yield body[256 * 1024 :]

    def run() -> None:
        try:
            r = httpx.put(
                url, content=stream(), headers={"Content-Length": str(len(body))}, timeout=60
            )
            outcome.append(r.status_code)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while (victim := _receiving(d)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError("no replica received the upload")
        time.sleep(0.02)
    proc = d.replica_procs[victim]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    release.set()
    thread.join(60)
    if outcome and outcome[0] == 200:
        raise RuntimeError("the killed upload succeeded")
    return victim


def kills(d: KillDeployment, url: str, token: str, rounds: int) -> list[str]:
    from huggingface_hub import HfApi

    repo = "bench/kills"
    HfApi(endpoint=url, token=token).create_repo(repo)
    auth = {"Authorization": f"Bearer {token}"}
    retried_ok = committed = whole = 0
    problems: list[str] = []
    start = time.perf_counter()
    for n in range(rounds):
        size = 2 * CHUNK + 33 if n % 2 == 0 else CHUNK - 5  # multipart, then basic
        data = os.urandom(size)
        oid = hashlib.sha256(data).hexdigest()
        batch = httpx.post(
            f"{url}/{repo}.git/info/lfs/objects/batch",
            headers=auth,
            json={
                "operation": "upload",
                "transfers": ["basic", "multipart"],
                "objects": [{"oid": oid, "size": size}],
            },
            timeout=60,
        )
        upload = batch.json()["objects"][0]["actions"]["upload"]
        multipart = "header" in upload
        first = upload["header"]["1"] if multipart else upload["href"]
        body = data[:CHUNK] if multipart else data
        victim = _put_killed(d, first, body)
        retried = httpx.put(first, content=body, timeout=120)
        if retried.status_code != 200:
            problems.append(f"round {n}: retry {retried.status_code} {retried.text[:200]}")
            d.restart(victim)
            continue
        retried_ok += 1
        if multipart:
            parts = [{"partNumber": 1, "etag": retried.headers["etag"]}]
            for k in (2, 3):
                r = httpx.put(
                    upload["header"][str(k)], content=data[(k - 1) * CHUNK : k * CHUNK], timeout=120
                )
                parts.append({"partNumber": k, "etag": r.headers.get("etag", "")})
            done = httpx.post(upload["href"], json={"oid": oid, "parts": parts}, timeout=120)
            if done.status_code != 200:
                problems.append(f"round {n}: completion {done.status_code}")
        lines = [
            '{"key": "header", "value": {"summary": "after a kill"}}',
            f'{{"key": "lfsFile", "value": {{"path": "k{n}.bin", "algo": "sha256", '
            f'"oid": "{oid}", "size": {size}}}}}',
        ]
        r = httpx.post(
            f"{url}/api/models/{repo}/commit/main",
            headers=auth,
            content="\n".join(lines),
            timeout=120,
        )
        if r.status_code == 200:
            committed += 1
        else:
            problems.append(f"round {n}: commit {r.status_code} {r.text[:200]}")
        got = httpx.get(f"{url}/{repo}/resolve/main/k{n}.bin", headers=auth, timeout=120)
        whole += got.content == data
        d.restart(victim)
        wait_healthy(url)
    seconds = time.perf_counter() - start
    fsck = subprocess.run(
        [*COMMONS, "fsck", "--data-dir", str(d.root / "fsck")],
        env=d.env,
        capture_output=True,
        text=True,
        check=False,
    )
    verdict = fsck.stdout.strip().splitlines()[-1:] or [fsck.stderr[-300:]]
    return [
        f"{rounds} rounds of SIGKILL during an LFS upload ({(rounds + 1) // 2} multipart "
        f"parts, {rounds // 2} basic PUTs) in {seconds:.0f} s: {retried_ok} retries "
        f"succeeded, {committed} commits, {whole} files downloaded whole",
        f"  commons fsck (exit {fsck.returncode}): {verdict[0]}",
        *[f"  problem: {p}" for p in problems[:10]],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["commits", "kills"])
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    targets = s3_target()
    s3 = next(targets)
    load = os.getloadavg()[0]
    try:
        with ExitStack() as stack:
            db_url = stack.enter_context(database())
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scale-ok-")))
            d = KillDeployment(s3, db_url, 2, root, multipart_chunk_bytes=str(CHUNK))
            stack.callback(d.stop)
            url = d.start()
            token = d.cli("user", "create", "bench", "--token", "write").split()[-1]
            if args.what == "commits":
                lines = commits(url, token, args.commits, args.clients)
            else:
                lines = kills(d, url, token, args.rounds)
    finally:
        targets.close()
    lines.append(f"  1-minute load average: {load:.1f} before, {os.getloadavg()[0]:.1f} after")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
