"""Public keys registered to users and organisations, for verifying signed revisions.

A key is the PEM of an elliptic-curve public key on one of the curves the OpenSSF
``model-signing`` library signs with (P-256, P-384, P-521). It is stored as the
library writes it into a signature (``SubjectPublicKeyInfo`` PEM), so its
fingerprint, the sha256 of that PEM, is exactly the ``publicKey.hint`` a signature
carries, and a received signature names the key to check it with. A key belongs to
one account; an organisation's keys are managed by its admins.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING, ClassVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..accounts import Principal, roles
from ..accounts.users import get_account
from ..audit.events import Event
from ..db.schema import Account
from ..errors import BadRequest, Conflict, Forbidden, NotFound
from .tables import SigningKey

if TYPE_CHECKING:
    from ..hub import Hub

#: Curves ``model-signing`` accepts (it refuses any other key).
CURVES = ("secp256r1", "secp384r1", "secp521r1")
MAX_PEM = 8192
MAX_KEYS = 50


@dataclasses.dataclass(frozen=True)
class SigningKeyAdded(Event):
    """A public key was registered to an account (``namespace``)."""

    kind: ClassVar[str] = "signing_key.added"
    namespace: str = ""
    fingerprint: str = ""
    title: str = ""


@dataclasses.dataclass(frozen=True)
class SigningKeyRemoved(Event):
    kind: ClassVar[str] = "signing_key.removed"
    namespace: str = ""
    fingerprint: str = ""


def load_public_key(pem: str) -> ec.EllipticCurvePublicKey:
    """The key in a PEM text, or ``BadRequest`` saying why not."""
    if len(pem) > MAX_PEM:
        raise BadRequest(f"A public key is at most {MAX_PEM} characters of PEM.")
    try:
        key = serialization.load_pem_public_key(pem.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError, TypeError) as exc:
        raise BadRequest(
            "Not a PEM public key ('-----BEGIN PUBLIC KEY-----' ...). To get one from "
            "a private key: openssl ec -in private.pem -pubout"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in CURVES:
        raise BadRequest(
            "model-signing signs with elliptic-curve keys on P-256, P-384 or P-521 only."
        )
    return key


def canonical_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(key: ec.EllipticCurvePublicKey) -> str:
    """What ``model-signing`` writes as the signature's ``publicKey.hint``."""
    return hashlib.sha256(canonical_pem(key)).hexdigest()


def short(fp: str) -> str:
    """A fingerprint as shown to people: ``SHA256:`` and its first 16 hex digits."""
    return f"SHA256:{fp[:16]}"


def may_manage(session: Session, principal: Principal, account: Account) -> bool:
    """Users manage their own keys; an organisation's admins manage its keys."""
    if not principal.allows("write"):
        return False
    if account.kind == "user":
        return account.id == principal.user_id or principal.is_admin
    return roles.namespace_role(session, principal, account.name) == "admin"


def add_key(
    hub: Hub, session: Session, account_name: str, pem: str, title: str, added_by: str
) -> SigningKey:
    """Register a public key to an account (the caller has been checked), audited."""
    account = get_account(session, account_name)
    key = load_public_key(pem)
    title = title.strip()
    if len(title) > 100 or any(ord(c) < 32 for c in title):
        raise BadRequest("A key's title is at most 100 printable characters.")
    fp = fingerprint(key)
    if session.scalar(select(SigningKey.id).where(SigningKey.fingerprint == fp)) is not None:
        raise Conflict(f"The key {short(fp)} is already registered.")
    count = len(list_keys(session, account))
    if count >= MAX_KEYS:
        raise BadRequest(f"An account holds at most {MAX_KEYS} signing keys.")
    row = SigningKey(
        account_id=account.id,
        fingerprint=fp,
        title=title,
        pem=canonical_pem(key).decode("ascii"),
        added_by=added_by,
    )
    session.add(row)
    session.flush()
    event = SigningKeyAdded(added_by, namespace=account.name, fingerprint=fp, title=title)
    hub.audit.record(session, event)
    return row


def list_keys(session: Session, account: Account) -> list[SigningKey]:
    return list(
        session.scalars(
            select(SigningKey).where(SigningKey.account_id == account.id).order_by(SigningKey.id)
        )
    )


def remove_key(
    hub: Hub, session: Session, principal: Principal | None, fp: str, actor: str
) -> SigningKey:
    """Remove a key by (a unique prefix of 16+ hex digits of) its fingerprint, audited."""
    row = find_key(session, fp)
    if row is None:
        raise NotFound(f"No signing key {fp!r}.")
    if principal is not None:
        account = session.get(Account, row.account_id)
        assert account is not None
        if not may_manage(session, principal, account):
            raise Forbidden("You may not manage this account's signing keys.")
    owner = session.get(Account, row.account_id)
    session.delete(row)
    hub.audit.record(
        session,
        SigningKeyRemoved(
            actor, namespace=owner.name if owner else "", fingerprint=row.fingerprint
        ),
    )
    return row


def find_key(session: Session, fp: str) -> SigningKey | None:
    fp = fp.lower().removeprefix("sha256:")
    if not (16 <= len(fp) <= 64) or any(c not in "0123456789abcdef" for c in fp):
        return None
    rows = list(
        session.scalars(select(SigningKey).where(SigningKey.fingerprint.startswith(fp)).limit(2))
    )
    return rows[0] if len(rows) == 1 else None


def describe(session: Session, row: SigningKey) -> dict[str, object]:
    account = session.get(Account, row.account_id)
    return {
        "fingerprint": row.fingerprint,
        "short": short(row.fingerprint),
        "owner": account.name if account else None,
        "title": row.title,
        "publicKey": row.pem,
        "addedBy": row.added_by,
        "createdAt": row.created_at.isoformat() + "Z",
    }
