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

#: "propose": a reader's write token for opening or updating their own pull request
#: (``create_pr``): they may send xorbs and shards, as writers do, for that commit.
Scope = Literal["read", "write", "propose"]


@dataclasses.dataclass(frozen=True)
class Grant:
    repo_id: int
    revision: str
    scope: Scope
    user_id: int | None
    credential: str | None
    #: Issued by the hub to itself (``commons xet migrate``), never over HTTP: no
    #: caller behind it, and every stored xorb is the hub's to build on.
    system: bool = False


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

    def issue_system(self, repo_id: int, ttl_seconds: int) -> tuple[str, int]:
        """A write token for the hub's own uploads into ``repo_id``'s CAS space."""
        exp = int(time.time()) + ttl_seconds
        claims = {"r": repo_id, "v": "main", "s": "write", "u": None, "k": None, "y": exp}
        return self._tokens.dumps(claims), exp

    def verify(self, token: str) -> Grant:
        expired = Unauthorized("This Xet token has expired; ask the hub for a new one.")
        try:
            claims = self._tokens.loads(token, max_age=self.ttl)
        except SignatureExpired as exc:
            # Its signature was good (checked before its age): a system token may be older.
            claims = self._tokens.load_payload(exc.payload) if exc.payload is not None else None
            if not isinstance(claims, dict) or not isinstance(claims.get("y"), int):
                raise expired from exc
        except BadSignature as exc:
            raise Unauthorized("This is not a valid Xet token.") from exc
        if not isinstance(claims, dict) or claims.get("s") not in ("read", "write", "propose"):
            raise Unauthorized("This is not a valid Xet token.")
        system = isinstance(claims.get("y"), int)
        if system and claims["y"] < time.time():
            raise expired
        return Grant(
            int(claims["r"]),
            str(claims["v"]),
            claims["s"],
            claims.get("u"),
            claims.get("k"),
            system,
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
