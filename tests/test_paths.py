"""Request paths are normalised once, before routing: runs of ``/`` become one and a
trailing ``/`` goes, as on the Hugging Face Hub, so an ``HF_ENDPOINT`` that ends in
``/`` works with every client. A ``%2F`` inside a segment is data and is kept."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi

from modelcommons.server.routing import normalize_path

from . import clients
from .conftest import Server


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/", "/"),
        ("//", "/"),
        ("", "/"),
        ("//api//models", "/api/models"),
        ("/api/models/", "/api/models"),
        ("///datasets///a/b///resolve/main/x.csv", "/datasets/a/b/resolve/main/x.csv"),
        ("/api/models/a/b/revision/refs%2Fpr%2F1", "/api/models/a/b/revision/refs%2Fpr%2F1"),
        ("/api/models/a/b/tree/feature%2F%2Fx//", "/api/models/a/b/tree/feature%2F%2Fx"),
    ],
)
def test_normalize_path(raw: str, expected: str) -> None:
    assert normalize_path(raw) == expected


def test_doubled_and_trailing_slashes_reach_the_same_route(server: Server, repo_name: str) -> None:
    token = server.user("pat")
    api = HfApi(endpoint=server.url, token=token)
    repo = f"pat/{repo_name}"
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=b"on main\n", path_in_repo="a.txt", repo_id=repo)
    api.create_branch(repo, branch="feature/x")
    api.upload_file(
        path_or_fileobj=b"on the branch\n", path_in_repo="b.txt", repo_id=repo, revision="feature/x"
    )
    auth = {"Authorization": f"Bearer {token}"}
    url = server.url  # whole URLs: httpx reads a relative "//api" as a host name
    with httpx.Client(headers=auth) as http:
        listing = http.get(f"{url}//api//models", params={"author": "pat"})
        assert listing.status_code == 200, listing.text
        assert repo in [m["id"] for m in listing.json()]
        assert http.get(f"{url}/api/models/{repo}/").json()["id"] == repo
        # The branch name's quoted slash stays inside its segment: the whole of
        # "feature/x" is the revision, with b.txt in it.
        for path in (
            f"//api//models//{repo}//tree/feature%2Fx",
            f"/api/models/{repo}/tree/feature%2Fx/",
        ):
            tree = http.get(url + path)
            assert tree.status_code == 200, (path, tree.text)
            assert {e["path"] for e in tree.json()} == {".gitattributes", "a.txt", "b.txt"}
        resolved = http.get(f"{url}//{repo}//resolve//feature%2Fx//b.txt")
        assert resolved.status_code == 200 and resolved.content == b"on the branch\n"
        # refs%2Fpr%2F1 is one revision, not three segments.
        pr = http.get(f"{url}//api//models//{repo}//revision//refs%2Fpr%2F1")
        assert pr.status_code == 404
        assert pr.headers["X-Error-Code"] == "RevisionNotFound"
        assert "refs/pr/1" in pr.headers["X-Error-Message"]
        # Pages too: the card page with a trailing slash.
        page = http.get(f"{url}/{repo}/", headers={"Accept": "text/html"})
        assert page.status_code == 200 and repo in page.text


LOAD = r"""
import json, os, sys
import datasets
from huggingface_hub import HfApi, hf_hub_download, snapshot_download

args = json.loads(sys.argv[1])
assert os.environ["HF_ENDPOINT"].endswith("/")
api = HfApi()
out = {
    "model": api.model_info(args["model"]).id,
    "file": open(hf_hub_download(args["model"], "a.txt"), encoding="utf-8").read(),
    "snapshot": sorted(os.listdir(snapshot_download(args["model"]))),
    "rows": datasets.load_dataset(args["dataset"], split="train").to_list(),
}
print("RESULT " + json.dumps(out))
"""


@pytest.mark.slow
def test_clients_with_an_endpoint_ending_in_a_slash(
    sqlite_server: Server, repo_name: str, tmp_path: Path
) -> None:
    srv = sqlite_server
    token = srv.user("sal")
    api = HfApi(endpoint=srv.url, token=token)
    model, dataset = f"sal/{repo_name}", f"sal/{repo_name}-data"
    api.create_repo(model, private=True)
    api.upload_file(path_or_fileobj=b"hello\n", path_in_repo="a.txt", repo_id=model)
    api.create_repo(dataset, repo_type="dataset", private=True)
    api.upload_file(
        path_or_fileobj=b"idx,word\n1,alpha\n2,beta\n",
        path_in_repo="data/train.csv",
        repo_id=dataset,
        repo_type="dataset",
    )
    env = clients.client_env(
        srv,
        token,
        tmp_path / "home",
        HF_DATASETS_CACHE=str(tmp_path / "home" / "datasets"),
        HF_DATASETS_DISABLE_PROGRESS_BARS="1",
    )
    env["HF_ENDPOINT"] = srv.url + "/"
    out = clients.run_python(LOAD, {"model": model, "dataset": dataset}, env)
    assert out["model"] == model
    assert out["file"] == "hello\n"
    assert out["snapshot"] == [".gitattributes", "a.txt"]
    assert out["rows"] == [{"idx": 1, "word": "alpha"}, {"idx": 2, "word": "beta"}]
