"""Self-authorising URLs for LFS transfers.

The client sends no Authorization header on LFS upload URLs, so each carries
its own expiring signature. itsdangerous does the signing and expiry well;
there is no reason to hand-roll HMAC token formats.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .errors import Forbidden


class UrlSigner:
    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="modelcommons-lfs")
        self.ttl = ttl_seconds

    def sign(self, payload: dict[str, Any]) -> str:
        return self._serializer.dumps(payload)

    def verify(self, token: str) -> dict[str, Any]:
        try:
            data = self._serializer.loads(token, max_age=self.ttl)
        except SignatureExpired as exc:
            raise Forbidden("This upload URL has expired; ask the LFS batch API again.") from exc
        except BadSignature as exc:
            raise Forbidden("This upload URL's signature is invalid.") from exc
        if not isinstance(data, dict):
            raise Forbidden("This upload URL's signature is invalid.")
        return data
