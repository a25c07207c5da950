"""Blob, tree and commit ids are exactly the ones git computes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
from huggingface_hub import HfApi, snapshot_download

from modelcommons.storage.gitobjects import (
    Signature,
    TreeEntry,
    decode_tree,
    encode_commit,
    encode_tree,
    lfs_pointer,
    object_id,
)

from .conftest import Server


def git(*args: str, cwd: Path, input: bytes | None = None) -> str:
    return (
        subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=True)
        .stdout.decode()
        .strip()
    )


def test_ids_match_git(tmp_path: Path) -> None:
    git("init", "-q", cwd=tmp_path)
    content = b"hello world\n"
    blob = object_id("blob", content)
    assert blob == git("hash-object", "-w", "--stdin", cwd=tmp_path, input=content)
    sub_raw = encode_tree([TreeEntry("x.txt", blob, is_dir=False)])
    sub = object_id("tree", sub_raw)
    # "a-b" sorts before "a/" in git's order; "a" is a directory.
    entries = [
        TreeEntry("a", sub, is_dir=True),
        TreeEntry("a-b", blob, is_dir=False),
        TreeEntry("a.txt", blob, is_dir=False),
    ]
    mktree = (
        "\n".join(
            ["040000 tree " + sub + "\ta"]
            + [f"100644 blob {blob}\t{name}" for name in ("a-b", "a.txt")]
        )
        + "\n"
    )
    assert sub == git("mktree", cwd=tmp_path, input=f"100644 blob {blob}\tx.txt\n".encode())
    root = object_id("tree", encode_tree(entries))
    assert root == git("mktree", cwd=tmp_path, input=mktree.encode())
    assert decode_tree(encode_tree(entries)) == sorted(entries, key=TreeEntry.sort_key)
    sig = Signature("alice", "alice@example.org", 1_700_000_000)
    raw = encode_commit(root, [], sig, "first\n\nbody")
    assert object_id("commit", raw) == git(
        "hash-object", "-t", "commit", "--stdin", "-w", cwd=tmp_path, input=raw
    )
    assert git("cat-file", "-p", object_id("commit", raw), cwd=tmp_path).endswith("body")


def test_lfs_pointer_format() -> None:
    pointer = lfs_pointer("a" * 64, 123)
    assert pointer == (
        b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize 123\n"
    )


def test_repository_tree_ids_match_git_on_downloaded_files(
    sqlite_server: Server, repo_name: str, tmp_path: Path
) -> None:
    """git computes the same tree id from the downloaded files (with LFS pointers)."""
    srv = sqlite_server
    api = HfApi(endpoint=srv.url, token=srv.user("alice"))
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    src = tmp_path / "src"
    (src / "d" / "e").mkdir(parents=True)
    (src / "README.md").write_text("# readme\n")
    (src / "d" / "e" / "f.txt").write_text("deep")
    (src / "w.safetensors").write_bytes(b"\x00" * 3000)  # LFS by .gitattributes
    api.upload_folder(repo_id=repo, folder_path=src)
    snap = Path(
        snapshot_download(repo, endpoint=srv.url, token=api.token, cache_dir=tmp_path / "cache")
    )
    work = tmp_path / "work"
    git("init", "-q", str(work), cwd=tmp_path)
    for path in snap.rglob("*"):
        if path.is_file():
            rel = path.relative_to(snap)
            target = work / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            data = path.read_bytes()
            if rel.name == "w.safetensors":
                import hashlib

                data = lfs_pointer(hashlib.sha256(data).hexdigest(), len(data))
            target.write_bytes(data)
    git("add", "-A", cwd=work)
    expected = git("write-tree", cwd=work)
    tree = httpx.get(f"{srv.url}/api/models/{repo}/tree/main").json()
    d_oid = next(e["oid"] for e in tree if e["path"] == "d")
    assert d_oid == git("rev-parse", f"{expected}:d", cwd=work)
    files = {e["path"]: e["oid"] for e in tree if e["type"] == "file"}
    assert files["w.safetensors"] == git("rev-parse", f"{expected}:w.safetensors", cwd=work)
    assert files["README.md"] == git("rev-parse", f"{expected}:README.md", cwd=work)
