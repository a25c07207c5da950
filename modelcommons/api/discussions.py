"""Discussions and pull requests, as ``huggingface_hub`` calls them.

Reading follows read access (a private repository's discussions are as missing as
the repository). Opening discussions and pull requests and commenting need only a
signed-in caller who can read the repository and whose credential may act (as
likes do), unless the repository turned discussions off (then writers only).
Editing or hiding others' comments, renaming or closing others' discussions and
merging need write access. A pull request's diff and conflicts are content: they
follow ``governance.access`` at ``refs/pr/N``.
"""

from __future__ import annotations

import dataclasses
import html
import json
from typing import Any

from sqlalchemy.orm import Session
from starlette.responses import Response

from .. import community
from ..accounts import roles
from ..community import discussions, pulls
from ..db.community_tables import Discussion, DiscussionEvent
from ..db.schema import Commit, Repo
from ..errors import BadRequest, Conflict, Forbidden, GatedRepo
from ..governance import access
from ..server.responses import iso, json_response
from ..server.routing import Ctx
from ..storage import repos
from ..storage.commits import Follow, Prepare
from ..validation.inputs import query_int
from .common import load_repo, read_json, repo_url


def _user(name: str) -> dict[str, Any]:
    return {"name": name, "fullname": name, "type": "user", "avatarUrl": "", "isPro": False}


def summary(repo: Repo, d: Discussion, comments: int | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "num": d.num,
        "title": d.title,
        "status": d.status,
        "isPullRequest": d.is_pr,
        "createdAt": iso(d.created_at),
        "author": _user(d.author),
        "repo": {"name": repo.repo_id, "type": repo.kind},
        "pinned": False,
        "topReactions": [],
    }
    if comments is not None:
        doc["numComments"] = comments
    return doc


def event_doc(event: DiscussionEvent) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": discussions.event_id(event),
        "type": event.kind,
        "createdAt": iso(event.created_at),
        "author": _user(event.author),
    }
    if event.kind == "comment":
        history = json.loads(event.history or "[]")
        latest = {
            "raw": event.content,
            "html": "" if event.hidden else f"<p>{html.escape(event.content)}</p>",
            "updatedAt": iso(event.edited_at or event.created_at),
            "author": _user(event.edited_by or event.author),
        }
        doc["data"] = {
            "edited": bool(history),
            "hidden": event.hidden,
            "hiddenBy": event.hidden_by,
            "latest": latest,
            "numEdits": len(history),
            "editors": sorted({h["author"] for h in history} | {event.edited_by or event.author}),
            "history": [latest, *reversed(history)],
            "reactions": [],
            "identifiedLanguage": None,
            "isReport": False,
        }
    else:
        doc["data"] = json.loads(event.data or "{}")
    return doc


def _number(ctx: Ctx) -> int:
    return pulls.check_number(ctx.params["num"])


def list_discussions(ctx: Ctx) -> Response:
    q = ctx.request.query_params
    kind = q.get("type", "all")
    status = q.get("status", "all")
    if kind not in ("all", "discussion", "pull_request"):
        raise BadRequest("'type' is all, discussion or pull_request.")
    if status not in ("all", "open", "closed"):
        raise BadRequest("'status' is all, open or closed.")
    page = max(query_int(q, "p", 0), 0)
    if page > 100_000:
        raise BadRequest("'p' is too large.")
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        rows, total = discussions.list_discussions(
            session, repo, author=q.get("author") or None, kind=kind, status=status, page=page
        )
        docs = [summary(repo, d, discussions.comment_count(session, d)) for d in rows]
    return json_response(
        {"discussions": docs, "count": total, "start": page * discussions.PAGE_SIZE}
    )


def details_document(
    ctx: Ctx, session: Session, repo: Repo, d: Discussion, *, with_diff: bool
) -> dict[str, Any]:
    doc = summary(repo, d)
    doc["events"] = [event_doc(e) for e in discussions.events_of(session, d)]
    if d.is_pr:
        ref = repos.get_ref(session, repo, "pr", str(d.num))
        doc["changes"] = {"base": f"refs/heads/{d.target}"}
        if d.merge_commit:
            doc["changes"]["mergeCommitId"] = d.merge_commit
        doc["filesWithConflicts"] = []
        if ref is not None:
            doc["changes"]["headCommitId"] = ref.target
            try:
                view = access.content(session, ctx.principal, repo).at(pulls.pr_ref(d))
            except GatedRepo:
                view = None  # the pull request's content is closed to this caller
            if view is not None:
                pull = pulls.state(session, ctx.hub, repo, d)
                if d.status in ("open", "draft"):
                    doc["filesWithConflicts"] = [p for p in pull.conflicts if view.listable(p)]
                if with_diff:
                    doc["diff"] = pulls.diff(
                        session,
                        ctx.hub,
                        repo,
                        pull.base,
                        pull.head,
                        listable=view.listable,
                        downloadable=view.downloadable,
                    )
    return doc


def details(ctx: Ctx) -> Response:
    num = _number(ctx)
    with_diff = ctx.request.query_params.get("diff") in ("1", "true")
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        d = discussions.find(session, repo, num)
        return json_response(details_document(ctx, session, repo, d, with_diff=with_diff))


def _optional_comment(body: dict[str, Any]) -> str | None:
    """The comment a status change or a merge may carry."""
    note = body.get("comment")
    if note is not None and not isinstance(note, str):
        raise BadRequest("'comment' must be a string.")
    return note


def _participant(session: Session, ctx: Ctx) -> tuple[Repo, bool]:
    """The repository, for a caller who may take part; and whether they may write."""
    repo = load_repo(session, ctx, mode="participate")
    writer = roles.can_write(session, ctx.principal, repo)
    if not writer and discussions.discussions_disabled(session, repo):
        raise community.DiscussionsDisabled(repo.repo_id)
    return repo, writer


