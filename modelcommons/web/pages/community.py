"""The Community tab: discussions and pull requests, their pages, and proposing a change.

The same rules as the API (``api/discussions.py``): reading follows read access;
opening, commenting and proposing need a signed-in caller who may act (and
discussions on); merging, and acting on others' discussions, need write access.
A pull request's files-changed diff is the commit diff (``previews/diffs.py``)
from the merge base to the head, as ``access.content`` lets the caller see it at
``refs/pr/N``. Comments are rendered by the card's markdown renderer and sanitiser.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy.orm import Session
from starlette.responses import Response

from ... import community
from ...accounts import roles
from ...api import discussions as api_discussions
from ...api.common import load_repo
from ...community import discussions, notifications, pulls
from ...db.community_tables import Discussion
from ...db.schema import Commit, Repo
from ...errors import BadRequest, GatedRepo, HubError
from ...governance import access
from ...server.routing import Ctx
from ...storage import repos
from ...storage.commits import AddFile, CommitRequest, StoredContent
from ...storage.gitobjects import object_id
from ...storage.trees import TreeReader
from ...validation.inputs import query_int
from ...validation.names import check_path
from ..forms import field, read_form, require_user
from ..markdown import render_comment
from ..previews import diffs
from ..templating import redirect, render
from ..views import repo_path
from .repository import page_context

EDIT_MAX_BYTES = 1024 * 1024


def _num(ctx: Ctx) -> int:
    return pulls.check_number(ctx.params["num"])


def list_page(ctx: Ctx) -> Response:
    q = ctx.request.query_params
    status = q.get("status") if q.get("status") in ("open", "closed") else "open"
    kind = q.get("type") if q.get("type") in ("discussion", "pull_request") else "all"
    page = min(max(query_int(q, "p", 0), 0), 100_000)
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        rows, total = discussions.list_discussions(
            session, repo, kind=kind, status=status, page=page
        )
        items = [(d, discussions.comment_count(session, d)) for d in rows]
        return render(
            ctx,
            "repo/discussions.html",
            **page_context(session, ctx, repo, "community", repos.DEFAULT_BRANCH),
            items=items,
            state=status,
            kind=kind,
            page=page,
            has_more=(page + 1) * discussions.PAGE_SIZE < total,
            disabled=discussions.discussions_disabled(session, repo),
        )


def _pull_view(ctx: Ctx, session: Session, repo: Repo, d: Discussion) -> dict[str, Any]:
    """What a pull request's page shows: conflicts and the files changed."""
    try:
        view = access.content(session, ctx.principal, repo).at(pulls.pr_ref(d))
    except GatedRepo:
        return {"closed_to_you": True, "changes": [], "conflicts": []}
    pull = pulls.state(session, ctx.hub, repo, d)
    trees = {
        oid: c.tree_oid
        for oid in (pull.base, pull.head)
        if oid and (c := session.get(Commit, (repo.id, oid))) is not None
    }
    changes = diffs.describe(
        TreeReader(session, ctx.hub.tree_cache),
        ctx.hub.blobs,
        trees.get(pull.base or ""),
        trees[pull.head],
        listed=view.listable,
        readable=view.downloadable,
    )
    return {
        "closed_to_you": False,
        "changes": changes,
        "conflicts": [p for p in pull.conflicts if view.listable(p)],
        "head": pull.head,
    }


def discussion_page(ctx: Ctx) -> Response:
    num = _num(ctx)
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        d = discussions.find(session, repo, num)
        events = [
            (
                e,
                "" if e.hidden or e.kind != "comment" else render_comment(e.content),
                json.loads(e.data or "{}"),
            )
            for e in discussions.events_of(session, d)
        ]
        writer = roles.can_write(session, ctx.principal, repo)
        me = ctx.principal.name.lower() if ctx.principal else None
        pull = _pull_view(ctx, session, repo, d) if d.is_pr else {}
        if ctx.principal is not None:
            with ctx.hub.db.write() as marks:
                notifications.mark_seen(marks, ctx.principal.user_id, [d.id])
        return render(
            ctx,
            "repo/discussion.html",
            **page_context(session, ctx, repo, "community", repos.DEFAULT_BRANCH),
            d=d,
            events=events,
            pull=pull,
            can_comment=me is not None
            and (writer or not discussions.discussions_disabled(session, repo)),
            can_close=me is not None and (writer or d.author.lower() == me),
            can_merge=writer
            and d.is_pr
            and d.status in ("open", "draft")
            and not pull.get("conflicts"),
        )


def new_form(ctx: Ctx) -> Response:
    require_user(ctx)
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx, mode="participate")
        return render(
            ctx,
            "repo/discussion_new.html",
            **page_context(session, ctx, repo, "community", repos.DEFAULT_BRANCH),
            error=None,
        )


async def create(ctx: Ctx) -> Response:
    me = require_user(ctx)
    form = await read_form(ctx)

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="participate")
            if not roles.can_write(session, me, repo) and discussions.discussions_disabled(
                session, repo
            ):
                raise community.DiscussionsDisabled(repo.repo_id)
            d = discussions.open_discussion(
                session, repo, me.name, field(form, "title"), field(form, "description")
            )
            return redirect(ctx, f"{repo_path(repo)}/discussions/{d.num}")

    return await ctx.run(work)


