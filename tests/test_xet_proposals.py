"""A reader's pull request through Xet: the stock client asks for a Xet write token
with ``create_pr=1`` (or for ``refs/pr/N``), which a reader gets for that pull request
only; without it, a reader's write token is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi

from .clients import client_env, run_python
from .conftest import Server

PROPOSE = r"""
import sys, json
from huggingface_hub import HfApi, CommitOperationAdd
a = json.loads(sys.argv[1])
api = HfApi()
info = api.create_commit(
    a["repo"], [CommitOperationAdd("model.bin", b"better weights")],
    commit_message="Better weights", create_pr=True,
)
print("RESULT", json.dumps(info.pr_num))
"""


@pytest.fixture(scope="module")
def hub() -> Iterator[Server]:
    srv = Server("sqlite", regular_upload_max_bytes=1)  # every file through Xet
    srv.start()
    yield srv
    srv.close()


def test_a_reader_proposes_a_file_through_xet(hub: Server, repo_name: str, tmp_path: Path) -> None:
    owner = HfApi(endpoint=hub.url, token=hub.user("owner"))
    repo = owner.create_repo(f"owner/{repo_name}").repo_id
    owner.upload_file(path_or_fileobj=b"weights", path_in_repo="model.bin", repo_id=repo)
    reader = hub.user("proposer")

    number = run_python(PROPOSE, {"repo": repo}, client_env(hub, reader, tmp_path / "home"))
    assert number == 1
    [entry] = owner.get_paths_info(repo, ["model.bin"], revision="refs/pr/1")
    assert entry.lfs is not None and entry.xet_hash  # sent through Xet
    got = owner.hf_hub_download(repo, "model.bin", revision="refs/pr/1", cache_dir=tmp_path)
    assert Path(got).read_bytes() == b"better weights"
    on_main = owner.hf_hub_download(repo, "model.bin", cache_dir=tmp_path / "main")
    assert Path(on_main).read_bytes() == b"weights"  # main is untouched

    auth = {"Authorization": f"Bearer {reader}"}
    base = f"{hub.url}/api/models/{repo}"
    assert httpx.get(f"{base}/xet-write-token/main", headers=auth).status_code == 403
    proposal = httpx.get(f"{base}/xet-write-token/main", params={"create_pr": "1"}, headers=auth)
    assert proposal.status_code == 200, proposal.text
    # A proposal token sends bytes; it moves no branch: a commit to main is still refused.
    commit = httpx.post(
        f"{base}/commit/main",
        headers=auth,
        content=json.dumps({"key": "header", "value": {"summary": "x"}}),
    )
    assert commit.status_code == 403
