"""The conversation of discussions and pull requests: numbers, comments, titles, statuses.

Numbers are per repository and shared by discussions and pull requests. They are
taken by updating the repository's ``community_settings`` row in the opening
transaction: the row lock (PostgreSQL) or the write lock (SQLite) orders concurrent
openings, so no two get the same number and none is skipped.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .. import audit
from ..clock import utcnow
from ..db import outbox
from ..db.community_tables import CommunitySettings, Discussion, DiscussionEvent
from ..db.schema import Repo
from ..db.sqlutil import insert_ignore
from ..errors import BadRequest, Conflict, Forbidden, HubError, NotFound

if TYPE_CHECKING:
    from ..hub import Hub

TITLE_MIN, TITLE_MAX = 3, 200
COMMENT_MAX = 65_536
PAGE_SIZE = 50
#: What ``status=`` filters mean: a merged pull request is closed, a draft is open.
STATUS_FILTER = {"open": ("open", "draft"), "closed": ("closed", "merged")}


class DiscussionsDisabled(HubError):
    status = 403
    code = "DiscussionsDisabled"

    def __init__(self, repo_id: str) -> None:
        super().__init__(f"Discussions are turned off on {repo_id}.")


def event_id(event: DiscussionEvent) -> str:
    """An event's id as the client sees it: 24 hex digits, as on the Hugging Face Hub."""
    return f"{event.id:024x}"


def _parse_event_id(text: str) -> int:
    if not (0 < len(text) <= 24) or any(c not in "0123456789abcdef" for c in text.lower()):
        raise NotFound(f"No comment {text[:40]!r} in this discussion.")
    return int(text, 16)


def clean_title(title: object) -> str:
    if not isinstance(title, str):
        raise BadRequest("'title' must be a string.")
    title = " ".join(title.split())
    if not TITLE_MIN <= len(title) <= TITLE_MAX:
        raise BadRequest(f"A title has {TITLE_MIN} to {TITLE_MAX} characters.")
    return title


def clean_comment(text: object, what: str = "comment") -> str:
    if not isinstance(text, str):
        raise BadRequest(f"'{what}' must be a string.")
    text = text.replace("\x00", "").strip()
    if not text:
        raise BadRequest(f"The {what} is empty.")
    if len(text) > COMMENT_MAX:
        raise BadRequest(f"A {what} has at most {COMMENT_MAX} characters.")
    return text


# ---------------------------------------------------------------- settings


def discussions_disabled(session: Session, repo: Repo) -> bool:
    row = session.get(CommunitySettings, repo.id)
    return bool(row and row.discussions_disabled)


def set_discussions_disabled(session: Session, repo: Repo, disabled: bool) -> None:
    insert_ignore(
        session,
        CommunitySettings,
        [{"repo_id": repo.id, "next_num": 1, "discussions_disabled": False}],
    )
    session.execute(
        update(CommunitySettings)
        .where(CommunitySettings.repo_id == repo.id)
        .values(discussions_disabled=disabled)
    )


def _next_number(session: Session, repo: Repo) -> int:
    insert_ignore(
        session,
        CommunitySettings,
        [{"repo_id": repo.id, "next_num": 1, "discussions_disabled": False}],
    )
    session.execute(
        update(CommunitySettings)
        .where(CommunitySettings.repo_id == repo.id)
        .values(next_num=CommunitySettings.next_num + 1)
    )
    taken = session.scalar(
        select(CommunitySettings.next_num).where(CommunitySettings.repo_id == repo.id)
    )
    assert taken is not None
    return int(taken) - 1


# ---------------------------------------------------------------- discussions


def open_discussion(
    session: Session,
    repo: Repo,
    author: str,
    title: object,
    description: str | None,
    *,
    pull_request: bool = False,
    target: str | None = None,
    status: str = "open",
) -> Discussion:
    """A new discussion (or pull request: its ref is the caller's to create), with
    ``description`` as its first comment."""
    now = utcnow()
    discussion = Discussion(
        repo_id=repo.id,
        num=_next_number(session, repo),
        is_pr=pull_request,
        title=clean_title(title),
        author=author,
        status=status,
        target=target if pull_request else None,
        created_at=now,
        updated_at=now,
    )
    session.add(discussion)
    session.flush()
    outbox.note(session, "discussion.created", discussion=discussion.id)
    if description and description.strip():
        add_comment(session, discussion, author, description)
    return discussion


def find(session: Session, repo: Repo, num: int) -> Discussion:
    discussion = session.scalar(
        select(Discussion).where(Discussion.repo_id == repo.id, Discussion.num == num)
    )
    if discussion is None:
        raise NotFound(f"Discussion #{num} not found on {repo.repo_id}.")
    return discussion


def list_discussions(
    session: Session,
    repo: Repo,
    *,
    author: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    page: int = 0,
    size: int = PAGE_SIZE,
) -> tuple[list[Discussion], int]:
    """One page of a repository's discussions, newest first, and how many match."""
    query = select(Discussion).where(Discussion.repo_id == repo.id)
    if author:
        query = query.where(func.lower(Discussion.author) == author.lower())
    if kind == "pull_request":
        query = query.where(Discussion.is_pr.is_(True))
    elif kind == "discussion":
        query = query.where(Discussion.is_pr.is_(False))
    if status in STATUS_FILTER:
        query = query.where(Discussion.status.in_(STATUS_FILTER[status]))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Discussion.num.desc()).offset(page * size).limit(size)
    ).all()
    return list(rows), int(total)


