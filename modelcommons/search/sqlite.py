"""The SQLite engine: FTS5 over words, tags, trigram and prefix tokens of the repository id."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from .documents import PRIVATE_TOKEN, Document
from .engine import Match, SqlSearchIndex, required_tokens
from .query import Piece, SearchQuery, filter_token, trigrams, words_of


def _fts_string(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


class SqliteSearchIndex(SqlSearchIndex):
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
        required = required_tokens(query)
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
