"""Previews and diffs cost the server a bounded amount, whatever the file holds.

The attacks of the report, as an anonymous visitor opens the pages of a real
``commons serve``: Parquet files of a few kilobytes whose dictionary, pages or
repetition unpack into gigabytes, and commits whose diffs are made costly by
size, line count or line length. The server's peak memory (VmHWM) is read
around each page.
"""

from __future__ import annotations

import io
import random

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import CommitOperationAdd, HfApi

from .conftest import Server

MiB = 1024 * 1024
#: Peak memory a preview may add to the server (the budget is 64 MiB of pages).
LIMIT_KB = 150 * 1024


def _parquet(table: pa.Table, **options: object) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, store_schema=False, **options)
    return buffer.getvalue()


def _dictionary_bomb(columns: int) -> bytes:
    """1000 rows, each the one 10 MB dictionary entry: a few hundred bytes per column."""
    column = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(1000, dtype=np.int32)), pa.array(["a" * 10_000_000])
    )
    table = pa.table({f"c{i}": column for i in range(columns)})
    return _parquet(table, compression="zstd", row_group_size=1000)


def _nested_bomb() -> bytes:
    """One row: a list of 10 million references to one 1000-byte string."""
    values = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(10_000_000, dtype=np.int32)), pa.array(["x" * 1000])
    )
    column = pa.ListArray.from_arrays(pa.array([0, 10_000_000], pa.int32()), values)
    return _parquet(
        pa.table({"l": column}),
        compression="zstd",
        data_page_size=1 << 30,
        max_rows_per_page=1 << 30,
        write_batch_size=1 << 30,
    )


def _plain_bomb() -> bytes:
    """20 rows of 2 MB in one zstd page: 40 MB of page from 4 KB of file."""
    table = pa.table({"s": ["a" * 2_000_000] * 20})
    return _parquet(table, compression="zstd", use_dictionary=False, data_page_size=1 << 30)


@pytest.fixture(scope="module")
def bombs(sqlite_server: Server) -> str:
    srv = sqlite_server
    api = HfApi(endpoint=srv.url, token=srv.user("bomber"))
    repo = "bomber/previews"
    api.create_repo(repo, repo_type="dataset", exist_ok=True)
    files = {
        "dict1.parquet": _dictionary_bomb(1),
        "dict4.parquet": _dictionary_bomb(4),
        "nested.parquet": _nested_bomb(),
        "plain.parquet": _plain_bomb(),
        "ok.parquet": _parquet(pa.table({"id": range(100), "name": [f"n{i}" for i in range(100)]})),
        "deep.jsonl": b"[" * 100_000 + b"]" * 100_000 + b'\n{"a": 1}\n',
        "rows.csv": b"a,b\n" + b"\n" * 500_000,
    }
    for name, data in files.items():
        if name.endswith(".parquet"):
            assert len(data) < 10_000, name
    api.create_commit(
        repo,
        repo_type="dataset",
        operations=[CommitOperationAdd(name, data) for name, data in files.items()],
        commit_message="bombs",
    )
    return repo


def _page(srv: Server, path: str) -> tuple[httpx.Response, int]:
    """The page, fetched anonymously, and the server's peak memory growth in KiB."""
    srv.reset_high_water()
    before = srv.rss_kb()
    r = httpx.get(srv.url + path, timeout=120)
    return r, srv.rss_high_water_kb() - before


def test_parquet_dictionary_bombs_are_previewed_within_the_budget(
    sqlite_server: Server, bombs: str
) -> None:
    r, grown = _page(sqlite_server, f"/datasets/{bombs}/blob/main/dict1.parquet")
    assert r.status_code == 200 and "First 50 rows of 1000" in r.text
    assert grown < LIMIT_KB, f"the preview took {grown // 1024} MiB"
    assert len(r.content) < 200_000  # cells are cut to 200 characters
    r, grown = _page(sqlite_server, f"/datasets/{bombs}/blob/main/dict4.parquet")
    assert r.status_code == 200 and "3 more columns not shown" in r.text
    assert grown < LIMIT_KB, f"the preview took {grown // 1024} MiB"


@pytest.mark.parametrize("name", ["nested.parquet", "plain.parquet"])
def test_parquet_pages_past_the_budget_get_no_preview(
    sqlite_server: Server, bombs: str, name: str
) -> None:
    r, grown = _page(sqlite_server, f"/datasets/{bombs}/blob/main/{name}")
    assert r.status_code == 200 and "too large to preview" in r.text
    assert grown < LIMIT_KB, f"the preview took {grown // 1024} MiB"


def test_ordinary_and_text_previews_still_work(sqlite_server: Server, bombs: str) -> None:
    r = httpx.get(f"{sqlite_server.url}/datasets/{bombs}/blob/main/ok.parquet")
    assert r.status_code == 200 and "First 50 rows of 100" in r.text and "n49" in r.text
    r, grown = _page(sqlite_server, f"/datasets/{bombs}/blob/main/deep.jsonl")
    assert r.status_code == 200 and grown < LIMIT_KB
    r, grown = _page(sqlite_server, f"/datasets/{bombs}/blob/main/rows.csv")
    assert r.status_code == 200 and grown < LIMIT_KB


def _lines(n: int, alphabet: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return "".join(f"{rng.randrange(alphabet)}\n" for _ in range(n)).encode()


def test_costly_diffs_are_not_computed(sqlite_server: Server) -> None:
    srv = sqlite_server
    api = HfApi(endpoint=srv.url, token=srv.user("bomber"))
    repo = "bomber/diffs"
    api.create_repo(repo, exist_ok=True)
    # 60 000 short lines drawn from 150 values: difflib takes seconds on such a pair.
    many_a, many_b = _lines(60_000, 150, 1), _lines(60_000, 150, 2)
    assert len(many_a) < 256 * 1024
    long_a, long_b = b"x" * 200_000 + b"\n", b"y" * 200_000 + b"\n"
    api.upload_file(path_or_fileobj=many_a, path_in_repo="many.txt", repo_id=repo)
    api.upload_file(path_or_fileobj=long_a, path_in_repo="long.txt", repo_id=repo)
    api.upload_file(path_or_fileobj=many_b, path_in_repo="many.txt", repo_id=repo)
    page = httpx.get(f"{srv.url}/{repo}/commit/main", timeout=120)
    assert page.status_code == 200 and "Not compared: more than 5000 lines" in page.text
    api.upload_file(path_or_fileobj=long_b, path_in_repo="long.txt", repo_id=repo)
    page = httpx.get(f"{srv.url}/{repo}/commit/main", timeout=120)
    assert page.status_code == 200 and "(line cut)" in page.text
    assert len(page.content) < 100_000
    # Many medium files in one commit: only the first 2 MiB of text are compared.
    api.create_commit(
        repo,
        operations=[CommitOperationAdd(f"f{i}.txt", _lines(20_000, 10**6, i)) for i in range(30)],
        commit_message="many files",
    )
    page = httpx.get(f"{srv.url}/{repo}/commit/main", timeout=120)
    assert page.status_code == 200
    assert 0 < page.text.count("diff is too large to show") < 30
