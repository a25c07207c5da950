"""Staged release plans: ordered stages that open branches, tags and files to
widening audiences, promoted by owners or by the scheduler when conditions hold.

A plan is a list of stages. Each stage names

- ``audience``: ``{"kind": "owners" | "members" | "approved" | "gated" | "public",
  "orgs": [...], "users": [...]}`` ("members": the named users and the members of
  the named organisations; "approved": users with a current gated-access acceptance;
  "gated": any signed-in user; "public": everyone),
- ``opens``: ``{"branches": [...], "tags": [...], "files": [glob, ...]}``,
- ``not_before``: the earliest date (ISO 8601, UTC) it may be promoted,
- ``conditions``: ``{"approvals": {"count": N, "role": "admin", "org": NAME},
  "card_sections": ["## Risks"], "checks": ["scan_clean"]}``,
- ``auto``: whether the scheduler promotes it when every condition holds (default
  false: a release opens only when an owner says so unless the plan opts in).

Enforcement (:func:`openings`, read by :func:`modelcommons.access.content`): while a
plan is not ended, anything some stage opens is *controlled*. A controlled item is
downloadable only by owners (anyone with a role over the repository) and by the
audiences of the stages already promoted that open it. Everything else answers like
a gated file (``X-Error-Code: GatedRepo``, 401 anonymous, 403 signed in) with an
``X-Error-Message`` naming the staged release. A paused plan revokes what its
current stage opened; a rollback returns to the previous stage.

Replacing a plan (:func:`set_plan`, for the API's PUT and the settings page alike)
keeps its position: the stages already opened must stay as they are, unless the owner
restarts the plan from before its first stage.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ... import audit
from ...accounts import Principal
from ...db.schema import (
    Account,
    Commit,
    Membership,
    ReleaseApproval,
    ReleaseDecision,
    ReleasePlan,
    Repo,
)
from ...errors import BadRequest, Conflict, NotFound
from ...storage import repos
from ...storage.trees import TreeReader
from .. import gating
from . import named_accounts

if TYPE_CHECKING:
    from ...hub import Hub

AUDIENCES = ("owners", "members", "approved", "gated", "public")
ROLE_RANK = {"read": 0, "contributor": 1, "write": 2, "admin": 3}
MAX_STAGES = 32


@dataclasses.dataclass(frozen=True)
class CheckContext:
    session: Session
    hub: Hub
    repo: Repo
    plan: ReleasePlan
    stage_index: int
    stage: dict[str, Any]


#: A named condition checker: returns (holds, explanation).
Checker = Callable[[CheckContext], tuple[bool, str]]
CHECKERS: dict[str, Checker] = {}


def register_check(name: str) -> Callable[[Checker], Checker]:
    """Register a named condition (``"checks": [name]`` in a stage); plugins call this."""

    def add(fn: Checker) -> Checker:
        CHECKERS[name] = fn
        return fn

    return add


# ---------------------------------------------------------------- plan validation


def _strings(value: object, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BadRequest(f"{what} must be a list of non-empty strings.")
    return list(value)


def _date(value: object, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{what} must be an ISO 8601 date.")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest(f"{what} must be an ISO 8601 date: {exc}.") from exc
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed.isoformat()


def validate_stages(raw: object) -> list[dict[str, Any]]:
    """Normalise a plan's stages, with a clear error for anything malformed."""
    if not isinstance(raw, list) or not raw:
        raise BadRequest('A plan needs {"stages": [...]} with at least one stage.')
    if len(raw) > MAX_STAGES:
        raise BadRequest(f"A plan has at most {MAX_STAGES} stages.")
    stages = []
    for i, item in enumerate(raw):
        where = f"stage {i + 1}"
        if not isinstance(item, dict):
            raise BadRequest(f"{where} must be an object.")
        audience = item.get("audience", "public")
        if isinstance(audience, str):
            audience = {"kind": audience}
        if not isinstance(audience, dict) or audience.get("kind") not in AUDIENCES:
            raise BadRequest(f"{where}: audience kind must be one of {', '.join(AUDIENCES)}.")
        opens = item.get("opens") or {}
        if not isinstance(opens, dict):
            raise BadRequest(f"{where}: opens must be an object.")
        conditions = item.get("conditions") or {}
        if not isinstance(conditions, dict):
            raise BadRequest(f"{where}: conditions must be an object.")
        approvals = conditions.get("approvals")
        if approvals is not None:
            if (
                not isinstance(approvals, dict)
                or not isinstance(approvals.get("count"), int)
                or approvals["count"] < 1
                or approvals.get("role", "admin") not in ROLE_RANK
            ):
                raise BadRequest(
                    f'{where}: approvals must be {{"count": N, "role": "admin", "org": NAME}}.'
                )
            approvals = {
                "count": approvals["count"],
                "role": approvals.get("role", "admin"),
                "org": approvals.get("org"),
            }
        checks = _strings(conditions.get("checks"), f"{where}: checks")
        unknown = [c for c in checks if c not in CHECKERS]
        if unknown:
            raise BadRequest(f"{where}: unknown condition checks {unknown}.")
        stages.append(
            {
                "name": str(item.get("name") or f"Stage {i + 1}")[:200],
                "description": str(item.get("description") or "")[:2000],
                "audience": {
                    "kind": audience["kind"],
                    "orgs": _strings(audience.get("orgs"), f"{where}: audience orgs"),
                    "users": _strings(audience.get("users"), f"{where}: audience users"),
                },
                "opens": {
                    key: _strings(opens.get(key), f"{where}: opens.{key}")
                    for key in ("branches", "tags", "files")
                },
                "not_before": _date(item.get("not_before"), f"{where}: not_before"),
                "conditions": {
                    "approvals": approvals,
                    "card_sections": _strings(
                        conditions.get("card_sections"), f"{where}: card_sections"
                    ),
                    "checks": checks,
                },
                "auto": bool(item.get("auto", False)),
            }
        )
    return stages


