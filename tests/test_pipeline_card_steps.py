"""The card's background steps (search index, lineage, licence check) on the
post-commit pipeline: jobs after the commit, run in any order, late or twice, leave
the state the latest card calls for.

The hub under test queues its jobs in memory and never runs them (``task_queue=
memory`` has no consumer), so this test runs each job itself, in the order it
chooses, through ``Pipeline.run_step``: what a Huey worker calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from modelcommons.db.schema import Commit
from modelcommons.hub import Hub
from modelcommons.pipeline.steps import Landed
from modelcommons.settings import Settings

from .conftest import Server
from .lineage_helpers import card, fresh_user


@pytest.fixture(scope="module")
def idle() -> Iterator[Server]:
    """A hub whose post-commit jobs wait for the test to run them."""
    srv = Server("sqlite", task_queue="memory")
    srv.start()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def worker(idle: Server) -> Iterator[Hub]:
    hub = Hub(Settings(data_dir=idle.data_dir, task_queue="memory"))
    yield hub
    hub.close()


def _landed(hub: Hub, sha: str) -> Landed:
    with hub.db.read() as session:
        commit = session.query(Commit).filter(Commit.oid == sha).one()
        return Landed(commit.repo_id, "main", sha, commit.tree_oid, commit.author, True, True)


def _statuses(idle: Server, repo: str, sha: str) -> dict[str, Any]:
    out = json.loads(idle.cli("scan", "status", repo, "--json").stdout)
    return {r["step"]: r for r in out if r["commit"] == sha}


def test_late_jobs_of_an_older_card_change_nothing(idle: Server, worker: Hub) -> None:
    user, api = fresh_user(idle, "late")
    first_parent, second_parent, child = f"{user}/first", f"{user}/second", f"{user}/child"
    for parent in (first_parent, second_parent):
        api.create_repo(parent)
    api.create_repo(child)
    old_word, new_word = f"oldword{user}", f"newword{user}"

    def commit(parent: str, word: str) -> str:
        readme = card(license="mit", base_model=parent) + f"{word}\n".encode()
        return api.upload_file(path_or_fileobj=readme, path_in_repo="README.md", repo_id=child).oid

    older, newer = commit(first_parent, old_word), commit(second_parent, new_word)
    # The commits landed; none of their card steps has run.
    steps = _statuses(idle, child, older)
    assert {n: s["status"] for n, s in steps.items() if n != "scan"} == {
        "search": "queued",
        "lineage": "queued",
        "licences": "queued",
    }
    lineage_url = f"{idle.url}/api/models/{child}/lineage"
    assert httpx.get(lineage_url).json()["parents"] == []

    run = worker.pipeline.run_step
    old, new = _landed(worker, older), _landed(worker, newer)
    # The licence check waits for the lineage of its own commit.
    assert run(new, "licences") == "waiting"
    assert run(new, "lineage") == "done"
    assert run(new, "licences") == "done"
    assert run(new, "search") == "done"
    # The older commit's jobs run last: superseded, they leave the newer card's state.
    assert run(old, "lineage") == "done"
    assert run(old, "licences") == "done"
    assert run(old, "search") == "done"
    doc = httpx.get(lineage_url).json()
    assert [p["id"] for p in doc["parents"]] == [second_parent]
    assert doc["licenseCheck"]["commit"] == newer
    steps = _statuses(idle, child, older)
    assert steps["lineage"]["result"] == {"superseded": True}
    assert steps["licences"]["result"] == {"superseded": True}
    found = httpx.get(f"{idle.url}/api/models", params={"search": new_word}).json()
    assert [m["id"] for m in found] == [child]
    assert httpx.get(f"{idle.url}/api/models", params={"search": old_word}).json() == []
    # A job delivered again finds its step done and does nothing.
    assert run(new, "lineage") == "done"
    assert _statuses(idle, child, newer)["lineage"]["attempts"] == 1
