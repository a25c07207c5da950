"""A pipeline step, and what it is told about the commit it follows."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from ..db.schema import Repo

if TYPE_CHECKING:
    from ..hub import Hub


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
    idempotent. ``context`` is shared by the synchronous steps of one commit (the
    built-in ``card`` step leaves the parsed card there)."""

    name: str
    version: str
    synchronous: bool

    def wants(self, landed: Landed) -> bool: ...

    def run(
        self, hub: Hub, session: Session, repo: Repo, landed: Landed, context: dict[str, Any]
    ) -> dict[str, Any] | None: ...
