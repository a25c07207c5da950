"""Automatic promotion: which plans' next stage is due, and the job that promotes it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...db.schema import (
    ReleasePlan,
    Repo,
)
from ...errors import Conflict, NotFound

if TYPE_CHECKING:
    from ...hub import Hub
from .conditions import evaluate
from .decisions import promote
from .stages import stages_of


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
