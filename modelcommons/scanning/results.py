"""The read side of scanning: per-file scan status at a repository revision.

This is the interface other packages use (the API, the pages, the bill of materials,
the policy): :func:`file_statuses` and :func:`repo_status`. Their signatures are kept
stable.

A file's status is its blob's scan result (``safe``, ``suspicious``, ``unsafe`` or
``error``, by any scanner version until a rescan replaces it); a file whose blob has
no result yet is ``queued`` while the commit's ``scan`` step is queued or running,
else ``unscanned`` (its commit was never scanned, e.g. it predates scanning: run
``commons scan --all``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.pipeline_tables import PipelineStep
from ..db.schema import Commit, Repo
from ..storage.trees import FileInfo, TreeReader
from . import store
from .report import FileReport, Finding, Import

SCAN_STEP = "scan"


@dataclasses.dataclass(frozen=True)
class FileScanStatus:
    path: str
    sha256: str
    size: int
    #: safe | suspicious | unsafe | error | queued | unscanned
    status: str
    #: The format the scanners recognised ("" when none applies).
    kind: str = ""
    imports: tuple[Import, ...] = ()
    findings: tuple[Finding, ...] = ()
    scanned_at: dt.datetime | None = None
    scanner_version: str | None = None

    @property
    def has_issues(self) -> bool:
        return self.status in ("unsafe", "suspicious", "error")


@dataclasses.dataclass(frozen=True)
class RepoScanStatus:
    #: Every file at the revision has a result (none is queued).
    scans_done: bool
    #: Paths whose status is unsafe, suspicious or error, sorted.
    files_with_issues: tuple[str, ...]


def step_status(session: Session, repo: Repo, commit_oid: str) -> str | None:
    """The ``scan`` step's status for this commit: queued, running, done, error, or
    None when the commit was never queued for scanning."""
    return session.scalar(
        select(PipelineStep.status).where(
            PipelineStep.repo_id == repo.id,
            PipelineStep.commit_oid == commit_oid,
            PipelineStep.step == SCAN_STEP,
        )
    )


def statuses_of(
    session: Session, repo: Repo, commit_oid: str, files: Iterable[tuple[str, str, int]]
) -> dict[str, FileScanStatus]:
    """Status of the given ``(path, sha256, size)`` files of ``commit_oid``."""
    listed = list(files)
    rows = store.lookup(session, (store.key(sha, path) for path, sha, _ in listed))
    pending: bool | None = None
    out: dict[str, FileScanStatus] = {}
    for path, sha, size in listed:
        row = rows.get(store.key(sha, path))
        if row is None:
            if pending is None:
                pending = step_status(session, repo, commit_oid) in ("queued", "running")
            out[path] = FileScanStatus(path, sha, size, "queued" if pending else "unscanned")
            continue
        report = FileReport.from_json(row.kind, row.report)
        out[path] = FileScanStatus(
            path,
            sha,
            size,
            row.status,
            row.kind,
            tuple(report.imports),
            tuple(report.findings),
            row.scanned_at,
            row.scanner_version,
        )
    return out


def file_statuses(
    session: Session, reader: TreeReader, repo: Repo, commit_oid: str
) -> dict[str, FileScanStatus]:
    """Every file at ``commit_oid`` (a full commit id of ``repo``), by path.

    Callers decide what the caller of a route may see; this answers for the
    whole revision (``access.content`` filters listings).
    """
    commit = session.get(Commit, (repo.id, commit_oid))
    if commit is None:
        return {}
    items = [(p, e) for p, e in reader.walk(commit.tree_oid, "", recursive=True) if not e.is_dir]
    files = [
        (info.path, info.sha256, info.size)
        for info in reader.describe(items)
        if isinstance(info, FileInfo)
    ]
    return statuses_of(session, repo, commit_oid, files)


def repo_status(statuses: Iterable[FileScanStatus]) -> RepoScanStatus:
    listed = list(statuses)
    return RepoScanStatus(
        scans_done=all(s.status != "queued" for s in listed),
        files_with_issues=tuple(sorted(s.path for s in listed if s.has_issues)),
    )
