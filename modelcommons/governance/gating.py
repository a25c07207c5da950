"""Gated repositories: the setting, the request form, and append-only access records.

Whether a caller may download is decided in :func:`modelcommons.governance.access.content`;
this module holds the data it reads and the steps that change it.

The gating mode is the repository setting when one was made (API or settings page),
else the ``gated`` key of README.md's front matter on main (``true``/``"auto"`` or
``"manual"``).

**Licence text.** What a user agrees to is defined as these card keys on main:
``license``, ``license_name``, ``license_link`` and ``extra_gated_prompt``. Its hash is
the sha256 of their canonical JSON (keys sorted, ``null`` for absent ones, compact
separators, UTF-8). Changing any of them makes earlier acceptances stop granting
access, so users must accept again.

**Records.** Every step (request, accept, reject, cancel, grant) appends an
:class:`~modelcommons.schema.AccessRecord`; nothing is updated. The newest record of
a (repository, user) pair is the current status. An ``accepted`` record grants access
while its licence hash equals the current one and ``expires_at`` has not passed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import audit
from ..accounts import Principal, find_account, roles
from ..clock import utcnow
from ..db.schema import AccessRecord, Account, GatingSetting, Repo
from ..errors import BadRequest, Conflict, NotFound
from ..storage import repos

if TYPE_CHECKING:
    from ..hub import Hub

MODES = ("off", "auto", "manual")
STATUSES = ("pending", "accepted", "rejected")
LICENCE_KEYS = ("license", "license_name", "license_link", "extra_gated_prompt")
FIELD_TYPES = ("text", "checkbox", "date_picker", "country", "select")
MAX_REASON = 200
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def parse_mode(value: object) -> str:
    """A gating value as the API, the form or the card gives it, as one of MODES."""
    if value is None or value is False or value in ("false", "off", "False", ""):
        return "off"
    if value is True or value in ("true", "True", "auto"):
        return "auto"
    if value == "manual":
        return "manual"
    raise BadRequest(f'\'gated\' must be "auto", "manual" or false, not {value!r}.')


def card_mode(card: dict[str, Any]) -> str:
    try:
        return parse_mode(card.get("gated"))
    except BadRequest:
        return "off"


def setting(session: Session, repo: Repo) -> GatingSetting | None:
    return session.get(GatingSetting, repo.id)


def mode_of(session: Session, repo: Repo) -> str:
    row = setting(session, repo)
    if row is not None and row.mode is not None:
        return row.mode
    return card_mode(repos.card_of(repo))


def licence_sha256(card: dict[str, Any]) -> str:
    text = {key: card.get(key) for key in LICENCE_KEYS}
    canonical = json.dumps(text, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class FormField:
    name: str  # the HTML input name
    label: str
    type: str
    options: tuple[tuple[str, str], ...] = ()  # (label, value) for select


def form_fields(card: dict[str, Any]) -> list[FormField]:
    """``extra_gated_fields`` of the card: {label: type} or {label: {type, options}}."""
    raw = card.get("extra_gated_fields")
    if not isinstance(raw, dict):
        return []
    out: list[FormField] = []
    for i, (label, spec) in enumerate(list(raw.items())[:50]):
        kind = spec.get("type") if isinstance(spec, dict) else spec
        kind = kind if kind in FIELD_TYPES else "text"
        options: list[tuple[str, str]] = []
        if kind == "select" and isinstance(spec, dict) and isinstance(spec.get("options"), list):
            for opt in spec["options"]:
                if isinstance(opt, dict):
                    value = str(opt.get("value", opt.get("label", "")))
                    options.append((str(opt.get("label", value)), value))
                else:
                    options.append((str(opt), str(opt)))
        out.append(FormField(f"field_{i}", str(label), str(kind), tuple(options)))
    return out


def answers_from(fields: list[FormField], get: Any) -> dict[str, Any]:
    """Validated answers, ``get(name) -> str`` reading the submitted form. All are required."""
    answers: dict[str, Any] = {}
    for f in fields:
        value = str(get(f.name) or "").strip()[:1000]
        if f.type == "checkbox":
            if not value:
                raise BadRequest(f"Please tick {f.label!r}.")
            answers[f.label] = True
            continue
        if not value:
            raise BadRequest(f"Please fill in {f.label!r}.")
        if f.type == "date_picker":
            try:
                value = dt.date.fromisoformat(value).isoformat()
            except ValueError as exc:
                raise BadRequest(f"{f.label!r} must be a date (YYYY-MM-DD).") from exc
        elif f.type == "country":
            value = value.upper()
            if not _COUNTRY.match(value):
                raise BadRequest(f"{f.label!r} must be a two-letter country code.")
        elif f.type == "select" and value not in {v for _, v in f.options}:
            raise BadRequest(f"Choose one of the options for {f.label!r}.")
        answers[f.label] = value
    return answers


def newest(session: Session, repo: Repo, user_id: int) -> AccessRecord | None:
    return session.scalars(
        select(AccessRecord)
        .where(AccessRecord.repo_id == repo.id, AccessRecord.user_id == user_id)
        .order_by(AccessRecord.id.desc())
        .limit(1)
    ).first()


def grants_access(record: AccessRecord | None, card: dict[str, Any], now: dt.datetime) -> bool:
    return (
        record is not None
        and record.status == "accepted"
        and record.licence_sha256 == licence_sha256(card)
        and (record.expires_at is None or record.expires_at > now)
    )


def has_access(session: Session, repo: Repo, user_id: int) -> bool:
    return grants_access(newest(session, repo, user_id), repos.card_of(repo), utcnow())


def describe(record: AccessRecord | None, card: dict[str, Any]) -> str:
    """For pages: none, pending, accepted, rejected, expired or outdated (licence changed)."""
    if record is None:
        return "none"
    if record.status != "accepted":
        return record.status
    if record.licence_sha256 != licence_sha256(card):
        return "outdated"
    if record.expires_at is not None and record.expires_at <= utcnow():
        return "expired"
    return "accepted"


def _head(session: Session, repo: Repo) -> str:
    return repos.resolve(session, repo, repos.DEFAULT_BRANCH)


def _expiry(session: Session, repo: Repo, now: dt.datetime) -> dt.datetime | None:
    row = setting(session, repo)
    if row is None or not row.access_seconds:
        return None
    return now + dt.timedelta(seconds=row.access_seconds)


def _append(
    hub: Hub,
    session: Session,
    repo: Repo,
    user: Account,
    *,
    status: str,
    actor: str,
    licence: str,
    answers: str,
    reason: str | None = None,
) -> AccessRecord:
    now = utcnow()
    record = AccessRecord(
        repo_id=repo.id,
        user_id=user.id,
        status=status,
        actor=actor,
        revision=_head(session, repo),
        licence_sha256=licence,
        fields=answers,
        reason=reason,
        created_at=now,
        expires_at=_expiry(session, repo, now) if status == "accepted" else None,
    )
    session.add(record)
    session.flush()
    if status == "accepted":
        hub.audit.record(
            session,
            audit.LicenceAccepted.of(
                repo,
                actor,
                user=user.name,
                revision=record.revision,
                licence_sha256=licence,
                record=record.id,
            ),
        )
    return record


def _account(session: Session, name: str) -> Account:
    user = find_account(session, name)  # as typed by a reviewer, in any letter case
    if user is None or user.kind != "user":
        raise NotFound(f"No user named {name!r}.")
    return user


def set_mode(
    hub: Hub,
    session: Session,
    principal: Principal | None,
    repo: Repo,
    *,
    mode: str | None,
    access_seconds: int | bool | None = False,
) -> None:
    """Set the gating mode (None: leave; "card": follow the card) and the expiry
    (False: leave; None: acceptances never expire)."""
    roles.require_admin(session, principal, repo)
    row = setting(session, repo)
    if row is None:
        row = GatingSetting(repo_id=repo.id, mode=None, access_seconds=None)
        session.add(row)
    before = (mode_of(session, repo), row.access_seconds)
    if mode is not None:
        row.mode = None if mode == "card" else mode
    if access_seconds is not False:
        assert not isinstance(access_seconds, bool)
        row.access_seconds = access_seconds
    row.updated_at = utcnow()
    session.flush()
    after = (mode_of(session, repo), row.access_seconds)
    if after != before:
        hub.audit.record(
            session,
            audit.GatingChanged.of(
                repo,
                principal.name if principal else None,
                mode=after[0],
                access_seconds=after[1],
            ),
        )


def request_access(
    hub: Hub, session: Session, principal: Principal, repo: Repo, answers: dict[str, Any]
) -> AccessRecord:
    """The signed-in user submits the form: pending (manual) or accepted at once (auto)."""
    roles.require_read(session, principal, repo)
    mode = mode_of(session, repo)
    if mode == "off":
        raise BadRequest(f"{repo.repo_id} is not gated.")
    user = _account(session, principal.name)
    card = repos.card_of(repo)
    current = newest(session, repo, user.id)
    state = describe(current, card)
    if state == "rejected":
        raise Conflict("Your request to access this repository was rejected.")
    if state in ("pending", "accepted"):
        raise Conflict(f"You already have a {state} request for this repository.")
    licence = licence_sha256(card)
    text = json.dumps(answers, sort_keys=True)
    hub.audit.record(
        session,
        audit.AccessRequested.of(
            repo,
            principal.name,
            user=user.name,
            licence_sha256=licence,
        ),
    )
    status = "accepted" if mode == "auto" else "pending"
    return _append(
        hub, session, repo, user, status=status, actor=user.name, licence=licence, answers=text
    )


def decide(
    hub: Hub,
    session: Session,
    principal: Principal | None,
    repo: Repo,
    *,
    user: str | None,
    request_id: str | None,
    status: str,
    reason: str | None = None,
) -> AccessRecord:
    """Accept, reject or cancel (back to pending) a user's request, appending a record."""
    roles.require_admin(session, principal, repo)
    assert principal is not None
    if status not in STATUSES:
        raise BadRequest("'status' must be accepted, rejected or pending.")
    if reason is not None and (status != "rejected" or len(reason) > MAX_REASON):
        raise BadRequest(f"A rejection reason goes with 'rejected', up to {MAX_REASON} characters.")
    if user:
        account = _account(session, user)
    elif request_id and request_id.isdigit():
        found = session.get(AccessRecord, int(request_id))
        if found is None or found.repo_id != repo.id:
            raise NotFound(f"No access request {request_id!r} on {repo.repo_id}.")
        account = session.get(Account, found.user_id)  # type: ignore[assignment]
        assert account is not None
    else:
        raise BadRequest("Name the request by 'user' or 'requestId'.")
    current = newest(session, repo, account.id)
    if current is None:
        raise NotFound(f"{account.name} has not requested access to {repo.repo_id}.")
    if describe(current, repos.card_of(repo)) == status:
        # As on the Hub: deciding what is already decided is refused, and records nothing.
        raise Conflict(f"{account.name}'s access request is already {status}.")
    # An acceptance keeps the licence the user agreed to when they asked.
    record = _append(
        hub,
        session,
        repo,
        account,
        status=status,
        actor=principal.name,
        licence=current.licence_sha256,
        answers=current.fields,
        reason=reason,
    )
    hub.audit.record(
        session,
        audit.AccessDecided.of(
            repo,
            principal.name,
            user=account.name,
            status=status,
            reason=reason,
        ),
    )
    return record


