"""A `commons worker` SIGKILLed mid-job: the job runs again, once (README "Scaling out").

A real worker process takes a job from the Redis queue and is stopped inside it by a
row lock the test holds in PostgreSQL (so the kill lands mid-job for certain, with no
sleep), then killed. A second worker reclaims the job once the first one's lease
(``job_lease_seconds``, 2 s here) has expired, and runs it: the release promotion is
decided once, the scan runs a second time and no more (its attempts are 2), and
nothing is left in the queue or taken by a worker.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
import redis
from huggingface_hub import HfApi
from sqlalchemy import create_engine, insert
from sqlalchemy.orm import Session

from modelcommons.db.pipeline_tables import BlobScan
from modelcommons.scanning import store

from .conftest import Server, needs_redis

pytestmark = [pytest.mark.slow, needs_redis]


@pytest.fixture(scope="module")
def hub() -> Iterator[Server]:
    srv = Server(
        "postgresql",
        task_queue="redis",
        task_queue_name=f"kill{secrets.token_hex(4)}",
        job_lease_seconds=2,
        release_tick_seconds=3600,  # only the test enqueues promotions
    )
    srv.start()
    yield srv
    srv.close()


def _pg(srv: Server) -> str:
    assert srv.pg is not None
    return srv.pg.url.replace("postgresql+psycopg://", "postgresql://")


def _until(what: str, check: Callable[[], Any], seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while not (value := check()):
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.05)
    return value


def _queue_keys(srv: Server) -> list[str]:
    name = srv.env["COMMONS_TASK_QUEUE_NAME"]
    r = redis.Redis()
    keys = [f"huey.redis.{name}", *(k.decode() for k in r.keys(f"huey.taken.{name}.*"))]
    return [k for k in keys if r.llen(k)]


@contextlib.contextmanager
def _holding(srv: Server, sql: str | None = None, row: Any = None) -> Iterator[None]:
    """Hold a lock (a ``SELECT ... FOR UPDATE``, or an uncommitted insert) until the
    block ends, then roll back."""
    if row is not None:
        engine = create_engine(srv.pg.url if srv.pg else "")
        with Session(engine) as session:
            session.execute(insert(BlobScan).values(**row))
            session.flush()
            try:
                yield
            finally:
                session.rollback()
        engine.dispose()
        return
    with psycopg.connect(_pg(srv)) as conn:
        assert sql is not None
        conn.execute(sql)
        try:
            yield
        finally:
            conn.rollback()


def _kill_when_blocked(srv: Server, worker: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``worker`` once it waits for the test's lock, inside its job."""
    with psycopg.connect(_pg(srv), autocommit=True) as conn:

        def blocked() -> bool:
            assert worker.poll() is None, "the worker exited"
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
            return bool(row and row[0])

        try:
            _until("the worker to block inside its job", blocked)
        except AssertionError:
            raise AssertionError((srv.data_dir / "worker.log").read_text()[-4000:]) from None
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    taken = [k for k in _queue_keys(srv) if k.startswith("huey.taken.")]
    assert taken, "the killed worker's job is gone from Redis"


def test_a_promotion_whose_worker_is_killed_runs_again_once(hub: Server) -> None:
    token = hub.user("alice")
    repo = f"alice/staged{secrets.token_hex(3)}"
    api = HfApi(endpoint=hub.url, token=token)
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=b"weights", path_in_repo="small/model.bin", repo_id=repo)
    plan_url = f"{hub.url}/api/models/{repo}/release-plan"
    auth = {"Authorization": f"Bearer {token}"}
    stages = [{"name": "first", "opens": {"files": ["small/*"]}, "auto": True}]
    assert httpx.put(plan_url, json={"stages": stages}, headers=auth).status_code == 200

    from modelcommons.governance import releases
    from modelcommons.hub import Hub
    from modelcommons.settings import Settings

    assert hub.pg is not None
    env = {k: v for k, v in hub.env.items() if k.startswith("COMMONS_")}
    local = Hub(Settings.from_env(env, data_dir=hub.data_dir, database_url=hub.pg.url))
    try:
        with _holding(hub, "SELECT 1 FROM release_plans FOR UPDATE"):
            assert releases.schedule_due(local) == 1  # one job, in Redis
            _kill_when_blocked(hub, hub.start_worker())
    finally:
        local.close()

    hub.start_worker()  # reclaims the job once the dead worker's lease expires

    def promotions() -> list[Any]:
        decisions = httpx.get(plan_url, headers=auth).json()["decisions"]
        return [d for d in decisions if d["action"] == "promote"]

    _until("the promotion", promotions)
    _until("the queue to empty", lambda: not _queue_keys(hub))
    assert len(promotions()) == 1


def test_a_scan_whose_worker_is_killed_runs_again_once(hub: Server) -> None:
    token = hub.user("bob")
    repo = f"bob/scanned{secrets.token_hex(3)}"
    api = HfApi(endpoint=hub.url, token=token)
    api.create_repo(repo)
    data = f"weights {secrets.token_hex(8)}".encode()
    sha = __import__("hashlib").sha256(data).hexdigest()
    sha256, profile = store.key(sha, "model.bin")
    # The scan's result row, inserted and held uncommitted: the worker's scan blocks
    # when it records its result.
    held = {
        "sha256": sha256,
        "profile": profile,
        "name": "model.bin",
        "scanner_version": "held",
        "status": "safe",
    }
    for w in hub.workers:  # the promotion test's worker would take the job at once
        w.terminate()
        w.wait()
    with _holding(hub, row=held):
        commit = api.upload_file(path_or_fileobj=data, path_in_repo="model.bin", repo_id=repo)
        oid = commit.oid

        def step(conn: psycopg.Connection[Any]) -> tuple[Any, ...] | None:
            return conn.execute(
                "SELECT s.status, s.attempts FROM pipeline_steps s "
                "JOIN repos r ON r.id = s.repo_id "
                "WHERE s.commit_oid = %s AND s.step = 'scan'",
                (oid,),
            ).fetchone()

        with psycopg.connect(_pg(hub), autocommit=True) as conn:
            _kill_when_blocked(hub, hub.start_worker())
            assert step(conn) == ("running", 1)
    hub.start_worker()
    with psycopg.connect(_pg(hub), autocommit=True) as conn:
        _until("the scan to run again", lambda: step(conn) == ("done", 2))
        _until("the queue to empty", lambda: not _queue_keys(hub))
        assert step(conn) == ("done", 2)
    files = api.list_repo_tree(repo, expand=True)
    (entry,) = [f for f in files if f.path == "model.bin"]
    assert entry.security is not None and entry.security["status"] == "safe"  # type: ignore[attr-defined]
