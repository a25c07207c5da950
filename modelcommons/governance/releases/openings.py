"""What an unended plan controls and what it has opened to one caller: the plan's part
of :func:`modelcommons.governance.access.content`."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...accounts import Principal
from ...db.schema import (
    Membership,
    Repo,
)
from .. import gating

if TYPE_CHECKING:
    pass
from .stages import effective_stage, plan_of, stages_of


def _in_audience(
    session: Session, principal: Principal | None, repo: Repo, audience: dict[str, Any]
) -> bool:
    kind = audience["kind"]
    if kind == "public":
        return True
    if principal is None or kind == "owners":
        return False
    if kind == "gated":
        return True
    if kind == "approved":
        return gating.has_access(session, repo, principal.user_id)
    # Accounts by id (see named_accounts): a name registered after the plan was set
    # never matches.
    if principal.user_id in audience["user_ids"]:
        return True
    if not audience["org_ids"]:
        return False
    row = session.execute(
        select(Membership.role).where(
            Membership.org_id.in_(audience["org_ids"]), Membership.user_id == principal.user_id
        )
    ).first()
    return row is not None


@dataclasses.dataclass(frozen=True)
class Openings:
    """What an unended plan controls, and what it has opened to one caller.

    Computed once per request (one query for the plan, one per audience that needs
    one) and asked per path or ref name: :mod:`modelcommons.governance.access` makes every
    decision from it. File globs are ``fnmatch`` patterns (``*`` crosses ``/``);
    a ref name controls the branch or tag of that name, whichever list names it.
    """

    controlled_files: tuple[str, ...]
    open_files: tuple[str, ...]
    controlled_refs: frozenset[str]
    open_refs: frozenset[str]
    #: For refusals: where the plan stands ("current stage: 124M; plan active").
    where: str

    def file_controlled(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, g) for g in self.controlled_files)

    def file_open(self, path: str) -> bool:
        """Uncontrolled, or opened to this caller by a promoted stage."""
        return not self.file_controlled(path) or any(
            fnmatch.fnmatchcase(path, g) for g in self.open_files
        )

    def ref_controlled(self, name: str) -> bool:
        return name in self.controlled_refs

    def ref_closed(self, name: str) -> bool:
        return name in self.controlled_refs and name not in self.open_refs

    @property
    def closed_refs(self) -> frozenset[str]:
        return self.controlled_refs - self.open_refs

    @property
    def all_open(self) -> bool:
        """Whether nothing the plan controls is closed to this caller."""
        return not self.closed_refs and set(self.controlled_files) <= set(self.open_files)


def openings(session: Session, principal: Principal | None, repo: Repo) -> Openings | None:
    """The plan's restrictions for a caller who is not an owner (the caller checks
    that: owners always see everything); None when there is no unended plan."""
    plan = plan_of(session, repo)
    if plan is None or plan.status == "ended":
        return None
    stages = stages_of(plan)
    upto = effective_stage(plan)
    controlled_files: list[str] = []
    open_files: list[str] = []
    controlled_refs: set[str] = set()
    open_refs: set[str] = set()
    audiences: dict[str, bool] = {}  # stages often share an audience: ask once
    for i, stage in enumerate(stages):
        opens = stage["opens"]
        names = {*opens["branches"], *opens["tags"]}
        controlled_files += opens["files"]
        controlled_refs |= names
        if i <= upto and (opens["files"] or names):
            key = json.dumps(stage["audience"], sort_keys=True)
            if key not in audiences:
                audiences[key] = _in_audience(session, principal, repo, stage["audience"])
            if audiences[key]:
                open_files += opens["files"]
                open_refs |= names
    stage_name = stages[upto]["name"] if upto >= 0 else "none yet"
    return Openings(
        tuple(dict.fromkeys(controlled_files)),
        tuple(dict.fromkeys(open_files)),
        frozenset(controlled_refs),
        frozenset(open_refs),
        f"current stage: {stage_name}; plan {plan.status}",
    )
