"""What changed for a user: discussions and pull requests on repositories they may
write to or that they took part in, changed (by someone else) since they last
looked at them."""

from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ..accounts import Principal
from ..accounts.roles import WRITE_ROLES, can_read, repo_role
from ..accounts.users import org_roles
from ..clock import utcnow
from ..db.community_tables import Discussion, DiscussionEvent, DiscussionRead
from ..db.schema import Repo
from ..db.sqlutil import insert_ignore

MAX_SHOWN = 100


def mark_seen(session: Session, user_id: int, discussion_ids: list[int]) -> None:
    if not discussion_ids:
        return
    now = utcnow()
    insert_ignore(
        session,
        DiscussionRead,
        [{"user_id": user_id, "discussion_id": i, "seen_at": now} for i in discussion_ids],
    )
    session.execute(
        update(DiscussionRead)
        .where(DiscussionRead.user_id == user_id, DiscussionRead.discussion_id.in_(discussion_ids))
        .values(seen_at=now)
    )


def unread(session: Session, me: Principal) -> list[tuple[Repo, Discussion]]:
    """Newest first: discussions changed since ``me`` last looked, on repositories
    they may write to or in discussions they took part in, that they may still read."""
    namespaces = [me.name] + [
        org for org, role in org_roles(session, me.user_id).items() if role != "read"
    ]
    took_part = select(DiscussionEvent.discussion_id).where(DiscussionEvent.author == me.name)
    seen = (
        select(DiscussionRead.seen_at)
        .where(
            DiscussionRead.user_id == me.user_id,
            DiscussionRead.discussion_id == Discussion.id,
        )
        .scalar_subquery()
    )
    rows = session.execute(
        select(Repo, Discussion)
        .join(Discussion, Discussion.repo_id == Repo.id)
        .where(
            or_(
                Repo.namespace.in_(namespaces),
                Discussion.author == me.name,
                Discussion.id.in_(took_part),
            ),
            or_(seen.is_(None), Discussion.updated_at > seen),
        )
        .order_by(Discussion.updated_at.desc())
        .limit(MAX_SHOWN * 2)
    ).all()
    out: list[tuple[Repo, Discussion]] = []
    for repo, d in rows:
        if not can_read(session, me, repo):
            continue
        mine = repo_role(session, me, repo) in WRITE_ROLES
        if not mine and d.author != me.name and not _took_part(session, d, me.name):
            continue
        last = session.scalar(
            select(DiscussionEvent.author)
            .where(DiscussionEvent.discussion_id == d.id)
            .order_by(DiscussionEvent.id.desc())
            .limit(1)
        )
        if (last or d.author) == me.name:
            continue  # the last change was their own
        out.append((repo, d))
        if len(out) >= MAX_SHOWN:
            break
    return out


def _took_part(session: Session, d: Discussion, name: str) -> bool:
    return (
        session.scalar(
            select(DiscussionEvent.id)
            .where(DiscussionEvent.discussion_id == d.id, DiscussionEvent.author == name)
            .limit(1)
        )
        is not None
    )
