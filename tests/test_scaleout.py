"""Several `commons serve` processes as one hub (``scaleout.py``): PostgreSQL, blobs in
S3 (moto's server, tests/s3.py), the queue in Redis, and each replica on an empty data
dir of its own. Migrations run once by `commons migrate`; replicas whose secrets differ
refuse to start; `/api/health` names what is down."""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download

from .cluster import Shared
from .conftest import Server, needs_redis, s3_server
from .s3 import S3Target

MiB = 1024 * 1024
CHUNK = 5 * MiB

pytestmark = needs_redis


@pytest.fixture(scope="module")
def shared(s3: S3Target) -> Iterator[Shared]:
    hub = Shared(s3)
    yield hub
    hub.close()


@pytest.fixture(scope="module")
def replicas(shared: Shared) -> tuple[Server, Server]:
    """Two replicas, started after `commons migrate` (the first test shows the order)."""
    first, second = shared.replica(), shared.replica()
    with pytest.raises(RuntimeError) as refused:
        first.start()
    assert "commons migrate" in str(refused.value) and "auto_migrate is off" in str(refused.value)
    migrated = first.cli("migrate", process=True)
    assert "Upgraded the database from (empty) to" in migrated.stdout, migrated.stderr
    assert "already at" in first.cli("migrate", process=True).stdout
    first.start()
    second.start()
    return first, second


