"""Making things from the browser: new repositories, uploads, card edits,
settings and likes. Every write goes through the same machinery as the API."""

from __future__ import annotations

import hashlib

from starlette.responses import Response

from ... import accounts, audit
from ...accounts import roles
from ...api.common import load_repo
from ...api.likes import toggle_like
from ...db.schema import GatingSetting, Repo
from ...errors import HubError
from ...governance import access, gating, lifecycle, releases
from ...server.routing import Ctx
from ...storage.commits import AddFile, CommitRequest, StoredContent
from ...storage.gitobjects import object_id
from ...storage.trees import TreeReader
from ...validation.names import check_path
from ..forms import field, read_form, require_user
from ..templating import redirect, render
from ..views import repo_path
from .repository import page_context


def _owners(ctx: Ctx) -> list[str]:
    me = require_user(ctx)
    with ctx.hub.db.read() as session:
        memberships = accounts.org_roles(session, me.user_id)
    return [me.name, *sorted(n for n, r in memberships.items() if r in roles.CREATE_ROLES)]


def new_form(ctx: Ctx) -> Response:
    me = require_user(ctx)
    kind = "dataset" if ctx.request.query_params.get("type") == "dataset" else "model"
    return render(
        ctx,
        "new.html",
        title="New repository",
        owners=_owners(ctx),
        owner=me.name,
        kind=kind,
        name="",
        private=False,
        error=None,
    )


async def create(ctx: Ctx) -> Response:
    me = require_user(ctx)
    form = await read_form(ctx)
    kind = "dataset" if field(form, "type") == "dataset" else "model"
    owner, name = field(form, "owner", me.name), field(form, "name")
    private = field(form, "visibility") == "private"

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = lifecycle.create(ctx.hub, session, me, kind, owner, name, private=private)
            url = repo_path(repo)
        return redirect(ctx, url)

    try:
        return await ctx.run(work)
    except HubError as exc:
        # The form comes back with the message, and the status says what went wrong
        # (403 for a namespace the user may not create in, 409 for a taken name).
        message, status = exc.message, exc.status if exc.status < 500 else 400
    return await ctx.run(
        lambda: render(
            ctx,
            "new.html",
            status=status,
            title="New repository",
            owners=_owners(ctx),
            owner=owner,
            kind=kind,
            name=name,
            private=private,
            error=message,
        )
    )


def upload_page(ctx: Ctx) -> Response:
    require_user(ctx)
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx, mode="write")
        access.content(session, ctx.principal, repo).at(ctx.params["rev"])
        settings = ctx.hub.settings
        return render(
            ctx,
            "repo/upload.html",
            **page_context(session, ctx, repo, "upload", ctx.params["rev"]),
            max_file_bytes=settings.max_file_bytes,
            lfs_threshold_bytes=settings.lfs_threshold_bytes,
        )


def _read_text(ctx: Ctx, repo: Repo, rev: str, path: str) -> tuple[str, str]:
    """(content, head commit) of a text file, or "" for a new file."""
    with ctx.hub.db.read() as session:
        view = access.content(session, ctx.principal, repo).at(rev)
        view.require_download(path)
        sha = view.sha
        info = TreeReader(session, ctx.hub.tree_cache).file(view.commit.tree_oid, path)
    if info is None:
        return "", sha
    if info.lfs or info.size > 1024 * 1024:
        raise HubError("This file is too large to edit in the browser.")
    with ctx.hub.blobs.open(info.sha256) as f:
        return f.read().decode("utf-8", "replace"), sha


def _editable(ctx: Ctx) -> tuple[Repo, str, str]:
    require_user(ctx)
    path = check_path(ctx.params["path"])
    if path != "README.md":
        raise HubError("Only the README can be edited in the browser.")
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx, mode="write")
    return repo, ctx.params["rev"], path


def edit_form(ctx: Ctx) -> Response:
    repo, rev, path = _editable(ctx)
    content, sha = _read_text(ctx, repo, rev, path)
    if not content and path == "README.md":
        content = f"---\nlicense: \ntags: []\n---\n\n# {repo.name}\n\nDescribe it here.\n"
    with ctx.hub.db.read() as session:
        fresh = session.get(Repo, repo.id)
        assert fresh is not None
        return render(
            ctx,
            "repo/edit.html",
            **page_context(session, ctx, fresh, "card", rev),
            path=path,
            content=content,
            parent=sha,
            error=None,
        )


