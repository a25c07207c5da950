"""The post-commit pipeline against a real hub: plugins found through entry points,
background scans after the commit's transaction, statuses per commit and per file,
results through the stock client (``model_info(securityStatus=True)``,
``list_repo_tree(expand=True)``, ``get_paths_info(expand=True)``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import CommitOperationAdd, HfApi

from .conftest import Server
from .scan_corpus.benign import benign
from .scan_corpus.hostile import malicious

MALICIOUS = malicious()
BENIGN = benign()


def wait_scanned(api: HfApi, repo: str, revision: str | None = None) -> Any:
    """model_info with its securityRepoStatus once every file is scanned (the scan is
    a background job: poll; a generous deadline, not a timing assertion)."""
    deadline = time.monotonic() + 120
    while True:
        info = api.model_info(repo, revision=revision, securityStatus=True)
        if info.security_repo_status["scansDone"] or time.monotonic() > deadline:
            return info
        time.sleep(0.2)


def upload(api: HfApi, repo: str, files: dict[str, bytes], message: str = "files") -> str:
    ops = [CommitOperationAdd(path_in_repo=n, path_or_fileobj=d) for n, d in files.items()]
    return api.create_commit(repo, ops, commit_message=message).oid


def test_plugins_lists_the_builtin_steps(server: Server) -> None:
    out = server.cli("plugins", "--json").stdout
    plugins = {p["name"]: p for p in json.loads(out)}
    steps = {s["name"]: s["mode"] for s in plugins["builtin"]["steps"]}
    assert steps == {
        "card": "synchronous",
        "search": "background",
        "lineage": "background",
        "licences": "background",
        "scan": "background",
    }
    licences = next(s for s in plugins["builtin"]["steps"] if s["name"] == "licences")
    assert licences["requires"] == ["lineage"]
    assert licences["waitsWhen"] == "the licence policy is reject"
    text = server.cli("plugins").stdout
    assert "scan" in text and "background" in text
    assert "in the commit when the licence policy is reject" in text


def test_scan_results_through_the_client(server: Server, repo_name: str) -> None:
    api = HfApi(endpoint=server.url, token=server.user("alice"))
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    files = {
        "evil.pkl": MALICIOUS["raw_p4.pkl"],
        "weights/model.pt": MALICIOUS["torch_data_pkl.pt"],
        "good.pt": BENIGN["linear.pt"],
        "model.safetensors": BENIGN["linear.safetensors"],
        "logreg.pkl": BENIGN["logreg.pkl"],
        "config.json": BENIGN["config.json"],
    }
    sha = upload(api, repo, files)
    info = wait_scanned(api, repo)
    status = info.security_repo_status
    assert status["scansDone"] is True
    issues = {f["path"]: f["level"] for f in status["filesWithIssues"]}
    assert issues == {
        "evil.pkl": "unsafe",
        "weights/model.pt": "unsafe",
        "logreg.pkl": "suspicious",
    }

    tree = {f.path: f for f in api.list_repo_tree(repo, recursive=True, expand=True)}
    evil = tree["evil.pkl"].security  # type: ignore[union-attr,index]
    assert evil is not None and evil["status"] == "unsafe" and evil["safe"] is False
    assert evil["av_scan"] is None
    assert evil["pickle_import_scan"]["highestSafetyLevel"] == "dangerous"
    assert {"module": "os", "name": "system", "safety": "dangerous"} in evil["pickle_import_scan"][
        "imports"
    ]
    good = tree["good.pt"].security  # type: ignore[union-attr,index]
    assert good["safe"] is True and good["status"] == "safe"
    imports = good["pickle_import_scan"]["imports"]
    assert {"module": "torch._utils", "name": "_rebuild_tensor_v2", "safety": "innocuous"} in (
        imports
    )
    assert tree["model.safetensors"].security["status"] == "safe"  # type: ignore[union-attr,index]

    paths = api.get_paths_info(repo, ["weights/model.pt", "config.json"], expand=True)
    by_path = {p.path: p for p in paths}
    assert by_path["weights/model.pt"].security["status"] == "unsafe"  # type: ignore[union-attr,index]
    assert by_path["config.json"].security["status"] == "safe"  # type: ignore[union-attr,index]
    # A commit id gives the same answers as the branch.
    assert wait_scanned(api, repo, revision=sha).security_repo_status == status
    # Not asked: not sent.
    assert api.model_info(repo).security_repo_status is None


def test_a_blob_is_scanned_once(server: Server, repo_name: str) -> None:
    """The same bytes in two repositories: the second commit finds them scanned."""
    api = HfApi(endpoint=server.url, token=server.user("alice"))
    first, second = f"alice/{repo_name}-a", f"alice/{repo_name}-b"
    for repo in (first, second):
        api.create_repo(repo)
    payload = {"shared.pkl": MALICIOUS["stack_global.pkl"] + b"\x00"}  # unique to this test
    upload(api, first, payload)
    wait_scanned(api, first)
    upload(api, second, payload)
    # The files read as scanned at once (their blob has a result); the step still
    # runs, and finds nothing to do.
    assert wait_scanned(api, second).security_repo_status["scansDone"] is True
    scan = _wait_step(server, second)
    assert scan["status"] == "done"
    assert scan["result"]["scanned"] == 0  # found scanned, not scanned again
    assert any(
        s["result"].get("scanned") == 1 for s in _steps(server, first) if s["step"] == "scan"
    )


def _wait_step(server: Server, repo: str) -> dict[str, Any]:
    """The last commit's scan step, once it left the queue."""
    deadline = time.monotonic() + 120
    while True:
        last = [s for s in _steps(server, repo) if s["step"] == "scan"][-1]
        if last["status"] in ("done", "error") or time.monotonic() > deadline:
            return last
        time.sleep(0.2)


