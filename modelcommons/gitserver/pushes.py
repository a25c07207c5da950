"""Moving refs for a push: all of them or none, in one transaction.

The pushed trees, commits and file entries are inserted, then each ref moves by
compare-and-swap from the value the client saw (``old``), as the commit engine
moves a branch. A ref that someone moved meanwhile (another push, a commit from
the API) fails the whole transaction: nothing is lost, and the client is told to
fetch first. After a branch head moves, the commit engine's own
``Committer.branch_moved`` runs, so the card, lineage, licence check and search
index follow a pushed ``main`` exactly as they follow a commit; a pull request's
ref (``pull_requests``) and every other new commit of the push get their files
scanned (``Committer.pull_request_moved``, ``Committer.commit_stored``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..accounts import Principal
from ..clock import utcnow
from ..db.schema import Commit, FileBlob, GitObject, Ref, Repo
from ..db.sqlutil import insert_ignore
from ..errors import HubError, RepoNotFound
from ..storage import repos
from ..storage.trees import TreeReader
from . import pull_requests
from .checks import NewHistory
from .packin import Received

if TYPE_CHECKING:
    from ..hub import Hub

ZERO_ID = "0" * 40


@dataclasses.dataclass(frozen=True)
class Update:
    """One command of a push: ``ref`` from ``old`` to ``new`` (zeros: none)."""

    ref: str
    kind: str  # "branch", "tag" or "pull-request"
    name: str  # the branch or tag name; the ref itself for a pull request
    old: str
    new: str

    @property
    def creates(self) -> bool:
        return self.old == ZERO_ID

    @property
    def deletes(self) -> bool:
        return self.new == ZERO_ID


class Stale(HubError):
    """A ref is not where the pusher saw it: someone else moved it first."""

    status = 409
    code = "FetchFirst"

    def __init__(self, update: Update) -> None:
        super().__init__("fetch first")
        self.update = update


def apply(
    hub: Hub,
    repo_id: int,
    pusher: Principal,
    updates: list[Update],
    received: Received,
    new: NewHistory,
) -> list[str]:
    """Store what ``new`` names and move every ref; returns lines for the pusher.
    Raises :class:`Stale` or another :class:`HubError` when the push is refused
    (the transaction then rolls back whole)."""
    messages: list[str] = []
    try:
        with hub.db.write() as session:
            repo = session.get(Repo, repo_id)
            if repo is None:
                raise RepoNotFound()
            _store(session, repo, pusher, received, new)
            reader = TreeReader(session, hub.tree_cache)
            for update in updates:
                if update.kind == "pull-request":
                    message = pull_requests.pushed(
                        session, hub, repo, pusher, update.ref, update.new
                    )
                    if message:
                        messages.append(message)
                    continue
                old_tree = _tree(session, repo, update.old)
                _move(session, repo, update)
                if update.kind == "branch" and not update.deletes:
                    new_tree = _tree(session, repo, update.new)
                    assert new_tree is not None
                    hub.committer.branch_moved(
                        session,
                        reader,
                        repo,
                        update.name,
                        update.new,
                        new_tree,
                        pusher.name,
                        _readme(reader, old_tree) != _readme(reader, new_tree),
                    )
            # The other new commits (a push's earlier commits, a tag's): their files
            # can be downloaded by commit id or tag, so they are scanned too.
            heads = {u.new for u in updates if u.kind in ("branch", "pull-request")}
            for oid in new.commits:
                if oid not in heads:
                    hub.committer.commit_stored(
                        session, repo, oid, received.commits[oid].tree, pusher.name
                    )
    except IntegrityError as exc:  # a ref created by someone else meanwhile
        created = next((u for u in updates if u.creates), updates[0])
        raise Stale(created) from exc
    return messages


def _store(
    session: Session, repo: Repo, pusher: Principal, received: Received, new: NewHistory
) -> None:
    objects: list[dict[str, object]] = []
    for oid in new.trees:
        objects.append({"oid": oid, "kind": "tree", "data": received.trees[oid][0]})
    rows = []
    for oid in new.commits:
        pushed = received.commits[oid]
        objects.append({"oid": oid, "kind": "commit", "data": pushed.raw})
        title = pushed.message.strip().split("\n", 1)[0]
        rows.append(
            {
                "repo_id": repo.id,
                "oid": oid,
                "tree_oid": pushed.tree,
                "parents": " ".join(pushed.parents),
                "author": pusher.name,
                "title": title,
                "message": pushed.message.strip(),
                "created_at": _when(pushed.time),
            }
        )
    for start in range(0, len(objects), 500):
        insert_ignore(session, GitObject, objects[start : start + 500])
    blobs = [received.blobs[oid] for oid in sorted(new.blobs)]
    for start in range(0, len(blobs), 500):
        insert_ignore(session, FileBlob, blobs[start : start + 500])
    for start in range(0, len(rows), 500):
        insert_ignore(session, Commit, rows[start : start + 500])


def _when(seconds: int) -> dt.datetime:
    """A commit's time as the hub stores times (naive UTC); a date git cannot mean
    (beyond what a datetime holds) becomes now."""
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):
        return utcnow()


def _tree(session: Session, repo: Repo, commit: str) -> str | None:
    if commit == ZERO_ID:
        return None
    row = session.get(Commit, (repo.id, commit))
    return row.tree_oid if row else None


def _readme(reader: TreeReader, tree: str | None) -> str | None:
    if tree is None:
        return None
    entry = reader.find(tree, "README.md")
    return entry.oid if entry is not None else None


def _move(session: Session, repo: Repo, update: Update) -> None:
    if update.deletes:
        moved = repos.delete_ref_at(session, repo, update.kind, update.name, update.old)
    elif update.creates:
        if repos.get_ref(session, repo, update.kind, update.name) is not None:
            raise Stale(update)
        session.add(Ref(repo_id=repo.id, kind=update.kind, name=update.name, target=update.new))
        session.flush()
        moved = True
    else:
        moved = repos.move_ref(session, repo, update.kind, update.name, update.old, update.new)
    if not moved:
        raise Stale(update)
