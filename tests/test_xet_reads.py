"""Files held as Xet chunks, read by everything that reads file bytes: the pages'
previews (which seek: a Parquet footer, then its pages) and downloads of files whose
chunks repeat (zero padding in weights), through the real client."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import HfApi

from .clients import client_env, run_python
from .conftest import Server


@pytest.fixture(scope="module")
def every_file_by_xet() -> Iterator[Server]:
    """A hub that wants every non-empty file by LFS, so the stock client sends it
    through Xet."""
    srv = Server("sqlite", regular_upload_max_bytes=1)
    srv.start()
    yield srv
    srv.close()


def test_previews_of_files_held_as_xet_chunks(every_file_by_xet: Server, repo_name: str) -> None:
    srv = every_file_by_xet
    token = srv.user("previewer")
    api = HfApi(endpoint=srv.url, token=token)
    repo = api.create_repo(f"previewer/{repo_name}").repo_id
    table = io.BytesIO()
    pq.write_table(pa.table({"sentence": ["first row", "second row"], "label": [0, 1]}), table)
    api.upload_file(path_or_fileobj=table.getvalue(), path_in_repo="data.parquet", repo_id=repo)
    api.upload_file(path_or_fileobj=b'{"hidden_size": 4}', path_in_repo="config.json", repo_id=repo)
    for path in ("data.parquet", "config.json"):
        [entry] = api.get_paths_info(repo, [path])
        assert entry.lfs is not None and entry.xet_hash, path  # held as Xet chunks

    auth = {"Authorization": f"Bearer {token}"}
    page = httpx.get(f"{srv.url}/{repo}/blob/main/data.parquet", headers=auth)
    assert page.status_code == 200 and "second row" in page.text
    page = httpx.get(f"{srv.url}/{repo}/blob/main/config.json", headers=auth)
    assert page.status_code == 200 and "hidden_size" in page.text


def test_a_file_whose_chunks_repeat_downloads_whole(
    every_file_by_xet: Server, repo_name: str, tmp_path: Path
) -> None:
    srv = every_file_by_xet
    api = HfApi(endpoint=srv.url, token=srv.user("padder"))
    repo = api.create_repo(f"padder/{repo_name}").repo_id
    # Zero padding between random blocks: the same chunks again and again in one file;
    # and a periodic pattern, whose chunks are all the largest size and all alike (the
    # reconstruction repeats one chunk, then asks for it and the next: one fetch range).
    data = b"".join(os.urandom(70_000) + bytes(200_000) for _ in range(4))
    periodic = bytes(range(256)) * 4300
    for name, content in (("padded.bin", data), ("periodic.bin", periodic)):
        api.upload_file(path_or_fileobj=content, path_in_repo=name, repo_id=repo)
        got = Path(api.hf_hub_download(repo, name, cache_dir=tmp_path / "client"))
        assert hashlib.sha256(got.read_bytes()).digest() == hashlib.sha256(content).digest()
    plain = httpx.get(
        f"{srv.url}/{repo}/resolve/main/padded.bin", headers={"Range": "bytes=100000-"}
    )
    assert plain.status_code == 206 and plain.content == data[100_000:]


REUPLOAD = r"""
import sys, json
from huggingface_hub import HfApi, CommitOperationAdd
a = json.loads(sys.argv[1])
api = HfApi()
first = api.create_repo(a["first"]).repo_id
api.create_commit(first, [CommitOperationAdd("lfs.bin", b"data")], commit_message="first")
api.delete_repo(first)
second = api.create_repo(a["second"]).repo_id
api.create_commit(second, [CommitOperationAdd("lfs.bin", b"data")], commit_message="again")
print("RESULT", json.dumps(api.hf_hub_download(second, "lfs.bin")))
"""


def test_the_same_bytes_again_after_their_first_repository_is_gone(
    every_file_by_xet: Server, repo_name: str, tmp_path: Path
) -> None:
    """hf_xet remembers the xorbs it sent (its chunk cache in HF_HOME) and builds the next
    upload of the same bytes on them: after the first repository is deleted, the uploader
    may still build on what they sent themselves, in a repository they write to."""
    srv = every_file_by_xet
    env = client_env(srv, srv.user("reuploader"), tmp_path / "home")
    names = {"first": f"reuploader/{repo_name}-a", "second": f"reuploader/{repo_name}-b"}
    path = run_python(REUPLOAD, names, env)
    assert Path(path).read_bytes() == b"data"
