"""The search plan both SQL engines follow, with its bounded-cost strategies (see the
package's docstring); each engine supplies its own SQL pieces."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, or_, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from ..db.schema import Repo, SearchDocument
from ..storage.blobs import BlobStore
from ..storage.trees import TreeCache
from .documents import (
    Document,
    build_document,
    card_of,
    document_of,
    read_readme,
    shown_library,
)
from .query import (
    FACETS,
    SORT_ALIASES,
    SORTS,
    Piece,
    SearchHit,
    SearchQuery,
    SearchResult,
    filter_token,
    parse_text,
)

#: Matches counted per query; ``total`` is exact up to this.
COUNT_CAP = 20_000


#: Newest matches ranked by relevance; older ones follow in id order.
RANK_CAP = 2_000


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


_SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "downloads": Repo.downloads,
    "likes": Repo.likes,
    "lastModified": Repo.updated_at,
    "createdAt": Repo.created_at,
    "id": Repo.id,
}


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


class SqlSearchIndex(abc.ABC):
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
        card = card_of(repo)
        doc = build_document(
            kind=repo.kind,
            namespace=repo.namespace,
            name=repo.name,
            private=repo.private,
            card=card,
            tags=repo.tags,
            readme=readme or "",
            body=body,
            library=None
            if card.get("library_name")
            else shown_library(session, self.tree_cache, repo),
        )
        if row is None:
            row = SearchDocument(repo_id=repo.id)
            session.add(row)
        else:
            old = document_of(row)
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
        self._unindex(session, repo_id, document_of(row))
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
        sort = SORT_ALIASES.get(query.sort, query.sort)
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


def visible_sql(query: SearchQuery, alias: str) -> tuple[str, dict[str, Any]]:
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


def required_tokens(query: SearchQuery) -> list[str]:
    """Filter tokens every match must hold (kind and visibility are separate)."""
    filters = query.facet_filters()
    filters.pop("type", None)
    tokens = [filter_token(f, v) for f, v in sorted(filters.items())]
    tokens += [filter_token("tag", t) for t in dict.fromkeys(query.tags) if t]
    return tokens
