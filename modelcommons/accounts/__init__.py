"""Users, organisations, memberships and access tokens.

Passwords are hashed with scrypt (standard library, memory-hard). Tokens are
random 256-bit strings, shown once and stored as their sha256.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..clock import utcnow
from ..db.schema import Account, Membership, Token, WebSession
from ..errors import BadRequest, Conflict, NotFound, Unauthorized
from ..validation.names import check_account_name

TOKEN_PREFIX = "mc_"
ORG_ROLES = ("read", "contributor", "write", "admin")
PERMISSIONS = ("read", "write", "admin")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PASSWORD = 8
#: scrypt hashes whatever it is given; a cap keeps a huge "password" from costing much.
MAX_PASSWORD = 1024
#: The longest lifetime a token may be given (about ten years).
MAX_TOKEN_DAYS = 3650
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt_b64, digest_b64 = stored.split("$")
    digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), dklen=32, **_SCRYPT)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class TokenScope:
    """What a fine-grained token may touch: named repositories and namespaces, and
    the permissions it carries there (read private content, write, administer).

    Entities are ``model:ns/name``, ``dataset:ns/name`` or ``ns:name`` (a user or
    organisation, every repository in it).
    """

    entities: frozenset[str]
    permissions: frozenset[str]

    def covers_repo(self, kind: str, repo_id: str) -> bool:
        namespace = repo_id.split("/", 1)[0]
        return f"{kind}:{repo_id}" in self.entities or f"ns:{namespace}" in self.entities

    def covers_namespace(self, namespace: str) -> bool:
        return f"ns:{namespace}" in self.entities

    def to_json(self) -> str:
        import json

        return json.dumps(
            {"entities": sorted(self.entities), "permissions": sorted(self.permissions)}
        )

    @classmethod
    def parse(cls, entities: list[str], permissions: list[str]) -> TokenScope:
        for entity in entities:
            kind, _, name = entity.partition(":")
            if kind not in ("model", "dataset", "ns") or not name:
                raise BadRequest(
                    f"Invalid token scope {entity!r}: use model:NS/NAME, "
                    "dataset:NS/NAME or ns:NAMESPACE."
                )
        bad = [p for p in permissions if p not in PERMISSIONS]
        if bad or not permissions:
            raise BadRequest(f"Token permissions must be some of {', '.join(PERMISSIONS)}.")
        return cls(frozenset(entities), frozenset(permissions))

    @classmethod
    def from_json(cls, text: str) -> TokenScope:
        import json

        data = json.loads(text)
        return cls(frozenset(data["entities"]), frozenset(data["permissions"]))


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who is making a request, and with what token."""

    user_id: int
    name: str
    token_role: str  # "read" | "write" | "fineGrained"
    token_name: str
    is_admin: bool = False
    #: Set for fine-grained tokens: nothing outside it is reachable with this token.
    scope: TokenScope | None = None
    #: Which credential this is ("token:ID" or "session:SHA256"), so that what was
    #: handed out to it (signed LFS download URLs) can be checked again later.
    credential: str | None = None

    def allows(self, permission: str) -> bool:
        """Whether the token carries ``permission`` (read, write or admin) at all."""
        if self.scope is not None:
            return permission in self.scope.permissions
        return permission == "read" or self.token_role == "write"


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
        fullname=fullname or name,
        password_hash=hash_password(password) if password else None,
        is_admin=admin,
    )
    return _insert_account(session, account)


def create_org(session: Session, name: str, *, members: dict[str, str]) -> Account:
    _claim_name(session, name, "organisation name")
    org = _insert_account(session, Account(name=name, kind="org", fullname=name))
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


