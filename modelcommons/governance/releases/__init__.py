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

Enforcement (:func:`openings`, read by :func:`modelcommons.governance.access.content`): while a
plan is not ended, anything some stage opens is *controlled*. A controlled item is
downloadable only by owners (anyone with a role over the repository) and by the
audiences of the stages already promoted that open it. Everything else answers like
a gated file (``X-Error-Code: GatedRepo``, 401 anonymous, 403 signed in) with an
``X-Error-Message`` naming the staged release. A paused plan revokes what its
current stage opened; a rollback returns to the previous stage.

Replacing a plan (:func:`set_plan`, for the API's PUT and the settings page alike)
keeps its position: the stages already opened must stay as they are, unless the owner
restarts the plan from before its first stage.

The modules: what a plan is (``stages``), the accounts it names, by id
(``named_accounts``), what it opens to a caller (``openings``), its conditions
(``conditions``, with the registry of named checks in ``checks``), decisions on it
(``decisions``) and automatic promotion (``scheduler``). The names below are the
package's surface.
"""

from .checks import CHECKERS, CheckContext, Checker, register_check
from .conditions import evaluate
from .decisions import (
    ACTIONS,
    act,
    approve,
    count_decisions,
    describe,
    end_plan,
    pause,
    promote,
    resume,
    rollback,
    set_plan,
)
from .openings import Openings, openings
from .scheduler import due_plans, run_promotion, schedule_due
from .stages import (
    AUDIENCES,
    MAX_STAGES,
    ROLE_RANK,
    effective_stage,
    plan_of,
    shown_stages,
    stages_of,
    validate_stages,
)

__all__ = [
    "ACTIONS",
    "AUDIENCES",
    "CHECKERS",
    "MAX_STAGES",
    "ROLE_RANK",
    "CheckContext",
    "Checker",
    "Openings",
    "act",
    "approve",
    "count_decisions",
    "describe",
    "due_plans",
    "effective_stage",
    "end_plan",
    "evaluate",
    "openings",
    "pause",
    "plan_of",
    "promote",
    "register_check",
    "resume",
    "rollback",
    "run_promotion",
    "schedule_due",
    "set_plan",
    "shown_stages",
    "stages_of",
    "validate_stages",
]
