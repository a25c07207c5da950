"""A backend down during traffic (README "Scaling out"): PostgreSQL crashed and
restarted, Redis killed and restarted empty, the object store refusing connections or
hanging. Clients committing through the real ``huggingface_hub`` client meanwhile get
503 with ``Retry-After`` (never a 500), the hub reconnects by itself, no acknowledged
commit is lost, no job is lost with Redis's keys, and no database row points at an
object the store lacks (``commons fsck``).

The database and Redis are servers of the tests' own (``tests/backends.py``), the store
is moto's server behind a relay the test cuts: the machine's shared PostgreSQL and
Redis are never stopped. Heavy (marked ``scale``).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from huggingface_hub import HfApi

from .backends import Gate, PrivatePostgres, PrivateRedis, postgres_bin, relay_target, wait_for
from .conftest import s3_server
from .s3 import S3Target
from .traffic import Traffic

pytestmark = [
    pytest.mark.scale,
    pytest.mark.skipif(postgres_bin("initdb") is None, reason="no PostgreSQL server binaries"),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="no redis-server"),
]


class Backends:
    def __init__(self, s3: S3Target) -> None:
        self.pg = PrivatePostgres()
        self.redis = PrivateRedis()
        assert s3.endpoint is not None
        self.gate = Gate(relay_target(s3.endpoint))
        self.pg.start()
        self.pg.create()
        self.redis.start()
        self.hub = s3_server(
            s3,
            database_url=self.pg.url,
            task_queue="redis",
            redis_url=self.redis.url,
            task_queue_name=f"outage{secrets.token_hex(4)}",
            job_lease_seconds=2,
            release_tick_seconds=2,
            s3_endpoint_url=self.gate.url,
            s3_timeout_seconds=2,
            s3_attempts=2,
            regular_upload_max_bytes=64 * 1024,
        )
        self.hub.start()
        self.hub.start_worker()
        worker_log = self.hub.data_dir / "worker.log"
        wait_for("the worker", lambda: "worker on the redis queue" in worker_log.read_text())

    def close(self) -> None:
        self.hub.close()
        self.gate.close()
        self.redis.close()
        self.pg.close()

    def steps(self, repo: str) -> dict[str, int]:
        """The pipeline steps of ``repo``'s commits, by status."""
        with psycopg.connect(self.pg.admin.rsplit("/", 1)[0] + "/hub") as conn:
            rows = conn.execute(
                "SELECT s.status, count(*) FROM pipeline_steps s JOIN repos r "
                "ON r.id = s.repo_id WHERE r.namespace || '/' || r.name = %s GROUP BY s.status",
                (repo,),
            )
            return {status: count for status, count in rows}


@pytest.fixture(scope="module")
def backends(s3: S3Target) -> Iterator[Backends]:
    if s3.endpoint is None or not s3.endpoint.startswith("http://"):
        pytest.skip("the relay passes plain HTTP only (moto, or MinIO without TLS)")
    started = Backends(s3)
    yield started
    started.close()


def _repo(b: Backends, name: str) -> tuple[str, str]:
    token = b.hub.user("alice")
    repo = f"alice/{name}{secrets.token_hex(3)}"
    HfApi(endpoint=b.hub.url, token=token).create_repo(repo)
    return token, repo


def _health(b: Backends) -> httpx.Response:
    return httpx.get(b.hub.health_url, timeout=60)


def _down(b: Backends, part: str) -> dict[str, Any]:
    answer = _health(b)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    body: dict[str, Any] = answer.json()
    assert body["status"] == "unavailable" and body[part] != "ok", body
    return body


def _refused(answer: httpx.Response) -> bool:
    """A 503 the stock client waits out (it retries after ``Retry-After``)."""
    if answer.status_code != 503:
        return False
    assert answer.headers["retry-after"] == "5"
    assert answer.headers["x-error-code"] == "ServiceUnavailable"
    return True


def _commit(b: Backends, token: str, repo: str, lines: list[str]) -> httpx.Response:
    return httpx.post(
        f"{b.hub.url}/api/models/{repo}/commit/main",
        headers={"Authorization": f"Bearer {token}"},
        content="\n".join(['{"key": "header", "value": {"summary": "probe"}}', *lines]),
        timeout=60,
    )


