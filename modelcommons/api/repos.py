"""Repository lifecycle and metadata: create, delete, move, settings, info, list."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from .. import accounts, community
from ..accounts import roles
from ..db.schema import Repo
from ..errors import BadRequest, HubError, RepoNotFound, Unauthorized
from ..governance import access, gating, lifecycle
from ..governance.cards import check_card, parse_front_matter
from ..governance.content import RevisionContent
from ..search import SearchQuery, Viewer
from ..server.responses import iso, json_response
from ..server.routing import Ctx
from ..storage import repos
from ..storage.trees import FileInfo, TreeReader
from ..validation.names import URL_PREFIX, check_repo_id, repo_type_from_body
from . import security
from .common import flag, load_repo, next_cursor, read_json, read_page, repo_kind, repo_url


def whoami(ctx: Ctx) -> Response:
    if ctx.principal is None:
        raise Unauthorized("Invalid user token: no token was sent.")
    with ctx.hub.db.read() as session:
        user = accounts.get_account(session, ctx.principal.name)
        roles = accounts.org_roles(session, user.id)
        fullnames = accounts.org_fullnames(session, user.id)
    return json_response(
        {
            "type": "user",
            "id": str(user.id),
            "name": user.name,
            "fullname": user.fullname,
            "email": user.email,
            "isAdmin": user.is_admin,
            "orgs": [
                {"type": "org", "name": n, "fullname": fullnames.get(n, n), "roleInOrg": r}
                for n, r in sorted(roles.items())
            ],
            "auth": {
                "type": "access_token",
                "accessToken": {
                    "displayName": ctx.principal.token_name,
                    "role": ctx.principal.token_role,
                    **(
                        {
                            "fineGrained": {
                                "scoped": sorted(ctx.principal.scope.entities),
                                "permissions": sorted(ctx.principal.scope.permissions),
                            }
                        }
                        if ctx.principal.scope
                        else {}
                    ),
                },
            },
        }
    )


def _private(body: dict[str, Any]) -> bool | None:
    if "visibility" in body and body["visibility"] is not None:
        if body["visibility"] not in ("public", "private"):
            raise BadRequest(f"Unsupported visibility {body['visibility']!r}.")
        return bool(body["visibility"] == "private")
    if "private" in body and body["private"] is not None:
        return bool(body["private"])
    return None


async def create(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    kind = repo_type_from_body(body.get("type"))
    if ctx.principal is None:
        raise Unauthorized("You must be authenticated to create a repository.")
    namespace = body.get("organization") or ctx.principal.name
    name = body.get("name")
    if not isinstance(name, str) or not isinstance(namespace, str):
        raise BadRequest("'name' (and 'organization', if given) must be strings.")
    private = _private(body)  # None: the namespace's default

    def work() -> Response:
        try:
            with ctx.hub.db.write() as session:
                repo = lifecycle.create(
                    ctx.hub, session, ctx.principal, kind, namespace, name, private=private
                )
                return json_response(
                    {"url": repo_url(ctx, repo), "name": repo.repo_id, "id": str(repo.id)}
                )
        except lifecycle.RepoExists as exc:
            # The client's exist_ok reads the url from this 409's body. RepoExists is
            # raised only for a repository the caller may read (lifecycle._name_free).
            url = ctx.url(f"/{URL_PREFIX[exc.kind]}{exc.repo_id}")
            raise HubError(exc.message, status=409, code="RepoExists", extra={"url": url}) from exc

    return await ctx.run(work)


async def delete(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    kind = repo_type_from_body(body.get("type"))
    namespace = body.get("organization") or (ctx.principal.name if ctx.principal else "")
    name = str(body.get("name") or "")

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = repos.get_repo(session, kind, str(namespace), name)
            lifecycle.delete(ctx.hub, session, ctx.principal, repo)
        return json_response({"deleted": True})

    return await ctx.run(work)


async def move(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    kind = repo_type_from_body(body.get("type"))
    src_ns, src_name = check_repo_id(str(body.get("fromRepo", "")))
    target = str(body.get("toRepo", ""))

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = repos.get_repo(session, kind, src_ns, src_name)
            lifecycle.move(ctx.hub, session, ctx.principal, repo, target)
            return json_response({"url": repo_url(ctx, repo)})

    return await ctx.run(work)


def _access_seconds(body: dict[str, Any]) -> int | bool | None:
    """``gated_access_days`` (our extension): a positive number, or null for no expiry."""
    if "gated_access_days" not in body:
        return False
    days = body["gated_access_days"]
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int | float) or not 0 < days <= 36500:
        raise BadRequest("'gated_access_days' must be a number of days (up to 36500) or null.")
    return max(round(days * 86400), 1)


async def settings(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    private = _private(body)
    mode = gating.parse_mode(body["gated"]) if "gated" in body else None
    seconds = _access_seconds(body)
    no_discussions = body.get("discussionsDisabled")
    if no_discussions is not None and not isinstance(no_discussions, bool):
        raise BadRequest("'discussionsDisabled' must be true or false.")

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="admin")
            if no_discussions is not None:
                community.set_discussions_disabled(session, repo, no_discussions)
            if private is not None:
                lifecycle.set_visibility(ctx.hub, session, ctx.principal, repo, private=private)
            if mode is not None or seconds is not False:
                gating.set_mode(
                    ctx.hub, session, ctx.principal, repo, mode=mode, access_seconds=seconds
                )
            now = gating.mode_of(session, repo)
            return json_response(
                {
                    "private": repo.private,
                    "gated": False if now == "off" else now,
                    "discussionsDisabled": community.discussions_disabled(session, repo),
                }
            )

    return await ctx.run(work)


def _siblings(reader: TreeReader, view: RevisionContent, blobs: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    walked = view.listed(reader, reader.walk(view.commit.tree_oid, "", recursive=True))
    for entry in reader.describe(walked):
        if not isinstance(entry, FileInfo):
            continue
        item: dict[str, Any] = {"rfilename": entry.path}
        if blobs:
            item["size"] = entry.size
            item["blobId"] = entry.oid
            if entry.lfs:
                item["lfs"] = {
                    "size": entry.size,
                    "sha256": entry.sha256,
                    "pointerSize": entry.pointer_size,
                }
        out.append(item)
    return out


def info_document(
    ctx: Ctx,
    session: Session,
    repo: Repo,
    *,
    view: RevisionContent | None = None,
    blobs: bool = False,
    siblings: bool = True,
    card: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON the client reads into ModelInfo / DatasetInfo; with a revision
    (``view``, from ``access.content``), its sha and the files the caller may see."""
    card = repos.card_of(repo) if card is None else card
    doc: dict[str, Any] = {
        "_id": str(repo.id),
        "id": repo.repo_id,
        "author": repo.namespace,
        "private": repo.private,
        "gated": False if (gated := gating.mode_of(session, repo)) == "off" else gated,
        "disabled": False,
        "downloads": repo.downloads,
        "downloadsAllTime": repo.downloads,
        "likes": repo.likes,
        "tags": repo.tags.split(),
        "createdAt": iso(repo.created_at),
        "lastModified": iso(repo.updated_at),
        "cardData": card,
    }
    if repo.kind == "model":
        doc["library_name"] = card.get("library_name")
        doc["pipeline_tag"] = card.get("pipeline_tag")
        doc["modelId"] = repo.repo_id
    if view is not None:
        doc["sha"] = view.sha
        doc["lastModified"] = iso(view.commit.created_at)
        if siblings:
            reader = TreeReader(session, ctx.hub.tree_cache)
            doc["siblings"] = _siblings(reader, view, blobs)
    return doc


