"""The accounts a release plan names, held by id.

A plan is written with names (``users`` and ``orgs`` of a ``members`` audience, the
``org`` whose members' approvals count) and stored with the ids of those accounts,
taken when the plan is set: every named account must exist then and be of the
right kind. So a name nobody holds yet can never be registered later to join an
audience or approve a stage, and an account that goes away leaves a reference that
matches nobody. Names come back from the ids when the plan is shown (the API's GET,
the card page, the editor), so what is shown can be sent back unchanged.

Stored form: ``audience = {"kind", "user_ids": [...], "org_ids": [...]}`` and
``approvals = {"count", "role", "org_id"}`` (``org_id`` None: the repository's own
namespace, whoever owns it now). The approvals account is an organisation, or the
repository's own namespace, which may be a user: approvals "by its admins" then mean
that user alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...accounts import find_account
from ...db.schema import Account, Repo
from ...errors import BadRequest

#: How an approvals account that no longer exists is shown (matching nobody).
GONE = "(deleted account)"
KIND_WORD = {"user": "a user", "org": "an organisation"}


def _named(session: Session, name: str, kind: str, where: str, what: str) -> Account:
    account = find_account(session, name)
    if account is None:
        raise BadRequest(
            f"{where}: {what} names {name!r}, and no account has that name. A plan may "
            "name only accounts that exist, so that nobody can register a name later to "
            "get in."
        )
    if account.kind != kind:
        raise BadRequest(
            f"{where}: {what} names {account.name!r}, which is {KIND_WORD[account.kind]}, "
            f"not {KIND_WORD[kind]}."
        )
    return account


def resolve(session: Session, repo: Repo, stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validated stages as written (names) to the form stored (ids), or BadRequest
    naming the first account that is missing or of the wrong kind."""
    out = []
    for i, stage in enumerate(stages):
        where = f"stage {i + 1}"
        audience = stage["audience"]
        resolved = dict(stage)
        resolved["audience"] = {
            "kind": audience["kind"],
            "user_ids": [
                _named(session, n, "user", where, "the audience's users").id
                for n in audience["users"]
            ],
            "org_ids": [
                _named(session, n, "org", where, "the audience's orgs").id for n in audience["orgs"]
            ],
        }
        approvals = stage["conditions"]["approvals"]
        if approvals is not None:
            org_id = None
            if approvals["org"] is not None:
                account = find_account(session, approvals["org"])
                if account is None or account.id != repo.owner_id:
                    account = _named(session, approvals["org"], "org", where, "approvals")
                org_id = account.id
            resolved["conditions"] = {
                **stage["conditions"],
                "approvals": {
                    "count": approvals["count"],
                    "role": approvals["role"],
                    "org_id": org_id,
                },
            }
        out.append(resolved)
    return out


def _names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(select(Account.id, Account.name).where(Account.id.in_(wanted)))
    return {account_id: name for account_id, name in rows}


def _referenced(stages: list[dict[str, Any]]) -> set[int]:
    ids: set[int] = set()
    for stage in stages:
        ids.update(stage["audience"]["user_ids"], stage["audience"]["org_ids"])
        approvals = stage["conditions"]["approvals"]
        if approvals is not None and approvals["org_id"] is not None:
            ids.add(approvals["org_id"])
    return ids


def shown(session: Session, stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored stages as people read and write them: names in place of ids. Accounts
    that no longer exist are left out of audiences (they matched nobody)."""
    names = _names(session, _referenced(stages))
    out = []
    for stage in stages:
        audience = stage["audience"]
        doc = dict(stage)
        doc["audience"] = {
            "kind": audience["kind"],
            "orgs": [names[i] for i in audience["org_ids"] if i in names],
            "users": [names[i] for i in audience["user_ids"] if i in names],
        }
        approvals = stage["conditions"]["approvals"]
        if approvals is not None:
            org_id = approvals["org_id"]
            doc["conditions"] = {
                **stage["conditions"],
                "approvals": {
                    "count": approvals["count"],
                    "role": approvals["role"],
                    "org": None if org_id is None else names.get(org_id, GONE),
                },
            }
        out.append(doc)
    return out


def prune(session: Session, stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored stages without the audience ids of accounts that no longer exist, as
    :func:`shown` leaves them out: comparing a plan sent back from what was shown
    with the stored one must not see a change there."""
    names = _names(session, _referenced(stages))
    out = []
    for stage in stages:
        audience = stage["audience"]
        out.append(
            {
                **stage,
                "audience": {
                    "kind": audience["kind"],
                    "user_ids": [i for i in audience["user_ids"] if i in names],
                    "org_ids": [i for i in audience["org_ids"] if i in names],
                },
            }
        )
    return out


def approvals_account(session: Session, repo: Repo, approvals: dict[str, Any]) -> Account | None:
    """The account whose admins' (or other role holders') approvals count: the named
    organisation, or the repository's namespace; None when it no longer exists."""
    org_id = approvals["org_id"]
    return session.get(Account, repo.owner_id if org_id is None else org_id)