def _all_steps_run(b: Backends, repo: str) -> None:
    """Every background step of ``repo``'s commits ran (none lost with its job)."""
    try:
        wait_for("every queued step to run", lambda: set(b.steps(repo)) == {"done"}, seconds=60)
    except AssertionError:
        lines = (b.hub.data_dir / "worker.log").read_text().splitlines()
        log = "\n".join(line for line in lines if not line.startswith(" "))[-6000:]
        raise AssertionError(f"{b.steps(repo)}\n{log}") from None


def test_postgresql_crashed_and_restarted_during_commits(backends: Backends) -> None:
    """The client's own retries (after Retry-After) carry most commits over the gap."""
    b = backends
    token, repo = _repo(b, "pg")
    auth = {"Authorization": f"Bearer {token}"}
    with Traffic(b.hub.url, token, repo) as traffic:
        wait_for("commits before the crash", lambda: traffic.count()[0] >= 3)
        b.pg.crash()
        info = f"{b.hub.url}/api/models/{repo}"
        wait_for("a 503", lambda: _refused(httpx.get(info, headers=auth, timeout=60)))
        assert _refused(_commit(b, token, repo, []))
        _down(b, "database")
        b.pg.start()
        acked = traffic.count()[0]
        wait_for("commits after the restart", lambda: traffic.count()[0] >= acked + 3)
    traffic.check()
    assert _health(b).status_code == 200
    _all_steps_run(b, repo)


def test_redis_killed_and_restarted_empty_during_commits(backends: Backends) -> None:
    """Commits go on while Redis is down (their jobs wait in the database); once it is
    back, empty, every commit's background steps run."""
    b = backends
    token, repo = _repo(b, "redis")
    with Traffic(b.hub.url, token, repo) as traffic:
        wait_for("commits before the kill", lambda: traffic.count()[0] >= 3)
        b.redis.kill()
        acked = traffic.count()[0]
        wait_for("commits while Redis is down", lambda: traffic.count()[0] >= acked + 3)
        _down(b, "queue")
        b.redis.start()
        acked = traffic.count()[0]
        wait_for("commits after the restart", lambda: traffic.count()[0] >= acked + 3)
    traffic.check()
    assert _health(b).status_code == 200
    _all_steps_run(b, repo)


@pytest.mark.parametrize("fault", ["refuse", "hang"])
def test_object_store_down_during_lfs_commits(backends: Backends, fault: str) -> None:
    """A store that refuses connections, or stops answering: downloads and uploads are
    503s; once it is back, commits go on, and `commons fsck` finds every object the
    database references, whole."""
    b = backends
    token, repo = _repo(b, f"store{fault}")
    auth = {"Authorization": f"Bearer {token}"}
    with Traffic(b.hub.url, token, repo, lfs=True) as traffic:
        wait_for("commits before the fault", lambda: traffic.count()[0] >= 2)
        getattr(b.gate, fault)()
        first = f"{b.hub.url}/{repo}/resolve/main/{traffic.a_file()}"
        seen: list[int] = []  # what came instead, for the failure message

        def refused() -> bool:
            answer = httpx.get(first, headers=auth, timeout=60)
            seen.append(answer.status_code)
            return _refused(answer)

        wait_for(lambda: f"a 503 (got {seen[-20:]})", refused)
        data = os.urandom(96 * 1024)
        oid = hashlib.sha256(data).hexdigest()
        batch = httpx.post(
            f"{b.hub.url}/{repo}.git/info/lfs/objects/batch",
            headers=auth,
            json={"operation": "upload", "objects": [{"oid": oid, "size": len(data)}]},
            timeout=60,
        )
        if batch.status_code == 200:  # the store was not asked; the upload is refused
            href = batch.json()["objects"][0]["actions"]["upload"]["href"]
            assert _refused(httpx.put(href, content=data, timeout=60))
        else:
            assert _refused(batch)
        line = (
            f'{{"key": "lfsFile", "value": {{"path": "probe.bin", "algo": "sha256", '
            f'"oid": "{oid}", "size": {len(data)}}}}}'
        )
        assert _commit(b, token, repo, [line]).status_code in (422, 400, 503)
        _down(b, "store")
        b.gate.open()
        acked = traffic.count()[0]
        wait_for("commits after the store is back", lambda: traffic.count()[0] >= acked + 2)
    traffic.check()
    fsck = b.hub.cli("fsck", process=True, check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert "0 corrupt, 0 missing" in fsck.stdout
