"""Concurrent committers: nobody's work is lost, stale parents get a clean conflict."""

from __future__ import annotations

import concurrent.futures
import threading

from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError

from .conftest import Server

WRITERS = 24


def test_concurrent_commits_without_parent_all_land(server: Server, repo_name: str) -> None:
    token = server.user("alice")
    repo = f"alice/{repo_name}"
    HfApi(endpoint=server.url, token=token).create_repo(repo)
    start = threading.Barrier(WRITERS)

    def write(i: int) -> str:
        api = HfApi(endpoint=server.url, token=token)
        start.wait()
        ops = [
            CommitOperationAdd(f"w{i}/file.txt", f"writer {i}".encode()),
            CommitOperationAdd(f"shared/dir/w{i}.txt", b"x" * i),
        ]
        return api.create_commit(repo, ops, commit_message=f"writer {i}").oid

    with concurrent.futures.ThreadPoolExecutor(WRITERS) as pool:
        oids = list(pool.map(write, range(WRITERS)))
    api = HfApi(endpoint=server.url, token=token)
    files = set(api.list_repo_files(repo))
    for i in range(WRITERS):
        assert f"w{i}/file.txt" in files and f"shared/dir/w{i}.txt" in files
    history = [c.commit_id for c in api.list_repo_commits(repo)]
    assert len(history) == WRITERS + 1  # every commit is in one linear history
    assert set(oids) == set(history[:-1])


def test_concurrent_commits_with_same_parent_conflict_cleanly(
    server: Server, repo_name: str
) -> None:
    token = server.user("alice")
    repo = f"alice/{repo_name}"
    api = HfApi(endpoint=server.url, token=token)
    api.create_repo(repo)
    parent = api.model_info(repo).sha
    start = threading.Barrier(WRITERS)

    def write(i: int) -> int:
        client = HfApi(endpoint=server.url, token=token)
        start.wait()
        try:
            client.create_commit(
                repo,
                [CommitOperationAdd(f"f{i}.txt", b"x")],
                commit_message=f"w{i}",
                parent_commit=parent,
            )
        except HfHubHTTPError as exc:
            return exc.response.status_code
        return 200

    with concurrent.futures.ThreadPoolExecutor(WRITERS) as pool:
        statuses = list(pool.map(write, range(WRITERS)))
    assert statuses.count(200) == 1
    assert statuses.count(412) == WRITERS - 1
    files = [f for f in api.list_repo_files(repo) if f.startswith("f")]
    assert len(files) == 1
    assert len(api.list_repo_commits(repo)) == 2
