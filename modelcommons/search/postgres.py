"""The PostgreSQL engine: a tsvector with a GIN index, and pg_trgm for id substrings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from . import engine
from .documents import Document
from .engine import Match, SqlSearchIndex, required_tokens, visible_sql
from .query import Piece, SearchQuery, SearchResult

#: PostgreSQL counts up to this many (fewer: counting there costs more per row).
PG_COUNT_CAP = 5_000


class PostgresSearchIndex(SqlSearchIndex):
    """Generated tsvector columns with GIN indexes: ``document`` (name weighted A,
    tags B, card C) and ``filters`` (the filter tokens), and a pg_trgm GIN index on
    ``name`` for substrings. Kind and visibility are conditions on the joined repos
    row. Weights are only queried for 2-character id prefixes: a weighted query
    makes PostgreSQL recheck every candidate row."""

    def _count_cap(self) -> int:
        # Counting costs more here (each row is fetched and rechecked): stop sooner.
        return min(engine.COUNT_CAP, PG_COUNT_CAP)

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
        required = required_tokens(query)
        if required:
            params["req"] = " & ".join(f"'{t}'" for t in required)
            core.append("d.filters @@ to_tsquery('simple', :req)")
        visible, more = visible_sql(query, "r")
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
