"""Decisions on a plan: setting or replacing it, promoting, pausing, resuming,
rolling back, approving and ending, each kept in the public timeline and the audit log."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ... import audit
from ...accounts import Principal
from ...db.schema import (
    ReleaseApproval,
    ReleaseDecision,
    ReleasePlan,
    Repo,
)
from ...errors import BadRequest, Conflict, NotFound
from . import named_accounts

if TYPE_CHECKING:
    from ...hub import Hub
from .conditions import evaluate
from .stages import effective_stage, shown_stages, stages_of, validate_stages


def _decide(
    session: Session,
    hub: Hub,
    repo: Repo,
    plan: ReleasePlan,
    action: str,
    stage: int,
    actor: str | None,
    rationale: str,
) -> None:
    stages = stages_of(plan)
    name = stages[stage]["name"] if 0 <= stage < len(stages) else ""
    session.add(
        ReleaseDecision(
            plan_id=plan.id,
            stage=stage,
            action=action,
            actor=actor,
            rationale=rationale,
            created_at=hub.clock.now(),
        )
    )
    plan.updated_at = hub.clock.now()
    hub.audit.record(
        session,
        audit.ReleaseDecided.of(
            repo,
            actor,
            action=action,
            stage=stage,
            stage_name=name,
            rationale=rationale,
        ),
    )


def _locked_plan(session: Session, repo: Repo) -> ReleasePlan | None:
    """The plan, its row locked until commit (PostgreSQL; SQLite's write transactions
    are already serial), so that a decision and a replacement never interleave."""
    return session.execute(
        select(ReleasePlan).where(ReleasePlan.repo_id == repo.id).with_for_update()
    ).scalar_one_or_none()


def _require_plan(session: Session, repo: Repo) -> ReleasePlan:
    plan = _locked_plan(session, repo)
    if plan is None or plan.status == "ended":
        raise NotFound(f"{repo.repo_id} has no active release plan.")
    return plan


def _stage_label(index: int, stage: dict[str, Any]) -> str:
    return f'stage {index + 1} ("{stage["name"]}")'


def _opened_stages_kept(old: list[dict[str, Any]], new: list[dict[str, Any]], current: int) -> None:
    """Refuse a replacement that changes or removes a stage already opened."""
    for i in range(current + 1):
        label = _stage_label(i, old[i])
        if i >= len(new):
            why = "the new plan removes it"
        elif new[i] != old[i]:
            keys = [*new[i], *(k for k in old[i] if k not in new[i])]
            changed = ", ".join(k for k in keys if new[i].get(k) != old[i].get(k))
            why = f"the new plan changes its {changed}"
        else:
            continue
        opened = "stage 1" if current == 0 else f"stages 1 to {current + 1}"
        raise Conflict(
            f"The plan has already opened {label}, and {why}. Keep {opened} as "
            f"{'it is' if current == 0 else 'they are'}, or restart the plan from before its "
            "first stage (which closes every opened stage again)."
        )


def _withdraw_approvals(session: Session, plan: ReleasePlan, stages: set[int] | None) -> int:
    """Delete the approvals of these stages (None: all); returns how many."""
    query = delete(ReleaseApproval).where(ReleaseApproval.plan_id == plan.id)
    if stages is not None:
        if not stages:
            return 0
        query = query.where(ReleaseApproval.stage.in_(stages))
    result = session.execute(query)
    return int(getattr(result, "rowcount", 0) or 0)


def set_plan(
    session: Session,
    hub: Hub,
    repo: Repo,
    raw: object,
    actor: str,
    rationale: str,
    *,
    restart: bool = False,
) -> ReleasePlan:
    """Create or replace the plan; the API's PUT and the settings page both call this.

    - No plan, or an ended one: the new plan starts before its first stage.
    - Otherwise the plan keeps its position (``current``) and status when the stages
      already opened (indices 0..current) are unchanged; changing or removing one of
      them is a :class:`Conflict` naming the stage. Approvals of pending stages that
      the new plan changes or removes are withdrawn: they approved something else.
    - ``restart``: start the new plan over, before its first stage, as "active",
      closing whatever was open and withdrawing every approval.

    Every change is a decision in the public log ("plan", "replace" or "restart").
    Named accounts must exist and are stored by id (:func:`named_accounts.resolve`).
    """
    stages = named_accounts.resolve(session, repo, validate_stages(raw))
    plan = _locked_plan(session, repo)
    fresh = plan is None or plan.status == "ended"
    if plan is None:
        plan = ReleasePlan(repo_id=repo.id, created_at=hub.clock.now())
        session.add(plan)
        session.flush()
    old = [] if fresh else named_accounts.prune(session, stages_of(plan))
    if fresh or restart:
        was = plan.current
        withdrawn = _withdraw_approvals(session, plan, None)
        plan.stages = json.dumps(stages)
        plan.current = -1
        plan.status = "active"
        if fresh:
            action, summary = "plan", "plan set"
        else:
            action = "restart"
            summary = "restarted before the first stage"
            if was >= 0:
                summary += f"; {_stage_label(was, old[was])} had been opened"
    else:
        _opened_stages_kept(old, stages, plan.current)
        changed = {
            i for i in range(plan.current + 1, len(old)) if i >= len(stages) or stages[i] != old[i]
        }
        withdrawn = _withdraw_approvals(session, plan, changed)
        plan.stages = json.dumps(stages)
        action = "replace"
        summary = "plan replaced; " + (
            f"kept at {_stage_label(plan.current, old[plan.current])}"
            if plan.current >= 0
            else "no stage opened yet"
        )
    if withdrawn:
        summary += f"; {withdrawn} approval{'s' if withdrawn != 1 else ''} withdrawn"
    session.flush()
    text = f"{rationale} ({summary})" if rationale and action != "plan" else rationale or summary
    _decide(session, hub, repo, plan, action, -1, actor, text)
    return plan


def end_plan(session: Session, hub: Hub, repo: Repo, actor: str, rationale: str) -> None:
    plan = _require_plan(session, repo)
    plan.status = "ended"
    _decide(session, hub, repo, plan, "end", plan.current, actor, rationale or "plan ended")


def promote(
    session: Session,
    hub: Hub,
    repo: Repo,
    actor: str | None,
    rationale: str,
    *,
    force: bool = False,
    expected: int | None = None,
) -> int:
    """Open the next stage. Its conditions must hold unless an owner forces it."""
    plan = _require_plan(session, repo)
    if plan.status == "paused":
        raise Conflict("The release plan is paused; resume it first.")
    nxt = plan.current + 1
    if expected is not None and nxt != expected:
        raise Conflict(f"Stage {expected + 1} is no longer the next stage.")
    if nxt >= len(stages_of(plan)):
        raise Conflict("Every stage of the plan has been promoted.")
    results = evaluate(session, hub, repo, plan, nxt)
    failing = [why for _, holds, why in results if not holds]
    if failing and not force:
        raise Conflict("The next stage's conditions do not hold: " + "; ".join(failing) + ".")
    summary = "; ".join(why for _, _, why in results) or "no conditions"
    if force and failing:
        summary = "forced despite: " + "; ".join(failing)
    plan.current = nxt
    plan.status = "active"
    text = f"{rationale} ({summary})" if rationale else summary
    _decide(session, hub, repo, plan, "promote", nxt, actor, text)
    return nxt


def pause(session: Session, hub: Hub, repo: Repo, actor: str, rationale: str) -> None:
    plan = _require_plan(session, repo)
    if plan.status == "paused":
        raise Conflict("The release plan is already paused.")
    plan.status = "paused"
    _decide(session, hub, repo, plan, "pause", plan.current, actor, rationale)


def resume(session: Session, hub: Hub, repo: Repo, actor: str, rationale: str) -> None:
    plan = _require_plan(session, repo)
    if plan.status not in ("paused", "held"):
        raise Conflict("The release plan is not paused or held.")
    plan.status = "active"
    _decide(session, hub, repo, plan, "resume", plan.current, actor, rationale)


def rollback(session: Session, hub: Hub, repo: Repo, actor: str, rationale: str) -> None:
    """Revoke the current stage and hold the plan at the previous one: the scheduler
    does not promote a held plan until an owner promotes or resumes it."""
    plan = _require_plan(session, repo)
    if plan.current < 0:
        raise Conflict("No stage has been promoted yet.")
    _decide(session, hub, repo, plan, "rollback", plan.current, actor, rationale)
    plan.current -= 1
    plan.status = "held"


def approve(session: Session, hub: Hub, repo: Repo, principal: Principal, rationale: str) -> int:
    """Record the principal's approval of the next stage."""
    plan = _require_plan(session, repo)
    nxt = plan.current + 1
    if nxt >= len(stages_of(plan)):
        raise Conflict("There is no next stage to approve.")
    exists = session.execute(
        select(ReleaseApproval.id).where(
            ReleaseApproval.plan_id == plan.id,
            ReleaseApproval.stage == nxt,
            ReleaseApproval.user_id == principal.user_id,
        )
    ).first()
    if exists is None:
        session.add(
            ReleaseApproval(
                plan_id=plan.id, stage=nxt, user_id=principal.user_id, created_at=hub.clock.now()
            )
        )
        _decide(session, hub, repo, plan, "approve", nxt, principal.name, rationale)
    return nxt


