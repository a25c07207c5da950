"""Card metadata is bounded: no YAML anchors or aliases, limited depth and size.

The attack of the report: a README whose 345-byte front matter expands, through
YAML aliases, to a million leaves, committed with the real client to a real
``commons serve``; ``model_info`` then carried it (13 MB) to every caller.
"""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from huggingface_hub import HfApi

from modelcommons.governance.cards import MAX_CARD_DEPTH, MAX_CARD_JSON_BYTES

from .conftest import Server


def _bomb() -> str:
    """Six lines of YAML, each ten aliases of the line before: 10**6 leaves."""
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 6):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]")
    return "---\n" + "\n".join(lines) + "\n---\n# Bomb\n"


def _card(body: str) -> bytes:
    return f"---\n{body}\n---\n# A card\n".encode()


@pytest.fixture()
def api(server: Server) -> HfApi:
    return HfApi(endpoint=server.url, token=server.user("carder"))


def _commit(server: Server, repo: str, readme: bytes, branch: str = "main") -> httpx.Response:
    """A commit as an attacker sends it: raw NDJSON, without the client's own checks."""
    lines = [
        {"key": "header", "value": {"summary": "card"}},
        {
            "key": "file",
            "value": {
                "path": "README.md",
                "encoding": "base64",
                "content": base64.b64encode(readme).decode(),
            },
        },
    ]
    return httpx.post(
        f"{server.url}/api/models/{repo}/commit/{branch}",
        content="\n".join(json.dumps(line) for line in lines).encode(),
        headers={
            "Authorization": f"Bearer {server.user('carder')}",
            "Content-Type": "application/x-ndjson",
        },
        timeout=60,
    )


def test_alias_bomb_is_refused_at_commit(server: Server, api: HfApi, repo_name: str) -> None:
    repo = f"carder/{repo_name}"
    api.create_repo(repo)
    bomb = _bomb().encode()
    assert len(bomb) < 400
    r = _commit(server, repo, bomb)
    assert r.status_code == 400 and r.json()["code"] == "BadRequest"
    assert "anchors and aliases" in r.headers["x-error-message"]
    info = httpx.get(f"{server.url}/api/models/{repo}")
    assert info.status_code == 200 and len(info.content) < 10_000
    assert "README.md" not in [s["rfilename"] for s in info.json()["siblings"]]
    # The real client checks the card first and shows the same message.
    with pytest.raises(ValueError, match="anchors and aliases"):
        api.upload_file(path_or_fileobj=bomb, path_in_repo="README.md", repo_id=repo)
    # The same text through validate-yaml, as the client's metadata check sends it.
    r = httpx.post(
        f"{server.url}/api/validate-yaml",
        json={"content": bomb.decode(), "repoType": "model"},
        headers={"Authorization": f"Bearer {server.user('carder')}"},
    )
    assert r.status_code == 400 and "aliases" in r.json()["errors"][0]["message"]
    # An anchor alone is refused too: it has no use but to be aliased.
    r = _commit(server, repo, _card("license: &l mit"))
    assert r.status_code == 400 and "anchors" in r.json()["error"]


def test_bomb_on_another_branch_stays_out_of_info(
    server: Server, api: HfApi, repo_name: str
) -> None:
    """Only main's card is parsed at commit; info at another revision parses then."""
    repo = f"carder/{repo_name}"
    api.create_repo(repo)
    api.create_branch(repo, branch="dev")
    assert _commit(server, repo, _bomb().encode(), branch="dev").status_code == 200
    r = httpx.get(f"{server.url}/api/models/{repo}/revision/dev")
    assert r.status_code == 200 and len(r.content) < 10_000
    assert r.json()["cardData"] == {}


def test_depth_size_and_unreadable_values_are_refused(
    server: Server, api: HfApi, repo_name: str
) -> None:
    repo = f"carder/{repo_name}"
    api.create_repo(repo)
    deep = "x: " + "[" * (MAX_CARD_DEPTH + 1) + "]" * (MAX_CARD_DEPTH + 1)
    large = "tags:\n" + "".join(f"- tag{i:06d}\n" for i in range(MAX_CARD_JSON_BYTES // 10))
    cases = {
        deep: "nested too deeply",
        large: "the limit is",
        "when: 2020-13-45": "cannot be read",
        "n: " + "1" * 5000: "cannot be read",
        "2020-01-01: x": "every key must be text",
    }
    for body, message in cases.items():
        r = _commit(server, repo, _card(body))
        assert r.status_code == 400, (body[:40], r.text[:200])
        assert message in r.headers["x-error-message"], body[:40]
    assert httpx.get(server.url + "/api/health").status_code == 200


def test_ordinary_cards_still_commit(server: Server, api: HfApi, repo_name: str) -> None:
    repo = f"carder/{repo_name}"
    api.create_repo(repo)
    results = [
        {"task": {"type": "text-classification"}, "metrics": [{"type": "f1", "value": 0.9}]}
    ] * 50
    metadata = {
        "license": "mit",
        "tags": [f"t{i}" for i in range(500)],
        "model-index": [{"name": "m", "results": results}],
    }
    api.upload_file(
        path_or_fileobj=_card(json.dumps(metadata)), path_in_repo="README.md", repo_id=repo
    )
    assert api.model_info(repo).card_data["license"] == "mit"
