"""The search page: full text, facets, sorting and paging over the same engine
that answers ``/api/models`` and ``/api/datasets``."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlencode

from sqlalchemy import select
from starlette.responses import Response

from ...db.schema import Repo
from ...search import SearchQuery, Viewer
from ...server.routing import Ctx
from ...validation.inputs import query_int
from ..templating import render
from ..views import RepoCard

PAGE = 20
FACETS = (
    ("type", "Type"),
    ("task", "Task"),
    ("library", "Library"),
    ("license", "License"),
    ("language", "Language"),
    ("author", "Author"),
)
SORTS = (
    ("relevance", "Most relevant"),
    ("downloads", "Most downloads"),
    ("likes", "Most likes"),
    ("lastModified", "Recently updated"),
    ("createdAt", "Recently created"),
)


@dataclasses.dataclass(frozen=True)
class FacetValue:
    value: str
    count: int
    url: str
    active: bool


def search(ctx: Ctx) -> Response:
    q = ctx.request.query_params
    kind = ctx.params.get("kind") or q.get("type") or None
    if kind not in ("model", "dataset", None):
        kind = None
    text = (q.get("q") or "").strip()[:256]
    sort = q.get("sort") or ("relevance" if text else "downloads")
    if sort not in dict(SORTS):
        sort = "downloads"
    page = query_int(q, "p", 0)
    filters = {key: q[key] for key, _ in FACETS if q.get(key) and key != "type"}
    base_params = {k: v for k, v in q.items() if k not in ("p",)}
    if kind:
        base_params["type"] = kind
    path = "/search"

    def link(**changes: str | None) -> str:
        params = dict(base_params)
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        params.pop("p", None)
        return f"{path}?{urlencode(params)}"

    with ctx.hub.db.read() as session:
        viewer = Viewer.for_principal(session, ctx.principal)
        result = ctx.hub.search.search(
            session,
            SearchQuery(
                text=text,
                kind=kind,
                author=filters.get("author"),
                task=filters.get("task"),
                library=filters.get("library"),
                license=filters.get("license"),
                language=filters.get("language"),
                sort=sort,
                limit=PAGE + 1,
                offset=page * PAGE,
                viewer=viewer,
                facets=True,
            ),
        )
        rows = {
            r.id: r for r in session.scalars(select(Repo).where(Repo.id.in_(result.ids[:PAGE])))
        }
        cards = [RepoCard.of(rows[i]) for i in result.ids[:PAGE] if i in rows]
    current = {**filters, **({"type": kind} if kind else {})}
    facets = []
    for key, label in FACETS:
        values = [
            FacetValue(
                v, n, link(**{key: None if current.get(key) == v else v}), current.get(key) == v
            )
            for v, n in result.facets.get(key, [])[:12]
        ]
        if values:
            facets.append((label, values))
    more = len(result.ids) > PAGE
    return render(
        ctx,
        "search.html",
        title=f"{text or 'Search'} · Model Commons",
        query=text,
        results=cards,
        facets=facets,
        total=result.total,
        exact=result.total_is_exact,
        sorts=SORTS,
        sort=sort,
        kind=kind,
        filters=current,
        page=page,
        prev_url=f"{path}?{urlencode({**base_params, 'p': page - 1})}" if page else None,
        next_url=f"{path}?{urlencode({**base_params, 'p': page + 1})}" if more else None,
        clear_urls=[(k, v, link(**{k: None})) for k, v in current.items()],
    )


def models(ctx: Ctx) -> Response:
    ctx.params["kind"] = "model"
    return search(ctx)


def datasets(ctx: Ctx) -> Response:
    ctx.params["kind"] = "dataset"
    return search(ctx)
