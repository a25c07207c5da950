"""Three-way merges of stored trees, and merge commits.

A pull request merges by comparing, file by file, the target branch ("ours") and
the pull request's head ("theirs") with their merge base: a path changed on one
side only takes that side, a path changed the same way on both is kept, and a path
changed differently on both is a conflict (so is a file on one side where the other
made a folder). Nothing is merged inside files: bytes are the blob store's, and many
are LFS weights. The merged tree is built from the target's tree, touching only the
paths that change, and stored with the merge commit in the caller's transaction.
"""

from __future__ import annotations

import dataclasses
import time

from sqlalchemy.orm import Session

from ..clock import utcnow
from ..db.schema import Commit, GitObject, Repo
from ..db.sqlutil import insert_ignore
from . import repos
from .commits import _Dir, _serialize
from .gitobjects import Signature, TreeEntry, encode_commit, object_id
from .trees import TreeReader


def merge_base(session: Session, repo: Repo, ours: str, theirs: str) -> str | None:
    """The newest commit both reach (first found walking ``theirs`` newest first)."""
    reachable = repos.reachable(session, repo, [ours])
    for commit in repos.history(session, repo, theirs):
        if commit.oid in reachable:
            return commit.oid
    return None


def files(reader: TreeReader, tree: str | None) -> dict[str, TreeEntry]:
    """Every file of a tree by path."""
    if tree is None:
        return {}
    return {
        path: entry for path, entry in reader.walk(tree, "", recursive=True) if not entry.is_dir
    }


@dataclasses.dataclass(frozen=True)
class Merge:
    """What merging changes on the target: path to its new entry, or None to delete."""

    changes: dict[str, TreeEntry | None]
    conflicts: list[str]


def _same(a: TreeEntry | None, b: TreeEntry | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.oid == b.oid and a.executable == b.executable


def three_way(
    base: dict[str, TreeEntry], ours: dict[str, TreeEntry], theirs: dict[str, TreeEntry]
) -> Merge:
    changes: dict[str, TreeEntry | None] = {}
    conflicts: list[str] = []
    for path in sorted(set(base) | set(ours) | set(theirs)):
        b, o, t = base.get(path), ours.get(path), theirs.get(path)
        if _same(t, b) or _same(o, t):
            continue  # theirs did not change it, or both agree: ours stands
        if _same(o, b):
            changes[path] = t
        else:
            conflicts.append(path)
    result = {p: e for p, e in ours.items() if p not in changes}
    result.update({p: e for p, e in changes.items() if e is not None})
    folders = {path.rsplit("/", i)[0] for path in result for i in range(1, path.count("/") + 1)}
    for path, entry in changes.items():
        if entry is None:
            continue
        parts = path.split("/")
        clash = [p for p in ("/".join(parts[:i]) for i in range(1, len(parts))) if p in result]
        if path in folders or clash:  # a file where the other side made a folder
            conflicts.extend(p for p in [path, *clash] if p not in conflicts)
    return Merge(changes, sorted(conflicts))


def merged_tree(
    reader: TreeReader, ours_tree: str, changes: dict[str, TreeEntry | None]
) -> tuple[str, list[dict[str, object]]]:
    """The tree id of ``ours_tree`` with ``changes`` applied, and the new tree objects."""
    root = _Dir(reader, ours_tree)
    for path, entry in changes.items():
        *parents, leaf = path.split("/")
        node: _Dir | None = root
        trail = [root]
        for part in parents:
            assert node is not None
            node = node.subdir(part, path, create=entry is not None)
            if node is None:
                break
            trail.append(node)
        if node is None:
            continue
        if entry is None:
            node.children.pop(leaf, None)
        else:
            node.children[leaf] = dataclasses.replace(entry, name=leaf)
        for d in trail:
            d.dirty = True
    objects: list[dict[str, object]] = []
    return _serialize(root, objects), objects


def write_commit(
    session: Session,
    repo: Repo,
    tree_oid: str,
    objects: list[dict[str, object]],
    parents: list[str],
    author: str,
    message: str,
) -> str:
    """Store a commit (and the trees it brings) in ``repo``; returns its id. No ref moves."""
    signature = Signature(author, f"{author}@users.noreply.modelcommons", int(time.time()))
    raw = encode_commit(tree_oid, parents, signature, message)
    oid = object_id("commit", raw)
    insert_ignore(session, GitObject, [*objects, {"oid": oid, "kind": "commit", "data": raw}])
    insert_ignore(
        session,
        Commit,
        [
            {
                "repo_id": repo.id,
                "oid": oid,
                "tree_oid": tree_oid,
                "parents": " ".join(parents),
                "author": author,
                "title": message.split("\n", 1)[0],
                "message": message,
                "created_at": utcnow(),
            }
        ],
    )
    return oid
