"""Full-text search: the engine on real databases, and the API through the real client."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import HfApi
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelcommons import accounts
from modelcommons.db.schema import Account, Repo
from modelcommons.governance.cards import derive_tags, parse_front_matter
from modelcommons.hub import Hub
from modelcommons.search import SearchQuery, SearchResult, Viewer, fts_piece, parse_text, ts_piece
from modelcommons.settings import Settings
from modelcommons.storage import repos

from .conftest import PostgresDatabase, Server

HOSTILE = [
    '"',
    '""',
    '"unclosed phrase',
    "*",
    "a*",
    "-",
    "-bert",
    "NOT",
    "bert NOT llama",
    "AND OR NOT",
    "name:bert",
    "{name}: x",
    "(",
    "((bert)",
    ")",
    "^bert",
    "bert + llama",
    "NEAR(a b)",
    "'; DROP TABLE repos; --",
    "%_%",
    "\\",
    "a'b",
    "x:*",
    "!x & y | z <-> w",
    "\x00\x01",
    "é" * 300,
    "🤗 emoji",
    "   ",
    "a " * 100,
]


def _unique(prefix: str = "zq") -> str:
    """A word no other test uses (letters and digits only, so it is one token)."""
    return prefix + secrets.token_hex(5)


# ---------------------------------------------------------------------------
# Query parsing


def test_parse_text_splits_pieces_and_quotes() -> None:
    pieces = parse_text('Tiny-BERT "exact phrase" ll')
    assert [p.words for p in pieces] == [("tiny", "bert"), ("exact", "phrase"), ("ll",)]
    assert pieces[0].substring == "tiny-bert" and not pieces[0].phrase
    assert pieces[1].phrase and pieces[1].substring is None
    assert pieces[2].prefix == "ll" and pieces[2].substring is None  # 2 characters
    assert parse_text("lla")[0].prefix is None and parse_text("lla")[0].substring == "lla"
    assert parse_text("ert-ba")[0].substring == "ert-ba"
    assert parse_text("") == [] and parse_text("  !!! ") == []


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_compiles_to_quoted_terms(text: str) -> None:
    for piece in parse_text(text):
        fts = fts_piece(piece)
        # Every word appears only inside double quotes, so nothing is syntax.
        unquoted = "".join(fts.split('"')[0::2])
        assert set(unquoted) <= set("{}:() *") | set("AND OR name tags body grams"), unquoted
        assert all(ch.isalnum() for w in piece.words for ch in w)
        ts_piece(piece)


# ---------------------------------------------------------------------------
# The engine, on a real database of each kind


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    pg = PostgresDatabase() if request.param == "postgresql" else None
    data_dir: Path = tmp_path_factory.mktemp(f"search-{request.param}")
    hub = Hub(Settings(data_dir=data_dir, database_url=pg.url if pg else None))
    hub.migrate()
    yield hub
    hub.close()
    if pg:
        pg.drop()


def _account(session: Session, name: str) -> Account:
    found = session.scalar(select(Account).where(Account.name == name))
    return found or accounts.create_user(session, name)


def _repo(
    hub: Hub,
    session: Session,
    repo_id: str,
    *,
    kind: str = "model",
    private: bool = False,
    readme: str = "",
    downloads: int = 0,
) -> Repo:
    """A repository indexed as the API would: card and tags from the README."""
    namespace, name = repo_id.split("/")
    repo = repos.new_repo(
        session, kind, namespace, name, _account(session, namespace).id, private=private
    )
    card = parse_front_matter(readme)
    repo.card_data = json.dumps(card)
    repo.tags = " ".join(derive_tags(card, kind))
    repo.downloads = downloads
    hub.search.update(session, repo, readme=readme)
    return repo


def _find(hub: Hub, **kwargs: Any) -> SearchResult:
    with hub.db.read() as session:
        return hub.search.search(session, SearchQuery(**kwargs))


def _card(**front: object) -> str:
    return "---\n" + json.dumps(front) + "\n---\n"


def test_words_substrings_prefixes_and_card_text(hub: Hub) -> None:
    ns, body_word = _unique("ns"), _unique()
    with hub.db.write() as session:
        _repo(hub, session, f"{ns}/tiny-bert-base", readme=f"# Tiny\n\nTrained on {body_word}.")
        _repo(hub, session, f"{ns}/big-llama", readme=_card(tags=["bertology"]))
    assert _find(hub, text="bert", author=ns).repo_ids == [f"{ns}/tiny-bert-base"]
    assert _find(hub, text="ert-ba", author=ns).repo_ids == [f"{ns}/tiny-bert-base"]
    assert _find(hub, text="TINY-Bert", author=ns).repo_ids == [f"{ns}/tiny-bert-base"]
    assert _find(hub, text=body_word).repo_ids == [f"{ns}/tiny-bert-base"]
    assert _find(hub, text=f"trained {body_word}").repo_ids == [f"{ns}/tiny-bert-base"]
    assert _find(hub, text=f'"trained on {body_word}"').repo_ids == [f"{ns}/tiny-bert-base"]
    assert _find(hub, text=f'"{body_word} trained"').repo_ids == []
    assert _find(hub, text=f"{body_word} llama").repo_ids == []
    # Two characters match the start of a word of the id; three or more, any substring.
    assert _find(hub, text="be", author=ns).repo_ids == [f"{ns}/tiny-bert-base"]
    assert _find(hub, text="bi", author=ns).repo_ids == [f"{ns}/big-llama"]
    assert _find(hub, text="ig", author=ns).repo_ids == []
    assert _find(hub, text="ig-", author=ns).repo_ids == [f"{ns}/big-llama"]
    assert _find(hub, text="berto", author=ns).repo_ids == []  # card words are whole words
    assert _find(hub, text="bert", author=ns).repo_ids == [f"{ns}/tiny-bert-base"]
    assert _find(hub, text="bertology", author=ns).repo_ids == [f"{ns}/big-llama"]


def test_relevance_prefers_id_then_tags_then_card(hub: Hub) -> None:
    ns, word = _unique("ns"), _unique()
    with hub.db.write() as session:
        _repo(hub, session, f"{ns}/in-card", readme=f"About {word}.", downloads=1000)
        _repo(hub, session, f"{ns}/in-tags", readme=_card(tags=[word]), downloads=100)
        _repo(hub, session, f"{ns}/{word}-model", downloads=1)
    assert _find(hub, text=word).repo_ids == [
        f"{ns}/{word}-model",
        f"{ns}/in-tags",
        f"{ns}/in-card",
    ]
    assert _find(hub, text=word, sort="downloads").repo_ids == [
        f"{ns}/in-card",
        f"{ns}/in-tags",
        f"{ns}/{word}-model",
    ]


@pytest.mark.parametrize(
    "caps",
    [
        {},  # few matches: sorted in full
        {"SORT_CAP": 2, "COUNT_CAP": 1000},  # the top repositories by the column
        {"SORT_CAP": 2, "COUNT_CAP": 1000, "TOP_MARGIN": 0},  # ... widened until enough
        {"SORT_CAP": 2, "COUNT_CAP": 3, "WALK_BATCH": 2},  # an index walk with probes
        {"SORT_CAP": 2, "COUNT_CAP": 3, "WALK_BATCH": 2, "WALK_CAP": 4},  # it gives up
        {"RANK_CAP": 3, "COUNT_CAP": 5},  # relevance ranks a few, the rest follow by id
    ],
)
def test_every_strategy_gives_the_exact_order(
    hub: Hub, caps: dict[str, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    ns, word = _unique("ns"), _unique()
    with hub.db.write() as session:
        for i in range(12):
            # Every third repo matches; downloads are not in creation order.
            readme = f"{word} filler" if i % 3 == 0 else "filler"
            _repo(hub, session, f"{ns}/r{i}", readme=readme, downloads=(i * 7) % 12)
        _repo(hub, session, f"{ns}/hidden", private=True, readme=word, downloads=99)
    for name, value in caps.items():
        monkeypatch.setattr(f"modelcommons.search.engine.{name}", value)
    matching = [f"{ns}/r{i}" for i in range(0, 12, 3)]
    by_downloads = sorted(matching, key=lambda r: -((int(r.rsplit("r", 1)[1]) * 7) % 12))
    for offset in range(0, 5):
        found = _find(hub, text=word, sort="downloads", limit=2, offset=offset)
        assert found.repo_ids == by_downloads[offset : offset + 2], (caps, offset)
        ascending = _find(hub, text=word, sort="downloads", descending=False, offset=offset)
        assert ascending.repo_ids == by_downloads[::-1][offset:], (caps, offset)
        pages = _find(hub, text=word, limit=2, offset=offset).repo_ids
        assert len(pages) == len(matching[offset : offset + 2]), (caps, offset)
    # Relevance pages, wherever the cap falls, list every match exactly once.
    seen = [
        r
        for offset in range(0, 6, 2)
        for r in _find(hub, text=word, limit=2, offset=offset).repo_ids
    ]
    assert sorted(seen) == sorted(matching), caps
    assert _find(hub, text=word).total_is_exact == (len(matching) <= caps.get("COUNT_CAP", 99))
    browse = _find(hub, author=ns, sort="downloads", limit=3, viewer=Viewer(is_admin=True))
    assert browse.repo_ids[0] == f"{ns}/hidden"


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_never_fails(hub: Hub, text: str) -> None:
    result = _find(hub, text=text, viewer=Viewer(frozenset({"alice"})), facets=True)
    assert result.total >= 0
    _find(hub, text=text, sort="downloads", tags=(text,), license=text, author=text)


def test_filters_sorts_and_facets(hub: Hub) -> None:
    ns, word = _unique("ns"), _unique()
    with hub.db.write() as session:
        _repo(
            hub,
            session,
            f"{ns}/a",
            readme=_card(
                license="mit",
                library_name="transformers",
                pipeline_tag="fill-mask",
                language=["en", "fr"],
            )
            + word,
            downloads=5,
        )
        _repo(
            hub,
            session,
            f"{ns}/b",
            readme=_card(license="apache-2.0", library_name="transformers", language="en") + word,
            downloads=50,
        )
        _repo(
            hub,
            session,
            f"{ns}/c",
            kind="dataset",
            readme=_card(license="mit", task_categories=["translation"]) + word,
            downloads=500,
        )
    assert _find(hub, text=word, sort="downloads").repo_ids == [f"{ns}/b", f"{ns}/a"]
    assert _find(hub, text=word, sort="downloads", descending=False).repo_ids == [
        f"{ns}/a",
        f"{ns}/b",
    ]
    assert _find(hub, text=word, kind=None, sort="downloads").repo_ids == [
        f"{ns}/c",
        f"{ns}/b",
        f"{ns}/a",
    ]
    assert _find(hub, text=word, kind="dataset").repo_ids == [f"{ns}/c"]
    assert _find(hub, text=word, license="mit").repo_ids == [f"{ns}/a"]
    assert _find(hub, text=word, task="fill-mask").repo_ids == [f"{ns}/a"]
    assert _find(hub, text=word, kind="dataset", task="translation").repo_ids == [f"{ns}/c"]
    assert _find(hub, text=word, language="fr").repo_ids == [f"{ns}/a"]
    assert _find(hub, author=ns, tags=("license:apache-2.0",)).repo_ids == [f"{ns}/b"]
    assert _find(
        hub, author=ns, tags=("transformers", "en"), sort="id", descending=False
    ).repo_ids == [
        f"{ns}/a",
        f"{ns}/b",
    ]
    assert _find(hub, author=ns, tags=("no-such-tag",)).repo_ids == []
    page = _find(hub, author=ns, kind=None, sort="downloads", limit=1, offset=1)
    assert page.repo_ids == [f"{ns}/b"] and page.total == 3 and page.total_is_exact

    result = _find(hub, text=word, kind=None, facets=True)
    assert result.total == 3 and result.total_is_exact and result.facets_are_exact
    assert result.facets["type"] == [("model", 2), ("dataset", 1)]
    assert result.facets["license"] == [("mit", 2), ("apache-2.0", 1)]
    assert result.facets["library"] == [("transformers", 2)]
    assert result.facets["language"] == [("en", 2), ("fr", 1)]
    assert result.facets["task"] == [("fill-mask", 1), ("translation", 1)]
    assert result.facets["author"] == [(ns, 3)]
    assert _find(hub, text=word, license="mit", kind=None, facets=True).facets["type"] == [
        ("dataset", 1),
        ("model", 1),
    ]


def test_private_repos_are_invisible_in_results_counts_and_facets(hub: Hub) -> None:
    owner, org, word = _unique("own"), _unique("org"), _unique()
    with hub.db.write() as session:
        _repo(hub, session, f"{owner}/public", readme=_card(license="mit") + word)
        _repo(hub, session, f"{owner}/secret", private=True, readme=_card(license="gpl") + word)
        _repo(hub, session, f"{org}/internal", private=True, readme=_card(license="bsd") + word)
    everyone = {f"{owner}/public", f"{owner}/secret", f"{org}/internal"}
    viewers = {
        "anonymous": (Viewer(), {f"{owner}/public"}),
        "stranger": (Viewer(frozenset({"mallory", "other-org"})), {f"{owner}/public"}),
        "owner": (Viewer(frozenset({owner})), {f"{owner}/public", f"{owner}/secret"}),
        "member": (Viewer(frozenset({"bob", org})), {f"{owner}/public", f"{org}/internal"}),
        "admin": (Viewer(frozenset({"root"}), is_admin=True), everyone),
    }
    for who, (viewer, expected) in viewers.items():
        for sort in ("relevance", "downloads", "id", "likes"):
            for text in (word, f"{word} license", owner):
                result = _find(hub, text=text, viewer=viewer, sort=sort, facets=True, kind=None)
                if text == owner:
                    shown = {r for r in result.repo_ids if r.startswith(owner)}
                    assert shown == {r for r in expected if r.startswith(owner)}, (who, sort)
                    continue
                assert set(result.repo_ids) == expected, (who, sort, text)
                assert result.total == len(expected), who
                licenses = {value for value, _ in result.facets["license"]}
                assert len(licenses) == len(expected), (who, licenses)
                authors = dict(result.facets["author"])
                assert sum(authors.values()) == len(expected), who
        by_author = _find(hub, author=owner, viewer=viewer, facets=True)
        assert set(by_author.repo_ids) == {r for r in expected if r.startswith(owner)}, who
        assert by_author.total == len(by_author.repo_ids)
        # No text and no filter: the repos table alone.
        browse = _find(hub, viewer=viewer, kind=None, facets=True, limit=1000)
        assert everyone & set(browse.repo_ids) == expected, who
        assert (org in dict(browse.facets["author"])) == (f"{org}/internal" in expected), who


def test_index_follows_readme_rename_visibility_and_delete(hub: Hub) -> None:
    ns, old_word, new_word = _unique("ns"), _unique(), _unique()
    with hub.db.write() as session:
        repo = _repo(hub, session, f"{ns}/first", readme=old_word)
        repo_pk = repo.id
    assert _find(hub, text=old_word).repo_ids == [f"{ns}/first"]

    with hub.db.write() as session:  # README change, as the pipeline's card and search steps do it
        repo = session.get_one(Repo, repo_pk)
        repo.tags = "fresh-tag"
        hub.search.update(session, repo, readme=new_word)
    assert _find(hub, text=old_word).repo_ids == []
    assert _find(hub, text=new_word).repo_ids == [f"{ns}/first"]
    assert _find(hub, author=ns, tags=("fresh-tag",)).repo_ids == [f"{ns}/first"]

    with hub.db.write() as session:  # rename: the card text stays indexed
        repo = session.get_one(Repo, repo_pk)
        repos.move_repo(session, repo, ns, "second")
        hub.search.update(session, repo)
    assert _find(hub, text=new_word).repo_ids == [f"{ns}/second"]
    assert _find(hub, text="first", author=ns).repo_ids == []
    assert _find(hub, text="second", author=ns).repo_ids == [f"{ns}/second"]

    with hub.db.write() as session:
        repo = session.get_one(Repo, repo_pk)
        repo.private = True
        hub.search.update(session, repo)
    assert _find(hub, text=new_word).total == 0
    assert _find(hub, text=new_word, viewer=Viewer(frozenset({ns}))).repo_ids == [f"{ns}/second"]

    with hub.db.write() as session:
        repo = session.get_one(Repo, repo_pk)
        hub.search.remove(session, repo.id)
        repos.delete_repo(session, repo)
    assert _find(hub, text=new_word, viewer=Viewer(is_admin=True)).total == 0


def test_rollback_leaves_the_index_as_it_was(hub: Hub) -> None:
    ns, word = _unique("ns"), _unique()
    with pytest.raises(RuntimeError), hub.db.write() as session:
        _repo(hub, session, f"{ns}/ghost", readme=word)
        raise RuntimeError("abort")
    assert _find(hub, text=word, viewer=Viewer(is_admin=True)).total == 0


def test_repositories_without_a_document_are_indexed(hub: Hub) -> None:
    ns = _unique("ns")
    with hub.db.write() as session:
        repos.new_repo(session, "model", ns, "legacy", _account(session, ns).id, private=False)
    assert _find(hub, author=ns).repo_ids == []
    with hub.db.write() as session:
        assert hub.search.index_missing(session) >= 1
    assert _find(hub, text="legacy", author=ns).repo_ids == [f"{ns}/legacy"]


# ---------------------------------------------------------------------------
# Through the HTTP API and the real client


def _readme(api: HfApi, repo_id: str, text: str, repo_type: str = "model") -> None:
    """Commit a README and wait for the search step (a job after the commit)."""
    api.upload_file(
        path_or_fileobj=text.encode(),
        path_in_repo="README.md",
        repo_id=repo_id,
        repo_type=repo_type,
    )
    Server.at(api.endpoint).settle(repo_id, repo_type)


def test_list_models_search_filter_author_sort(server: Server, repo_name: str) -> None:
    user = _unique("u")
    api = HfApi(endpoint=server.url, token=server.user(user))
    word = _unique()
    api.create_repo(f"{user}/{repo_name}-tiny-bert")
    api.create_repo(f"{user}/{repo_name}-big")
    api.create_repo(f"{user}/{repo_name}-data", repo_type="dataset")
    _readme(api, f"{user}/{repo_name}-tiny-bert", _card(license="mit") + f"About {word}.")
    _readme(
        api,
        f"{user}/{repo_name}-big",
        _card(library_name="transformers", datasets=["squad"]) + word,
    )
    _readme(api, f"{user}/{repo_name}-data", _card(language="en") + word, "dataset")
    for _ in range(2):
        httpx.get(f"{server.url}/{user}/{repo_name}-big/resolve/main/README.md").raise_for_status()

    def ids(**kwargs: Any) -> list[str]:
        return [m.id for m in api.list_models(**kwargs)]

    # A word only in the card body, with and without sort.
    assert set(ids(search=word)) == {f"{user}/{repo_name}-tiny-bert", f"{user}/{repo_name}-big"}
    assert ids(search=word, sort="downloads") == [
        f"{user}/{repo_name}-big",
        f"{user}/{repo_name}-tiny-bert",
    ]
    assert len(ids(search=word, sort="likes")) == 2
    assert ids(search=word, sort="created_at")[0] == f"{user}/{repo_name}-big"
    assert ids(search=word, sort="last_modified")[0] == f"{user}/{repo_name}-big"
    # Substring of the id, HF-style.
    assert ids(search="tiny-be", author=user) == [f"{user}/{repo_name}-tiny-bert"]
    assert ids(search=f"{repo_name[-4:]}-tin") == [f"{user}/{repo_name}-tiny-bert"]
    assert ids(search=word, filter="license:mit") == [f"{user}/{repo_name}-tiny-bert"]
    assert ids(search=word, filter="transformers") == [f"{user}/{repo_name}-big"]
    assert ids(search=word, trained_dataset="squad") == [f"{user}/{repo_name}-big"]
    by_library = httpx.get(
        f"{server.url}/api/models", params={"search": word, "library": "transformers"}
    )
    assert [m["id"] for m in by_library.json()] == [f"{user}/{repo_name}-big"]
    assert ids(author=user, filter=["transformers", "license:mit"]) == []
    assert sorted(ids(author=user)) == [f"{user}/{repo_name}-big", f"{user}/{repo_name}-tiny-bert"]
    datasets = [d.id for d in api.list_datasets(search=word, filter="language:en")]
    assert datasets == [f"{user}/{repo_name}-data"]
    assert [d.id for d in api.list_datasets(author=user, search="data")] == [
        f"{user}/{repo_name}-data"
    ]
    # Older clients: direction=-1; and pages follow the Link header.
    old = httpx.get(
        f"{server.url}/api/models",
        params={"search": word, "sort": "downloads", "direction": "-1", "limit": 1},
    )
    assert [m["id"] for m in old.json()] == [f"{user}/{repo_name}-big"]
    assert 'rel="next"' in old.headers["link"]


def test_private_repos_stay_out_of_api_search(server: Server, repo_name: str) -> None:
    owner_name, word = _unique("own"), _unique()
    owner = HfApi(endpoint=server.url, token=server.user(owner_name))
    member_name, org = _unique("mem"), _unique("org")
    member = HfApi(endpoint=server.url, token=server.user(member_name))
    server.cli("org", "create", org, "--member", f"{member_name}:write")
    owner.create_repo(f"{owner_name}/{repo_name}", private=True)
    _readme(owner, f"{owner_name}/{repo_name}", word)
    member.create_repo(f"{org}/{repo_name}", private=True)
    _readme(member, f"{org}/{repo_name}", word)
    anonymous = HfApi(endpoint=server.url, token=False)
    stranger = HfApi(endpoint=server.url, token=server.user(_unique("str")))

    def found(api: HfApi, **kwargs: Any) -> set[str]:
        return {m.id for m in api.list_models(**kwargs)}

    for api in (anonymous, stranger):
        assert found(api, search=word) == set()
        assert found(api, search=repo_name) == set()
        assert found(api, author=owner_name) == set()
        assert found(api, search=word, sort="downloads") == set()
    assert found(owner, search=word) == {f"{owner_name}/{repo_name}"}
    assert found(member, search=word) == {f"{org}/{repo_name}"}

    owner.update_repo_settings(f"{owner_name}/{repo_name}", private=False)
    assert found(anonymous, search=word) == {f"{owner_name}/{repo_name}"}
    owner.update_repo_settings(f"{owner_name}/{repo_name}", private=True)
    assert found(anonymous, search=word) == set()


def test_api_search_follows_readme_rename_and_delete(server: Server, repo_name: str) -> None:
    user, old_word, new_word = _unique("u"), _unique(), _unique()
    api = HfApi(endpoint=server.url, token=server.user(user))
    api.create_repo(f"{user}/{repo_name}")
    assert [m.id for m in api.list_models(search=repo_name)] == [f"{user}/{repo_name}"]
    _readme(api, f"{user}/{repo_name}", f"# Card\n{old_word}")
    assert [m.id for m in api.list_models(search=old_word)] == [f"{user}/{repo_name}"]
    _readme(api, f"{user}/{repo_name}", f"# Card\n{new_word}")
    assert [m.id for m in api.list_models(search=old_word)] == []
    assert [m.id for m in api.list_models(search=new_word)] == [f"{user}/{repo_name}"]

    api.move_repo(f"{user}/{repo_name}", f"{user}/{repo_name}-renamed")
    assert [m.id for m in api.list_models(search=new_word)] == [f"{user}/{repo_name}-renamed"]
    assert [m.id for m in api.list_models(search="renamed", author=user)] == [
        f"{user}/{repo_name}-renamed"
    ]

    api.delete_repo(f"{user}/{repo_name}-renamed")
    assert [m.id for m in api.list_models(search=new_word)] == []
    assert [m.id for m in api.list_models(author=user)] == []


def test_the_library_the_files_show_is_a_facet(server: Server, repo_name: str) -> None:
    """A card that names no library: the files tell (Keras's hf:// layout, TensorFlow's
    files), for the search facet and list_models(filter=...); a card that names one wins."""
    api = HfApi(endpoint=server.url, token=server.user("framer"))
    keras_files = ["config.json", "metadata.json", "model.weights.h5"]
    layouts = {
        f"framer/{repo_name}-k": (keras_files, "", False),
        f"framer/{repo_name}-tf": (["tf_model.h5"], "", True),  # private: its readers see all
        f"framer/{repo_name}-pt": (keras_files, "---\nlibrary_name: transformers\n---\n", False),
    }
    for repo, (files, card, private) in layouts.items():
        api.create_repo(repo, private=private)
        for name in files:
            api.upload_file(repo_id=repo, path_in_repo=name, path_or_fileobj=b"{}")
        if card:
            api.upload_file(repo_id=repo, path_in_repo="README.md", path_or_fileobj=card.encode())
        server.settle(repo, steps=("search",))
    mine = {m.id for m in api.list_models(author="framer", search=repo_name)}
    assert mine == set(layouts)
    assert {m.id for m in api.list_models(author="framer", filter="keras")} == {
        f"framer/{repo_name}-k"
    }
    assert {m.id for m in api.list_models(author="framer", filter="tensorflow")} == {
        f"framer/{repo_name}-tf"
    }
    assert {m.id for m in api.list_models(author="framer", filter="transformers")} == {
        f"framer/{repo_name}-pt"
    }
    page = httpx.get(f"{server.url}/models", params={"library": "keras"}).text
    assert f"framer/{repo_name}-k" in page and f"{repo_name}-pt" not in page
    # Private stays invisible: the facet does not show it to anyone without a role.
    assert (
        f"{repo_name}-tf"
        not in httpx.get(f"{server.url}/models", params={"library": "tensorflow"}).text
    )
