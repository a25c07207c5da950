"""What is indexed for one repository: its search document, built from the card,
the README and the repository's facts."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.schema import Commit, Ref, Repo, SearchDocument
from ..errors import HubError
from ..governance import access
from ..governance.cards import MAX_CARD_BYTES, library_of
from ..storage.blobs import BlobStore
from ..storage.trees import TreeCache, TreeReader
from .query import filter_token

#: Characters of card text indexed per repository.
MAX_BODY_CHARS = 20_000


PRIVATE_TOKEN = "vpriv"


_FRONT_MATTER = re.compile(r"\A(?:[ \t]*\r?\n)*---[ \t]*\r?\n.*?^---[ \t]*$\r?\n?", re.S | re.M)


@dataclasses.dataclass(frozen=True)
class Document:
    """What the index holds for one repository (a ``search_documents`` row)."""

    name: str
    tags: str
    body: str
    meta: str
    facets: str

    def facet_pairs(self) -> list[tuple[str, str]]:
        return parse_facets(self.facets)


def _values(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v is not None and not isinstance(v, dict | list)]
    if isinstance(value, dict):
        return []
    return [str(value)]


def _flatten(value: object, out: list[str]) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _flatten(item, out)
    elif isinstance(value, list | tuple):
        for item in value:
            _flatten(item, out)
    elif value is not None and not isinstance(value, bool):
        out.append(str(value))


def card_text(card: dict[str, Any], readme: str) -> str:
    """The searchable card: YAML values, then README.md without its YAML block."""
    values: list[str] = []
    _flatten(card, values)
    body = _FRONT_MATTER.sub("", readme, count=1)
    return (" ".join(values) + "\n" + body)[:MAX_BODY_CHARS]


def facet_values(
    kind: str, namespace: str, card: dict[str, Any], library: str | None = None
) -> list[tuple[str, str]]:
    """(facet, value) pairs of a repository, from its kind, namespace and card, and the
    ``library`` its files show when the card names none."""
    pairs = [("type", kind), ("author", namespace)]
    if library and not _values(card.get("library_name")):
        pairs.append(("library", library))
    task_key = "pipeline_tag" if kind == "model" else "task_categories"
    for facet, key in (
        ("task", task_key),
        ("library", "library_name"),
        ("license", "license"),
        ("language", "language"),
    ):
        pairs += [(facet, v.strip()) for v in _values(card.get(key))]
    seen: dict[tuple[str, str], None] = {}
    for facet, value in pairs:
        if value and len(value) <= 200 and "\t" not in value and "\n" not in value:
            seen.setdefault((facet, value), None)
    return list(seen)


def parse_facets(stored: str) -> list[tuple[str, str]]:
    """The (facet, value) pairs of a stored ``facets`` column (a JSON array)."""
    pairs = []
    for item in json.loads(stored or "[]"):
        facet, _, value = str(item).partition("\t")
        pairs.append((facet, value))
    return pairs


def build_document(
    *,
    kind: str,
    namespace: str,
    name: str,
    private: bool,
    card: dict[str, Any],
    tags: str,
    readme: str = "",
    body: str | None = None,
    library: str | None = None,
) -> Document:
    """The document for a repository; ``body`` (already extracted) wins over ``readme``.
    ``library``: what the files show (:func:`shown_library`), a facet and a filter
    tag (``list_models(filter="keras")``) when the card names no library."""
    facets = facet_values(kind, namespace, card, library)
    tag_list = tags.split()
    if library and ("library", library) in facets and library not in tag_list:
        tag_list.append(library)
    meta = [PRIVATE_TOKEN] if private else []
    meta += [filter_token(f, v) for f, v in facets]
    meta += [filter_token("tag", t) for t in tag_list]
    return Document(
        name=f"{namespace}/{name}".lower(),
        tags=" ".join(tag_list),
        body=card_text(card, readme) if body is None else body,
        meta=" ".join(dict.fromkeys(meta)),
        facets=json.dumps([f"{f}\t{v}" for f, v in facets], ensure_ascii=False),
    )


def _main_commit(session: Session, repo: Repo) -> Commit | None:
    """The head commit of the default branch, if there is one."""
    head = session.scalar(
        select(Ref.target).where(Ref.repo_id == repo.id, Ref.kind == "branch", Ref.name == "main")
    )
    return session.get(Commit, (repo.id, head)) if head else None


def shown_library(session: Session, tree_cache: TreeCache, repo: Repo) -> str | None:
    """The framework the default branch's top-level files show (Keras, TensorFlow),
    judged only from the files that anyone who finds the repository may see listed:
    everyone's view of a public repository (a gate or a release plan may hide some),
    every file of a private one (only those with a role over it find it, and they see
    every file)."""
    reader = TreeReader(session, tree_cache)
    try:
        if repo.private:
            commit = _main_commit(session, repo)
            if commit is None:
                return None
            top = reader.walk(commit.tree_oid, "", recursive=False)
        else:
            view = access.content(session, None, repo).at("main")
            top = view.listed(reader, reader.walk(view.commit.tree_oid, "", recursive=False))
    except HubError:
        return None  # no main, or closed to everyone: nothing shown
    return library_of({}, {path for path, entry in top if not entry.is_dir})


def read_readme(session: Session, blobs: BlobStore, tree_cache: TreeCache, repo: Repo) -> str:
    """README.md of the default branch ("" when missing or over the card size limit)."""
    commit = _main_commit(session, repo)
    if commit is None:
        return ""
    info = TreeReader(session, tree_cache).file(commit.tree_oid, "README.md")
    if info is None or info.size > MAX_CARD_BYTES:
        return ""
    with blobs.open(info.sha256) as f:
        return f.read().decode("utf-8", "replace")


def card_of(repo: Repo) -> dict[str, Any]:
    try:
        data = json.loads(repo.card_data or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def document_of(row: SearchDocument) -> Document:
    return Document(row.name, row.tags, row.body, row.meta, row.facets)
