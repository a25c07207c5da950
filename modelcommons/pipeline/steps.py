"""A pipeline step, and what it is told about the commit it follows."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from ..db.schema import Repo

if TYPE_CHECKING:
    from ..hub import Hub

#: ``context`` key that is True while a step runs in the commit's own transaction.
IN_COMMIT = "in_commit"


@dataclasses.dataclass(frozen=True)
class Landed:
    """A branch head that moved: a commit made here or pushed over git."""

    repo_pk: int
    branch: str
    commit_oid: str
    tree_oid: str
    author: str
    readme_changed: bool
    default_branch: bool


class Step(Protocol):
    """One step. ``synchronous`` steps run in the commit's transaction, in plugin
    order, and may refuse the commit by raising a ``HubError``; the others run later
    as jobs, once per (repository, commit, step), and may be retried: they must be
    idempotent. ``context`` is shared by the steps that run in one commit's
    transaction (the built-in ``card`` step leaves the parsed card there); a job's
    is empty.

    Optional attributes, read when present (a plugin may leave them out):

    - ``requires``: names of steps that must be ``done`` for the same commit before
      this one runs (a job waits for them; they are run first in the commit).
    - ``writes``: True for a short step that writes to the database; its job runs in
      one write transaction, which also records it ``done`` (so its effect and its
      status land together). Without it a job gets a read session and opens its own
      write transactions (a long scan must not hold the database's write lock).
    - ``must_wait(hub, session, repo, landed) -> bool``: asked in the commit's
      transaction; True runs this background step (and what it ``requires``) there,
      because the commit's answer depends on it (a licence policy of ``reject``).
    - ``waits_when``: a short text for ``commons plugins`` saying when that is.
    """

    name: str
    version: str
    synchronous: bool

    def wants(self, landed: Landed) -> bool: ...

    def run(
        self, hub: Hub, session: Session, repo: Repo, landed: Landed, context: dict[str, Any]
    ) -> dict[str, Any] | None: ...


def requires(step: Step) -> tuple[str, ...]:
    return tuple(getattr(step, "requires", ()))


def writes(step: Step) -> bool:
    return bool(getattr(step, "writes", False))


def must_wait(step: Step, hub: Hub, session: Session, repo: Repo, landed: Landed) -> bool:
    ask = getattr(step, "must_wait", None)
    return bool(ask(hub, session, repo, landed)) if ask is not None else False
