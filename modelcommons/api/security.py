"""Scan results in the shapes the Hugging Face client reads.

``securityFileStatus`` on tree and paths-info entries (``expand=True``), read by
``RepoFile.security``: ``status``, ``avScan`` (always null: no antivirus runs here)
and ``pickleImportScan`` (``highestSafetyLevel`` and ``imports``: ``module``,
``name``, ``safety``), plus our own ``findings`` (which scanner said what, where)
and ``scannedAt``. ``securityRepoStatus`` on ``model_info(securityStatus=True)``:
``scansDone`` and ``filesWithIssues`` (path, level and the first finding).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from ..db.schema import Repo
from ..governance.content import RevisionContent
from ..scanning import results
from ..scanning.results import FileScanStatus
from ..server.responses import iso
from ..storage.trees import Entry, FileInfo, TreeReader

_LEVELS = ("innocuous", "suspicious", "dangerous")


def file_status_json(s: FileScanStatus) -> dict[str, Any]:
    pickle_scan: dict[str, Any] | None = None
    if s.imports or s.kind in ("pickle", "pytorch-zip", "pytorch-tar", "pytorch-legacy"):
        highest = max((_LEVELS.index(i.safety) for i in s.imports), default=0)
        pickle_scan = {
            "highestSafetyLevel": _LEVELS[highest],
            "imports": [
                {"module": i.module, "name": i.name, "safety": i.safety} for i in s.imports
            ],
        }
    return {
        "status": s.status,
        "avScan": None,
        "pickleImportScan": pickle_scan,
        "format": s.kind or None,
        "findings": [
            {"level": f.severity, "message": f.message, "where": f.where} for f in s.findings
        ],
        "scannedAt": iso(s.scanned_at) if s.scanned_at else None,
        "scannerVersion": s.scanner_version,
    }


def add_file_status(
    session: Session, repo: Repo, commit_oid: str, pairs: Iterable[tuple[dict[str, Any], Entry]]
) -> None:
    """Set ``securityFileStatus`` on the file entries of a listing (in place)."""
    files = [(doc, e) for doc, e in pairs if isinstance(e, FileInfo)]
    wanted = [(e.path, e.sha256, e.size) for _, e in files]
    statuses = results.statuses_of(session, repo, commit_oid, wanted)
    for doc, e in files:
        doc["securityFileStatus"] = file_status_json(statuses[e.path])


def repo_status_json(
    session: Session, reader: TreeReader, repo: Repo, view: RevisionContent
) -> dict[str, Any]:
    """``securityRepoStatus`` over the files the caller may list at the revision."""
    walked = view.listed(reader, reader.walk(view.commit.tree_oid, "", recursive=True))
    files = [(e.path, e.sha256, e.size) for e in reader.describe(walked) if isinstance(e, FileInfo)]
    statuses = results.statuses_of(session, repo, view.sha, files)
    summary = results.repo_status(statuses.values())
    return {
        "scansDone": summary.scans_done,
        "filesWithIssues": [
            {
                "path": path,
                "level": statuses[path].status,
                "message": statuses[path].findings[0].message if statuses[path].findings else "",
            }
            for path in summary.files_with_issues
        ],
    }
