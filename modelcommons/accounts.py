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

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import BadRequest, Conflict, NotFound, Unauthorized
from .names import check_account_name
from .schema import Account, Membership, Token, WebSession, utcnow

TOKEN_PREFIX = "mc_"
ORG_ROLES = ("read", "contributor", "write", "admin")
PERMISSIONS = ("read", "write", "admin")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
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


def create_user(
    session: Session,
    name: str,
    *,
    email: str | None = None,
    password: str | None = None,
    admin: bool = False,
    fullname: str = "",
) -> Account:
    check_account_name(name, "user name")
    if session.scalar(select(Account).where(Account.name == name)) is not None:
        raise Conflict(f"The name {name!r} is already taken.")
    account = Account(
        name=name,
        kind="user",
        email=email,
        fullname=fullname or name,
        password_hash=hash_password(password) if password else None,
        is_admin=admin,
    )
    session.add(account)
    session.flush()
    return account


def create_org(session: Session, name: str, *, members: dict[str, str]) -> Account:
    check_account_name(name, "organisation name")
    if session.scalar(select(Account).where(Account.name == name)) is not None:
        raise Conflict(f"The name {name!r} is already taken.")
    org = Account(name=name, kind="org", fullname=name)
    session.add(org)
    session.flush()
    for user, role in members.items():
        add_member(session, name, user, role)
    return org


def get_account(session: Session, name: str) -> Account:
    account = session.scalar(select(Account).where(Account.name == name))
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


def create_token(
    session: Session, user_name: str, *, write: bool, name: str, scope: TokenScope | None = None
) -> str:
    user = get_account(session, user_name)
    if user.kind != "user":
        raise BadRequest("Tokens belong to users, not organisations.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        Token(
            user_id=user.id,
            name=name[:100],
            token_hash=hash_token(token),
            role="fineGrained" if scope else "write" if write else "read",
            scopes=scope.to_json() if scope else None,
        )
    )
    return token


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


def authenticate(session: Session, token: str) -> tuple[Principal, bool]:
    """The principal for a token, and whether its last-used time is stale."""
    row = session.execute(
        select(Token, Account)
        .join(Account, Account.id == Token.user_id)
        .where(Token.token_hash == hash_token(token))
    ).first()
    if row is None or row[0].revoked_at is not None:
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
