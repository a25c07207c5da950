"""Self-authorising URLs for LFS transfers.

The client sends no Authorization header on LFS transfer URLs, so each carries
its own expiring signature. itsdangerous does the signing and expiry well;
there is no reason to hand-roll HMAC token formats.

Each purpose signs with its own salt (itsdangerous derives a separate key from
it), so a token made for one purpose never verifies as another: an upload URL
is no download URL and a download URL uploads nothing. What a token claims (the
repository, the object, the caller) is checked again by the route that takes it.
"""

from __future__ import annotations

from typing import Any, Literal

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..errors import Forbidden

Purpose = Literal["upload", "download"]


class UrlSigner:
    def __init__(self, secret: str, ttl_seconds: int, purpose: Purpose = "upload") -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=f"modelcommons-lfs-{purpose}")
        self.ttl = ttl_seconds
        self.purpose = purpose

    def sign(self, payload: dict[str, Any]) -> str:
        return self._serializer.dumps(payload)

    def verify(self, token: str) -> dict[str, Any]:
        what = f"This {self.purpose} URL"
        try:
            data = self._serializer.loads(token, max_age=self.ttl)
        except SignatureExpired as exc:
            raise Forbidden(f"{what} has expired; ask the LFS batch API again.") from exc
        except BadSignature as exc:
            raise Forbidden(f"{what}'s signature is invalid.") from exc
        if not isinstance(data, dict):
            raise Forbidden(f"{what}'s signature is invalid.")
        return data
