"""Full-text search over repositories: one interface, two engines.

:class:`SearchIndex` is the interface; :func:`open_search_index` picks
:class:`SqliteSearchIndex` (FTS5) or :class:`PostgresSearchIndex` (tsvector + GIN,
pg_trgm) by database dialect, and the hub keeps the result in ``hub.search``.
Callers index inside their own write transaction (``update`` on create, README
change, rename and visibility change; ``remove`` on delete), so the index never
disagrees with a committed repository.

**What is indexed.** One ``search_documents`` row per repository holds:

* ``name``: the repo id ``namespace/name``, lower-cased. It is split into words
  ("bert" finds ``alice/tiny-bert-base``) and also matched as a substring
  (``ert-ba`` finds it too, as the Hub API's ``search=`` promises): SQLite indexes
  the id's trigrams as tokens, PostgreSQL uses a pg_trgm index.
* ``tags``: the repository's tags (``transformers``, ``license:mit``, ...).
* ``body``: README.md without its YAML block, plus the YAML values, capped at
  :data:`MAX_BODY_CHARS`.
* ``meta``: opaque tokens for exact filters: one per facet value and one per tag
  (a short hash, so any value is a single token), and ``vpriv`` on private repos.
* ``facets``: the facet values themselves, for counting.

Downloads and likes are not indexed: sorting reads the ``repos`` columns.

**Queries.** The text is split on whitespace into pieces; ``"quoted text"`` is one
piece, matched as a phrase. A repository matches when every piece matches, and a
piece matches when its words are all (whole) words of the id, tags or card, or
when it is a substring of the repo id (3 characters or more, what the Hub API's
``search=`` means), or, for a 2-character piece, when a word of the id starts with
it (type-ahead). Card words match whole: "transf" finds ids that contain it, not
cards that say "transformers". Nothing in the text is ever passed to the engine as
syntax (every word is quoted, or hashed), so hostile input cannot break a query.

**Bounded cost.** Ranking every match is linear in the number of matches: FTS5's
bm25 costs about 1.7 µs per matching row, and computes its idf by visiting every
row that holds each query term, so a term found in most repositories takes
hundreds of milliseconds. Only walking matches in id order is nearly free. So:

* ``total`` counts matches in id order up to :data:`COUNT_CAP` + 1: exact below
  the cap, else reported as ``COUNT_CAP`` with ``total_is_exact=False``. Facets
  count the :data:`FACET_CAP` newest matches (exact when ``total`` is smaller).
* **Relevance** ranks only the :data:`RANK_CAP` newest matches: per piece, 3 when
  it is in the repo id, 2 in the tags, 1 in the card; then downloads. Older matches
  follow, newest first, so paging still reaches every match exactly once. The
  trade-off: for a query with more than ``RANK_CAP`` matches, an old repository
  whose id matches can rank below newer ones whose card does; ``sort=downloads``
  is exact over all matches.
* **Downloads, likes and dates** are exact whatever the number of matches. Up to
  :data:`SORT_CAP` matches are all sorted. Up to ``COUNT_CAP``, only the matches
  among the top repositories by that column (an index scan, sized from the share
  of repositories that match, widened until the page is full) are sorted, which
  costs one scan of the matches and no join. Above, the term is common: the
  column's index is walked in batches and each batch is tested against the query;
  only if :data:`WALK_CAP` rows fill no page (a deep page, or a term the popular
  repositories lack) are all matches sorted, exact but slower.

PostgreSQL follows the same plan; GIN indexes cannot stream matches in id order,
so its counts and candidate windows cost more (see benchmarks/SEARCH_RESULTS.md).
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, delete, func, or_, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from ..accounts import Principal, roles
from ..db.schema import Commit, Ref, Repo, SearchDocument
from ..governance.cards import MAX_CARD_BYTES
from ..storage.blobs import BlobStore
from ..storage.trees import TreeCache, TreeReader

#: Characters of card text indexed per repository.
MAX_BODY_CHARS = 20_000
#: Matches counted per query; ``total`` is exact up to this.
COUNT_CAP = 20_000
#: Newest matches ranked by relevance; older ones follow in id order.
RANK_CAP = 2_000
#: PostgreSQL counts up to this many (fewer: counting there costs more per row).
PG_COUNT_CAP = 5_000
#: Up to this many matches, a sort by a column sorts them all.
SORT_CAP = 1_000
#: Rows an index walk may test before sorting every match instead, and its first batch.
WALK_CAP = 20_000
WALK_BATCH = 256
#: How many more top repositories than matches expected on the page to start from.
TOP_MARGIN = 2.0
#: Newest matches counted for facets.
FACET_CAP = 2_000
#: Values reported per facet.
FACET_VALUES = 20

FACETS = ("type", "task", "library", "license", "language", "author")
SORTS = ("relevance", "downloads", "likes", "lastModified", "createdAt", "id")
_SORT_ALIASES = {
    "trendingScore": "downloads",
    "trending_score": "downloads",
    "last_modified": "lastModified",
    "created_at": "createdAt",
}
_SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "downloads": Repo.downloads,
    "likes": Repo.likes,
    "lastModified": Repo.updated_at,
    "createdAt": Repo.created_at,
    "id": Repo.id,
}
PRIVATE_TOKEN = "vpriv"

_WORD = re.compile(r"[^\W_]+")
_PIECE = re.compile(r'"([^"]*)"|(\S+)')
_ID_CHARS = re.compile(r"[a-z0-9._/-]+")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n.*?^---[ \t]*$\r?\n?", re.S | re.M)
_MAX_QUERY_CHARS = 256
_MAX_PIECES = 8
_MAX_WORDS = 16
_MAX_WORD_CHARS = 64
_MAX_ID_CHARS = 193  # 96 + "/" + 96


# ---------------------------------------------------------------------------
# The interface: queries, results, viewers


@dataclasses.dataclass(frozen=True)
class Viewer:
    """Whose search it is: private repositories show only in these namespaces."""

    namespaces: frozenset[str] = frozenset()
    is_admin: bool = False

    @classmethod
    def for_principal(cls, session: Session, principal: Principal | None) -> Viewer:
        """What :func:`roles.listed_namespaces` lets the principal list."""
        names = roles.listed_namespaces(session, principal)
        return cls(is_admin=True) if names is None else cls(names)


ANONYMOUS = Viewer()


@dataclasses.dataclass(frozen=True)
class SearchQuery:
    """What to find. Empty text with no filters lists every visible repository."""

    text: str = ""
    #: "model", "dataset", or None for both.
    kind: str | None = "model"
    author: str | None = None
    #: pipeline_tag for models, task_categories for datasets.
    task: str | None = None
    library: str | None = None
    license: str | None = None
    language: str | None = None
    #: Raw tags as ``list_models(filter=...)`` sends them; all must be present.
    tags: tuple[str, ...] = ()
    #: One of :data:`SORTS` (or a client alias such as "trendingScore"). Relevance
    #: without text sorts by downloads.
    sort: str = "relevance"
    descending: bool = True
    limit: int = 20
    offset: int = 0
    viewer: Viewer = ANONYMOUS
    #: Compute facet counts (costs a few milliseconds more).
    facets: bool = False

    def facet_filters(self) -> dict[str, str]:
        values = {
            "type": self.kind,
            "author": self.author,
            "task": self.task,
            "library": self.library,
            "license": self.license,
            "language": self.language,
        }
        return {k: v for k, v in values.items() if v is not None}


@dataclasses.dataclass(frozen=True)
class SearchHit:
    id: int  # repos.id
    kind: str
    repo_id: str  # "namespace/name"


@dataclasses.dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]
    #: Matching repositories visible to the viewer; when inexact, the engine's count cap
    #: (COUNT_CAP on SQLite, PG_COUNT_CAP on PostgreSQL) and "at least that many".
    total: int
    total_is_exact: bool
    #: facet name -> [(value, count)], most frequent first (at most FACET_VALUES per
    #: facet); empty unless asked for. Counted over the FACET_CAP newest matches.
    facets: dict[str, list[tuple[str, int]]]
    #: Whether the facet counts cover every match (false: a sample of the newest).
    facets_are_exact: bool = True

    @property
    def ids(self) -> list[int]:
        return [hit.id for hit in self.hits]

    @property
    def repo_ids(self) -> list[str]:
        return [hit.repo_id for hit in self.hits]


class SearchIndex(Protocol):
    """The search engine behind ``hub.search``."""

    def update(self, session: Session, repo: Repo, *, readme: str | None = None) -> None:
        """(Re)index a repository. ``readme`` is the new README.md text ("" when
        there is none); None keeps the indexed card text (or reads it from the
        default branch for a repository not yet indexed)."""

    def remove(self, session: Session, repo_id: int) -> None:
        """Drop a repository (by ``repos.id``) from the index."""

    def search(self, session: Session, query: SearchQuery) -> SearchResult: ...

    def index_missing(self, session: Session, batch: int = 500) -> int:
        """Index up to ``batch`` repositories that have no document; return how many."""

    def rebuild(self, session: Session, repo: Repo) -> None:
        """Index a repository afresh from its card and the README.md of its default
        branch, whatever its document holds now."""

    def reset(self, session: Session) -> None:
        """Forget every document, so that rebuilding all of them starts from nothing:
        it then repairs an index that a previous version built differently."""


def open_search_index(dialect: str, blobs: BlobStore, tree_cache: TreeCache) -> SearchIndex:
    if dialect == "postgresql":
        return PostgresSearchIndex(blobs, tree_cache)
    if dialect == "sqlite":
        return SqliteSearchIndex(blobs, tree_cache)
    raise ValueError(f"No search engine for the {dialect!r} database.")


# ---------------------------------------------------------------------------
# Query text


@dataclasses.dataclass(frozen=True)
class Piece:
    """One whitespace-separated piece of the query, or one quoted phrase."""

    words: tuple[str, ...]
    phrase: bool = False
    #: A 2-character piece also matches the start of any word of the repo id.
    prefix: str | None = None
    #: Matched as a substring of the repo id, when it could be part of one.
    substring: str | None = None


def parse_text(text: str) -> list[Piece]:
    """Split user text into pieces. Any input is accepted; what cannot match is dropped."""
    pieces: list[Piece] = []
    for match in _PIECE.finditer(text[:_MAX_QUERY_CHARS].lower()):
        quoted, bare = match.group(1), match.group(2)
        raw = quoted if quoted is not None else bare
        words = tuple(w for w in _WORD.findall(raw) if len(w) <= _MAX_WORD_CHARS)[:_MAX_WORDS]
        prefix = substring = None
        if bare is not None and _ID_CHARS.fullmatch(bare):
            if len(bare) == 2 and words == (bare,):
                prefix = bare
            elif 3 <= len(bare) <= _MAX_ID_CHARS:
                substring = bare
        if words or substring:
            pieces.append(Piece(words, quoted is not None, prefix, substring))
        if len(pieces) == _MAX_PIECES:
            break
    return pieces


def words_of(value: str) -> list[str]:
    """Words as both engines split them: runs of letters and digits, lower-cased."""
    return _WORD.findall(value.lower())


def trigrams(value: str) -> list[str]:
    """Overlapping 3-character slices, in order."""
    return [value[i : i + 3] for i in range(len(value) - 2)]


def filter_token(facet: str, value: str) -> str:
    """The single opaque token that stands for one facet value or tag."""
    digest = hashlib.blake2b(f"{facet}\x1f{value}".encode(), digest_size=8).hexdigest()
    return "f" + digest


# ---------------------------------------------------------------------------
# Documents


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


def facet_values(kind: str, namespace: str, card: dict[str, Any]) -> list[tuple[str, str]]:
    """(facet, value) pairs of a repository, from its kind, namespace and card."""
    pairs = [("type", kind), ("author", namespace)]
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
) -> Document:
    """The document for a repository; ``body`` (already extracted) wins over ``readme``."""
    facets = facet_values(kind, namespace, card)
    tag_list = tags.split()
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


def read_readme(session: Session, blobs: BlobStore, tree_cache: TreeCache, repo: Repo) -> str:
    """README.md of the default branch ("" when missing or over the card size limit)."""
    head = session.scalar(
        select(Ref.target).where(Ref.repo_id == repo.id, Ref.kind == "branch", Ref.name == "main")
    )
    if head is None:
        return ""
    commit = session.get(Commit, (repo.id, head))
    if commit is None:
        return ""
    info = TreeReader(session, tree_cache).file(commit.tree_oid, "README.md")
    if info is None or info.size > MAX_CARD_BYTES:
        return ""
    with blobs.open(info.sha256) as f:
        return f.read().decode("utf-8", "replace")


# ---------------------------------------------------------------------------
# The shared engine


@dataclasses.dataclass(frozen=True)
class Match:
    """A compiled query as SQL: ``SELECT {id} FROM {source} WHERE {where}`` gives the
    matching repos.id values that the viewer may see, cheapest in id order.

    ``probe`` is the same test without kind and visibility, for checking rows that
    already passed those (the index walk); None when there is nothing to test.
    """

    source: str
    where: str
    id: str
    params: dict[str, Any]
    probe: Match | None = None

    def select(self, tail: str = "") -> str:
        return f"SELECT {self.id} AS id FROM {self.source} WHERE {self.where} {tail}"


class _SqlSearchIndex(abc.ABC):
    """Everything but the engine-specific SQL: documents, planning, sorting, facets."""

    def __init__(self, blobs: BlobStore, tree_cache: TreeCache) -> None:
        self.blobs = blobs
        self.tree_cache = tree_cache

    # -- engine hooks ---------------------------------------------------

    @abc.abstractmethod
    def _index(self, session: Session, repo_id: int, doc: Document) -> None:
        """Add a document to the engine's index (after the row is written)."""

    @abc.abstractmethod
    def _unindex(self, session: Session, repo_id: int, doc: Document) -> None:
        """Remove a document, given exactly what was indexed."""

    @abc.abstractmethod
    def _reset(self, session: Session) -> None:
        """Empty the engine's index (the rows are deleted after)."""

    @abc.abstractmethod
    def _compile(self, query: SearchQuery, pieces: list[Piece]) -> Match:
        """The match for the text and every filter, kind and visibility included."""

    @abc.abstractmethod
    def _id_list(self, param: str) -> str:
        """SQL selecting the ids in the bound list ``:param``."""

    @abc.abstractmethod
    def _id_param(self, ids: Sequence[int]) -> Any:
        """The bound value for :meth:`_id_list`."""

    @abc.abstractmethod
    def _facet_items(self, column: str) -> str:
        """A table function over a JSON array column, yielding ``value``."""

    @abc.abstractmethod
    def _contains(self, column: str, param: str) -> str:
        """SQL: the column contains the bound string ``:param``."""

    def _as_filter(self, column: str) -> str:
        """The column in a form that filters rows rather than drives an index."""
        return column

    def _sorted_sql(self, match: Match, condition: str, column: str, order: str) -> str:
        """Matches that meet ``condition``, by ``column`` then id, paged."""
        return (
            f"SELECT r.id FROM ({match.select(condition)}) AS c CROSS JOIN repos r "
            f"WHERE r.id = c.id ORDER BY r.{column} {order}, r.id {order} "
            "LIMIT :limit OFFSET :offset"
        )

    def _with_details(self, match: Match, tail: str) -> str:
        """Matches (limited by ``tail``) with the name, tags and downloads of each."""
        return (
            f"SELECT c.id, d.name, d.tags, r.downloads FROM ({match.select(tail)}) AS c "
            "CROSS JOIN search_documents d CROSS JOIN repos r "
            "WHERE d.repo_id = c.id AND r.id = c.id"
        )

    # -- maintenance ----------------------------------------------------

    def update(self, session: Session, repo: Repo, *, readme: str | None = None) -> None:
        row = session.get(SearchDocument, repo.id)
        body: str | None = None
        if readme is None:
            if row is not None:
                body = row.body
            else:
                readme = read_readme(session, self.blobs, self.tree_cache, repo)
        doc = build_document(
            kind=repo.kind,
            namespace=repo.namespace,
            name=repo.name,
            private=repo.private,
            card=_card(repo),
            tags=repo.tags,
            readme=readme or "",
            body=body,
        )
        if row is None:
            row = SearchDocument(repo_id=repo.id)
            session.add(row)
        else:
            old = _document_of(row)
            if old == doc:
                return
            self._unindex(session, repo.id, old)
        row.name, row.tags, row.body, row.meta, row.facets = (
            doc.name,
            doc.tags,
            doc.body,
            doc.meta,
            doc.facets,
        )
        session.flush()
        self._index(session, repo.id, doc)

    def remove(self, session: Session, repo_id: int) -> None:
        row = session.get(SearchDocument, repo_id)
        if row is None:
            return
        self._unindex(session, repo_id, _document_of(row))
        session.delete(row)
        session.flush()

    def index_missing(self, session: Session, batch: int = 500) -> int:
        # Documents reference repos, so equal counts mean nothing is missing.
        repos_count = session.scalar(select(func.count()).select_from(Repo))
        if repos_count == session.scalar(select(func.count()).select_from(SearchDocument)):
            return 0
        indexed = select(SearchDocument.repo_id).where(SearchDocument.repo_id == Repo.id)
        repos = list(session.scalars(select(Repo).where(~indexed.exists()).limit(batch)))
        for repo in repos:
            self.update(session, repo)
        return len(repos)

    def rebuild(self, session: Session, repo: Repo) -> None:
        self.remove(session, repo.id)
        self.update(session, repo, readme=read_readme(session, self.blobs, self.tree_cache, repo))

    def reset(self, session: Session) -> None:
        self._reset(session)
        session.execute(delete(SearchDocument))

    # -- searching ------------------------------------------------------

    def search(self, session: Session, query: SearchQuery) -> SearchResult:
        if query.kind not in (None, "model", "dataset"):
            raise ValueError(f"Unknown repository kind {query.kind!r}.")
        sort = _SORT_ALIASES.get(query.sort, query.sort)
        if sort not in SORTS:
            raise ValueError(f"Unknown sort {query.sort!r}; expected one of {SORTS}.")
        pieces = parse_text(query.text)
        if sort == "relevance" and not pieces:
            sort = "downloads"
        descending = sort == "relevance" or query.descending
        limit, offset = max(0, query.limit), max(0, query.offset)
        match = self._compile(query, pieces)
        if match.probe is not None and sort == "relevance":
            ids, total = self._by_relevance(session, match, pieces, limit, offset)
            return self._result(session, query, match, ids, total)
        total = self._count(session, match)
        if match.probe is None:  # no text, no filter: the repos table and its indexes
            ids = self._browse(session, query, sort, descending, limit, offset)
        elif sort == "id":
            ids = self._in_id_order(session, match, descending, limit, offset)
        else:
            ids = self._by_column(session, query, match, total, sort, descending, limit, offset)
        return self._result(session, query, match, ids, total)

    def _result(
        self, session: Session, query: SearchQuery, match: Match, ids: list[int], total: int
    ) -> SearchResult:
        facets = self._facets(session, match) if query.facets else {}
        hits = self._hits(session, query, ids)
        cap = self._count_cap()
        return SearchResult(hits, min(total, cap), total <= cap, facets, total <= FACET_CAP)

    def _rows(self, session: Session, sql: str, params: dict[str, Any]) -> list[Any]:
        return list(session.execute(text(sql), params))

    def _count(self, session: Session, match: Match) -> int:
        """Matches, counted up to the cap + 1 (which means "more")."""
        sql = f"SELECT count(*) FROM ({match.select('LIMIT :cap')}) AS matches"
        cap = self._count_cap() + 1
        return int(self._rows(session, sql, {**match.params, "cap": cap})[0][0])

    def _count_cap(self) -> int:
        return COUNT_CAP

    def _in_id_order(
        self, session: Session, match: Match, descending: bool, limit: int, offset: int
    ) -> list[int]:
        order = "DESC" if descending else "ASC"
        sql = match.select(f"ORDER BY {match.id} {order} LIMIT :limit OFFSET :offset")
        rows = self._rows(session, sql, {**match.params, "limit": limit, "offset": offset})
        return [r[0] for r in rows]

    def _by_relevance(
        self, session: Session, match: Match, pieces: list[Piece], limit: int, offset: int
    ) -> tuple[list[int], int]:
        """Rank the newest RANK_CAP matches; older matches follow, newest first.

        A piece scores 3 when it is in the repo id, else 2 in the tags, else 1 (it
        matched the card); ties go to the most downloaded. Returns the page and the
        total (counted separately only when there are RANK_CAP matches or more).
        """
        params: dict[str, Any] = {**match.params, "cap": RANK_CAP}
        scores = []
        for i, piece in enumerate(pieces):
            needle = piece.substring or piece.prefix
            needles = [needle] if needle else list(piece.words)
            names, tags = [], []
            for j, needle in enumerate(needles):
                params[f"n{i}_{j}"] = needle
                names.append(self._contains("c.name", f"n{i}_{j}"))
                tags.append(self._contains("c.tags", f"n{i}_{j}"))
            scores.append(
                f"CASE WHEN {' AND '.join(names)} THEN 3 "
                f"WHEN {' AND '.join(tags)} THEN 2 ELSE 1 END"
            )
        candidates = self._with_details(match, f"ORDER BY {match.id} DESC LIMIT :cap")
        sql = (
            f"SELECT c.id, count(*) OVER () FROM ({candidates}) AS c "
            f"ORDER BY {' + '.join(scores)} DESC, c.downloads DESC, c.id DESC "
            "LIMIT :limit OFFSET :offset"
        )
        rows = self._rows(session, sql, {**params, "limit": limit, "offset": offset})
        ids = [r[0] for r in rows]
        total = rows[0][1] if rows else RANK_CAP
        if total >= RANK_CAP:
            total = self._count(session, match)
        if len(ids) < limit and total > RANK_CAP:
            start = max(offset, RANK_CAP)
            ids += self._in_id_order(session, match, True, offset + limit - start, start)
        return ids, total

    def _by_column(
        self,
        session: Session,
        query: SearchQuery,
        match: Match,
        total: int,
        sort: str,
        descending: bool,
        limit: int,
        offset: int,
    ) -> list[int]:
        """Exact order by a repos column, in time that stays bounded as matches grow.

        Few matches: sort them all. Up to COUNT_CAP: keep only those among the top
        repositories by the column (an index scan), as many as should fill the page
        given the share of repositories that match, and widen until the page is full.
        More: walk the index and probe; if WALK_CAP rows are not enough, go back to
        the top repositories, starting past what the walk saw.
        """
        if total <= SORT_CAP:
            return self._sorted(session, match, sort, descending, limit, offset)
        repos = session.scalar(select(func.max(Repo.id))) or 0
        top = max(1, int(TOP_MARGIN * (offset + limit) * repos / max(total, 1)))
        if total > self._count_cap() and match.probe is not None:
            walked = self._walk(session, query, match.probe, sort, descending, limit, offset)
            if walked is not None:
                return walked
            top = max(top, 4 * WALK_CAP)
        while True:
            ids = self._sorted(session, match, sort, descending, limit, offset, top)
            if len(ids) == limit or top >= repos:
                return ids
            top *= 4

    def _sorted(
        self,
        session: Session,
        match: Match,
        sort: str,
        descending: bool,
        limit: int,
        offset: int,
        top: int | None = None,
    ) -> list[int]:
        """Matches sorted by the column. With ``top``, only those among the first
        ``top`` repositories in that order (one scan of the matches and an index scan;
        only the few survivors are joined); without, every match is joined to repos."""
        column = _SORT_COLUMNS[sort].key
        order = "DESC" if descending else "ASC"
        params = {**match.params, "limit": limit, "offset": offset}
        among = ""
        if top is not None:
            # Any kind, any visibility: the index alone answers, and the match filters.
            params["top"] = top
            among = (
                f"AND {self._as_filter(match.id)} IN (SELECT t.id FROM repos t "
                f"ORDER BY t.{column} {order}, t.id {order} LIMIT :top)"
            )
        sql = self._sorted_sql(match, among, column, order)
        return [r[0] for r in self._rows(session, sql, params)]

    def _walk(
        self,
        session: Session,
        query: SearchQuery,
        probe: Match,
        sort: str,
        descending: bool,
        limit: int,
        offset: int,
    ) -> list[int] | None:
        """Visible repos in sort order through the column's index, each batch tested
        with ``probe``; None when WALK_CAP rows did not fill the page."""
        base = _in_order(select(Repo.id).where(*_visible(query)), sort, descending)
        test = probe.select(f"AND {probe.id} IN ({self._id_list('batch')})")
        out: list[int] = []
        scanned, batch = 0, WALK_BATCH
        while scanned < WALK_CAP:
            ids = list(session.scalars(base.limit(batch).offset(scanned)))
            if ids:
                params = {**probe.params, "batch": self._id_param(ids)}
                matched = {r[0] for r in self._rows(session, test, params)}
                out += [i for i in ids if i in matched]
            if len(out) >= offset + limit or len(ids) < batch:
                return out[offset : offset + limit]
            scanned += batch
            batch = min(batch * 2, 4096)
        return None

    def _browse(
        self,
        session: Session,
        query: SearchQuery,
        sort: str,
        descending: bool,
        limit: int,
        offset: int,
    ) -> list[int]:
        """No text and no filter: visible repos through the column's index."""
        stmt = _in_order(select(Repo.id).where(*_visible(query)), sort, descending)
        return list(session.scalars(stmt.limit(limit).offset(offset)))

    def _facets(self, session: Session, match: Match) -> dict[str, list[tuple[str, int]]]:
        """Facet counts over the newest FACET_CAP matches."""
        sql = (
            "SELECT f.value, count(*) "
            f"FROM ({match.select(f'ORDER BY {match.id} DESC LIMIT :cap')}) AS c "
            f"CROSS JOIN search_documents d CROSS JOIN {self._facet_items('d.facets')} AS f "
            "WHERE d.repo_id = c.id GROUP BY f.value"
        )
        counts: dict[str, list[tuple[str, int]]] = {f: [] for f in FACETS}
        for item, count in self._rows(session, sql, {**match.params, "cap": FACET_CAP}):
            facet, _, value = str(item).partition("\t")
            if facet in counts:
                counts[facet].append((value, int(count)))
        return {
            facet: sorted(values, key=lambda kv: (-kv[1], kv[0]))[:FACET_VALUES]
            for facet, values in counts.items()
        }

    def _hits(self, session: Session, query: SearchQuery, ids: list[int]) -> list[SearchHit]:
        """The page, re-checked against the repos table (a second guard for privacy)."""
        if not ids:
            return []
        rows = session.execute(
            select(Repo.id, Repo.kind, Repo.namespace, Repo.name).where(
                Repo.id.in_(ids), *_visible(query)
            )
        ).all()
        found = {r.id: SearchHit(r.id, r.kind, f"{r.namespace}/{r.name}") for r in rows}
        return [found[i] for i in ids if i in found]


