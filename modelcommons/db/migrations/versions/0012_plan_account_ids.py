"""Release plans name accounts by id

Revision ID: 0012
Revises: 0011

Plans used to store the names in a stage's audience (``users``, ``orgs``) and its
approvals ``org``, and matched them when someone downloaded or approved: a name
nobody had yet went to whoever registered it later. Stages now store account ids
(``user_ids``, ``org_ids``, ``org_id``), taken when the plan is set.

Names are converted as they matched before, exactly: a user name that is a user,
an organisation name that is an organisation, and an approvals name that is any
account (a user there meant that user alone). A name that matched nobody is
dropped from its audience, where it still matches nobody; an approvals account
that does not exist becomes id 0, which no account has (nobody's approval counts,
as before). Every drop is logged.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

log = logging.getLogger("modelcommons.migrations")

#: The approvals account of a plan whose approvals named no existing account.
NOBODY = 0


def _convert(
    stage: dict[str, Any], accounts: dict[str, tuple[int, str]], where: str
) -> dict[str, Any]:
    audience = dict(stage.get("audience") or {"kind": "public"})
    ids: dict[str, list[int]] = {"users": [], "orgs": []}
    for key, kind in (("users", "user"), ("orgs", "org")):
        for name in audience.pop(key, None) or []:
            found = accounts.get(name)
            if found is not None and found[1] == kind:
                ids[key].append(found[0])
            else:
                what = "a user" if kind == "user" else "an organisation"
                why = "no account has that name" if found is None else f"it is not {what}"
                log.warning("%s: dropped %s %r from the audience (%s)", where, kind, name, why)
    audience["user_ids"], audience["org_ids"] = ids["users"], ids["orgs"]
    out = {**stage, "audience": audience}
    conditions = dict(stage.get("conditions") or {})
    approvals = conditions.get("approvals")
    if approvals:
        approvals = dict(approvals)
        name = approvals.pop("org", None)
        org_id = None
        if name is not None:
            found = accounts.get(name)
            if found is None:
                log.warning(
                    "%s: the approvals organisation %r does not exist; nobody's approval "
                    "counts until the plan names an organisation",
                    where,
                    name,
                )
                org_id = NOBODY
            else:
                org_id = found[0]
                if found[1] != "org":
                    log.warning(
                        "%s: approvals name the user %r (only their approval counts); "
                        "saving the plan again needs an organisation there",
                        where,
                        name,
                    )
        approvals["org_id"] = org_id
        conditions["approvals"] = approvals
        out["conditions"] = conditions
    return out


def _revert(stage: dict[str, Any], names: dict[int, str]) -> dict[str, Any]:
    audience = dict(stage["audience"])
    user_ids, org_ids = audience.pop("user_ids", []), audience.pop("org_ids", [])
    audience["users"] = [names[i] for i in user_ids if i in names]
    audience["orgs"] = [names[i] for i in org_ids if i in names]
    out = {**stage, "audience": audience}
    approvals = (stage.get("conditions") or {}).get("approvals")
    if approvals:
        approvals = dict(approvals)
        org_id = approvals.pop("org_id", None)
        # "-" is reserved: no account can ever take it, so it still matches nobody.
        approvals["org"] = None if org_id is None else names.get(org_id, "-")
        out["conditions"] = {**stage["conditions"], "approvals": approvals}
    return out


def _plans(conn: sa.Connection) -> list[tuple[int, str, list[dict[str, Any]]]]:
    rows = conn.execute(
        sa.text(
            "SELECT p.id, r.namespace || '/' || r.name, p.stages "
            "FROM release_plans p JOIN repos r ON r.id = p.repo_id ORDER BY p.id"
        )
    ).all()
    return [(pid, repo_id, json.loads(stages)) for pid, repo_id, stages in rows]


def upgrade() -> None:
    conn = op.get_bind()
    accounts = {
        name: (account_id, kind)
        for account_id, name, kind in conn.execute(sa.text("SELECT id, name, kind FROM accounts"))
    }
    for plan_id, repo_id, stages in _plans(conn):
        converted = [
            _convert(stage, accounts, f"release plan of {repo_id}, stage {i + 1}")
            for i, stage in enumerate(stages)
        ]
        conn.execute(
            sa.text("UPDATE release_plans SET stages = :stages WHERE id = :id"),
            {"stages": json.dumps(converted), "id": plan_id},
        )


def downgrade() -> None:
    conn = op.get_bind()
    names = {i: n for i, n in conn.execute(sa.text("SELECT id, name FROM accounts"))}
    for plan_id, _repo_id, stages in _plans(conn):
        conn.execute(
            sa.text("UPDATE release_plans SET stages = :stages WHERE id = :id"),
            {"stages": json.dumps([_revert(s, names) for s in stages]), "id": plan_id},
        )
