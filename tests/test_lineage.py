"""Lineage from cards: edges pinned to the parent's commit, children, privacy, the page."""

from __future__ import annotations

import httpx

from .conftest import Server
from .lineage_helpers import fresh_user, lineage, push_card


def test_edge_pinned_to_parent_commit(server: Server) -> None:
    user, api = fresh_user(server, "lin")
    parent, child = f"{user}/base", f"{user}/tuned"
    first = push_card(api, parent, license="mit")
    push_card(api, child, license="mit", base_model=parent)
    # A new parent commit after the child's does not move the child's edge.
    second = push_card(api, parent, license="mit", tags=["v2"])
    assert second != first
    doc = lineage(server, child)
    assert doc["parents"] == [
        {
            "id": parent,
            "type": "model",
            "relation": "finetune",
            "resolved": True,
            "commit": first,
            "url": f"/{parent}",
            "license": "mit",
        }
    ]
    children = lineage(server, parent)["children"]
    assert [(c["id"], c["commit"]) for c in children] == [(child, first)]
    # Re-committing the child's card re-pins to the parent's head now.
    push_card(api, child, license="mit", base_model=parent, tags=["again"])
    assert lineage(server, child)["parents"][0]["commit"] == second


def test_relations_datasets_and_unresolved_parents(server: Server) -> None:
    user, api = fresh_user(server, "rel")
    a, b, data = f"{user}/a", f"{user}/b", f"{user}/corpus"
    push_card(api, a, license="apache-2.0")
    push_card(api, b, license="apache-2.0")
    push_card(api, data, repo_type="dataset", license="cc-by-4.0")
    merged = f"{user}/merged"
    push_card(
        api, merged, license="apache-2.0", base_model=[a, b, "elsewhere/not-here"], datasets=[data]
    )
    parents = lineage(server, merged)["parents"]
    assert [(p["id"], p["type"], p["relation"], p["resolved"]) for p in parents] == [
        (a, "model", "merge", True),
        (b, "model", "merge", True),
        ("elsewhere/not-here", "model", "merge", False),
        (data, "dataset", "dataset", True),
    ]
    assert parents[2]["commit"] is None
    quant = f"{user}/quant"
    push_card(api, quant, license="apache-2.0", base_model=a, base_model_relation="quantized")
    assert lineage(server, quant)["parents"][0]["relation"] == "quantized"
    assert {c["id"] for c in lineage(server, data, kind="datasets")["children"]} == {merged}
    # Dropping base_model from the card drops the edges.
    push_card(api, quant, license="apache-2.0")
    assert lineage(server, quant)["parents"] == []
    assert quant not in {c["id"] for c in lineage(server, a)["children"]}


def test_lineage_respects_privacy(server: Server) -> None:
    owner, owner_api = fresh_user(server, "own")
    other, other_api = fresh_user(server, "oth")
    secret, public_child = f"{owner}/secret-base", f"{owner}/public-child"
    owner_api.create_repo(secret, private=True)
    push_card(owner_api, secret, license="mit")
    push_card(owner_api, public_child, license="mit", base_model=secret)
    # The owner sees the private parent; everyone else sees an unresolved name only.
    assert lineage(server, public_child, owner_api.token)["parents"][0]["resolved"] is True
    for token in (None, other_api.token):
        parent = lineage(server, public_child, token)["parents"][0]
        assert parent == {
            "id": secret,
            "type": "model",
            "relation": "finetune",
            "resolved": False,
            "commit": None,
            "url": None,
            "license": None,
        }
    # Someone without access cannot link to the private parent at all.
    theirs = f"{other}/probe"
    push_card(other_api, theirs, license="mit", base_model=secret)
    assert lineage(server, theirs, other_api.token)["parents"][0]["resolved"] is False
    assert lineage(server, theirs, owner_api.token)["parents"][0]["resolved"] is False
    # Private children are invisible to those who cannot read them.
    base = f"{other}/open-base"
    push_card(other_api, base, license="mit")
    hidden = f"{owner}/hidden-child"
    owner_api.create_repo(hidden, private=True)
    push_card(owner_api, hidden, license="mit", base_model=base)
    assert lineage(server, base, other_api.token)["children"] == []
    assert lineage(server, base, None)["children"] == []
    assert [c["id"] for c in lineage(server, base, owner_api.token)["children"]] == [hidden]
    # A private repository's own lineage answers like a missing repository.
    response = httpx.get(f"{server.url}/api/models/{hidden}/lineage")
    assert response.status_code in (401, 404)


def test_card_page_shows_lineage_and_check(server: Server) -> None:
    user, api = fresh_user(server, "pg")
    base, child = f"{user}/nc-base", f"{user}/child"
    push_card(api, base, license="cc-by-nc-4.0")
    push_card(api, child, license="apache-2.0", base_model=base)
    page = httpx.get(f"{server.url}/{child}", headers={"Accept": "text/html"}).text
    assert "Lineage" in page
    assert f'href="/{base}"' in page
    assert "non-commercial" in page and "violation" in page
    parent_page = httpx.get(f"{server.url}/{base}", headers={"Accept": "text/html"}).text
    assert f'href="/{child}"' in parent_page
