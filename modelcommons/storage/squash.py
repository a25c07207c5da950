"""Super-squash: a branch's history folded into one commit with the same files.

What the Hugging Face Hub's ``super-squash`` endpoint does (``HfApi.super_squash_history``):
the branch then points at a new root commit holding its head's tree, so that history
(and the LFS files only it reached) no longer weighs on clones. Other branches and
tags keep their own history. The old commits stay in the hub's store, addressable by
their ids, until the garbage collector (``storage/garbage.py``), which keeps every
commit of every repository, is told otherwise: squashing rewrites what the branch
shows, never bytes another ref or repository may still need.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from ..clock import utcnow
from ..db.schema import Commit, GitObject, Repo
from ..db.sqlutil import insert_ignore
from ..errors import PreconditionFailed, RevisionNotFound
from . import repos
from .gitobjects import Signature, encode_commit, object_id
from .trees import TreeReader

if TYPE_CHECKING:
    from ..hub import Hub


def super_squash(
    hub: Hub, session: Session, repo: Repo, branch: str, author: str, message: str
) -> str:
    """Point ``branch`` (a branch, or a pull request's ``refs/pr/N``) at one new
    parentless commit of its head's tree; returns its id."""
    kind, name = repos.commit_target(branch)
    ref = repos.get_ref(session, repo, kind, name)
    if ref is None:
        raise RevisionNotFound(
            f"Invalid rev id: {branch} (only branches and pull requests can be squashed)"
        )
    head = session.get(Commit, (repo.id, ref.target))
    assert head is not None
    signature = Signature(author, f"{author}@users.noreply.modelcommons", int(time.time()))
    message = message.strip() or f"Super-squash branch '{name}'"
    raw = encode_commit(head.tree_oid, [], signature, message)
    oid = object_id("commit", raw)
    insert_ignore(session, GitObject, [{"oid": oid, "kind": "commit", "data": raw}])
    insert_ignore(
        session,
        Commit,
        [
            {
                "repo_id": repo.id,
                "oid": oid,
                "tree_oid": head.tree_oid,
                "parents": "",
                "author": author,
                "title": message.split("\n", 1)[0],
                "message": message,
                "created_at": utcnow(),
            }
        ],
    )
    if not repos.move_ref(session, repo, kind, name, head.oid, oid):
        raise PreconditionFailed(f"{branch} moved while it was being squashed; try again.")
    if kind == "branch":
        reader = TreeReader(session, hub.tree_cache)
        hub.committer.branch_moved(session, reader, repo, name, oid, head.tree_oid, author, False)
    else:
        repo.updated_at = utcnow()  # the same files: nothing to scan or index again
    return oid
