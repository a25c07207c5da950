"""The scheduler inside `commons serve` (or, on Redis, `commons worker`): due
promotions run with nobody calling.

`test_release_plans.py` drives the scheduler in-process with an injected clock;
here the real server's own ticker and queue consumer do the work, on the embedded
SQLite queue and on Redis. Nothing here waits for a date: the conditions that
become true are a card section and an approval.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import HfApi

from modelcommons.settings import Settings

from .conftest import Server, needs_redis

QUEUES = [
    "sqlite",
    pytest.param("redis", marks=needs_redis),
]


@pytest.fixture(scope="module", params=QUEUES)
def ticking(request: pytest.FixtureRequest) -> Iterator[Server]:
    srv = Server(
        "sqlite",
        task_queue=request.param,
        task_queue_name=f"jobs{secrets.token_hex(4)}",
        release_tick_seconds=1,
    )
    srv.start()
    if request.param == "redis":
        srv.start_worker()  # serve only enqueues; the worker runs the jobs
    yield srv
    srv.close()


def _plan_when(srv: Server, repo: str, done: Any, what: str) -> dict[str, Any]:
    """Poll the public timeline until ``done(plan)``; the server works on its own."""
    deadline = time.monotonic() + 60
    plan: dict[str, Any] = {}
    while time.monotonic() < deadline:
        plan = httpx.get(f"{srv.url}/api/models/{repo}/release-plan").json()
        if done(plan):
            return plan
        time.sleep(0.2)
    raise AssertionError(f"the scheduler did not {what} within 60 s: {plan}")


def test_serve_promotes_due_stages_by_itself(ticking: Server) -> None:
    owner = f"own{secrets.token_hex(3)}"
    token = ticking.user(owner)
    repo = f"{owner}/staged"
    api = HfApi(endpoint=ticking.url, token=token)
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=b"w", path_in_repo="small/w.bin", repo_id=repo)
    api.upload_file(path_or_fileobj=b"w", path_in_repo="large/w.bin", repo_id=repo)
    stages = [
        {
            "name": "small",
            "audience": "public",
            "opens": {"files": ["small/*"]},
            "auto": True,
            "conditions": {"card_sections": ["## Risks"]},
        },
        {
            "name": "large",
            "audience": "public",
            "opens": {"files": ["large/*"]},
            "auto": True,
            "conditions": {"approvals": {"count": 1, "role": "admin"}},
        },
    ]
    auth = {"Authorization": f"Bearer {token}"}
    r = httpx.put(
        f"{ticking.url}/api/models/{repo}/release-plan", json={"stages": stages}, headers=auth
    )
    assert r.status_code == 200, r.text
    small = f"{ticking.url}/{repo}/resolve/main/small/w.bin"
    assert httpx.get(small).status_code == 401

    # A commit enqueues nothing: only the server's own ticker can notice the card.
    api.upload_file(
        path_or_fileobj=b"# Staged\n\n## Risks\n\nNone known.\n",
        path_in_repo="README.md",
        repo_id=repo,
    )
    plan = _plan_when(ticking, repo, lambda p: p["current"] >= 0, "open the first stage")
    assert plan["current"] == 0
    promoted = plan["decisions"][-1]
    assert promoted["action"] == "promote" and promoted["actor"] is None
    assert httpx.get(small).content == b"w"

    # An approval makes the next stage due: the check it enqueues after its commit (or
    # the next tick) finds it, and the queue's consumer runs the promotion.
    r = httpx.post(
        f"{ticking.url}/api/models/{repo}/release-plan/approve",
        json={"rationale": "reviewed"},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    _plan_when(ticking, repo, lambda p: p["current"] == 1, "open the approved stage")
    assert httpx.get(f"{ticking.url}/{repo}/resolve/main/large/w.bin").content == b"w"


def test_where_chunk_jobs_reach_the_cas(tmp_path: Path) -> None:
    """A `commons worker` (the Redis queue) serves no HTTP: its chunk jobs go to the
    configured CAS, or where clients reach the hub, or nowhere (they skip, and the
    file stays whole) rather than to its own host:port, where no hub answers."""
    from modelcommons.jobs import chunking_cas_url

    def url(**kw: object) -> str | None:
        return chunking_cas_url(Settings(data_dir=tmp_path, port=7860, **kw))  # type: ignore[arg-type]

    assert url() == "http://127.0.0.1:7860/cas"  # the embedded queue: this process
    assert url(task_queue="redis") is None
    assert url(task_queue="redis", public_url="https://hub.example/") == "https://hub.example/cas"
    assert url(task_queue="redis", xet_cas_url="http://cas:9000/cas") == "http://cas:9000/cas"