async def comment(ctx: Ctx) -> Response:
    me = require_user(ctx)
    form = await read_form(ctx)
    num = _num(ctx)

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="participate")
            if not roles.can_write(session, me, repo) and discussions.discussions_disabled(
                session, repo
            ):
                raise community.DiscussionsDisabled(repo.repo_id)
            d = discussions.find(session, repo, num)
            discussions.add_comment(session, d, me.name, field(form, "comment"))
            return redirect(ctx, f"{repo_path(repo)}/discussions/{num}")

    return await ctx.run(work)


async def set_status(ctx: Ctx) -> Response:
    me = require_user(ctx)
    form = await read_form(ctx)
    num = _num(ctx)

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="participate")
            d = discussions.find(session, repo, num)
            discussions.change_status(
                ctx.hub,
                session,
                repo,
                d,
                me.name,
                field(form, "status"),
                field(form, "comment") or None,
                moderator=roles.can_write(session, me, repo),
            )
            return redirect(ctx, f"{repo_path(repo)}/discussions/{num}")

    return await ctx.run(work)


async def merge(ctx: Ctx) -> Response:
    me = require_user(ctx)
    await read_form(ctx)
    num = _num(ctx)

    def work() -> Response:
        with ctx.hub.db.read() as session:
            repo = load_repo(session, ctx, mode="write")
            repo_id, url = repo.id, repo_path(repo)
        pulls.merge(ctx.hub, repo_id, num, me.name, None)
        return redirect(ctx, f"{url}/discussions/{num}")

    return await ctx.run(work)


# --- proposing a change to one file -------------------------------------------


def _current_text(ctx: Ctx, session: Session, repo: Repo, rev: str, path: str) -> tuple[str, str]:
    """(text, base commit) of the file at ``rev``; "" for a file that is not there."""
    view = access.content(session, ctx.principal, repo).at(rev)
    view.require_download(path)
    info = TreeReader(session, ctx.hub.tree_cache).file(view.commit.tree_oid, path)
    if info is None:
        return "", view.sha
    if info.lfs or info.size > EDIT_MAX_BYTES:
        raise BadRequest("This file is too large to edit in the browser.")
    with ctx.hub.blobs.open(info.sha256) as f:
        return f.read().decode("utf-8", "replace"), view.sha


def propose_form(ctx: Ctx) -> Response:
    require_user(ctx)
    path = check_path(ctx.params["path"])
    rev = ctx.params["rev"]
    with ctx.hub.db.read() as session:
        api_discussions.commit_access(session, ctx, rev, True)
        repo = load_repo(session, ctx)
        text, base = _current_text(ctx, session, repo, rev, path)
        return render(
            ctx,
            "repo/propose.html",
            **page_context(session, ctx, repo, "community", rev),
            path=path,
            content=text,
            parent=base,
            error=None,
        )


async def propose(ctx: Ctx) -> Response:
    me = require_user(ctx)
    form = await read_form(ctx)
    path = check_path(ctx.params["path"])
    rev = ctx.params["rev"]
    data = field(form, "content").replace("\r\n", "\n").encode()
    if data and not data.endswith(b"\n"):
        data += b"\n"
    if len(data) > EDIT_MAX_BYTES:
        raise BadRequest("This file is too large to edit in the browser.")
    summary = field(form, "summary") or f"Update {path}"
    description = field(form, "description")
    parent = field(form, "parent") or None

    def work() -> Response:
        with ctx.hub.db.read() as session:
            allowed = api_discussions.commit_access(session, ctx, rev, True)
            repo = load_repo(session, ctx)
            url = repo_path(repo)
        sha256 = ctx.hub.store_bytes(data)
        assert hashlib.sha256(data).hexdigest() == sha256
        small = len(data) < ctx.hub.settings.lfs_threshold_bytes
        content = StoredContent(sha256, len(data), object_id("blob", data) if small else None)
        prepare, follow, opened = api_discussions.pr_hooks(
            me.name, rev, True, summary, description, parent
        )
        ctx.hub.committer.commit(
            allowed.repo_id,
            rev,
            me.name,
            CommitRequest(summary, description, [AddFile(path, content=content)], parent),
            prepare=prepare,
            follow=follow,
        )
        return redirect(ctx, f"{url}/discussions/{opened[0]}")

    try:
        return await ctx.run(work)
    except HubError as exc:
        if exc.status in (401, 403, 404):
            raise
        message, status = exc.message, exc.status if exc.status < 500 else 400

    def again() -> Response:
        with ctx.hub.db.read() as session:
            repo = load_repo(session, ctx)
            return render(
                ctx,
                "repo/propose.html",
                status=status,
                **page_context(session, ctx, repo, "community", rev),
                path=path,
                content=data.decode("utf-8", "replace"),
                parent=parent or "",
                error=message,
            )

    return await ctx.run(again)
