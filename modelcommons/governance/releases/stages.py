"""What a plan is: its stages, checked and normalised when a plan is set, and read back."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...db.schema import (
    ReleasePlan,
    Repo,
)
from ...errors import BadRequest
from . import named_accounts

if TYPE_CHECKING:
    pass
from .checks import CHECKERS

AUDIENCES = ("owners", "members", "approved", "gated", "public")


ROLE_RANK = {"read": 0, "contributor": 1, "write": 2, "admin": 3}


MAX_STAGES = 32


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


def plan_of(session: Session, repo: Repo) -> ReleasePlan | None:
    return session.execute(
        select(ReleasePlan).where(ReleasePlan.repo_id == repo.id)
    ).scalar_one_or_none()


def stages_of(plan: ReleasePlan) -> list[dict[str, Any]]:
    value: list[dict[str, Any]] = json.loads(plan.stages)
    return value


def shown_stages(session: Session, plan: ReleasePlan) -> list[dict[str, Any]]:
    """The stages as people write them, with account names (see named_accounts)."""
    return named_accounts.shown(session, stages_of(plan))


def effective_stage(plan: ReleasePlan) -> int:
    """The last stage whose openings are in force (-1: none)."""
    return plan.current - 1 if plan.status == "paused" else plan.current
