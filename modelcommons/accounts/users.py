"""Users, organisations and memberships. Names are unique whatever their letter case."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db.schema import Account, Membership
from ..errors import BadRequest, Conflict, NotFound
from ..validation.names import check_account_name
from .passwords import check_password, hash_password

ORG_ROLES = ("read", "contributor", "write", "admin")


def find_account(session: Session, name: str) -> Account | None:
    """The account a typed name means, whatever its letter case.

    Account names are unique case-insensitively (a unique index on ``lower(name)``,
    migration 0011), so ``ALICE`` and ``alice`` are one account, spelled as it was
    created. Names are ASCII, where SQL's ``lower`` and Python's agree.
    """
    return session.scalar(select(Account).where(func.lower(Account.name) == name.lower()))


def _claim_name(session: Session, name: str, what: str) -> None:
    """Refuse a new account whose name is taken in any letter case."""
    check_account_name(name, what)
    existing = find_account(session, name)
    if existing is not None:
        same = "" if existing.name == name else f" (by {existing.name!r}: names ignore case)"
        raise Conflict(f"The name {name!r} is already taken{same}.")


def _insert_account(session: Session, account: Account) -> Account:
    """Add a new account; the index on lower(name) settles a race with a
    concurrent sign-up of the same name as a Conflict, not an error."""
    session.add(account)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"The name {account.name!r} is already taken.") from exc
    return account


def create_user(
    session: Session,
    name: str,
    *,
    email: str | None = None,
    password: str | None = None,
    admin: bool = False,
    fullname: str = "",
) -> Account:
    _claim_name(session, name, "user name")
    account = Account(
        name=name,
        kind="user",
        email=email,
        fullname=check_fullname(fullname) or name,
        password_hash=hash_password(password) if password else None,
        is_admin=admin,
    )
    return _insert_account(session, account)


def create_org(
    session: Session, name: str, *, members: dict[str, str], fullname: str = ""
) -> Account:
    _claim_name(session, name, "organisation name")
    org = _insert_account(session, Account(name=name, kind="org", fullname=fullname or name))
    for user, role in members.items():
        add_member(session, name, user, role)
    return org


def get_account(session: Session, name: str) -> Account:
    """The account named ``name`` (in any letter case), or NotFound."""
    account = find_account(session, name)
    if account is None:
        raise NotFound(f"No user or organisation named {name!r}.")
    return account


def add_member(session: Session, org_name: str, user_name: str, role: str) -> None:
    if role not in ORG_ROLES:
        raise BadRequest(f"Unknown role {role!r}: expected one of {', '.join(ORG_ROLES)}.")
    org = get_account(session, org_name)
    user = get_account(session, user_name)
    if org.kind != "org" or user.kind != "user":
        raise BadRequest("Members are users, and they join organisations.")
    existing = session.get(Membership, (org.id, user.id))
    if existing is None:
        session.add(Membership(org_id=org.id, user_id=user.id, role=role))
    else:
        existing.role = role


def org_roles(session: Session, user_id: int) -> dict[str, str]:
    rows = session.execute(
        select(Account.name, Membership.role)
        .join(Membership, Membership.org_id == Account.id)
        .where(Membership.user_id == user_id)
    )
    return {name: role for name, role in rows}


def org_fullnames(session: Session, user_id: int) -> dict[str, str]:
    """The full names of the organisations the user belongs to, by name."""
    rows = session.execute(
        select(Account.name, Account.fullname)
        .join(Membership, Membership.org_id == Account.id)
        .where(Membership.user_id == user_id)
    )
    return {name: fullname or name for name, fullname in rows}


def check_email(value: str) -> str | None:
    """An email address as typed (None when empty): one '@' between two non-empty
    parts, no spaces or control characters. Nothing is sent to it."""
    email = value.strip()
    if not email:
        return None
    local, at, domain = email.rpartition("@")
    if (
        len(email) > 320
        or not at
        or not local
        or not domain
        or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in email)
    ):
        raise BadRequest(f"{email[:80]!r} is not an email address.")
    return email


def set_password(session: Session, user: Account, password: str) -> None:
    """Give a user a (new) password. The caller decides which sessions end."""
    if user.kind != "user":
        raise BadRequest("Only users have passwords.")
    user.password_hash = hash_password(check_password(password))


FULLNAME_MAX = 200


def check_fullname(value: str) -> str:
    """A full name as typed: one line of printable text, at most 200 characters."""
    name = " ".join(value.split())
    if len(name) > FULLNAME_MAX:
        raise BadRequest(f"A full name has at most {FULLNAME_MAX} characters.")
    if not name.isprintable():
        raise BadRequest("A full name may not contain control characters.")
    return name


def set_default_visibility(session: Session, name: str, visibility: str) -> Account:
    """Whether new repositories under ``name`` are "private" or "public" unless their
    creator asks otherwise."""
    if visibility not in ("public", "private"):
        raise BadRequest("The default visibility is 'public' or 'private'.")
    account = get_account(session, name)
    account.private_by_default = visibility == "private"
    return account


def set_fullname(session: Session, name: str, fullname: str) -> Account:
    """Set a user's or an organisation's full name (empty: the account's name)."""
    account = get_account(session, name)
    account.fullname = check_fullname(fullname) or account.name
    return account
