"""Bills of materials: CycloneDX 1.6 ML-BOM per revision, valid against the official schema."""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

import httpx
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from .conftest import Server
from .lineage_helpers import card, fresh_user, push_card
from .test_signing import keypair

WEIGHTS = b"\x01weights" * 100
README_BODY = """
# Toy

## Uses

Classifying toy sentences.

## Bias, Risks, and Limitations

Trained on three sentences; do not trust it.

## Training

Nothing to see.
"""


def sbom(server: Server, repo: str, token: str | None = None, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{server.url}/api/models/{repo}/sbom", params=params, headers=headers)


def valid(doc: dict[str, Any]) -> None:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc))
    assert error is None, error


def test_model_bom_with_card_files_lineage_and_signature(server: Server, tmp_path: Path) -> None:
    user, api = fresh_user(server, "bom")
    base, data, repo = f"{user}/base", f"{user}/corpus", f"{user}/tuned"
    base_commit = push_card(api, base, license="apache-2.0")
    data_commit = push_card(api, data, repo_type="dataset", license="cc-by-4.0")
    api.create_repo(repo)
    meta = {
        "license": "apache-2.0",
        "library_name": "transformers",
        "pipeline_tag": "text-classification",
        "base_model": base,
        "datasets": [data],
        "model-index": [
            {
                "name": "tuned",
                "results": [
                    {
                        "task": {"type": "text-classification"},
                        "dataset": {"name": "Toy set", "type": data},
                        "metrics": [{"type": "accuracy", "value": 0.91}],
                    }
                ],
            }
        ],
    }
    readme = card(**meta).decode() + README_BODY
    api.upload_file(path_or_fileobj=readme.encode(), path_in_repo="README.md", repo_id=repo)
    api.upload_file(
        path_or_fileobj=json.dumps(
            {"model_type": "bert", "architectures": ["BertForSequenceClassification"]}
        ).encode(),
        path_in_repo="config.json",
        repo_id=repo,
    )
    head = api.upload_file(path_or_fileobj=WEIGHTS, path_in_repo="model.bin", repo_id=repo).oid
    # Lineage is a background pipeline step: the bill names parents once it has run.
    server.settle(repo)

    r = sbom(server, repo, revision="main", format="cyclonedx")
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"].endswith('.cdx.json"')
    doc = r.json()
    valid(doc)
    assert doc["specVersion"] == "1.6"
    subject = doc["metadata"]["component"]
    assert subject["type"] == "machine-learning-model"
    assert subject["purl"] == f"pkg:huggingface/{user}/tuned@{head}"
    assert subject["licenses"] == [{"expression": "Apache-2.0"}]
    params = subject["modelCard"]["modelParameters"]
    assert params["task"] == "text-classification"
    assert params["architectureFamily"] == "bert"
    assert params["modelArchitecture"] == "BertForSequenceClassification"
    data_ref = f"pkg:huggingface/{user}/corpus@{data_commit}?repository_type=dataset"
    assert params["datasets"] == [{"ref": data_ref}]
    metrics = subject["modelCard"]["quantitativeAnalysis"]["performanceMetrics"]
    assert metrics == [{"type": "accuracy", "value": "0.91", "slice": "Toy set"}]
    considerations = subject["modelCard"]["considerations"]
    assert considerations["useCases"] == ["Classifying toy sentences."]
    assert considerations["technicalLimitations"] == [
        "Trained on three sentences; do not trust it."
    ]
    (ancestor,) = subject["pedigree"]["ancestors"]
    assert ancestor["purl"] == f"pkg:huggingface/{user}/base@{base_commit}"
    assert ancestor["version"] == base_commit
    by_name = {c["name"]: c for c in doc["components"]}
    assert by_name[data]["type"] == "data" and by_name[data]["version"] == data_commit
    assert by_name["model.bin"]["hashes"] == [
        {"alg": "SHA-256", "content": hashlib.sha256(WEIGHTS).hexdigest()}
    ]
    assert {"README.md", "config.json", "model.bin", ".gitattributes"} <= set(by_name)
    props = {p["name"]: p["value"] for p in subject["properties"]}
    assert props["modelcommons:signature:status"] == "unsigned"
    assert props["modelcommons:lineage:status"] == "current"
    # Every file carries its scan status from the commit pipeline (queued until scanned).
    files = [c for c in doc["components"] if c["type"] == "file"]
    assert props["modelcommons:scan:files"] == str(len(files))
    for component in files:
        status = {p["name"]: p["value"] for p in component["properties"]}
        assert status["modelcommons:scan:status"] in {"queued", "safe", "suspicious", "unsafe"}

    # Signed: the BOM says by whom; an older revision keeps its own files.
    private, public = keypair(tmp_path, "k")
    server.cli("key", "add", user, str(public))
    server.cli("sign", repo, "--key", str(private))
    doc = sbom(server, repo).json()
    valid(doc)
    props = {p["name"]: p["value"] for p in doc["metadata"]["component"]["properties"]}
    assert props["modelcommons:signature:status"] == "verified"
    assert props["modelcommons:signature:signer"] == user
    assert "model.sig" in {c["name"] for c in doc["components"]}
    old = sbom(server, repo, revision=str(head)).json()
    assert "model.sig" not in {c["name"] for c in old["components"]}
    assert old["metadata"]["component"]["version"] == head


def test_dataset_bom_private_and_bad_requests(sqlite_server: Server) -> None:
    server = sqlite_server
    user, api = fresh_user(server, "dbom")
    token = server.user(user)
    data = f"{user}/rows"
    api.create_repo(data, repo_type="dataset", private=True)
    api.upload_file(
        path_or_fileobj=card(license="other", license_name="my-own").decode().encode(),
        path_in_repo="README.md",
        repo_id=data,
        repo_type="dataset",
    )
    url = f"{server.url}/api/datasets/{data}/sbom"
    assert httpx.get(url).status_code == 404  # private means invisible
    r = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    doc = r.json()
    valid(doc)
    subject = doc["metadata"]["component"]
    assert subject["type"] == "data" and "modelCard" not in subject
    assert subject["licenses"] == [{"license": {"name": "other (my-own)"}}]
    bad = httpx.get(url, params={"format": "spdx"}, headers={"Authorization": f"Bearer {token}"})
    assert bad.status_code == 400
    missing = httpx.get(
        url, params={"revision": "nope"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert missing.status_code == 404


def test_bom_says_when_lineage_is_still_pending() -> None:
    """Lineage runs in the background: before a worker has run it, the bill says
    ``pending`` (its parents may be missing); once it has run, ``current``."""
    srv = Server("sqlite", task_queue="redis", task_queue_name=f"bom{secrets.token_hex(4)}")
    srv.start()  # serve only enqueues: no lineage runs until a worker starts
    try:
        _, api = fresh_user(srv, "pend")
        repo = f"{api.whoami()['name']}/tuned"
        api.create_repo(repo)
        readme = card(license="apache-2.0", base_model="someone/base").decode() + README_BODY
        api.upload_file(path_or_fileobj=readme.encode(), path_in_repo="README.md", repo_id=repo)
        props = _props(sbom(srv, repo, token=api.token).json())
        assert props["modelcommons:lineage:status"] == "pending"
        srv.start_worker()
        srv.settle(repo)
        doc = sbom(srv, repo, token=api.token).json()
        assert _props(doc)["modelcommons:lineage:status"] == "current"
        (ancestor,) = doc["metadata"]["component"]["pedigree"]["ancestors"]
        assert ancestor["name"] == "someone/base"
    finally:
        srv.close()


def _props(doc: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in doc["metadata"]["component"]["properties"]}
