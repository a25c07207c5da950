"""Passwords: hashed with scrypt (standard library, memory-hard), never stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from ..errors import BadRequest

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PASSWORD = 8
#: scrypt hashes whatever it is given; a cap keeps a huge "password" from costing much.
MAX_PASSWORD = 1024


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


def check_password(password: str) -> str:
    """The one rule for passwords people choose (sign-up, the account page, the CLI)."""
    if len(password) < MIN_PASSWORD:
        raise BadRequest(f"Choose a password of at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise BadRequest(f"A password may be at most {MAX_PASSWORD} characters long.")
    return password
