"""The table this package owns (created by migration 0016): registered public keys."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..clock import utcnow
from ..db.schema import Base


class SigningKey(Base):
    """A public key an account signs revisions with. ``fingerprint`` is what the
    ``model-signing`` library puts in a signature's ``publicKey.hint``: the sha256 of
    the key's PEM (SubjectPublicKeyInfo), so a signature names its key."""

    __tablename__ = "signing_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(100), default="")
    pem: Mapped[str] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(96))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
