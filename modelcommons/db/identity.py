"""What every replica of one hub must share, checked when a replica starts.

Several ``commons serve`` processes behind a load balancer are one hub only if they
sign with the same secrets: a download URL signed by one replica is checked by
another, and the audit chain is signed by whichever replica appended. A replica
that generated its own secret (an empty data dir, ``secret_key`` unset) would
otherwise serve, and hand out URLs the others refuse. So the first process records a
fingerprint of each secret in ``hub_identity`` (a keyed hash: never the secret), and
every later one compares: a different secret stops the process before it serves.
"""

from __future__ import annotations

import hashlib
import hmac

from ..clock import utcnow
from .database import Database
from .schema import HubIdentity
from .sqlutil import insert_ignore


class IdentityMismatch(Exception):
    """This process's secret differs from the one the hub's other processes use."""


def fingerprint(secret: bytes) -> str:
    """A keyed hash that identifies a secret without revealing it."""
    return hmac.new(secret, b"model-commons replica fingerprint v1", hashlib.sha256).hexdigest()


def agree(db: Database, name: str, value: str, *, adopt: bool = False, how: str = "") -> None:
    """Record ``value`` as the hub's ``name`` if none is, else require the same one
    (or, with ``adopt``, replace it: an operator changed the secret on purpose)."""
    with db.write() as session:
        insert_ignore(
            session, HubIdentity, [{"name": name, "value": value, "updated_at": utcnow()}]
        )
        row = session.get(HubIdentity, name)
        assert row is not None
        if row.value == value:
            return
        if adopt:
            row.value, row.updated_at = value, utcnow()
            return
    raise IdentityMismatch(
        f"This process's {name} differs from the one the other processes of this hub "
        f"(same database) use, so its signatures would not be accepted by them. {how}"
    )
