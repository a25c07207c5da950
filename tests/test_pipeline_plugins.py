"""Outside plugins: a package that declares an entry point in the group
``modelcommons`` adds steps to the pipeline of a hub that has it installed. Its
background steps run after each commit, once; a failing step is retried and then
recorded as ``error`` with its message."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import HfApi

from .conftest import Server

PLUGIN = """
from modelcommons.pipeline import hookimpl


class Counter:
    name, version, synchronous = "count-files", "1", False

    def wants(self, landed):
        return True

    def run(self, hub, session, repo, landed, context):
        from modelcommons.storage.trees import TreeReader

        reader = TreeReader(session, hub.tree_cache)
        files = [p for p, e in reader.walk(landed.tree_oid, "", recursive=True) if not e.is_dir]
        with open(hub.settings.data_dir / "count-files.log", "a") as log:
            log.write(landed.commit_oid + "\\n")
        return {"files": len(files)}


class Broken:
    name, version, synchronous = "always-fails", "1", False

    def wants(self, landed):
        return landed.branch == "main"

    def run(self, hub, session, repo, landed, context):
        raise RuntimeError("this audit is broken")


class AfterCount:
    # Runs once count-files is done for the same commit (requires).

    name, version, synchronous = "after-count", "1", False
    requires = ("count-files",)

    def wants(self, landed):
        return True

    def run(self, hub, session, repo, landed, context):
        from modelcommons.db.pipeline_tables import PipelineStep

        row = session.get(PipelineStep, (repo.id, landed.commit_oid, "count-files"))
        return {"count-files was": row.status}


class AfterBroken:
    name, version, synchronous = "after-broken", "1", False
    requires = ("always-fails",)

    def wants(self, landed):
        return landed.branch == "main"

    def run(self, hub, session, repo, landed, context):
        return {}


@hookimpl
def modelcommons_pipeline_steps():
    return [AfterCount(), Counter(), Broken(), AfterBroken()]
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An installed package, as pip leaves it: the module and its dist-info."""
    root = tmp_path_factory.mktemp("site")
    (root / "audit_plugin.py").write_text(PLUGIN)
    info = root / "audit_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: audit-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[modelcommons]\naudit = audit_plugin\n")
    return root


@pytest.fixture(scope="module")
def hub(site: Path) -> Iterator[Server]:
    srv = Server("sqlite")
    srv.env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [srv.env.get("PYTHONPATH")])])
    srv.start()
    yield srv
    srv.close()


def _steps(hub: Server, repo: str) -> list[dict[str, Any]]:
    return list(json.loads(hub.cli("scan", "status", repo, "--json", process=True).stdout))


def test_outside_plugin_is_listed(hub: Server) -> None:
    described = json.loads(hub.cli("plugins", "--json", process=True).stdout)
    plugins = {p["name"]: p for p in described}
    assert plugins["audit"]["distribution"] == "audit-plugin 1.0"
    assert [s["name"] for s in plugins["audit"]["steps"]] == [
        "after-count",
        "count-files",
        "always-fails",
        "after-broken",
    ]
    assert plugins["audit"]["steps"][0]["requires"] == ["count-files"]
    assert "builtin" in plugins


def test_outside_steps_run_once_and_failures_are_recorded(hub: Server, repo_name: str) -> None:
    api = HfApi(endpoint=hub.url, token=hub.user("alice"))
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    sha = api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo).oid
    deadline = time.monotonic() + 120
    while True:
        steps = {s["step"]: s for s in _steps(hub, repo) if s["commit"] == sha}
        settled = all(
            steps.get(n, {}).get("status") in ("done", "error")
            for n in ("scan", "count-files", "always-fails", "after-count", "after-broken")
        )
        if (settled and steps["always-fails"]["attempts"] == 4) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert steps["count-files"]["status"] == "done"
    assert steps["count-files"]["result"] == {"files": 2}  # .gitattributes and config.json
    assert steps["scan"]["status"] == "done"
    failed = steps["always-fails"]
    assert failed["status"] == "error"
    assert failed["attempts"] == 4  # the first run and Huey's 3 retries
    assert "this audit is broken" in failed["error"]
    # A step runs after the steps it requires, and not at all after one that failed.
    assert steps["after-count"]["status"] == "done"
    assert steps["after-count"]["result"] == {"count-files was": "done"}
    blocked = steps["after-broken"]
    assert blocked["status"] == "error" and blocked["attempts"] == 0
    assert blocked["error"] == "requires the step 'always-fails', which failed"
    log = (hub.data_dir / "count-files.log").read_text().split()
    assert log.count(sha) == 1


def test_a_done_step_never_runs_again(hub: Server, site: Path, repo_name: str) -> None:
    """A job delivered twice (Huey retries, a restart's resume) finds the step done."""
    import sys

    from modelcommons.db.schema import Commit
    from modelcommons.hub import Hub
    from modelcommons.pipeline.steps import Landed
    from modelcommons.settings import Settings

    api = HfApi(endpoint=hub.url, token=hub.user("alice"))
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    sha = api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo).oid
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = {
            s["step"] for s in _steps(hub, repo) if s["commit"] == sha and s["status"] == "done"
        }
        if "count-files" in done:
            break
        time.sleep(0.3)
    sys.path.insert(0, str(site))
    try:
        local = Hub(Settings(data_dir=hub.data_dir, task_queue="memory"))
        with local.db.read() as session:
            commit = session.query(Commit).filter(Commit.oid == sha).one()
            landed = Landed(commit.repo_id, "main", sha, commit.tree_oid, "alice", False, True)
        assert local.pipeline.run_step(landed, "count-files") == "done"
        local.close()
    finally:
        sys.path.remove(str(site))
    assert (hub.data_dir / "count-files.log").read_text().split().count(sha) == 1
