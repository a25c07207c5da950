"""datasets against the hub: `load_dataset("user/name")` for Parquet and CSV repos.

The data is written locally (pyarrow / csv), uploaded with huggingface_hub, and
read back by `datasets` in a fresh process whose HF_ENDPOINT points at the hub.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import HfApi

from . import clients
from .conftest import Server

pytestmark = pytest.mark.slow

PARQUET_ROWS: list[dict[str, Any]] = [
    {"id": i, "text": f"sentence number {i} with ünïcode", "label": i % 3, "score": i / 8}
    for i in range(40)
]
CSV_SPLITS: dict[str, list[dict[str, Any]]] = {
    "train": [{"idx": i, "name": f"row-{i}", "value": i * 7} for i in range(25)],
    "test": [{"idx": 100 + i, "name": f"held-out-{i}", "value": -i} for i in range(6)],
}

LOAD = r"""
import json, sys
import datasets

args = json.loads(sys.argv[1])
out = {}
for job in args["jobs"]:
    if job.get("streaming"):
        ds = datasets.load_dataset(job["repo"], split=job["split"], streaming=True)
        out[job["name"]] = {"rows": list(ds), "columns": list(next(iter(ds)).keys())}
    else:
        dd = datasets.load_dataset(job["repo"], revision=job.get("revision"))
        out[job["name"]] = {
            split: {"rows": d.to_list(), "columns": d.column_names,
                    "features": {k: str(v) for k, v in d.features.items()}}
            for split, d in dd.items()
        }
print("RESULT " + json.dumps(out))
"""


def client_env(server: Server, token: str, home: Path) -> dict[str, str]:
    return clients.client_env(
        server,
        token,
        home,
        HF_DATASETS_CACHE=str(home / "datasets"),
        HF_DATASETS_DISABLE_PROGRESS_BARS="1",
    )


def test_load_dataset_parquet_and_csv(
    sqlite_server: Server, repo_name: str, tmp_path: Path
) -> None:
    srv = sqlite_server
    token = srv.user("dana")
    api = HfApi(endpoint=srv.url, token=token)

    # A Parquet repo, private, so the loader must send the token everywhere.
    pq_repo = f"dana/{repo_name}-parquet"
    api.create_repo(pq_repo, repo_type="dataset", private=True)
    pq_dir = tmp_path / "pq"
    (pq_dir / "data").mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist(PARQUET_ROWS), pq_dir / "data" / "train-00000-of-00001.parquet"
    )
    first = api.upload_folder(repo_id=pq_repo, repo_type="dataset", folder_path=pq_dir).oid
    # A later commit that changes the data: loading at the first commit must not see it.
    pq.write_table(
        pa.Table.from_pylist(PARQUET_ROWS[:5]), pq_dir / "data" / "train-00000-of-00001.parquet"
    )
    api.upload_folder(repo_id=pq_repo, repo_type="dataset", folder_path=pq_dir)

    # A public CSV repo with two splits and a README dataset card.
    csv_repo = f"dana/{repo_name}-csv"
    api.create_repo(csv_repo, repo_type="dataset")
    csv_dir = tmp_path / "csv"
    (csv_dir / "data").mkdir(parents=True)
    for split, rows in CSV_SPLITS.items():
        with open(csv_dir / "data" / f"{split}.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    (csv_dir / "README.md").write_text("---\nlicense: mit\n---\n# A tiny CSV dataset\n")
    api.upload_folder(repo_id=csv_repo, repo_type="dataset", folder_path=csv_dir)

    jobs = [
        {"name": "parquet_main", "repo": pq_repo},
        {"name": "parquet_first", "repo": pq_repo, "revision": first},
        {"name": "csv", "repo": csv_repo},
        {"name": "csv_stream", "repo": csv_repo, "split": "test", "streaming": True},
        {"name": "parquet_stream", "repo": pq_repo, "split": "train", "streaming": True},
    ]
    loaded = clients.run_python(LOAD, {"jobs": jobs}, client_env(srv, token, tmp_path / "home"))

    assert list(loaded["parquet_first"]) == ["train"]
    first_train = loaded["parquet_first"]["train"]
    assert first_train["columns"] == ["id", "text", "label", "score"]
    assert first_train["rows"] == PARQUET_ROWS
    assert first_train["features"]["id"] == "Value('int64')"
    assert first_train["features"]["score"] == "Value('float64')"
    assert loaded["parquet_main"]["train"]["rows"] == PARQUET_ROWS[:5]
    assert loaded["parquet_stream"]["rows"] == PARQUET_ROWS[:5]

    assert sorted(loaded["csv"]) == ["test", "train"]
    for split, rows in CSV_SPLITS.items():
        assert loaded["csv"][split]["columns"] == ["idx", "name", "value"]
        assert loaded["csv"][split]["rows"] == rows
    assert loaded["csv_stream"]["rows"] == CSV_SPLITS["test"]


def test_private_dataset_needs_token(sqlite_server: Server, repo_name: str, tmp_path: Path) -> None:
    srv = sqlite_server
    api = HfApi(endpoint=srv.url, token=srv.user("dana"))
    repo = f"dana/{repo_name}-secret"
    api.create_repo(repo, repo_type="dataset", private=True)
    api.upload_file(
        path_or_fileobj=b"a,b\n1,2\n",
        path_in_repo="data/train.csv",
        repo_id=repo,
        repo_type="dataset",
    )
    env = client_env(srv, "", tmp_path / "anon")
    env.pop("HF_TOKEN")
    result = subprocess.run(
        [sys.executable, "-c", "import sys, datasets\ndatasets.load_dataset(sys.argv[1])", repo],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode != 0
    assert "DatasetNotFoundError" in result.stderr, result.stderr[-3000:]