def _steps(server: Server, repo: str) -> list[dict[str, Any]]:
    out = server.cli("scan", "status", repo, "--json").stdout
    return list(json.loads(out))


@pytest.mark.parametrize("name", ["truncated.pkl", "lambda.keras", "overlap.safetensors"])
def test_each_class_of_finding_reaches_the_api(server: Server, repo_name: str, name: str) -> None:
    api = HfApi(endpoint=server.url, token=server.user("alice"))
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    upload(api, repo, {name: MALICIOUS[name]})
    info = wait_scanned(api, repo)
    [issue] = info.security_repo_status["filesWithIssues"]
    assert issue["path"] == name and issue["level"] == "unsafe" and issue["message"]


def test_scan_all_rescans_each_blob_once(sqlite_server: Server, repo_name: str) -> None:
    """After a scanner change (results of an older version), ``commons scan --all``
    rescans each stored blob once, however many repositories hold it."""
    import sqlite3

    hub = sqlite_server
    api = HfApi(endpoint=hub.url, token=hub.user("alice"))
    marker = repo_name.encode()
    files = {"a.pkl": MALICIOUS["attrgetter.pkl"] + marker, "b.pt": BENIGN["mlp.pt"] + marker}
    repos = [f"alice/{repo_name}-{i}" for i in range(3)]
    for repo in repos:
        api.create_repo(repo)
        upload(api, repo, files)  # the same blobs in three repositories
        assert _wait_step(hub, repo)["status"] == "done"
    with sqlite3.connect(hub.data_dir / "commons.db") as db:
        db.execute("UPDATE blob_scans SET scanner_version = '0', status = 'safe'")
    ran = hub.cli("scan", "--all", process=True)
    assert "Scanning blobs" in ran.stderr  # the progress bar
    count = int(ran.stdout.split("Scanned ")[1].split(" blobs")[0])
    with sqlite3.connect(hub.data_dir / "commons.db") as db:
        rows = db.execute("SELECT COUNT(*), COUNT(DISTINCT sha256) FROM blob_scans").fetchone()
        versions = {v for (v,) in db.execute("SELECT DISTINCT scanner_version FROM blob_scans")}
    assert count == rows[0]  # every result once, not once per repository
    assert versions == {"1"}
    status = wait_scanned(api, repos[0]).security_repo_status
    assert {f["path"]: f["level"] for f in status["filesWithIssues"]} == {"a.pkl": "unsafe"}
    again = hub.cli("scan", "--all", process=True)
    assert "Scanned 0 blobs" in again.stdout


def test_a_git_push_is_scanned(sqlite_server: Server, repo_name: str, tmp_path: Path) -> None:
    """Pushed commits go through the same pipeline as commits made here."""
    from .gitclient import Git

    hub = sqlite_server
    token = hub.user("alice")
    api = HfApi(endpoint=hub.url, token=token)
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    git = Git(tmp_path / "home")
    work = tmp_path / "work"
    git.run("clone", f"{hub.url}/{repo}", str(work), cwd=tmp_path, token=token)
    (work / "notes").mkdir()
    (work / "notes" / "hidden").write_bytes(MALICIOUS["stack_global_memo.pkl"])  # no extension
    git.run("add", "-A", cwd=work)
    git.run("commit", "-qm", "push a pickle", cwd=work)
    git.run("push", "origin", "main", cwd=work, token=token)
    status = wait_scanned(api, repo).security_repo_status
    assert [(f["path"], f["level"]) for f in status["filesWithIssues"]] == [
        ("notes/hidden", "unsafe")
    ]


def test_a_pull_request_is_scanned(sqlite_server: Server, repo_name: str) -> None:
    """A commit that opens a pull request lands on refs/pr/N: scanned like a branch."""
    hub = sqlite_server
    api = HfApi(endpoint=hub.url, token=hub.user("alice"))
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    ops = [CommitOperationAdd(path_in_repo="evil.pkl", path_or_fileobj=MALICIOUS["runpy.pkl"])]
    pr = api.create_commit(repo, ops, commit_message="a pickle", create_pr=True)
    assert pr.pr_revision is not None
    status = wait_scanned(api, repo, revision=pr.pr_revision).security_repo_status
    assert [(f["path"], f["level"]) for f in status["filesWithIssues"]] == [("evil.pkl", "unsafe")]
