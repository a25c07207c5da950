"""An old `requests`-based huggingface_hub (0.36.x) against the hub.

The client lives in its own venv at .venv-legacy, created with
    python3 -m venv .venv-legacy
    .venv-legacy/bin/pip install 'huggingface_hub[hf_xet]==0.36.*'
0.3x clients send `private` as a JSON bool, encode query booleans as `True`,
and negotiate Xet through the LFS batch API (`transfers: [basic, multipart, xet]`),
which this hub must answer with basic or multipart.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from . import clients
from .conftest import ROOT, Server

pytestmark = pytest.mark.slow

LEGACY_PYTHON = ROOT / ".venv-legacy" / "bin" / "python"
MB = 1000 * 1000

SCRIPT = r"""
import hashlib, json, sys
from pathlib import Path

import huggingface_hub
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.utils import EntryNotFoundError, RepositoryNotFoundError

args = json.loads(sys.argv[1])
repo, folder, work = args["repo"], Path(args["folder"]), Path(args["work"])
api = HfApi()  # endpoint and token from HF_ENDPOINT / HF_TOKEN
out = {"version": huggingface_hub.__version__, "whoami": api.whoami()["name"]}

out["url"] = str(api.create_repo(repo, private=True))
out["exist_ok_url"] = str(api.create_repo(repo, private=True, exist_ok=True))
commit = api.upload_folder(repo_id=repo, folder_path=folder, commit_message="legacy upload")
out["commit"] = commit.oid
api.create_tag(repo, tag="v1")
api.upload_file(path_or_fileobj=b"second", path_in_repo="small.txt", repo_id=repo)

out["files"] = sorted(api.list_repo_files(repo))
out["files_v1"] = sorted(api.list_repo_files(repo, revision="v1"))
# requests encodes query booleans as `True` / `False`.
out["tree_flat"] = sorted(e.path for e in api.list_repo_tree(repo, recursive=False))
out["tree_deep"] = sorted(e.path for e in api.list_repo_tree(repo, recursive=True, expand=True))
out["paths_info"] = sorted(e.path for e in api.get_paths_info(repo, ["weights", "nope"]))
info = api.model_info(repo, files_metadata=True)
out["info"] = {
    "id": info.id, "private": info.private, "sha": info.sha,
    "siblings": {s.rfilename: {"size": s.size, "lfs": s.lfs.sha256 if s.lfs else None}
                 for s in info.siblings},
}

def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()

cache = work / "cache"
out["download"] = {
    "small_main": Path(hf_hub_download(repo, "small.txt", cache_dir=cache)).read_text(),
    "small_v1": Path(hf_hub_download(repo, "small.txt", revision="v1",
                                     cache_dir=cache)).read_text(),
    "big_by_sha": digest(hf_hub_download(repo, "weights/big.bin", revision=commit.oid,
                                         cache_dir=cache)),
}
snap = Path(snapshot_download(repo, revision="v1", cache_dir=work / "snap"))
out["snapshot"] = {str(p.relative_to(snap)): digest(p)
                   for p in sorted(snap.rglob("*")) if p.is_file()}
local = Path(snapshot_download(repo, local_dir=work / "local", allow_patterns=["*.txt"]))
out["local_dir"] = sorted(str(p.relative_to(local)) for p in local.rglob("*")
                          if p.is_file() and ".cache" not in p.relative_to(local).parts)

try:
    hf_hub_download(repo, "missing.json", cache_dir=cache)
    out["missing"] = "no error"
except EntryNotFoundError as e:
    out["missing"] = type(e).__name__
try:
    hf_hub_download(repo, "small.txt", cache_dir=work / "anon", token=False)
    out["anonymous"] = "no error"
except RepositoryNotFoundError as e:
    out["anonymous"] = type(e).__name__
out["file_exists"] = [api.file_exists(repo, "small.txt"), api.file_exists(repo, "nope.txt")]
print("RESULT " + json.dumps(out))
"""


def run_legacy(server: Server, token: str, args: dict[str, Any], home: Path) -> Any:
    return clients.run_python(
        SCRIPT, args, clients.client_env(server, token, home), python=str(LEGACY_PYTHON)
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.skipif(
    not LEGACY_PYTHON.exists(),
    reason="no .venv-legacy: python3 -m venv .venv-legacy && "
    ".venv-legacy/bin/pip install 'huggingface_hub[hf_xet]==0.36.*'",
)
@pytest.mark.parametrize("hub", ["sqlite_server", "lfs_server"])
def test_legacy_client_flow(
    hub: str, request: pytest.FixtureRequest, repo_name: str, tmp_path: Path
) -> None:
    """sqlite_server takes the 12 MB file as a regular upload; lfs_server sends it
    through the LFS batch API, where 0.36 offers xet and must get multipart back."""
    srv: Server = request.getfixturevalue(hub)
    token = srv.user("lena")
    repo = f"lena/{repo_name}"
    folder = tmp_path / "upload"
    (folder / "weights").mkdir(parents=True)
    (folder / "small.txt").write_text("first")
    big = folder / "weights" / "big.bin"
    big.write_bytes(os.urandom(12 * MB))
    work = tmp_path / "work"
    work.mkdir()

    out = run_legacy(
        srv, token, {"repo": repo, "folder": str(folder), "work": str(work)}, tmp_path / "home"
    )

    assert out["version"].startswith("0.3")
    assert out["whoami"] == "lena"
    assert out["url"] == out["exist_ok_url"] == f"{srv.url}/{repo}"
    assert out["files"] == out["files_v1"] == [".gitattributes", "small.txt", "weights/big.bin"]
    assert out["tree_flat"] == [".gitattributes", "small.txt", "weights"]
    assert out["tree_deep"] == [".gitattributes", "small.txt", "weights", "weights/big.bin"]
    assert out["paths_info"] == ["weights"]

    info = out["info"]
    assert info["id"] == repo and info["private"] is True and len(info["sha"]) == 40
    assert info["sha"] != out["commit"]  # the upload_file after the tag moved main
    assert info["siblings"]["weights/big.bin"] == {"size": 12 * MB, "lfs": sha256(big)}
    assert info["siblings"]["small.txt"] == {"size": 6, "lfs": None}

    assert out["download"] == {
        "small_main": "second",
        "small_v1": "first",
        "big_by_sha": sha256(big),
    }
    assert {k: v for k, v in out["snapshot"].items() if k != ".gitattributes"} == {
        "small.txt": sha256(folder / "small.txt"),
        "weights/big.bin": sha256(big),
    }
    assert out["local_dir"] == ["small.txt"]
    assert out["missing"] == "EntryNotFoundError"
    assert out["anonymous"] == "RepositoryNotFoundError"
    assert out["file_exists"] == [True, False]