def grant(
    hub: Hub, session: Session, principal: Principal | None, repo: Repo, user: str
) -> AccessRecord:
    """Give a user access without a request, under the current licence text."""
    roles.require_admin(session, principal, repo)
    assert principal is not None
    account = _account(session, user)
    card = repos.card_of(repo)
    if describe(newest(session, repo, account.id), card) == "accepted":
        raise Conflict(f"{account.name} already has access to {repo.repo_id}.")
    hub.audit.record(
        session,
        audit.AccessGranted.of(
            repo,
            principal.name,
            user=account.name,
        ),
    )
    return _append(
        hub,
        session,
        repo,
        account,
        status="accepted",
        actor=principal.name,
        licence=licence_sha256(card),
        answers="{}",
    )


def current_requests(
    session: Session, repo: Repo, status: str, *, offset: int = 0, limit: int = 100
) -> list[tuple[AccessRecord, Account]]:
    """Each user's newest record with this status, oldest first."""
    newest_ids = (
        select(func.max(AccessRecord.id))
        .where(AccessRecord.repo_id == repo.id)
        .group_by(AccessRecord.user_id)
    )
    rows = session.execute(
        select(AccessRecord, Account)
        .join(Account, Account.id == AccessRecord.user_id)
        .where(AccessRecord.id.in_(newest_ids), AccessRecord.status == status)
        .order_by(AccessRecord.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return [(r, a) for r, a in rows]


def shared_email(session: Session, repo: Repo, user_ids: list[int]) -> set[int]:
    """Which of these users asked for access themselves (and so shared their email
    address with the repository's admins, as on the Hub); a user granted access by an
    admin without asking shared nothing."""
    if not user_ids:
        return set()
    rows = session.execute(
        select(AccessRecord.user_id)
        .join(Account, Account.id == AccessRecord.user_id)
        .where(
            AccessRecord.repo_id == repo.id,
            AccessRecord.user_id.in_(user_ids),
            AccessRecord.actor == Account.name,
        )
        .distinct()
    )
    return {user_id for (user_id,) in rows}


def history(session: Session, repo: Repo) -> list[tuple[AccessRecord, Account]]:
    rows = session.execute(
        select(AccessRecord, Account)
        .join(Account, Account.id == AccessRecord.user_id)
        .where(AccessRecord.repo_id == repo.id)
        .order_by(AccessRecord.id)
    ).all()
    return [(r, a) for r, a in rows]
