"""The reference deployment, as the README documents it: ``deploy/haproxy.cfg`` (this
very file, started by Debian's haproxy) in front of two `commons serve` replicas and a
`commons worker`, on PostgreSQL, moto's S3 server and Redis. Concurrent commits spread
over both replicas lose nothing; a replica killed mid-upload costs the client a retry,
and leaves nothing half-written (`commons fsck` finds nothing).

Heavy (marked ``scale``): ``pytest -m scale``. Needs ``haproxy`` (``make lb-tools``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import HfApi

from .backends import wait_for
from .cluster import CHUNK, Shared
from .conftest import ROOT, Server, free_port, needs_redis
from .s3 import S3Target
from .traffic import Traffic

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
CONFIG = ROOT / "deploy" / "haproxy.cfg"

pytestmark = [
    pytest.mark.scale,
    needs_redis,
    pytest.mark.skipif(not Path(HAPROXY).exists(), reason="no haproxy: run `make lb-tools`"),
]


class Cluster:
    def __init__(self, shared: Shared, a: Server, b: Server, lb: subprocess.Popen[bytes], url: str):
        self.shared, self.a, self.b, self.lb, self.url = shared, a, b, lb, url

    @property
    def replicas(self) -> tuple[Server, Server]:
        return self.a, self.b


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        assert time.monotonic() < deadline, f"{url} never became healthy"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster(s3: S3Target) -> Iterator[Cluster]:
    shared = Shared(s3)
    a, b = shared.replica(), shared.replica()
    a.cli("migrate")  # in this process: the command's own test is in test_scaleout.py
    a.start_worker()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for started in [pool.submit(a.start), pool.submit(b.start)]:
            started.result()
    port = free_port()
    env = {
        **os.environ,
        "COMMONS_LB_BIND": f"127.0.0.1:{port}",
        "COMMONS_REPLICA_1": f"127.0.0.1:{a.port}",
        "COMMONS_REPLICA_2": f"127.0.0.1:{b.port}",
    }
    log = open(a.data_dir / "haproxy.log", "ab")  # noqa: SIM115
    lb = subprocess.Popen([HAPROXY, "-db", "-f", str(CONFIG)], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url)
        yield Cluster(shared, a, b, lb, url)
    finally:
        lb.terminate()
        lb.wait(10)
        log.close()
        shared.close()


def test_concurrent_commits_through_the_balancer_lose_nothing(cluster: Cluster) -> None:
    """8 clients, 96 commits to 3 branches, through both replicas: every branch's
    history holds exactly its commits, once each, one after another."""
    token = cluster.a.user("alice")
    api = HfApi(endpoint=cluster.url, token=token)
    repo = f"alice/busy{secrets.token_hex(3)}"
    api.create_repo(repo)
    branches = ["main", "dev", "exp"]
    for branch in branches[1:]:
        api.create_branch(repo, branch=branch)
    clients, per_client = 8, 12
    sent: dict[str, set[str]] = {b: set() for b in branches}
    lock = threading.Lock()

    def client(n: int) -> None:
        own = HfApi(endpoint=cluster.url, token=token)
        for i in range(per_client):
            branch = branches[(n + i) % len(branches)]
            title = f"client {n} commit {i}"
            own.upload_file(
                path_or_fileobj=f"{n}-{i}\n".encode(),
                path_in_repo=f"c{n}/{i}.txt",
                repo_id=repo,
                revision=branch,
                commit_message=title,
            )
            with lock:
                sent[branch].add(title)

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client, n) for n in range(clients)]:
            future.result()
    assert sum(len(titles) for titles in sent.values()) == clients * per_client
    for branch in branches:
        history = [c.title for c in api.list_repo_commits(repo, revision=branch)]
        made = [t for t in history if t.startswith("client ")]
        assert len(made) == len(set(made)), f"{branch}: a commit appears twice"
        assert set(made) == sent[branch], f"{branch}: commits lost or foreign"
        files = {f for f in api.list_repo_files(repo, revision=branch) if f.startswith("c")}
        assert len(files) == len(sent[branch])
    # Both replicas took commits.
    for srv in cluster.replicas:
        assert f"/api/models/{repo}/commit/" in srv.log.read_text()


def _batch(cluster: Cluster, repo: str, token: str, data: bytes) -> dict[str, Any]:
    answer = httpx.post(
        f"{cluster.url}/{repo}.git/info/lfs/objects/batch",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "operation": "upload",
            "transfers": ["basic", "multipart"],
            "objects": [{"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}],
        },
    )
    assert answer.status_code == 200, answer.text
    upload: dict[str, Any] = answer.json()["objects"][0]["actions"]["upload"]
    return upload


def _receiving(cluster: Cluster) -> Server | None:
    """The replica with an upload in its scratch folder."""
    for srv in cluster.replicas:
        scratch = srv.data_dir / "scratch"
        if scratch.exists() and any(scratch.iterdir()):
            return srv
    return None


def _put_killed(cluster: Cluster, url: str, body: bytes) -> Server:
    """PUT ``body`` slowly; SIGKILL the replica receiving it half-way. The PUT fails."""
    release = threading.Event()
    outcome: list[Any] = []

    def stream() -> Iterator[bytes]:
        yield body[: 256 * 1024]
        release.wait(60)
        yield body[256 * 1024 :]

    def run() -> None:
        try:
            outcome.append(
                httpx.put(
                    url,
                    content=stream(),
                    headers={"Content-Length": str(len(body))},
                    timeout=60,
                ).status_code
            )
        except httpx.HTTPError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while (victim := _receiving(cluster)) is None:
        assert time.monotonic() < deadline, "no replica received the upload"
        time.sleep(0.02)
    assert victim.proc is not None
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    release.set()
    thread.join(60)
    assert outcome and outcome[0] != 200, outcome  # a 502, or a broken connection
    return victim


def test_a_replica_killed_mid_upload_costs_a_retry(cluster: Cluster) -> None:
    token = cluster.a.user("alice")
    repo = f"alice/kill{secrets.token_hex(3)}"
    HfApi(endpoint=cluster.url, token=token).create_repo(repo)
    auth = {"Authorization": f"Bearer {token}"}
    for round_, size in enumerate((2 * CHUNK + 33, CHUNK - 5)):  # multipart, then basic
        data = os.urandom(size)
        oid = hashlib.sha256(data).hexdigest()
        upload = _batch(cluster, repo, token, data)
        multipart = "header" in upload
        first = upload["header"]["1"] if multipart else upload["href"]
        body = data[:CHUNK] if multipart else data
        victim = _put_killed(cluster, first, body)
        # The client retries: the balancer sends it to the replica still up.
        retried = httpx.put(first, content=body, timeout=60)
        assert retried.status_code == 200, retried.text
        if multipart:
            parts = [{"partNumber": 1, "etag": retried.headers["etag"]}]
            for n in (2, 3):
                r = httpx.put(upload["header"][str(n)], content=data[(n - 1) * CHUNK : n * CHUNK])
                assert r.status_code == 200, r.text
                parts.append({"partNumber": n, "etag": r.headers["etag"]})
            done = httpx.post(upload["href"], json={"oid": oid, "parts": parts}, timeout=60)
            assert done.status_code == 200, done.text
        lines = [
            '{"key": "header", "value": {"summary": "after a kill"}}',
            f'{{"key": "lfsFile", "value": {{"path": "k{round_}.bin", "algo": "sha256", '
            f'"oid": "{oid}", "size": {size}}}}}',
        ]
        r = httpx.post(
            f"{cluster.url}/api/models/{repo}/commit/main", headers=auth, content="\n".join(lines)
        )
        assert r.status_code == 200, r.text
        got = httpx.get(f"{cluster.url}/{repo}/resolve/main/k{round_}.bin", headers=auth)
        assert got.content == data
        # Back in the pool; what the kill left in its scratch folder is only litter
        # (it could as well start on an empty data dir), cleared so that the next
        # round sees where the next upload goes.
        shutil.rmtree(victim.data_dir / "scratch", ignore_errors=True)
        victim.start()
        _wait_healthy(cluster.url)
    fsck = cluster.a.cli("fsck", process=True, check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert "0 corrupt, 0 missing" in fsck.stdout


def test_a_replica_killed_mid_download_costs_a_resume(
    cluster: Cluster, tmp_path: Path, hf_env: None
) -> None:
    """The balancer names the replica that answers (X-Served-By); killing it mid-file
    cuts the download short, and a ranged GET for the rest goes to the other."""
    token = cluster.a.user("alice")
    repo = f"alice/dl{secrets.token_hex(3)}"
    api = HfApi(endpoint=cluster.url, token=token)
    api.create_repo(repo)
    data = os.urandom(32 * 1024 * 1024)
    (tmp_path / "big.bin").write_bytes(data)
    api.upload_file(path_or_fileobj=tmp_path / "big.bin", path_in_repo="big.bin", repo_id=repo)
    url = f"{cluster.url}/{repo}/resolve/main/big.bin"
    by_name = {"hub1": cluster.a, "hub2": cluster.b}
    received = bytearray()
    with httpx.stream("GET", url, timeout=60) as answer:
        assert answer.status_code == 200
        victim = by_name[answer.headers["x-served-by"]]
        pieces = answer.iter_bytes(1024 * 1024)
        received += next(pieces)
        assert victim.proc is not None
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        with contextlib.suppress(httpx.HTTPError):
            for piece in pieces:
                received += piece
    assert 0 < len(received) < len(data), "the kill did not cut the download short"
    rest = httpx.get(url, headers={"Range": f"bytes={len(received)}-"}, timeout=60)
    assert rest.status_code == 206
    assert by_name[rest.headers["x-served-by"]] is not victim
    assert bytes(received) + rest.content == data
    shutil.rmtree(victim.data_dir / "scratch", ignore_errors=True)
    victim.start()
    _wait_healthy(cluster.url)


def test_maintenance_while_the_replicas_serve_traffic(cluster: Cluster, hf_env: None) -> None:
    """`commons gc` (for real), `commons audit-log verify` and `commons search reindex`
    run from a host of their own (an empty data dir, the shared settings) while two
    clients commit through the balancer: gc removes what a deleted repository left and
    nothing a commit needs, the audit chain verifies as it grows, the index is rebuilt,
    and every acknowledged commit is there with its bytes."""
    token = cluster.a.user("alice")
    api = HfApi(endpoint=cluster.url, token=token)
    doomed = f"alice/doomed{secrets.token_hex(3)}"
    api.create_repo(doomed)
    gone = os.urandom(2 * CHUNK + 1)
    api.upload_file(path_or_fileobj=gone, path_in_repo="w.bin", repo_id=doomed)
    api.delete_repo(doomed)
    store = cluster.a.s3  # type: ignore[attr-defined]
    gone_sha = hashlib.sha256(gone).hexdigest()
    assert store.exists(gone_sha)
    grace = 10  # seconds: far longer than one upload takes to be committed
    time.sleep(grace + 1)  # the deleted repository's blob grows older than that
    repo = f"alice/busy{secrets.token_hex(3)}"
    api.create_repo(repo)
    host = cluster.shared.replica()  # not started: a maintenance host's settings
    with Traffic(cluster.url, token, repo, clients=2, lfs=True) as traffic:
        wait_for("commits before maintenance", lambda: traffic.count()[0] >= 2)
        collected = host.cli("gc", "--grace-hours", str(grace / 3600), process=True)
        verified = host.cli("audit-log", "verify", process=True, check=False)
        reindexed = host.cli("search", "reindex", process=True)
        acked = traffic.count()[0]
        wait_for("commits after maintenance", lambda: traffic.count()[0] >= acked + 2)
    traffic.check()
    assert collected.stdout.startswith("Removed "), collected.stdout
    assert not store.exists(gone_sha), collected.stdout
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert reindexed.returncode == 0, reindexed.stderr
    for path, sha in traffic.files.items():
        got = httpx.get(f"{cluster.url}/{repo}/resolve/main/{path}", timeout=60)
        assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == sha, path
    assert [m.id for m in api.list_models(search=repo.split("/")[1])] == [repo]
    fsck = host.cli("fsck", process=True, check=False)
    assert fsck.returncode == 0 and "0 corrupt, 0 missing" in fsck.stdout, fsck.stdout
