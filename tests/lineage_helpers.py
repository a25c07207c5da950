"""Helpers for the lineage and licence tests: cards pushed with the real client."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import yaml
from huggingface_hub import HfApi

from .conftest import Server


def fresh_user(server: Server, prefix: str) -> tuple[str, HfApi]:
    name = f"{prefix}{secrets.token_hex(3)}"
    token = server.user(name)
    return name, HfApi(endpoint=server.url, token=token)


def card(**meta: Any) -> bytes:
    return ("---\n" + yaml.safe_dump(meta) + "---\n\n# A card\n").encode()


def push_card(api: HfApi, repo_id: str, repo_type: str = "model", **meta: Any) -> str:
    """Create the repository if needed, commit a README with this metadata and wait
    for the search, lineage and licence steps that follow it (background jobs)."""
    api.create_repo(repo_id, repo_type=repo_type, exist_ok=True)
    info = api.upload_file(
        path_or_fileobj=card(**meta),
        path_in_repo="README.md",
        repo_id=repo_id,
        repo_type=repo_type,
    )
    Server.at(api.endpoint).settle(repo_id, repo_type)
    return str(info.oid)


def lineage(
    server: Server, repo_id: str, token: str | bool | None = None, kind: str = "models"
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if isinstance(token, str) else {}
    response = httpx.get(f"{server.url}/api/{kind}/{repo_id}/lineage", headers=headers)
    response.raise_for_status()
    return response.json()


def findings(server: Server, repo_id: str, token: str | bool | None = None) -> list[dict[str, Any]]:
    check = lineage(server, repo_id, token)["licenseCheck"]
    assert check is not None
    return list(check["findings"])