def describe(session: Session, hub: Hub, repo: Repo, plan: ReleasePlan) -> dict[str, Any]:
    """The public timeline: stages (accounts by name), where the plan stands, and
    every decision."""
    stages = shown_stages(session, plan)
    upto = effective_stage(plan)
    out_stages = []
    for i, stage in enumerate(stages):
        state = "open" if i <= upto else "paused" if i == plan.current else "pending"
        doc = dict(stage)
        doc["index"] = i
        doc["state"] = state
        if i == plan.current + 1 and plan.status != "ended":
            doc["next"] = True
            doc["conditionsStatus"] = [
                {"name": n, "holds": h, "detail": w}
                for n, h, w in evaluate(session, hub, repo, plan, i)
            ]
        out_stages.append(doc)
    decisions = session.execute(
        select(ReleaseDecision)
        .where(ReleaseDecision.plan_id == plan.id)
        .order_by(ReleaseDecision.id)
    ).scalars()
    return {
        "status": plan.status,
        "current": plan.current,
        "stages": out_stages,
        "decisions": [
            {
                "action": d.action,
                "stage": d.stage,
                "actor": d.actor,
                "rationale": d.rationale,
                "at": d.created_at.isoformat(timespec="seconds") + "Z",
            }
            for d in decisions
        ],
    }


def count_decisions(session: Session, plan: ReleasePlan) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(ReleaseDecision)
            .where(ReleaseDecision.plan_id == plan.id)
        ).scalar_one()
    )


ACTIONS = ("promote", "pause", "resume", "rollback", "approve")


def act(
    session: Session,
    hub: Hub,
    repo: Repo,
    principal: Principal,
    action: str,
    rationale: str,
    *,
    force: bool = False,
) -> None:
    """One owner decision (or an approval), as the API and the pages both make it.

    The caller has checked access: admin for every action but ``approve``.
    """
    if action == "approve":
        approve(session, hub, repo, principal, rationale)
        hub.jobs.after_commit(session, hub.jobs.check)
    elif action == "promote":
        promote(session, hub, repo, principal.name, rationale, force=force)
    elif action == "pause":
        pause(session, hub, repo, principal.name, rationale)
    elif action == "resume":
        resume(session, hub, repo, principal.name, rationale)
        hub.jobs.after_commit(session, hub.jobs.check)
    elif action == "rollback":
        rollback(session, hub, repo, principal.name, rationale)
    else:
        raise BadRequest(f"Unknown release action {action!r}.")
