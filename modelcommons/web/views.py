"""Small view models the templates read: repositories as cards, paths as crumbs."""

from __future__ import annotations

import dataclasses
import datetime as dt
from urllib.parse import quote

from ..db.schema import Repo
from ..validation.names import URL_PREFIX


@dataclasses.dataclass(frozen=True)
class RepoCard:
    repo_id: str
    kind: str
    url: str
    private: bool
    pipeline_tag: str | None
    updated_at: dt.datetime
    downloads: int
    likes: int

    @classmethod
    def of(cls, repo: Repo) -> RepoCard:
        import json

        card = json.loads(repo.card_data or "{}")
        tag = card.get("pipeline_tag") if isinstance(card, dict) else None
        return cls(
            repo_id=repo.repo_id,
            kind=repo.kind,
            url=repo_path(repo),
            private=repo.private,
            pipeline_tag=tag if isinstance(tag, str) else None,
            updated_at=repo.updated_at,
            downloads=repo.downloads,
            likes=repo.likes,
        )


def repo_path(repo: Repo) -> str:
    return f"/{URL_PREFIX[repo.kind]}{repo.repo_id}"


def rev_segment(rev: str) -> str:
    return quote(rev, safe="")


def path_segment(path: str) -> str:
    return quote(path, safe="/")


@dataclasses.dataclass(frozen=True)
class Crumb:
    name: str
    url: str


def crumbs(base: str, rev: str, path: str) -> list[Crumb]:
    out = [Crumb("root", f"{base}/tree/{rev_segment(rev)}")]
    parts = [p for p in path.split("/") if p]
    for i, part in enumerate(parts):
        out.append(
            Crumb(part, f"{base}/tree/{rev_segment(rev)}/{path_segment('/'.join(parts[: i + 1]))}")
        )
    return out
