"""Whether a stage's conditions hold: its date, approvals, card sections and named checks."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...db.schema import (
    Account,
    Commit,
    Membership,
    ReleaseApproval,
    ReleasePlan,
    Repo,
)
from ...errors import NotFound
from ...storage import repos
from ...storage.trees import TreeReader
from . import named_accounts

if TYPE_CHECKING:
    from ...hub import Hub
from .checks import CHECKERS, CheckContext
from .stages import ROLE_RANK, stages_of


def _card_text(ctx: CheckContext) -> str:
    try:
        sha = repos.resolve(ctx.session, ctx.repo, repos.DEFAULT_BRANCH)
    except NotFound:
        return ""
    commit = ctx.session.get(Commit, (ctx.repo.id, sha))
    if commit is None:
        return ""
    readme = TreeReader(ctx.session, ctx.hub.tree_cache).file(commit.tree_oid, "README.md")
    if readme is None or readme.lfs:
        return ""
    with ctx.hub.blobs.open(readme.sha256) as f:
        return f.read(1024 * 1024).decode("utf-8", "replace")


def _approvers(ctx: CheckContext) -> list[tuple[str, str | None]]:
    """(user, their role in the approvals account) for each approval of this stage.

    The account is held by id (see named_accounts): an organisation's members have
    their roles; a user namespace's only "admin" is that user, by id, so nobody
    else counts there, whatever their name."""
    owner = named_accounts.approvals_account(
        ctx.session, ctx.repo, ctx.stage["conditions"]["approvals"]
    )
    owner_id = owner.id if owner is not None else None
    rows = ctx.session.execute(
        select(Account.id, Account.name, Membership.role)
        .select_from(ReleaseApproval)
        .join(Account, Account.id == ReleaseApproval.user_id)
        .outerjoin(
            Membership,
            (Membership.user_id == ReleaseApproval.user_id) & (Membership.org_id == owner_id),
        )
        .where(
            ReleaseApproval.plan_id == ctx.plan.id,
            ReleaseApproval.stage == ctx.stage_index,
        )
        .order_by(ReleaseApproval.id)
    ).all()
    is_user = owner is not None and owner.kind == "user"
    return [
        (name, ("admin" if user_id == owner_id else None) if is_user else role)
        for user_id, name, role in rows
    ]


def evaluate(
    session: Session, hub: Hub, repo: Repo, plan: ReleasePlan, index: int
) -> list[tuple[str, bool, str]]:
    """Each condition of stage ``index``: (name, holds, explanation)."""
    stage = stages_of(plan)[index]
    ctx = CheckContext(session, hub, repo, plan, index, stage)
    results: list[tuple[str, bool, str]] = []
    if stage["not_before"]:
        due = dt.datetime.fromisoformat(stage["not_before"])
        now = hub.clock.now()
        results.append(("date", now >= due, f"not before {due.isoformat()} (now {now:%Y-%m-%d})"))
    conds = stage["conditions"]
    if conds["approvals"]:
        need, role = conds["approvals"]["count"], conds["approvals"]["role"]
        good = [
            name for name, r in _approvers(ctx) if r is not None and ROLE_RANK[r] >= ROLE_RANK[role]
        ]
        results.append(
            (
                "approvals",
                len(good) >= need,
                f"{len(good)} of {need} approvals by {role}s"
                + (f" ({', '.join(good)})" if good else ""),
            )
        )
    if conds["card_sections"]:
        lines = {line.strip() for line in _card_text(ctx).splitlines()}
        missing = [s for s in conds["card_sections"] if s.strip() not in lines]
        results.append(
            (
                "card_sections",
                not missing,
                "card has " + ", ".join(conds["card_sections"])
                if not missing
                else f"card lacks {', '.join(missing)}",
            )
        )
    for name in conds["checks"]:
        checker = CHECKERS.get(name)
        if checker is None:
            results.append((name, False, f"no checker named {name!r} is installed"))
        else:
            holds, why = checker(ctx)
            results.append((name, holds, why))
    return results