def info(ctx: Ctx) -> Response:
    q = ctx.request.query_params
    expand = q.getlist("expand") + q.getlist("expand[]")
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        view = access.content(session, ctx.principal, repo).at(
            ctx.params.get("rev", repos.DEFAULT_BRANCH)
        )
        card = None
        if "rev" in ctx.params and ctx.params["rev"] != repos.DEFAULT_BRANCH:
            card = _card_at(ctx, session, view)
        doc = info_document(ctx, session, repo, view=view, blobs=flag(q.get("blobs")), card=card)
        if flag(q.get("securityStatus")) or "securityRepoStatus" in expand:
            reader = TreeReader(session, ctx.hub.tree_cache)
            doc["securityRepoStatus"] = security.repo_status_json(session, reader, repo, view)
    if expand:
        doc = {k: v for k, v in doc.items() if k in expand or k in ("id", "_id")}
    return json_response(doc)


def _card_at(ctx: Ctx, session: Session, view: RevisionContent) -> dict[str, Any]:
    """The card's metadata at a revision, when the caller may read README.md there."""
    readme = TreeReader(session, ctx.hub.tree_cache).file(view.commit.tree_oid, "README.md")
    if readme is None or readme.size > 1024 * 1024 or not view.downloadable("README.md"):
        return {}
    with ctx.hub.blobs.open(readme.sha256) as f:
        try:
            return parse_front_matter(f.read().decode("utf-8", "replace"))
        except HubError:
            return {}


