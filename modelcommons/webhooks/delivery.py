"""Sending one delivery: signed, to a public address only, retried by the job queue.

The guard against server-side request forgery is applied where it counts: at each
delivery, on the addresses the URL's host resolves to then (not when the webhook was
saved, since DNS can change), and the request goes to the address that was checked
(so a second lookup cannot return another). Every address the host resolves to must
be public (``ipaddress``'s ``is_global``: not loopback, private, link-local such as
cloud metadata at 169.254.169.254, shared, reserved or multicast) or inside
``webhook_allowed_networks``. Redirects are not followed, proxies from the
environment are not used, and the answer's body is not read beyond a little.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..clock import utcnow
from ..db.community_tables import Webhook, WebhookDelivery
from ..settings import Settings

if TYPE_CHECKING:
    from ..hub import Hub

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
USER_AGENT = "modelcommons-webhooks/1"


class DeliveryRefused(Exception):
    """The URL points where deliveries may not go: not retried."""


class DeliveryFailed(Exception):
    """The receiver did not take it (connection error, timeout, non-2xx): retried."""


def allowed_networks(settings: Settings) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    for part in settings.webhook_allowed_networks.split(","):
        if part.strip():
            out.append(ipaddress.ip_network(part.strip(), strict=False))
    return out


def address_allowed(ip: IP, allowed: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in allowed if net.version == ip.version):
        return True
    return ip.is_global and not ip.is_multicast


def pinned_address(settings: Settings, host: str, port: int) -> IP:
    """The address to connect to: every address ``host`` resolves to must be allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DeliveryFailed(f"cannot resolve {host}: {exc}") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise DeliveryFailed(f"{host} has no address")
    allowed = allowed_networks(settings)
    for ip in addresses:
        if not address_allowed(ip, allowed):
            raise DeliveryRefused(
                f"{host} resolves to {ip}, which is not a public address (set "
                "webhook_allowed_networks to allow it)"
            )
    return addresses[0]


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send(settings: Settings, url: str, body: bytes, secret: str | None) -> int:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    ip = pinned_address(settings, host, port)
    netloc = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
    target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    headers = {
        "Host": parts.netloc.rsplit("@", 1)[-1],
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    if secret:
        headers["X-Webhook-Secret"] = secret  # what the Hugging Face Hub sends
        headers["X-Webhook-Signature"] = signature(secret, body)
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    try:
        with httpx.Client(
            timeout=settings.webhook_timeout_seconds, follow_redirects=False, trust_env=False
        ) as client:
            response = client.post(target, content=body, headers=headers, extensions=extensions)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"the receiver answered {response.status_code}")
    return response.status_code


def deliver(hub: Hub, delivery_id: int) -> bool:
    """Attempt one delivery. True when delivered (or nothing is left to do); raises
    :class:`DeliveryFailed` when it should be tried again."""
    with hub.db.write() as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None or row.status != "pending":
            return True
        hook = session.get(Webhook, row.webhook_id)
        if hook is None or hook.disabled:
            row.status, row.last_error = "failed", "the webhook is disabled"
            return True
        row.attempts += 1
        attempt, url, body = row.attempts, hook.url, row.payload.encode()
        secret = hub.webhooks.keys.open(hook.secret)
    try:
        send(hub.settings, url, body, secret)
    except DeliveryRefused as exc:
        _finish(hub, delivery_id, "failed", str(exc))
        return True
    except DeliveryFailed as exc:
        last = attempt >= hub.settings.webhook_max_attempts
        _finish(hub, delivery_id, "failed" if last else "pending", str(exc))
        if last:
            return True
        raise
    _finish(hub, delivery_id, "done", None)
    return True


def _finish(hub: Hub, delivery_id: int, status: str, error: str | None) -> None:
    with hub.db.write() as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None:
            return
        row.status, row.last_error = status, (error or None) and error[:1000]
        if status == "done":
            row.delivered_at = utcnow()


def payload_text(payload: dict[str, object]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