def events_of(session: Session, discussion: Discussion) -> list[DiscussionEvent]:
    return list(
        session.scalars(
            select(DiscussionEvent)
            .where(DiscussionEvent.discussion_id == discussion.id)
            .order_by(DiscussionEvent.id)
        )
    )


def comment_count(session: Session, discussion: Discussion) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                DiscussionEvent.discussion_id == discussion.id, DiscussionEvent.kind == "comment"
            )
        )
        or 0
    )


def add_event(
    session: Session, discussion: Discussion, kind: str, author: str, **data: object
) -> DiscussionEvent:
    now = utcnow()
    event = DiscussionEvent(
        discussion_id=discussion.id,
        kind=kind,
        author=author,
        created_at=now,
        data=json.dumps(data),
        content="",
        history="[]",
        hidden=False,
    )
    session.add(event)
    discussion.updated_at = now
    session.flush()
    outbox.note(
        session, "discussion.event", discussion=discussion.id, event=event.id, action="create"
    )
    return event


def add_comment(
    session: Session, discussion: Discussion, author: str, text: object
) -> DiscussionEvent:
    event = add_event(session, discussion, "comment", author)
    event.content = clean_comment(text)
    session.flush()
    return event


def add_commit(
    session: Session, discussion: Discussion, author: str, oid: str, subject: str
) -> DiscussionEvent:
    """A commit added to a pull request; a draft with its first commit is open."""
    if discussion.status == "draft":
        discussion.status = "open"
    return add_event(session, discussion, "commit", author, oid=oid, subject=subject)


def _comment(session: Session, discussion: Discussion, comment_id: str) -> DiscussionEvent:
    event = session.get(DiscussionEvent, _parse_event_id(comment_id))
    if event is None or event.discussion_id != discussion.id or event.kind != "comment":
        raise NotFound(f"No comment {comment_id[:40]!r} in this discussion.")
    return event


def _may_act(actor: str, owner: str, moderator: bool, what: str) -> None:
    if not moderator and actor.lower() != owner.lower():
        raise Forbidden(f"Only its author or a writer of the repository may {what}.")


def edit_comment(
    session: Session,
    discussion: Discussion,
    comment_id: str,
    actor: str,
    text: object,
    *,
    moderator: bool,
) -> DiscussionEvent:
    event = _comment(session, discussion, comment_id)
    _may_act(actor, event.author, moderator, "edit this comment")
    if event.hidden:
        raise Conflict("This comment is hidden; it cannot be edited.")
    new = clean_comment(text, "content")
    history = json.loads(event.history or "[]")
    history.append(
        {
            "raw": event.content,
            "updatedAt": (event.edited_at or event.created_at).isoformat(),
            "author": event.edited_by or event.author,
        }
    )
    event.history = json.dumps(history)
    event.content = new
    event.edited_by = actor
    event.edited_at = utcnow()
    discussion.updated_at = event.edited_at
    outbox.note(
        session, "discussion.event", discussion=discussion.id, event=event.id, action="update"
    )
    return event


def hide_comment(
    hub: Hub,
    session: Session,
    repo: Repo,
    discussion: Discussion,
    comment_id: str,
    actor: str,
    *,
    moderator: bool,
) -> DiscussionEvent:
    """Hide a comment for good: its text and earlier versions are erased."""
    event = _comment(session, discussion, comment_id)
    _may_act(actor, event.author, moderator, "hide this comment")
    if not event.hidden:
        event.hidden, event.hidden_by = True, actor
        event.content, event.history = "", "[]"
        hub.audit.record(
            session,
            audit.CommentHidden.of(
                repo,
                actor,
                num=discussion.num,
                comment=event_id(event),
                comment_author=event.author,
            ),
        )
    return event


def rename(
    session: Session, discussion: Discussion, actor: str, title: object, *, moderator: bool
) -> DiscussionEvent:
    _may_act(actor, discussion.author, moderator, "rename this discussion")
    new = clean_title(title)
    old, discussion.title = discussion.title, new
    return add_event(session, discussion, "title-change", actor, **{"from": old, "to": new})


def change_status(
    hub: Hub,
    session: Session,
    repo: Repo,
    discussion: Discussion,
    actor: str,
    status: str,
    comment: str | None,
    *,
    moderator: bool,
) -> DiscussionEvent:
    """Close or reopen; a merged pull request stays merged."""
    if status not in ("open", "closed"):
        raise BadRequest("'status' must be 'open' or 'closed'.")
    _may_act(actor, discussion.author, moderator, "close or reopen this discussion")
    if discussion.status == "merged":
        raise Conflict(f"Pull request #{discussion.num} is merged; its status cannot change.")
    if comment and comment.strip():
        add_comment(session, discussion, actor, comment)
    discussion.status = status
    hub.audit.record(
        session,
        audit.DiscussionStatusChanged.of(
            repo, actor, num=discussion.num, pull_request=discussion.is_pr, status=status
        ),
    )
    return add_event(session, discussion, "status-change", actor, status=status)
