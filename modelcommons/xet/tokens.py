"""The CAS's bearer tokens and its transfer URLs, signed and short-lived.

itsdangerous signs them (as the LFS URLs are signed), each kind with its own salt,
so a read token never passes as a write token and neither as a transfer URL. A
token names the repository (its row id), the revision, the scope and the caller's
user and credential: the CAS checks the credential again on every call, so a
revoked hub token stops its Xet tokens at once, not when they expire.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Literal

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..errors import Forbidden, Unauthorized

Scope = Literal["read", "write"]


@dataclasses.dataclass(frozen=True)
class Grant:
    repo_id: int
    revision: str
    scope: Scope
    user_id: int | None
    credential: str | None


class XetSigner:
    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self.ttl = ttl_seconds
        self._tokens = URLSafeTimedSerializer(secret, salt="modelcommons-xet-token")
        self._urls = URLSafeTimedSerializer(secret, salt="modelcommons-xet-xorb-range")

    def issue(self, grant: Grant) -> tuple[str, int]:
        """The token and its expiry (POSIX seconds)."""
        claims = {
            "r": grant.repo_id,
            "v": grant.revision,
            "s": grant.scope,
            "u": grant.user_id,
            "k": grant.credential,
        }
        return self._tokens.dumps(claims), int(time.time()) + self.ttl

    def verify(self, token: str) -> Grant:
        try:
            claims = self._tokens.loads(token, max_age=self.ttl)
        except SignatureExpired as exc:
            raise Unauthorized("This Xet token has expired; ask the hub for a new one.") from exc
        except BadSignature as exc:
            raise Unauthorized("This is not a valid Xet token.") from exc
        if not isinstance(claims, dict) or claims.get("s") not in ("read", "write"):
            raise Unauthorized("This is not a valid Xet token.")
        return Grant(
            int(claims["r"]), str(claims["v"]), claims["s"], claims.get("u"), claims.get("k")
        )

    def sign_range(self, blob: str, start: int, end: int) -> str:
        """A URL token for bytes ``start..end`` (inclusive) of one stored xorb."""
        return self._urls.dumps({"b": blob, "a": start, "z": end})

    def verify_range(self, token: str) -> dict[str, Any]:
        try:
            claims = self._urls.loads(token, max_age=self.ttl)
        except SignatureExpired as exc:
            raise Forbidden("This xorb URL has expired; ask for the reconstruction again.") from exc
        except BadSignature as exc:
            raise Forbidden("This xorb URL's signature is invalid.") from exc
        if not isinstance(claims, dict):
            raise Forbidden("This xorb URL's signature is invalid.")
        return claims
