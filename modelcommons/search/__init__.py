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

**The modules.** ``query`` (the query, the results and the :class:`SearchIndex`
interface), ``documents`` (what is indexed), ``engine`` (the plan above, shared),
``sqlite`` and ``postgres`` (the engines). The names below are the package's surface.

May import: ``governance`` (cards), ``accounts``, ``storage``, ``db`` and the
foundation modules. Never the HTTP layers, ``jobs`` or ``cli``.
"""

from ..storage.blobs import BlobStore
from ..storage.trees import TreeCache
from .documents import MAX_BODY_CHARS
from .postgres import PostgresSearchIndex, ts_piece
from .query import (
    ANONYMOUS,
    FACETS,
    SORTS,
    Piece,
    SearchHit,
    SearchIndex,
    SearchQuery,
    SearchResult,
    Viewer,
    parse_text,
)
from .sqlite import SqliteSearchIndex, fts_piece

__all__ = [
    "ANONYMOUS",
    "FACETS",
    "MAX_BODY_CHARS",
    "SORTS",
    "Piece",
    "PostgresSearchIndex",
    "SearchHit",
    "SearchIndex",
    "SearchQuery",
    "SearchResult",
    "SqliteSearchIndex",
    "Viewer",
    "fts_piece",
    "open_search_index",
    "parse_text",
    "ts_piece",
]


def open_search_index(dialect: str, blobs: BlobStore, tree_cache: TreeCache) -> SearchIndex:
    if dialect == "postgresql":
        return PostgresSearchIndex(blobs, tree_cache)
    if dialect == "sqlite":
        return SqliteSearchIndex(blobs, tree_cache)
    raise ValueError(f"No search engine for the {dialect!r} database.")
