"""Tables of discussions and pull requests (``community/``), webhooks (``webhooks/``)
and notifications: kept beside ``schema.py`` so that no module holds every table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..clock import utcnow
from .schema import Base

# --- discussions and pull requests (community/) ---------------------------------


class CommunitySettings(Base):
    """A repository's community counters and switches: the next discussion number
    (shared by discussions and pull requests, taken by a row update so concurrent
    openings never get the same one) and whether discussions are turned off."""

    __tablename__ = "community_settings"
    repo_id: Mapped[int] = mapped_column(
        ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True
    )
    next_num: Mapped[int] = mapped_column(Integer, default=1)
    discussions_disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class Discussion(Base):
    """A discussion or a pull request (``is_pr``) of one repository, numbered in it.

    A pull request's changes are the ref ``refs/pr/<num>`` (a ``refs`` row of kind
    "pr"); ``target`` is the branch it merges into."""

    __tablename__ = "discussions"
    __table_args__ = (UniqueConstraint("repo_id", "num"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"))
    num: Mapped[int] = mapped_column(Integer)
    is_pr: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str] = mapped_column(String(200))
    #: The author's account name when they wrote (accounts are not deleted here).
    author: Mapped[str] = mapped_column(String(96))
    status: Mapped[str] = mapped_column(String(8))  # open | closed | merged | draft
    target: Mapped[str | None] = mapped_column(String(200), nullable=True)
    merge_commit: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class DiscussionEvent(Base):
    """One event of a discussion: a comment, a status or title change, a commit.

    Comments keep their current text in ``content`` and earlier texts in
    ``history`` (JSON); hiding one erases both for good."""

    __tablename__ = "discussion_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    discussion_id: Mapped[int] = mapped_column(ForeignKey("discussions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # comment | status-change | title-change | commit
    author: Mapped[str] = mapped_column(String(96))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: JSON: {"status"}, {"from", "to"}, {"oid", "subject"}; "{}" for comments.
    data: Mapped[str] = mapped_column(Text, default="{}")
    content: Mapped[str] = mapped_column(Text, default="")
    history: Mapped[str] = mapped_column(Text, default="[]")
    edited_by: Mapped[str | None] = mapped_column(String(96), nullable=True)
    edited_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden_by: Mapped[str | None] = mapped_column(String(96), nullable=True)


Index("ix_discussions_repo_status", Discussion.repo_id, Discussion.status, Discussion.num)
Index("ix_discussion_events_discussion", DiscussionEvent.discussion_id, DiscussionEvent.id)


# --- webhooks (webhooks/) -------------------------------------------------------


class Webhook(Base):
    """A user's webhook: what it watches (repositories, users, organisations), which
    domains (``repo``, ``discussion``), where it delivers, and its secret (encrypted
    with the hub's key: it is sent with every delivery, so it cannot be hashed)."""

    __tablename__ = "webhooks"
    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    watched: Mapped[str] = mapped_column(Text, default="[]")
    domains: Mapped[str] = mapped_column(Text, default="[]")
    secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class WebhookDelivery(Base):
    """One event for one webhook, written in the event's transaction (an outbox) and
    sent by the job queue: ``pending`` until delivered (``done``) or out of attempts
    (``failed``, with the last error)."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


Index("ix_webhooks_owner", Webhook.owner_id)
Index("ix_webhook_deliveries_webhook", WebhookDelivery.webhook_id, WebhookDelivery.id)


class DiscussionRead(Base):
    """When a user last looked at a discussion (its page), for their notifications."""

    __tablename__ = "discussion_reads"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    discussion_id: Mapped[int] = mapped_column(
        ForeignKey("discussions.id", ondelete="CASCADE"), primary_key=True
    )
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