async def edit(ctx: Ctx) -> Response:
    me = require_user(ctx)
    form = await read_form(ctx)
    repo, rev, path = await ctx.run(lambda: _editable(ctx))
    data = field(form, "content").replace("\r\n", "\n").encode()
    if not data.endswith(b"\n"):
        data += b"\n"
    summary = field(form, "summary") or f"Update {path}"
    parent = field(form, "parent") or None

    def work() -> Response:
        sha256 = ctx.hub.store_bytes(data)
        git_oid = (
            object_id("blob", data) if len(data) < ctx.hub.settings.lfs_threshold_bytes else None
        )
        content = StoredContent(sha256=sha256, size=len(data), git_oid=git_oid)
        assert hashlib.sha256(data).hexdigest() == sha256
        ctx.hub.committer.commit(
            repo.id,
            rev,
            me.name,
            CommitRequest(summary, "", [AddFile(path, content=content)], parent_commit=parent),
        )
        return redirect(ctx, repo_path(repo))

    try:
        return await ctx.run(work)
    except HubError as exc:
        message, status = exc.message, exc.status if exc.status < 500 else 400

    def again() -> Response:
        with ctx.hub.db.read() as session:
            fresh = session.get(Repo, repo.id)
            assert fresh is not None
            return render(
                ctx,
                "repo/edit.html",
                status=status,
                **page_context(session, ctx, fresh, "card", rev),
                path=path,
                content=data.decode(),
                parent=parent or "",
                error=message,
            )

    return await ctx.run(again)


def _access_days(row: GatingSetting | None) -> str:
    if row is None or not row.access_seconds:
        return ""
    return f"{row.access_seconds / 86400:g}"


def settings_page(
    ctx: Ctx, *, error: str | None = None, notice: str | None = None, status: int = 200
) -> Response:
    require_user(ctx)
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx, mode="admin")
        return render(
            ctx,
            "repo/settings.html",
            status=status,
            **page_context(session, ctx, repo, "settings", "main"),
            access_days=_access_days(gating.setting(session, repo)),
            follows_card=getattr(gating.setting(session, repo), "mode", None) is None,
            error=error,
            notice=notice,
        )


async def set_visibility(ctx: Ctx) -> Response:
    me = require_user(ctx)
    form = await read_form(ctx)

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="admin")
            lifecycle.set_visibility(
                ctx.hub, session, me, repo, private=field(form, "visibility") == "private"
            )
            url = repo_path(repo)
        return redirect(ctx, url + "/settings")

    return await ctx.run(work)


async def move(ctx: Ctx) -> Response:
    me = require_user(ctx)
    form = await read_form(ctx)

    def work() -> Response:
        try:
            with ctx.hub.db.write() as session:
                repo = load_repo(session, ctx, mode="admin")
                lifecycle.move(ctx.hub, session, me, repo, field(form, "to"))
                url = repo_path(repo)
        except HubError as exc:
            return settings_page(ctx, error=exc.message, status=400)
        return redirect(ctx, url + "/settings")

    return await ctx.run(work)


async def remove(ctx: Ctx) -> Response:
    me = require_user(ctx)
    form = await read_form(ctx)

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="admin")
            if field(form, "confirm") != repo.repo_id:
                raise HubError(f"Type {repo.repo_id} exactly to delete it.")
            lifecycle.delete(ctx.hub, session, me, repo)
        return redirect(ctx, f"/{me.name}")

    try:
        return await ctx.run(work)
    except HubError as exc:
        if exc.status >= 404:
            raise
        message = exc.message
    return await ctx.run(lambda: settings_page(ctx, error=message, status=400))


async def like(ctx: Ctx) -> Response:
    require_user(ctx)
    await read_form(ctx)

    def work() -> Response:
        toggle_like(ctx, like=None)
        with ctx.hub.db.read() as session:
            url = repo_path(load_repo(session, ctx))
        return redirect(ctx, url)

    return await ctx.run(work)


def audit_page(ctx: Ctx) -> Response:
    require_user(ctx)
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx, mode="admin")
        entries = [audit.as_json(r) for r in ctx.hub.audit.entries(session, repo=repo.id)]
        return render(
            ctx,
            "repo/audit.html",
            **page_context(session, ctx, repo, "audit", "main"),
            entries=list(reversed(entries)),
        )


async def release_action(ctx: Ctx) -> Response:
    """Owners promote, pause, resume or roll back a staged release; members approve."""
    me = require_user(ctx)
    form = await read_form(ctx)
    action = field(form, "action")
    if action not in releases.ACTIONS:
        raise HubError(f"Unknown release action {action!r}.")

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="participate" if action == "approve" else "admin")
            releases.act(session, ctx.hub, repo, me, action, field(form, "rationale"))
            url = repo_path(repo)
        return redirect(ctx, url)

    return await ctx.run(work)


def namespace_audit_page(ctx: Ctx) -> Response:
    """A user's or organisation's audit log, for its admins."""
    require_user(ctx)
    namespace = ctx.params["ns"]
    with ctx.hub.db.read() as session:
        roles.require_namespace_admin(session, ctx.principal, namespace)
        entries = [audit.as_json(r) for r in ctx.hub.audit.entries(session, namespace=namespace)]
    return render(
        ctx,
        "account/audit.html",
        title=f"{namespace} · audit log",
        namespace=namespace,
        entries=list(reversed(entries)),
    )
