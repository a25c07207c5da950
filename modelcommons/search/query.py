"""What a search asks and answers: the query, the viewer it runs for, the results, the
interface every engine implements, and how query text becomes pieces and words."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Protocol

from sqlalchemy.orm import Session

from ..accounts import Principal, roles
from ..db.schema import Repo

FACETS = ("type", "task", "library", "license", "language", "author")


SORTS = ("relevance", "downloads", "likes", "lastModified", "createdAt", "id")


SORT_ALIASES = {
    "trendingScore": "downloads",
    "trending_score": "downloads",
    "last_modified": "lastModified",
    "created_at": "createdAt",
}


_WORD = re.compile(r"[^\W_]+")


_PIECE = re.compile(r'"([^"]*)"|(\S+)')


_ID_CHARS = re.compile(r"[a-z0-9._/-]+")


_MAX_QUERY_CHARS = 256


_MAX_PIECES = 8


_MAX_WORDS = 16


_MAX_WORD_CHARS = 64


_MAX_ID_CHARS = 193  # 96 + "/" + 96


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