def _me(ctx: Ctx) -> str:
    assert ctx.principal is not None
    return ctx.principal.name


async def create(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    title = body.get("title")
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise BadRequest("'description' must be a string.")
    pull_request = body.get("pullRequest") is True

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo, _ = _participant(session, ctx)
            if pull_request:
                d = pulls.open_pull_request(session, repo, _me(ctx), title, description)
            else:
                d = discussions.open_discussion(session, repo, _me(ctx), title, description)
            doc = summary(repo, d)
            doc["url"] = f"{repo_url(ctx, repo)}/discussions/{d.num}"
            return json_response(doc)

    return await ctx.run(work)


async def comment(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    num = _number(ctx)

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo, _ = _participant(session, ctx)
            d = discussions.find(session, repo, num)
            event = discussions.add_comment(session, d, _me(ctx), body.get("comment"))
            return json_response({"newMessage": event_doc(event)})

    return await ctx.run(work)


async def edit_comment(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    num = _number(ctx)

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo, writer = _participant(session, ctx)
            d = discussions.find(session, repo, num)
            event = discussions.edit_comment(
                session,
                d,
                ctx.params["comment"],
                _me(ctx),
                body.get("content"),
                moderator=writer,
            )
            return json_response({"updatedComment": event_doc(event)})

    return await ctx.run(work)


async def hide_comment(ctx: Ctx) -> Response:
    num = _number(ctx)

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="participate")
            writer = roles.can_write(session, ctx.principal, repo)
            d = discussions.find(session, repo, num)
            event = discussions.hide_comment(
                ctx.hub, session, repo, d, ctx.params["comment"], _me(ctx), moderator=writer
            )
            return json_response({"updatedComment": event_doc(event)})

    return await ctx.run(work)


async def rename(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    num = _number(ctx)

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo, writer = _participant(session, ctx)
            d = discussions.find(session, repo, num)
            event = discussions.rename(session, d, _me(ctx), body.get("title"), moderator=writer)
            return json_response({"newTitle": event_doc(event)})

    return await ctx.run(work)


async def change_status(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    num = _number(ctx)
    note = _optional_comment(body)

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="participate")
            writer = roles.can_write(session, ctx.principal, repo)
            d = discussions.find(session, repo, num)
            event = discussions.change_status(
                ctx.hub,
                session,
                repo,
                d,
                _me(ctx),
                str(body.get("status")),
                note,
                moderator=writer,
            )
            return json_response({"newStatus": event_doc(event)})

    return await ctx.run(work)


async def merge(ctx: Ctx) -> Response:
    body = await read_json(ctx)
    num = _number(ctx)
    note = _optional_comment(body)

    def work() -> Response:
        with ctx.hub.db.read() as session:
            repo_id = load_repo(session, ctx, mode="write").id
        oid = pulls.merge(ctx.hub, repo_id, num, _me(ctx), note)
        return json_response({"mergeCommitId": oid})

    return await ctx.run(work)


# --- commits that open or update pull requests ---------------------------------


@dataclasses.dataclass(frozen=True)
class CommitAccess:
    """Who may commit where: writers anywhere; others only to open a pull request
    (``create_pr``) or to their own pull request's ``refs/pr/N``."""

    repo_id: int
    writer: bool
    #: A non-writer who may not download every file (gating, a release plan): such a
    #: caller may not commit LFS files by hash, which could copy a file they may not
    #: download to a path they may.
    by_hash_refused: bool


def commit_access(session: Session, ctx: Ctx, revision: str, create_pr: bool) -> CommitAccess:
    number = repos.pr_number(revision)
    if not create_pr and number is None:
        return CommitAccess(load_repo(session, ctx, mode="write").id, True, False)
    repo = load_repo(session, ctx, mode="participate")
    if roles.can_write(session, ctx.principal, repo):
        return CommitAccess(repo.id, True, False)
    content = access.content(session, ctx.principal, repo)
    if create_pr:
        if discussions.discussions_disabled(session, repo):
            raise community.DiscussionsDisabled(repo.repo_id)
        content.at(revision)  # the base must be open to the caller
    else:
        d = pulls.for_ref(session, repo, str(number))
        if d.author.lower() != _me(ctx).lower():
            raise Forbidden(
                f"Only the author of pull request #{number} and writers may commit to it."
            )
    return CommitAccess(repo.id, False, not content.may_download_all())


def pr_hooks(
    author: str, revision: str, create_pr: bool, summary: str, description: str, parent: str | None
) -> tuple[Prepare | None, Follow, list[int]]:
    """The commit engine's hooks for a commit that opens (``create_pr``) or updates a
    pull request, and the list that receives its number."""
    opened: list[int] = []
    prepare: Prepare | None = None
    if create_pr:
        kind, branch = repos.commit_target(revision)
        if kind != "branch":
            raise BadRequest("A pull request is opened against a branch.")
        title = summary.strip() if len(summary.strip()) >= 3 else "Upload files"

        def prepare(session: Session, repo: Repo) -> str:
            d = pulls.open_pull_request(
                session,
                repo,
                author,
                title[: discussions.TITLE_MAX],
                description,
                target=branch,
                start=parent,
                status="open",
            )
            return pulls.pr_ref(d)

    def follow(session: Session, repo: Repo, kind: str, name: str, oid: str) -> None:
        if kind != "pr":
            return
        d = pulls.for_ref(session, repo, name)
        if d.status == "merged":
            raise Conflict(f"Pull request #{name} is merged: open a new one.")
        commit = session.get(Commit, (repo.id, oid))
        assert commit is not None
        discussions.add_commit(session, d, author, oid, commit.title)
        opened.append(d.num)

    return prepare, follow, opened