def test_replicas_on_empty_data_dirs_serve_everything(
    replicas: tuple[Server, Server], shared: Shared, tmp_path: Path, hf_env: None
) -> None:
    a, b = replicas
    token = a.user("alice")
    repo = f"alice/r{secrets.token_hex(3)}"
    api = HfApi(endpoint=a.url, token=token)
    api.create_repo(repo, private=True)
    files = {"config.json": b'{"a": 1}', "w.bin": os.urandom(2 * CHUNK + 99)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    api.upload_folder(repo_id=repo, folder_path=tmp_path)  # through replica a
    for name, data in files.items():  # read back through replica b
        got = hf_hub_download(repo, name, endpoint=b.url, token=token, cache_dir=tmp_path / "c")
        assert Path(got).read_bytes() == data

    # One multipart LFS upload whose parts and completion go to different replicas.
    data = os.urandom(2 * CHUNK + 7)
    oid = hashlib.sha256(data).hexdigest()
    auth = {"Authorization": f"Bearer {token}"}
    batch = httpx.post(
        f"{a.url}/{repo}.git/info/lfs/objects/batch",
        headers=auth,
        json={
            "operation": "upload",
            "transfers": ["multipart"],
            "objects": [{"oid": oid, "size": len(data)}],
        },
    ).json()
    upload = batch["objects"][0]["actions"]["upload"]
    parts = []
    for number in (1, 2, 3):
        url = upload["header"][str(number)]
        if number % 2 == 0:
            url = url.replace(a.url, b.url)
        r = httpx.put(url, content=data[(number - 1) * CHUNK : number * CHUNK])
        assert r.status_code == 200, r.text
        parts.append({"partNumber": number, "etag": r.headers["etag"]})
    done = httpx.post(upload["href"].replace(a.url, b.url), json={"oid": oid, "parts": parts})
    assert done.status_code == 200, done.text
    lines = [
        '{"key": "header", "value": {"summary": "by parts"}}',
        f'{{"key": "lfsFile", "value": {{"path": "p.bin", "algo": "sha256", "oid": "{oid}", '
        f'"size": {len(data)}}}}}',
    ]
    r = httpx.post(f"{b.url}/api/models/{repo}/commit/main", headers=auth, content="\n".join(lines))
    assert r.status_code == 200, r.text
    assert httpx.get(f"{a.url}/{repo}/resolve/main/p.bin", headers=auth).content == data

    # A download URL signed by one replica is honoured by the other (one secret).
    batch = httpx.post(
        f"{a.url}/{repo}.git/info/lfs/objects/batch",
        headers=auth,
        json={"operation": "download", "objects": [{"oid": oid, "size": len(data)}]},
    ).json()
    href = batch["objects"][0]["actions"]["download"]["href"]
    assert httpx.get(href.replace(a.url, b.url)).content == data

    # Nothing of that is on either replica's disk but scratch space, emptied.
    for srv in (a, b):
        kept = [p for p in srv.data_dir.rglob("*") if p.is_file() and p.suffix != ".log"]
        assert [p for p in kept if "scratch" in p.parts] == [], kept

    # The audit chain's anchors live in the bucket; verify runs from any replica.
    store = a.s3  # type: ignore[attr-defined]
    anchors = store.client.list_objects_v2(
        Bucket=store.bucket, Prefix=f"{store.prefix}audit-anchors/"
    )
    assert anchors.get("KeyCount", 0) > 0
    assert not (a.data_dir / "audit-anchors.log").exists()
    verified = b.cli("audit-log", "verify", process=True, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # Maintenance runs from any machine with the settings, while the replicas serve.
    reindexed = b.cli("search", "reindex", process=True)
    assert reindexed.returncode == 0, reindexed.stderr
    collected = a.cli("gc", "--dry-run", process=True)
    assert "Would remove 0 unreferenced blobs" in collected.stdout, collected.stdout
    assert list(HfApi(endpoint=b.url, token=token).list_models(search=repo.split("/")[1]))


def test_health_names_each_part(replicas: tuple[Server, Server]) -> None:
    for srv in replicas:
        answer = httpx.get(srv.health_url)
        assert answer.status_code == 200
        assert answer.json() == {"status": "ok", "database": "ok", "store": "ok", "queue": "ok"}


def test_a_replica_with_other_secrets_refuses_to_start(
    replicas: tuple[Server, Server], shared: Shared
) -> None:
    for overrides, what in (
        ({"secret_key": "another"}, "URL signing secret"),
        ({"secret_key": ""}, "URL signing secret"),  # generated in its own data dir
        ({"audit_key_file": ""}, "audit signing key"),  # made in its own data dir
    ):
        odd = shared.replica(**overrides)
        if overrides.get("secret_key") == "":
            del odd.env["COMMONS_SECRET_KEY"]
        if overrides.get("audit_key_file") == "":
            del odd.env["COMMONS_AUDIT_KEY_FILE"]
        with pytest.raises(RuntimeError) as refused:
            odd.start()
        assert f"{what} differs" in str(refused.value), str(refused.value)[-500:]
    for srv in replicas:  # the others serve on
        assert httpx.get(srv.health_url).status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_health_answers_503_while_redis_is_down(s3: S3Target, tmp_path: Path) -> None:
    port = _free_port()
    command = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"]

    def start_redis() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, cwd=tmp_path)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return proc
            except OSError:
                assert time.monotonic() < deadline, "redis did not start"
                time.sleep(0.05)

    redis = start_redis()
    srv = s3_server(s3, task_queue="redis", redis_url=f"redis://127.0.0.1:{port}/0")
    try:
        srv.start()
        assert httpx.get(srv.health_url).json()["queue"] == "ok"
        redis.terminate()
        redis.wait(10)
        down = httpx.get(srv.health_url)
        assert down.status_code == 503 and down.headers["retry-after"] == "5"
        body = down.json()
        assert body["status"] == "unavailable" and body["queue"] != "ok"
        assert body["database"] == "ok" and body["store"] == "ok"
        redis = start_redis()
        assert httpx.get(srv.health_url).status_code == 200  # reconnects by itself
    finally:
        srv.close()
        redis.terminate()
        redis.wait(10)


@pytest.mark.skipif(
    bool(os.environ.get("COMMONS_TEST_S3_URL")), reason="stops an S3 server of its own"
)
def test_a_store_that_is_down_is_a_503_and_leaves_no_dangling_row(
    tmp_path: Path, hf_env: None
) -> None:
    from huggingface_hub.errors import HfHubHTTPError

    from .s3 import s3_target

    own = s3_target()  # a moto server of this test's own, to stop
    target = next(own)
    srv = s3_server(target, regular_upload_max_bytes=MiB)
    try:
        srv.start()
        api = HfApi(endpoint=srv.url, token=srv.user("alice"))
        api.create_repo("alice/m")
        api.upload_file(
            path_or_fileobj=os.urandom(2 * MiB), path_in_repo="a.bin", repo_id="alice/m"
        )
        own.close()  # the store goes away
        for method in ("GET", "HEAD"):
            down = httpx.request(method, f"{srv.url}/alice/m/resolve/main/a.bin", timeout=120)
            assert down.status_code == 503, down.status_code
            assert down.headers["retry-after"] == "5"
            assert down.headers["x-error-code"] == "ServiceUnavailable"
        with pytest.raises(HfHubHTTPError) as refused:
            api.upload_file(path_or_fileobj=b"small", path_in_repo="b.txt", repo_id="alice/m")
        assert refused.value.response.status_code == 503
        assert api.list_repo_files("alice/m") == [".gitattributes", "a.bin"]
        health = httpx.get(srv.health_url, timeout=120)
        assert health.status_code == 503 and health.json()["store"] != "ok"
    finally:
        srv.close()
        own.close()


def test_with_redis_serve_only_enqueues_and_a_worker_runs_the_jobs(
    replicas: tuple[Server, Server], hf_env: None
) -> None:
    """No worker yet: a stage that became due stays closed (the replicas neither tick
    nor consume). A `commons worker` started later finds it and promotes it."""
    a, b = replicas
    token = a.user("rel")
    repo = f"rel/staged{secrets.token_hex(3)}"
    api = HfApi(endpoint=a.url, token=token)
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=b"w", path_in_repo="small/w.bin", repo_id=repo)
    stages = [
        {
            "name": "small",
            "audience": "public",
            "opens": {"files": ["small/*"]},
            "auto": True,
            "conditions": {"card_sections": ["## Risks"]},
        }
    ]
    auth = {"Authorization": f"Bearer {token}"}
    r = httpx.put(f"{a.url}/api/models/{repo}/release-plan", json={"stages": stages}, headers=auth)
    assert r.status_code == 200, r.text
    api.upload_file(
        path_or_fileobj=b"# Staged\n\n## Risks\n\nNone.\n", path_in_repo="README.md", repo_id=repo
    )
    plan = httpx.get(f"{b.url}/api/models/{repo}/release-plan").json()
    assert plan["current"] == -1  # due, but nobody runs jobs
    a.env["COMMONS_RELEASE_TICK_SECONDS"] = "1"
    # The worker moves LFS uploads into the Xet store through the hub's CAS API: a
    # deployment names it (README "Scaling out"); unset, the worker calls its own
    # host:port, where no hub serves.
    a.env["COMMONS_XET_CAS_URL"] = a.url
    a.start_worker()
    deadline = time.monotonic() + 60
    while httpx.get(f"{b.url}/api/models/{repo}/release-plan").json()["current"] < 0:
        assert time.monotonic() < deadline, "the worker did not promote the due stage"
        time.sleep(0.2)
    assert httpx.get(f"{b.url}/{repo}/resolve/main/small/w.bin").content == b"w"