#: The clients' sort names, as :mod:`modelcommons.search` sorts.
SORTS = {
    "downloads": "downloads",
    "likes": "likes",
    "lastModified": "lastModified",
    "last_modified": "lastModified",
    "createdAt": "createdAt",
    "created_at": "createdAt",
    "trendingScore": "downloads",
    "trending_score": "downloads",
    "id": "id",
}


def list_repos(ctx: Ctx) -> Response:
    """GET /api/models and /api/datasets, with search, author, filter, sort and paging.

    ``search`` matches words of the id, tags and card, or a substring of the id
    (see :mod:`modelcommons.search`). Without ``sort`` the order is relevance when
    there is a search, else creation order.
    """
    q = ctx.request.query_params
    if ctx.params.get("t") == "spaces":
        return json_response([])  # this hub hosts no Spaces (see no_spaces)
    kind = repo_kind(ctx)
    offset, limit = read_page(ctx, ctx.hub.settings.page_size)
    text = " ".join(q.getlist("search"))
    if q.get("sort") is None:
        sort, descending = ("relevance" if text.strip() else "id"), False
    elif q["sort"] in SORTS:
        sort, descending = SORTS[q["sort"]], q.get("direction") != "1"
    else:
        raise BadRequest(f"Unsupported sort {q.get('sort')!r}.")
    tags = q.getlist("filter") + [v for key in ("pipeline_tag", "library") for v in q.getlist(key)]
    with ctx.hub.db.read() as session:
        query = SearchQuery(
            text=text,
            kind=kind,
            author=q.get("author") or None,
            tags=tuple(tags),
            sort=sort,
            descending=descending,
            limit=limit + 1,
            offset=max(offset, 0),
            viewer=Viewer.for_principal(session, ctx.principal),
        )
        ids = ctx.hub.search.search(session, query).ids
        loaded = {r.id: r for r in session.scalars(select(Repo).where(Repo.id.in_(ids)))}
        rows = [loaded[i] for i in ids if i in loaded]
        full = flag(q.get("full"))
        docs = []
        for repo in rows[:limit]:
            doc = info_document(ctx, session, repo, siblings=False)
            if not flag(q.get("cardData")) and not full:
                doc.pop("cardData")
            if full:
                try:
                    view = access.content(session, ctx.principal, repo).at(repos.DEFAULT_BRANCH)
                except HubError:
                    view = None  # no main branch, or one closed to the caller: no files
                if view is not None:
                    doc = info_document(ctx, session, repo, view=view)
            docs.append(doc)
    headers = next_cursor(ctx, offset + limit) if len(rows) > limit else {}
    return json_response(docs, headers=headers)


async def validate_yaml(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    content = body.get("content", "")
    if not isinstance(content, str):
        raise BadRequest("'content' must be the README text.")
    errors, warnings = check_card(content)
    return json_response(
        {
            "errors": [{"message": m} for m in errors],
            "warnings": [{"message": m} for m in warnings],
        },
        status=400 if errors else 200,
    )


def auth_check(ctx: Ctx) -> Response:
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        access.content(session, ctx.principal, repo).require_download_all()
        can_write = roles.can_write(session, ctx.principal, repo)
    return json_response({"access": "write" if can_write else "read"})


def not_hosted(ctx: Ctx) -> Response:
    raise RepoNotFound(f"{ctx.params.get('ns', '')}/{ctx.params.get('name', '')}")


def no_spaces(ctx: Ctx) -> Response:
    """Any other call about a Space: this hub hosts models and datasets, so every
    Space id names a repository that does not exist here (the client raises
    ``RepositoryNotFoundError``, as for a missing model)."""
    raise RepoNotFound(
        f"Space {ctx.params['ns']}/{ctx.params['name']} not found: this hub hosts models "
        "and datasets, not Spaces."
    )
