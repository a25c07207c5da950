"""Tables of the post-commit pipeline and of file scans.

``pipeline_steps``: one row per (repository, commit, step), the step's status
(``queued``, ``running``, ``done``, ``error``), attempts and last error; the row is
what makes a step idempotent. ``blob_scans``: one scan result per stored blob
(sha256) and scanner version, so a blob shared by many repositories and commits is
scanned once. ``scan_policies``: a namespace's override of the hub's ``scan_policy``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..clock import utcnow
from .schema import Base, FileBlob


class PipelineStep(Base):
    """A post-commit step's state for one commit of one repository."""

    __tablename__ = "pipeline_steps"
    repo_id: Mapped[int] = mapped_column(
        ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True
    )
    commit_oid: Mapped[str] = mapped_column(String(40), primary_key=True)
    step: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(8))  # queued | running | done | error
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: JSON summary the step returned (e.g. how many files it scanned).
    result: Mapped[str] = mapped_column(Text, default="{}")
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class BlobScan(Base):
    """What the scanners found in one stored blob, read as a file of one profile (the
    extension class its name gives it: ``pkl``, ``bin``, ``keras``..., ``""`` for
    others), since a name decides how a loader reads the bytes."""

    __tablename__ = "blob_scans"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    profile: Mapped[str] = mapped_column(String(16), primary_key=True)
    #: A path it was first scanned under (for messages and rescans).
    name: Mapped[str] = mapped_column(Text, default="")
    scanner_version: Mapped[str] = mapped_column(String(32))
    #: safe | suspicious | unsafe | error
    status: Mapped[str] = mapped_column(String(12))
    #: The format the scanners recognised (pickle, pytorch-zip, safetensors, ...).
    kind: Mapped[str] = mapped_column(String(32), default="")
    #: JSON: {"imports": [{module, name, safety}], "findings": [{severity, message, where}]}
    report: Mapped[str] = mapped_column(Text, default="{}")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    scanned_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ScanPolicy(Base):
    """A namespace's override of the hub's ``scan_policy``."""

    __tablename__ = "scan_policies"
    namespace: Mapped[str] = mapped_column(String(96), primary_key=True)
    policy: Mapped[str] = mapped_column(String(12))  # "warn" | "quarantine"


Index("ix_pipeline_steps_status", PipelineStep.status)
Index("ix_blob_scans_status", BlobScan.status)
#: The quarantine finds the git blob ids of unsafe blobs (file_blobs by sha256).
Index("ix_file_blobs_sha256", FileBlob.sha256)
