"""A push cut off mid-pack, by SIGKILL of the hub or of the client: no ref moves,
nothing stored is corrupt, nothing is left behind, and the push then works."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi

from .conftest import Server
from .gitclient import Git
from .packs import pkt
from .test_crash import _blob_store_is_consistent, _kill_mid_body

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgresql"])
def crash_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    srv = Server(request.param)
    srv.start()
    yield srv
    srv.close()


def _prepared_push(git: Git, srv: Server, repo: str, token: str, work: Path) -> tuple[str, bytes]:
    """A clone with a new commit of a few MB; returns main's head on the hub and the
    receive-pack request body that pushes the commit."""
    git.run("clone", f"{srv.url}/{repo}", str(work), cwd=work.parent)
    for i in range(4):
        (work / f"part{i}.bin.txt").write_bytes(os.urandom(1024 * 1024))
    git.run("add", "-A", cwd=work)
    git.run("commit", "-qm", "several megabytes", cwd=work)
    old = git.out("rev-parse", "origin/main", cwd=work)
    new = git.out("rev-parse", "HEAD", cwd=work)
    raw = _pack_bytes(work, f"{new}\n^{old}\n")
    command = f"{old} {new} refs/heads/main\0report-status\n".encode()
    return old, pkt(command) + b"0000" + raw


def _pack_bytes(work: Path, revs: str) -> bytes:
    """What ``git push`` sends: a pack of the new commit's objects."""
    return subprocess.run(
        ["git", "pack-objects", "--stdout", "--revs"],
        cwd=work,
        input=revs.encode(),
        capture_output=True,
        check=True,
    ).stdout


def _left_behind(srv: Server) -> list[Path]:
    incoming = srv.data_dir / "git-incoming"
    return list(incoming.iterdir()) if incoming.exists() else []


def test_push_killed_mid_pack(crash_server: Server, repo_name: str, tmp_path: Path) -> None:
    srv = crash_server
    git = Git(tmp_path / "home")
    token = srv.user("alice")
    api = HfApi(endpoint=srv.url, token=token)
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=b"v1\n", path_in_repo="keep.txt", repo_id=repo)
    work = tmp_path / "work"
    before, body = _prepared_push(git, srv, repo, token, work)
    headers = {"Authorization": f"Bearer {token}"}
    half = len(body) // 2
    # The hub is killed while the pack arrives.
    _kill_mid_body(
        srv, "POST", f"{srv.url}/{repo}/git-receive-pack", body[:half], body[half:], headers
    )
    srv.start()
    assert api.model_info(repo).sha == before
    _blob_store_is_consistent(srv)
    assert _left_behind(srv) == []  # the spooled pack was an unlinked file

    # The client dies while sending: the hub drops the half pack.
    def cut() -> Iterator[bytes]:
        yield body[:half]
        raise ConnectionAbortedError("client killed")

    with contextlib.suppress(httpx.HTTPError, ConnectionAbortedError):
        httpx.post(f"{srv.url}/{repo}/git-receive-pack", content=cut(), headers=headers)
    assert httpx.get(f"{srv.url}/api/health").status_code == 200
    assert api.model_info(repo).sha == before
    assert _left_behind(srv) == []
    # Nothing is corrupt: a fresh clone checks out, and the push goes through.
    fresh = tmp_path / "fresh"
    git.run("clone", f"{srv.url}/{repo}", str(fresh), cwd=tmp_path)
    git.run("fsck", "--strict", "--no-dangling", cwd=fresh)
    git.run("push", "origin", "main", cwd=work, token=token)
    assert api.model_info(repo).sha == git.out("rev-parse", "HEAD", cwd=work)
    assert {f"part{i}.bin.txt" for i in range(4)} <= set(api.list_repo_files(repo))
