"""Scan results on the repository pages: a badge per file in the tree, the full
report on a file's page (status, format, every import with its safety, findings and
when it was scanned), and a summary on the card page."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ...db.schema import Repo
from ...governance.content import RevisionContent
from ...scanning import results
from ...scanning.results import FileScanStatus, RepoScanStatus
from ...storage.trees import Entry, FileInfo, TreeReader
from ..views import path_segment, repo_path, rev_segment


def for_entries(
    session: Session, repo: Repo, commit_oid: str, entries: list[Entry]
) -> dict[str, FileScanStatus]:
    files = [(e.path, e.sha256, e.size) for e in entries if isinstance(e, FileInfo)]
    return results.statuses_of(session, repo, commit_oid, files)


def for_file(session: Session, repo: Repo, commit_oid: str, info: FileInfo) -> FileScanStatus:
    return for_entries(session, repo, commit_oid, [info])[info.path]


def summary(
    session: Session, reader: TreeReader, repo: Repo, view: RevisionContent
) -> tuple[RepoScanStatus, list[tuple[FileScanStatus, str]]]:
    """The revision's scan summary over the files the caller may list, and the
    files with issues with the URL of their page."""
    walked = view.listed(reader, reader.walk(view.commit.tree_oid, "", recursive=True))
    statuses = for_entries(session, repo, view.sha, reader.describe(walked))
    status = results.repo_status(statuses.values())
    base = repo_path(repo)
    links = [
        (statuses[p], f"{base}/blob/{rev_segment(view.sha)}/{path_segment(p)}")
        for p in status.files_with_issues
    ]
    return status, links
