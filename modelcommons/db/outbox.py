"""Domain events noted in a transaction, for whoever listens before it commits.

A domain notes what happened (``note(session, "branch.moved", repo=..., ...)``)
without knowing who cares; a listener on the session factory's ``before_commit``
(webhooks, see ``webhooks/events.py``) takes them (``drain``) and writes what
follows from them in the same transaction. A rolled-back transaction's notes go
with it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

_KEY = "outbox"


def note(session: Session, kind: str, **data: Any) -> None:
    session.info.setdefault(_KEY, []).append((kind, data))


def drain(session: Session) -> list[tuple[str, dict[str, Any]]]:
    return list(session.info.pop(_KEY, []))


def discard(session: Session) -> None:
    session.info.pop(_KEY, None)