def _in_order(stmt: Select[Any], sort: str, descending: bool) -> Select[Any]:
    column = _SORT_COLUMNS[sort]
    if descending:
        return stmt.order_by(column.desc(), Repo.id.desc())
    return stmt.order_by(column, Repo.id)


def _card(repo: Repo) -> dict[str, Any]:
    try:
        data = json.loads(repo.card_data or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _document_of(row: SearchDocument) -> Document:
    return Document(row.name, row.tags, row.body, row.meta, row.facets)


def _visible(query: SearchQuery) -> list[ColumnElement[bool]]:
    """Kind and visibility as conditions on the repos table."""
    conditions: list[ColumnElement[bool]] = []
    if query.kind is not None:
        conditions.append(Repo.kind == query.kind)
    viewer = query.viewer
    if not viewer.is_admin:
        if viewer.namespaces:
            conditions.append(
                or_(Repo.private.is_(False), Repo.namespace.in_(sorted(viewer.namespaces)))
            )
        else:
            conditions.append(Repo.private.is_(False))
    return conditions


def _visible_sql(query: SearchQuery, alias: str) -> tuple[str, dict[str, Any]]:
    """Kind and visibility as SQL over ``repos {alias}``, with its parameters."""
    where, params = ["1 = 1"], dict[str, Any]()
    if query.kind is not None:
        where.append(f"{alias}.kind = :vis_kind")
        params["vis_kind"] = query.kind
    viewer = query.viewer
    if not viewer.is_admin:
        visible = [f"{alias}.private = :vis_false"]
        params["vis_false"] = False
        for i, namespace in enumerate(sorted(viewer.namespaces)):
            visible.append(f"{alias}.namespace = :vis_ns{i}")
            params[f"vis_ns{i}"] = namespace
        where.append("(" + " OR ".join(visible) + ")")
    return " AND ".join(where), params


def _required_tokens(query: SearchQuery) -> list[str]:
    """Filter tokens every match must hold (kind and visibility are separate)."""
    filters = query.facet_filters()
    filters.pop("type", None)
    tokens = [filter_token(f, v) for f, v in sorted(filters.items())]
    tokens += [filter_token("tag", t) for t in dict.fromkeys(query.tags) if t]
    return tokens


# ---------------------------------------------------------------------------
# SQLite: FTS5


def _fts_string(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


class SqliteSearchIndex(_SqlSearchIndex):
    """FTS5, contentless (``search_documents`` holds the text), id-ordered walks.

    Columns: ``name``, ``tags``, ``body`` (words), ``grams`` (the id's trigrams,
    hex-encoded so each is one token and a phrase of them is a substring match, and
    the 2-character starts of its words), ``meta`` (filter tokens, and ``vpriv``).
    Kind and visibility are in the match, so every cap counts only what the viewer
    may see. The grams are derived from ``name`` when a document is removed, so a
    change to :func:`fts_columns` needs an index rebuild (a migration).
    """

    TABLE = "search_fts"

    def _index(self, session: Session, repo_id: int, doc: Document) -> None:
        session.execute(
            text(
                f"INSERT INTO {self.TABLE}(rowid, name, tags, body, grams, meta) "
                "VALUES (:id, :name, :tags, :body, :grams, :meta)"
            ),
            {"id": repo_id, **fts_columns(doc)},
        )

    def _unindex(self, session: Session, repo_id: int, doc: Document) -> None:
        session.execute(
            text(
                f"INSERT INTO {self.TABLE}({self.TABLE}, rowid, name, tags, body, grams, meta) "
                "VALUES ('delete', :id, :name, :tags, :body, :grams, :meta)"
            ),
            {"id": repo_id, **fts_columns(doc)},
        )

    def _reset(self, session: Session) -> None:
        # A contentless table can only forget a row given exactly what was indexed;
        # this forgets everything, whatever that was.
        session.execute(text(f"INSERT INTO {self.TABLE}({self.TABLE}) VALUES ('delete-all')"))

    def _compile(self, query: SearchQuery, pieces: list[Piece]) -> Match:
        required = _required_tokens(query)
        core = [f"({fts_piece(p)})" for p in pieces]
        core += [f"{{meta}} : {_fts_string(t)}" for t in required]
        datasets = f"{{meta}} : {_fts_string(filter_token('type', 'dataset'))}"
        models = f"{{meta}} : {_fts_string(filter_token('type', 'model'))}"
        parts = list(core)
        if query.kind == "dataset":
            parts.append(datasets)
        elif not core:  # every document has one of the two
            parts.append(models if query.kind == "model" else f"({models} OR {datasets})")
        expression = " AND ".join(parts)
        if query.kind == "model" and core:
            # Models are the many: skipping the few datasets is cheaper than
            # intersecting with every model.
            expression = f"({expression}) NOT {datasets}"
        viewer = query.viewer
        if not viewer.is_admin:
            hidden = f"{{meta}} : {_fts_string(PRIVATE_TOKEN)}"
            if viewer.namespaces:
                mine = " OR ".join(
                    _fts_string(filter_token("author", ns)) for ns in sorted(viewer.namespaces)
                )
                hidden = f"{hidden} NOT {{meta}} : ({mine})"
            expression = f"({expression}) NOT ({hidden})"
        probe = self._probe(pieces, required) if core else None
        where = f"{self.TABLE} MATCH :match"
        return Match(self.TABLE, where, "rowid", {"match": expression}, probe)

    def _id_list(self, param: str) -> str:
        return f"SELECT value FROM json_each(:{param})"

    def _id_param(self, ids: Sequence[int]) -> Any:
        return json.dumps(list(ids))

    def _facet_items(self, column: str) -> str:
        return f"json_each({column})"

    def _contains(self, column: str, param: str) -> str:
        return f"instr({column}, :{param}) > 0"

    def _as_filter(self, column: str) -> str:
        return f"+{column}"  # not a constraint FTS5 would look up row by row

    def _probe(self, pieces: list[Piece], required: list[str]) -> Match:
        """The text and filters for a batch of ids (``:batch``). FTS5 looks up each id
        separately, at a cost that grows with every phrase, so substrings are tested on
        the stored id instead of as phrases of trigrams."""
        batch = self._id_list("batch")
        params: dict[str, Any] = {}
        conditions = []

        def in_fts(key: str, expression: str) -> str:
            params[key] = expression
            return (
                f"d.repo_id IN (SELECT rowid FROM {self.TABLE} "
                f"WHERE {self.TABLE} MATCH :{key} AND rowid IN ({batch}))"
            )

        for i, piece in enumerate(pieces):
            options = []
            words = fts_piece(dataclasses.replace(piece, substring=None))
            if words:
                options.append(in_fts(f"probe{i}", words))
            if piece.substring:
                params[f"probe_sub{i}"] = piece.substring
                options.append(self._contains("d.name", f"probe_sub{i}"))
            conditions.append("(" + " OR ".join(options) + ")")
        if required:
            tokens = " AND ".join(_fts_string(t) for t in required)
            conditions.append(in_fts("probe_req", f"{{meta}} : ({tokens})"))
        return Match("search_documents d", " AND ".join(conditions), "d.repo_id", params)


def fts_columns(doc: Document) -> dict[str, str]:
    """The values of the FTS5 table's columns for a document.

    ``grams`` is derived from the name: its trigrams in order (a phrase of them is a
    substring), then the 2-character starts of its words.
    """
    grams = [_gram_token(g) for g in trigrams(doc.name)]
    grams += dict.fromkeys(_prefix_token(w[:2]) for w in words_of(doc.name) if len(w) >= 2)
    return {
        "name": doc.name,
        "tags": doc.tags,
        "body": doc.body,
        "grams": " ".join(grams),
        "meta": doc.meta,
    }


def _gram_token(gram: str) -> str:
    return "g" + gram.encode().hex()


def _prefix_token(start: str) -> str:
    return "p" + start.encode().hex()


def fts_piece(piece: Piece) -> str:
    """One piece as an FTS5 expression; every word is quoted, so input is never syntax."""
    options = []
    if piece.words:
        if piece.phrase:
            words = f"{{name tags body}} : {_fts_string(' '.join(piece.words))}"
        else:
            quoted = " AND ".join(_fts_string(w) for w in piece.words)
            words = f"{{name tags body}} : ({quoted})"
        options.append(words)
    if piece.prefix:
        options.append(f"{{grams}} : {_fts_string(_prefix_token(piece.prefix))}")
    if piece.substring:
        grams = " ".join(_gram_token(g) for g in trigrams(piece.substring))
        options.append(f"{{grams}} : {_fts_string(grams)}")
    return " OR ".join(f"({o})" for o in options)


# ---------------------------------------------------------------------------
# PostgreSQL: tsvector + GIN, pg_trgm


class PostgresSearchIndex(_SqlSearchIndex):
    """Generated tsvector columns with GIN indexes: ``document`` (name weighted A,
    tags B, card C) and ``filters`` (the filter tokens), and a pg_trgm GIN index on
    ``name`` for substrings. Kind and visibility are conditions on the joined repos
    row. Weights are only queried for 2-character id prefixes: a weighted query
    makes PostgreSQL recheck every candidate row."""

    def _count_cap(self) -> int:
        # Counting costs more here (each row is fetched and rechecked): stop sooner.
        return min(COUNT_CAP, PG_COUNT_CAP)

    def search(self, session: Session, query: SearchQuery) -> SearchResult:
        # The same SQL text runs for rare and common terms; a generic plan (which
        # psycopg's automatic prepared statements lead to) suits one and ruins the
        # other, so plan each with its parameters (PostgreSQL 12+).
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        return super().search(session, query)

    def _index(self, session: Session, repo_id: int, doc: Document) -> None:
        """The generated column and its indexes follow the row."""

    def _unindex(self, session: Session, repo_id: int, doc: Document) -> None:
        """Nothing: the row's own update or delete takes the index with it."""

    def _reset(self, session: Session) -> None:
        """Nothing: deleting the rows empties the index."""

    def _compile(self, query: SearchQuery, pieces: list[Piece]) -> Match:
        core: list[str] = []
        params: dict[str, Any] = {}
        for i, piece in enumerate(pieces):
            options = []
            if piece.words:
                params[f"q{i}"] = ts_piece(piece)
                options.append(f"d.document @@ to_tsquery('simple', :q{i})")
            if piece.prefix:
                params[f"p{i}"] = f"'{piece.prefix}':*A"
                options.append(f"d.document @@ to_tsquery('simple', :p{i})")
            if piece.substring:
                escaped = piece.substring.replace("\\", "\\\\").replace("_", "\\_")
                params[f"s{i}"] = f"%{escaped}%"
                options.append(f"d.name LIKE :s{i}")
            core.append("(" + " OR ".join(options) + ")")
        required = _required_tokens(query)
        if required:
            params["req"] = " & ".join(f"'{t}'" for t in required)
            core.append("d.filters @@ to_tsquery('simple', :req)")
        visible, more = _visible_sql(query, "r")
        params.update(more)
        if not core:
            return Match("repos r", visible, "r.id", params)
        probe = Match("search_documents d", " AND ".join(core), "d.repo_id", params)
        source = "search_documents d JOIN repos r ON r.id = d.repo_id"
        return Match(source, " AND ".join([*core, visible]), "d.repo_id", params, probe)

    def _id_list(self, param: str) -> str:
        return f"SELECT unnest(CAST(:{param} AS integer[]))"

    def _id_param(self, ids: Sequence[int]) -> Any:
        return list(ids)

    def _facet_items(self, column: str) -> str:
        return f"json_array_elements_text(CAST({column} AS json))"

    def _contains(self, column: str, param: str) -> str:
        return f"strpos({column}, :{param}) > 0"

    def _sorted_sql(self, match: Match, condition: str, column: str, order: str) -> str:
        # The match joins repos r already. "OFFSET 0" keeps the planner from walking
        # the column's index in the hope of meeting matches soon: this runs when
        # they are known to be few, or restricted to the top repositories.
        return (
            f"SELECT id FROM (SELECT r.id, r.{column} AS k FROM {match.source} "
            f"WHERE {match.where} {condition} OFFSET 0) AS m "
            f"ORDER BY k {order}, id {order} LIMIT :limit OFFSET :offset"
        )

    def _with_details(self, match: Match, tail: str) -> str:
        if match.source == "repos r":
            return super()._with_details(match, tail)
        # The match already joins both tables; joining again invites a hash join.
        return (
            f"SELECT {match.id} AS id, d.name, d.tags, r.downloads "
            f"FROM {match.source} WHERE {match.where} {tail}"
        )


def ts_piece(piece: Piece) -> str:
    """One piece's words as tsquery text (each quoted; they hold letters and digits only)."""
    return (" <-> " if piece.phrase else " & ").join(f"'{w}'" for w in piece.words)
