"""What lets several hub processes be one hub (README "Scaling out").

* **Migrations run once.** With ``auto_migrate`` (the default, so one process needs
  nothing else) a starting process upgrades the database; with it off, as replicas
  run, ``commons migrate`` upgrades it and a process finding it older refuses to start
  (:class:`NotMigrated`) rather than race the others.
* **Shared secrets.** A starting ``serve`` or ``worker`` compares fingerprints of its
  URL signing secret and audit signing key with the ones the hub's database recorded
  (``db/identity.py``), and refuses to start with different ones.
* **No state on the local disk** when blobs live in an object store: audit anchors go
  there too (``storage/s3.py``); the queue is Redis (``task_queue = redis``).
* **Health**: what ``/api/health`` checks for a load balancer (:func:`health`).

May import: ``db`` and ``storage`` (and ``hub`` for type hints only).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text

from .db import identity
from .errors import HubError
from .storage.blobs import BlobStore
from .storage.s3 import S3Anchors, S3BlobStore
from .storage.s3send import error_code

if TYPE_CHECKING:
    from .hub import Hub


class NotMigrated(Exception):
    """The database is older than this code and ``auto_migrate`` is off."""


def anchors_for(blobs: BlobStore, path: Path) -> Path | S3Anchors:
    """Audit anchors in the object store when blobs are there, else in a file."""
    return blobs.audit_anchors() if isinstance(blobs, S3BlobStore) else path


def require_migrated(hub: Hub) -> None:
    current, head = hub.db.pending_migrations()
    if current != head:
        raise NotMigrated(
            f"The database is at revision {current or '(empty)'}; this version of the hub "
            f"needs {head}. auto_migrate is off (as for replicas), so upgrade it once with "
            "`commons migrate` (same settings), then start the replicas."
        )


def migrate_if_allowed(hub: Hub) -> None:
    """What every command does first: upgrade with ``auto_migrate``, else require it."""
    if hub.settings.auto_migrate:
        hub.migrate()
    else:
        require_migrated(hub)


def prepare(hub: Hub, *, adopt: bool = False) -> None:
    """Migrate (or require migrated), then agree on the secrets with other replicas."""
    migrate_if_allowed(hub)
    check_secrets(hub, adopt=adopt)


def check_secrets(hub: Hub, *, adopt: bool = False) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    identity.agree(
        hub.db,
        "URL signing secret",
        identity.fingerprint(hub.secret.encode()),
        adopt=adopt,
        how="Give every replica the same COMMONS_SECRET_KEY (a generated secret.key is "
        "per data dir); after changing it on purpose, run `commons migrate "
        "--adopt-secrets` once.",
    )
    public = hub.audit.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    identity.agree(
        hub.db,
        "audit signing key",
        hashlib.sha256(public).hexdigest(),
        adopt=adopt,
        how=f"Point COMMONS_AUDIT_KEY_FILE of every replica at the same key (this one "
        f"uses {hub.audit.key_file}); after replacing it on purpose, run `commons "
        "migrate --adopt-secrets` once.",
    )


def health(hub: Hub) -> dict[str, str]:
    """``ok`` or what went wrong, for the database, the blob store and the queue."""
    out: dict[str, str] = {}
    checks = {"database": lambda: _ping_db(hub), "store": hub.blobs.check}
    if hub.settings.task_queue == "redis":
        checks["queue"] = lambda: _ping_redis(hub)
    for name, check in checks.items():
        try:
            check()
            out[name] = "ok"
        except Exception as exc:
            out[name] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return out


#: What each kind of outage is called in the 503 a client gets.
_OUTAGES = (
    ("sqlalchemy.exc", ("OperationalError", "InterfaceError", "DisconnectionError"), "database"),
    (
        "botocore.exceptions",
        (
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ReadTimeoutError",
            "ConnectionClosedError",
        ),
        "object store",
    ),
    ("redis.exceptions", ("ConnectionError", "TimeoutError"), "job queue"),
)


def outage(exc: BaseException) -> HubError | None:
    """A 503 with ``Retry-After`` when ``exc`` (or what caused it) says the database,
    the object store or the queue cannot be reached, or the store is overloaded; None
    for any other error. The next request reconnects by itself (pools ping first)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            break
        kind = type(seen)
        for module, names, what in _OUTAGES:
            if any(k.__module__ == module and k.__name__ in names for k in kind.__mro__):
                return _unavailable(what)
        if kind.__name__ == "ClientError" and error_code(seen) in (
            "SlowDown",
            "ServiceUnavailable",
            "InternalError",
            "503",
            "500",
        ):
            return _unavailable("object store")
        seen = seen.__cause__ or seen.__context__
    return None


def _unavailable(what: str) -> HubError:
    return HubError(
        f"The hub's {what} cannot be reached right now; try again shortly.",
        status=503,
        code="ServiceUnavailable",
        headers={"Retry-After": "5"},
    )


def _ping_db(hub: Hub) -> None:
    with hub.db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _ping_redis(hub: Hub) -> None:
    import redis

    client = redis.Redis.from_url(hub.settings.redis_url, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