# ---------------------------------------------------------------- reading plans


def plan_of(session: Session, repo: Repo) -> ReleasePlan | None:
    return session.execute(
        select(ReleasePlan).where(ReleasePlan.repo_id == repo.id)
    ).scalar_one_or_none()


def stages_of(plan: ReleasePlan) -> list[dict[str, Any]]:
    value: list[dict[str, Any]] = json.loads(plan.stages)
    return value


def shown_stages(session: Session, plan: ReleasePlan) -> list[dict[str, Any]]:
    """The stages as people write them, with account names (see plan_accounts)."""
    return named_accounts.shown(session, stages_of(plan))


def effective_stage(plan: ReleasePlan) -> int:
    """The last stage whose openings are in force (-1: none)."""
    return plan.current - 1 if plan.status == "paused" else plan.current


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
    # Accounts by id (see plan_accounts): a name registered after the plan was set
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
    one) and asked per path or ref name: :mod:`modelcommons.access` makes every
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


# ---------------------------------------------------------------- conditions


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

    The account is held by id (see plan_accounts): an organisation's members have
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


# ---------------------------------------------------------------- decisions


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


# ---------------------------------------------------------------- scheduler


def due_plans(session: Session, hub: Hub) -> list[tuple[int, int]]:
    """(repo pk, next stage) for each active plan whose next automatic stage is due."""
    due = []
    plans = session.execute(select(ReleasePlan).where(ReleasePlan.status == "active")).scalars()
    for plan in plans:
        stages = stages_of(plan)
        nxt = plan.current + 1
        if nxt >= len(stages) or not stages[nxt]["auto"]:
            continue
        repo = session.get(Repo, plan.repo_id)
        if repo is None:
            continue
        if all(holds for _, holds, _ in evaluate(session, hub, repo, plan, nxt)):
            due.append((repo.id, nxt))
    return due


def run_promotion(hub: Hub, repo_pk: int, stage: int) -> bool:
    """The background job: promote ``stage`` of the plan if it is still due."""
    with hub.db.write() as session:
        repo = session.get(Repo, repo_pk)
        if repo is None:
            return False
        try:
            promote(session, hub, repo, None, "scheduled: conditions met", expected=stage)
        except (Conflict, NotFound):
            return False
    return True


def schedule_due(hub: Hub) -> int:
    """Find due promotions (read transaction, committed) and enqueue one job each."""
    with hub.db.read() as session:
        due = due_plans(session, hub)
    for repo_pk, stage in due:
        hub.jobs.promote(repo_pk, stage)
    return len(due)


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
