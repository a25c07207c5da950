"""A user's webhooks: create, list, read, update, enable, disable, delete.

The secret is sent with every delivery (``X-Webhook-Secret``, as the Hugging Face
Hub does) and signs it (``X-Webhook-Signature``), so the hub must be able to read
it: it is stored encrypted (AES-GCM, with a key derived from the hub's secret key),
never in clear, and shown only to the webhook's owner.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import utcnow
from ..db.community_tables import Webhook
from ..errors import BadRequest, NotFound
from ..validation.names import check_name

DOMAINS = ("repo", "discussion")
WATCH_TYPES = ("model", "dataset", "user", "org")
MAX_WATCHED = 100
MAX_URL = 2000
MAX_SECRET = 200
MAX_PER_USER = 100


class WebhookSecrets:
    """Encrypts and decrypts webhook secrets with a key derived from the hub's."""

    def __init__(self, hub_secret: str) -> None:
        key = hashlib.sha256(b"modelcommons webhook secrets\0" + hub_secret.encode()).digest()
        self._aead = AESGCM(key)

    def seal(self, secret: str) -> str:
        nonce = secrets.token_bytes(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, secret.encode(), None)).decode()

    def open(self, sealed: str | None) -> str | None:
        if not sealed:
            return None
        raw = base64.b64decode(sealed)
        return self._aead.decrypt(raw[:12], raw[12:], None).decode()


def check_url(url: object) -> str:
    """An absolute http(s) URL without credentials. Where it may point is checked at
    every delivery, on the resolved address (see ``delivery``)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise BadRequest(f"'url' must be an http or https URL of at most {MAX_URL} characters.")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise BadRequest("'url' may not contain spaces or control characters.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest("'url' must be an absolute http or https URL.")
    if parts.username is not None or parts.password is not None:
        raise BadRequest("'url' may not carry credentials; use the webhook's secret.")
    try:
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError as exc:
        raise BadRequest("'url' has an invalid port.") from exc
    return url


def check_watched(watched: object) -> list[dict[str, str]]:
    if not isinstance(watched, list) or not watched or len(watched) > MAX_WATCHED:
        raise BadRequest(f"'watched' lists 1 to {MAX_WATCHED} items.")
    out = []
    for item in watched:
        if not isinstance(item, dict) or item.get("type") not in WATCH_TYPES:
            raise BadRequest(f"Each watched item has a 'type' of {', '.join(WATCH_TYPES)}.")
        name = item.get("name")
        if not isinstance(name, str):
            raise BadRequest("Each watched item has a 'name'.")
        if item["type"] in ("model", "dataset"):
            if name.count("/") != 1:
                raise BadRequest(f"{name[:100]!r} is not a repository id (namespace/name).")
            for part in name.split("/"):
                check_name(part, "watched repository")
        else:
            check_name(name, "watched namespace")
        out.append({"type": item["type"], "name": name})
    return out


def check_domains(domains: object) -> list[str]:
    if domains is None:
        return list(DOMAINS)
    if not isinstance(domains, list) or not domains or any(d not in DOMAINS for d in domains):
        raise BadRequest(f"'domains' lists some of {', '.join(DOMAINS)}.")
    return sorted(set(domains), key=DOMAINS.index)


def check_secret(secret: object) -> str | None:
    if secret is None:
        return None
    if not isinstance(secret, str) or len(secret) > MAX_SECRET:
        raise BadRequest(f"'secret' is a string of at most {MAX_SECRET} characters.")
    return secret or None


def document(hook: Webhook, keys: WebhookSecrets) -> dict[str, Any]:
    return {
        "id": hook.id,
        "url": hook.url,
        "watched": json.loads(hook.watched),
        "domains": json.loads(hook.domains),
        "secret": keys.open(hook.secret),
        "disabled": hook.disabled,
        "job": None,
    }


def create(
    session: Session,
    keys: WebhookSecrets,
    owner_id: int,
    *,
    url: object,
    watched: object,
    domains: object,
    secret: object,
) -> Webhook:
    count = len(session.scalars(select(Webhook.id).where(Webhook.owner_id == owner_id)).all())
    if count >= MAX_PER_USER:
        raise BadRequest(f"At most {MAX_PER_USER} webhooks per user.")
    plain = check_secret(secret)
    hook = Webhook(
        id=secrets.token_hex(12),
        owner_id=owner_id,
        url=check_url(url),
        watched=json.dumps(check_watched(watched)),
        domains=json.dumps(check_domains(domains)),
        secret=keys.seal(plain) if plain else None,
        disabled=False,
    )
    session.add(hook)
    session.flush()
    return hook


def mine(session: Session, owner_id: int) -> list[Webhook]:
    return list(
        session.scalars(
            select(Webhook).where(Webhook.owner_id == owner_id).order_by(Webhook.created_at)
        )
    )


def get(session: Session, owner_id: int, hook_id: str) -> Webhook:
    """The caller's webhook; someone else's is as missing as one that does not exist."""
    hook = session.get(Webhook, hook_id) if len(hook_id) <= 24 else None
    if hook is None or hook.owner_id != owner_id:
        raise NotFound(f"Webhook {hook_id[:40]!r} not found.")
    return hook


def update(
    session: Session,
    keys: WebhookSecrets,
    hook: Webhook,
    body: dict[str, Any],
) -> Webhook:
    if "url" in body:
        hook.url = check_url(body["url"])
    if "watched" in body:
        hook.watched = json.dumps(check_watched(body["watched"]))
    if "domains" in body:
        hook.domains = json.dumps(check_domains(body["domains"]))
    if "secret" in body:
        plain = check_secret(body["secret"])
        hook.secret = keys.seal(plain) if plain else None
    hook.updated_at = utcnow()
    return hook
