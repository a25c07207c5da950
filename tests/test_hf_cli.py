"""The `hf` CLI against the hub: upload, download and auth, configured only by env."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from .conftest import Server

pytestmark = pytest.mark.slow

HF = Path(sys.executable).parent / "hf"
MB = 1000 * 1000


def hf(
    server: Server,
    token: str | None,
    home: Path,
    *args: str,
    disable_xet: bool = False,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HF_ENDPOINT=server.url,
        HF_HOME=str(home),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_UPDATE_CHECK="1",
        NO_COLOR="1",
    )
    if token is not None:
        env["HF_TOKEN"] = token
    if disable_xet:
        env["HF_HUB_DISABLE_XET"] = "1"
    result = subprocess.run([str(HF), *args], capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert result.returncode == 0, (
            f"hf {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file below `root`, ignoring the CLI's own cache dir."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".cache" not in p.relative_to(root).parts
    }


def test_whoami_and_login(sqlite_server: Server, tmp_path: Path) -> None:
    srv = sqlite_server
    token = srv.user("carl")
    out = hf(srv, token, tmp_path / "home", "auth", "whoami", "--format", "json")
    assert json.loads(out.stdout) == {"user": "carl", "orgs": None, "endpoint": srv.url}
    human = hf(srv, token, tmp_path / "home", "auth", "whoami", "--format", "human")
    assert "user: carl" in human.stdout

    anon = hf(srv, None, tmp_path / "anon", "auth", "whoami", check=False)
    assert anon.returncode != 0 and "Not logged in" in anon.stderr
    bad = hf(srv, "hf_not_a_real_token", tmp_path / "bad", "auth", "whoami", check=False)
    assert bad.returncode != 0 and "Invalid user token" in bad.stderr

    # `hf auth login --token` validates the token with whoami and stores it under HF_HOME.
    login_home = tmp_path / "login"
    hf(srv, None, login_home, "auth", "login", "--token", token)
    assert (login_home / "token").read_text().strip() == token
    stored = hf(srv, None, login_home, "auth", "whoami", "--format", "json")
    assert json.loads(stored.stdout)["user"] == "carl"
    refused = hf(
        srv, None, tmp_path / "login-bad", "auth", "login", "--token", "hf_nope", check=False
    )
    assert refused.returncode != 0
    assert not (tmp_path / "login-bad" / "token").exists()


def test_upload_folder_and_file_then_download(
    sqlite_server: Server, repo_name: str, tmp_path: Path
) -> None:
    """Xet left on (the stock CLI): small files go through the regular commit path."""
    srv = sqlite_server
    token = srv.user("carl")
    home = tmp_path / "home"
    repo = f"carl/{repo_name}"
    folder = tmp_path / "folder"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden": 8}')
    (folder / "sub" / "notes.md").write_text("# notes\n")
    (folder / "sub" / "deeper" / "weights.bin").write_bytes(os.urandom(50_000))

    hf(srv, token, home, "upload", repo, str(folder), "--commit-message", "from the cli")
    single = tmp_path / "extra.txt"
    single.write_text("one more file\n")
    hf(srv, token, home, "upload", repo, str(single), "docs/extra.txt")

    api = HfApi(endpoint=srv.url, token=token)
    assert sorted(api.list_repo_files(repo)) == [
        ".gitattributes",
        "config.json",
        "docs/extra.txt",
        "sub/deeper/weights.bin",
        "sub/notes.md",
    ]
    titles = [c.title for c in api.list_repo_commits(repo)]
    assert titles[1] == "from the cli" and titles[-1] == "initial commit"

    out = tmp_path / "out"
    hf(srv, token, tmp_path / "dl-home", "download", repo, "--local-dir", str(out))
    want = tree_digest(folder)
    want["docs/extra.txt"] = hashlib.sha256(single.read_bytes()).hexdigest()
    got = tree_digest(out)
    got.pop(".gitattributes")
    assert got == want

    # A single file into a second local dir, and a file that does not exist.
    one = tmp_path / "one"
    printed = hf(
        srv,
        token,
        tmp_path / "dl-home",
        "download",
        repo,
        "sub/notes.md",
        "--local-dir",
        str(one),
        "--format",
        "quiet",
    )
    assert (one / "sub" / "notes.md").read_text() == "# notes\n"
    assert printed.stdout.strip().endswith("notes.md")
    missing = hf(
        srv,
        token,
        tmp_path / "dl-home",
        "download",
        repo,
        "nope.txt",
        "--local-dir",
        str(one),
        check=False,
    )
    assert missing.returncode != 0 and not (one / "nope.txt").exists()


def test_dataset_repo_upload_and_download(
    sqlite_server: Server, repo_name: str, tmp_path: Path
) -> None:
    srv = sqlite_server
    token = srv.user("carl")
    repo = f"carl/{repo_name}"
    folder = tmp_path / "ds"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train.csv").write_text("a,b\n1,2\n")
    (folder / "data" / "test.csv").write_text("a,b\n3,4\n")
    (folder / "notes.txt").write_text("not data")
    hf(
        srv,
        token,
        tmp_path / "home",
        "upload",
        repo,
        str(folder),
        "--repo-type",
        "dataset",
        "--private",
    )
    api = HfApi(endpoint=srv.url, token=token)
    info = api.dataset_info(repo)
    assert info.private is True
    assert sorted(s.rfilename for s in info.siblings or []) == [
        ".gitattributes",
        "data/test.csv",
        "data/train.csv",
        "notes.txt",
    ]
    out = tmp_path / "out"
    hf(
        srv,
        token,
        tmp_path / "dl-home",
        "download",
        repo,
        "--repo-type",
        "dataset",
        "--include",
        "data/*",
        "--local-dir",
        str(out),
    )
    assert tree_digest(out) == {
        k: v for k, v in tree_digest(folder).items() if k.startswith("data/")
    }
    # Private: without a token the same download fails and writes nothing.
    anon_out = tmp_path / "anon-out"
    anon = hf(
        srv,
        None,
        tmp_path / "anon-home",
        "download",
        repo,
        "--repo-type",
        "dataset",
        "--local-dir",
        str(anon_out),
        check=False,
    )
    assert anon.returncode != 0
    assert not anon_out.exists() or tree_digest(anon_out) == {}


def test_lfs_upload_with_xet_disabled(lfs_server: Server, repo_name: str, tmp_path: Path) -> None:
    """HF_HUB_DISABLE_XET=1: a file over the 1 MB threshold goes through the LFS batch API."""
    srv = lfs_server
    token = srv.user("carl")
    repo = f"carl/{repo_name}"
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * MB))
    hf(srv, token, tmp_path / "home", "upload", repo, str(big), "model/big.bin", disable_xet=True)

    api = HfApi(endpoint=srv.url, token=token)
    info = api.model_info(repo, files_metadata=True)
    stored = {s.rfilename: s for s in info.siblings or []}
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    assert stored["model/big.bin"].lfs is not None
    assert stored["model/big.bin"].lfs.sha256 == digest
    assert stored["model/big.bin"].size == 3 * MB

    out = tmp_path / "out"
    hf(srv, token, tmp_path / "dl-home", "download", repo, "model/big.bin", "--local-dir", str(out))
    assert hashlib.sha256((out / "model" / "big.bin").read_bytes()).hexdigest() == digest