def check_password(password: str) -> str:
    """The one rule for passwords people choose (sign-up, the account page, the CLI)."""
    if len(password) < MIN_PASSWORD:
        raise BadRequest(f"Choose a password of at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise BadRequest(f"A password may be at most {MAX_PASSWORD} characters long.")
    return password


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


def token_expiry(
    now: dt.datetime, *, days: float | None = None, until: str | None = None
) -> dt.datetime | None:
    """When a new token stops working: ``days`` from ``now``, or ``until`` (an ISO
    date, meaning the end of that day in UTC, or a date and time); None for never."""
    if days is not None and until is not None:
        raise BadRequest("Give the expiry as a number of days or as a date, not both.")
    if days is not None:
        if not 0 < days <= MAX_TOKEN_DAYS:
            raise BadRequest(
                f"A token's lifetime is more than 0 and at most {MAX_TOKEN_DAYS} days."
            )
        return now + dt.timedelta(days=days)
    if until is None or not until.strip():
        return None
    text = until.strip()
    try:
        if len(text) == 10:  # a date: the token works through that day (UTC)
            expires = dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
            expires += dt.timedelta(days=1)
        else:
            expires = dt.datetime.fromisoformat(text)
            if expires.tzinfo is not None:
                expires = expires.astimezone(dt.UTC).replace(tzinfo=None)
    except ValueError as exc:
        raise BadRequest(
            f"Invalid expiry {text!r}: use a date (YYYY-MM-DD) or a date and time."
        ) from exc
    if expires <= now:
        raise BadRequest(f"The expiry {text} has already passed.")
    if expires > now + dt.timedelta(days=MAX_TOKEN_DAYS + 1):
        raise BadRequest(f"A token's lifetime is at most {MAX_TOKEN_DAYS} days.")
    return expires


def create_token(
    session: Session,
    user_name: str,
    *,
    write: bool,
    name: str,
    scope: TokenScope | None = None,
    expires_at: dt.datetime | None = None,
) -> str:
    user = get_account(session, user_name)
    if user.kind != "user":
        raise BadRequest("Tokens belong to users, not organisations.")
    if not name.strip():
        raise BadRequest("Give the token a name.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        Token(
            user_id=user.id,
            name=name[:100],
            token_hash=hash_token(token),
            role="fineGrained" if scope else "write" if write else "read",
            scopes=scope.to_json() if scope else None,
            expires_at=expires_at,
        )
    )
    return token


def token_state(token: Token, now: dt.datetime) -> str:
    """Whether the token is "active", "expired" or "revoked"."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


def revoke_token(session: Session, user_name: str, token_name: str) -> int:
    user = get_account(session, user_name)
    tokens = session.scalars(
        select(Token).where(
            Token.user_id == user.id, Token.name == token_name, Token.revoked_at.is_(None)
        )
    ).all()
    for token in tokens:
        token.revoked_at = utcnow()
    if not tokens:
        raise NotFound(f"{user_name} has no active token named {token_name!r}.")
    return len(tokens)


def list_tokens(session: Session, user_name: str) -> list[Token]:
    user = get_account(session, user_name)
    return list(session.scalars(select(Token).where(Token.user_id == user.id).order_by(Token.id)))


def authenticate(session: Session, token: str, now: dt.datetime) -> tuple[Principal, bool]:
    """The principal for a token, and whether its last-used time is stale.

    Unknown, revoked and expired tokens get the same answer (``now`` is the hub's
    clock), so a caller cannot tell them apart."""
    row = session.execute(
        select(Token, Account)
        .join(Account, Account.id == Token.user_id)
        .where(Token.token_hash == hash_token(token))
    ).first()
    if row is None or token_state(row[0], now) != "active":
        raise Unauthorized(INVALID_CREDENTIALS, code="InvalidCredentials")
    tok, user = row
    stale = tok.last_used_at is None or utcnow() - tok.last_used_at > dt.timedelta(seconds=60)
    return _token_principal(tok, user), stale


def _token_principal(tok: Token, user: Account) -> Principal:
    return Principal(
        user_id=user.id,
        name=user.name,
        token_role=tok.role,
        token_name=tok.name,
        is_admin=user.is_admin and tok.scopes is None,
        scope=TokenScope.from_json(tok.scopes) if tok.scopes else None,
        credential=f"token:{tok.id}",
    )


def browser_principal(user: Account, session_hash: str) -> Principal:
    """A signed-in browser: the user's full rights, as its pages act."""
    return Principal(
        user_id=user.id,
        name=user.name,
        token_role="write",
        token_name="browser",
        is_admin=user.is_admin,
        credential=f"session:{session_hash}",
    )


def principal_for_credential(session: Session, credential: str, user_id: int) -> Principal | None:
    """The principal of a credential seen earlier (``Principal.credential``), as it
    stands now: None when the token was revoked, the browser session ended, or the
    credential is not ``user_id``'s."""
    kind, _, key = credential.partition(":")
    if kind == "token" and key.isdigit():
        row = session.execute(
            select(Token, Account)
            .join(Account, Account.id == Token.user_id)
            .where(Token.id == int(key))
        ).first()
        if row is None or row[0].revoked_at is not None or row[1].id != user_id:
            return None
        return _token_principal(row[0], row[1])
    if kind == "session":
        user = session.execute(
            select(Account)
            .join(WebSession, WebSession.user_id == Account.id)
            .where(WebSession.id_hash == key, WebSession.expires_at > utcnow())
        ).scalar_one_or_none()
        if user is None or user.id != user_id:
            return None
        return browser_principal(user, key)
    return None


def touch_token(session: Session, token: str) -> None:
    tok = session.scalar(select(Token).where(Token.token_hash == hash_token(token)))
    if tok is not None:
        tok.last_used_at = utcnow()
