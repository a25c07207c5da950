"""Scan results on the repository pages: a badge per file in the tree, the full
report on a file's page (status, format, every import with its safety, findings and
when it was scanned), and a summary on the card page."""

from __future__ import annotations

import dataclasses
import json

from sqlalchemy.orm import Session

from ...db.pipeline_tables import PipelineStep
from ...db.schema import Repo
from ...governance.content import RevisionContent
from ...scanning import results
from ...scanning.results import FileScanStatus
from ...storage.trees import Entry, FileInfo, TreeReader
from ..views import path_segment, repo_path, rev_segment


def for_entries(
    session: Session, repo: Repo, commit_oid: str, entries: list[Entry]
) -> dict[str, FileScanStatus]:
    files = [(e.path, e.sha256, e.size) for e in entries if isinstance(e, FileInfo)]
    return results.statuses_of(session, repo, commit_oid, files)


def for_file(session: Session, repo: Repo, commit_oid: str, info: FileInfo) -> FileScanStatus:
    return for_entries(session, repo, commit_oid, [info])[info.path]


@dataclasses.dataclass(frozen=True)
class Summary:
    #: queued | running | done | error, or None when the revision was never scanned.
    step: str | None
    #: Files with issues as the revision's scan found them (current statuses), each
    #: with the URL of its page; only files the caller may list.
    issues: list[tuple[FileScanStatus, str]]
    more: int  # files with issues beyond those named


def summary(session: Session, reader: TreeReader, repo: Repo, view: RevisionContent) -> Summary:
    """The revision's scan summary, from the scan step's result: the card page never
    walks the tree (a repository may hold a million files)."""
    row = session.get(PipelineStep, (repo.id, view.sha, results.SCAN_STEP))
    if row is None or row.status != "done":
        return Summary(row.status if row is not None else None, [], 0)
    result = json.loads(row.result or "{}")
    named = [str(i["path"]) for i in result.get("with_issues", [])]
    infos = [reader.file(view.commit.tree_oid, p) for p in named if view.listable(p)]
    files = [(i.path, i.sha256, i.size) for i in infos if i is not None]
    statuses = results.statuses_of(session, repo, view.sha, files)
    base = repo_path(repo)
    issues = [
        (s, f"{base}/blob/{rev_segment(view.sha)}/{path_segment(s.path)}")
        for s in statuses.values()
        if s.has_issues
    ]
    return Summary("done", issues, max(int(result.get("issues", 0)) - len(named), 0))
