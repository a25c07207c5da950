"""Pull requests: the ref ``refs/pr/N``, its commits, its state against the target, the merge.

A pull request is a discussion (``is_pr``) with a ref of kind "pr" named ``N``,
created at the target branch's head (or at the commit the opener names) and moved
by commits (API commits to ``refs/pr/N``, or git pushes to ``refs/pr/N`` and
``refs/for/<branch>``). Merging writes a merge commit (parents: the target's head,
then the pull request's head) whose tree is the three-way merge
(:mod:`modelcommons.storage.merges`), and moves the target branch by
compare-and-swap, as a commit does.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from .. import audit
from ..db.community_tables import Discussion
from ..db.schema import Commit, FileBlob, Repo
from ..errors import BadRequest, Conflict, HubError, NotFound, RevisionNotFound
from ..storage import merges, repos
from ..storage.trees import TreeReader
from . import discussions

if TYPE_CHECKING:
    from ..hub import Hub

#: The most commits one push or commit adds as events to a pull request.
MAX_COMMIT_EVENTS = 50
#: Bytes of one file read to show a text diff, and of the whole diff.
DIFF_FILE_BYTES = 256 * 1024
DIFF_TOTAL_BYTES = 2 * 1024 * 1024


class _Moved(Exception):
    pass


class MergeConflict(HubError):
    status = 409
    code = "MergeConflict"

    def __init__(self, num: int, paths: list[str]) -> None:
        shown = ", ".join(paths[:20]) + (f" and {len(paths) - 20} more" if len(paths) > 20 else "")
        super().__init__(
            f"Pull request #{num} cannot be merged: these files changed on both sides: {shown}. "
            f"Push a commit to refs/pr/{num} that resolves them, then merge again."
        )
        self.paths = paths


def pr_ref(discussion: Discussion) -> str:
    return f"refs/pr/{discussion.num}"


def open_pull_request(
    session: Session,
    repo: Repo,
    author: str,
    title: object,
    description: str | None,
    *,
    target: str = repos.DEFAULT_BRANCH,
    start: str | None = None,
    status: str = "draft",
) -> Discussion:
    """A new pull request against branch ``target``; its ref starts at ``start``
    (a commit of the repository) or at the target's head."""
    branch = repos.get_ref(session, repo, "branch", target)
    if branch is None:
        # RevisionNotFound, as on the Hub: a commit id or a missing branch.
        raise RevisionNotFound(f"Branch {target!r} not found: pull requests target branches.")
    if start is not None:
        start = repos.resolve(session, repo, start)
    discussion = discussions.open_discussion(
        session,
        repo,
        author,
        title,
        description,
        pull_request=True,
        target=target,
        status=status,
    )
    repos.create_ref(session, repo, "pr", str(discussion.num), start or branch.target)
    return discussion


def for_ref(session: Session, repo: Repo, name: str) -> Discussion:
    """The pull request whose ref is ``refs/pr/<name>``."""
    discussion = discussions.find(session, repo, int(name))
    if not discussion.is_pr:
        raise NotFound(f"#{name} is a discussion, not a pull request.")
    return discussion


def commits_added(
    session: Session, repo: Repo, discussion: Discussion, author: str, old: str | None, new: str
) -> None:
    """Record the commits from ``old`` (the ref's previous head) to ``new`` as events."""
    seen = repos.reachable(session, repo, [old]) if old else set()
    target = repos.get_ref(session, repo, "branch", discussion.target or "")
    if target is not None:
        seen |= repos.reachable(session, repo, [target.target])
    added: list[Commit] = []
    for commit in repos.history(session, repo, new):
        if commit.oid in seen or len(added) >= MAX_COMMIT_EVENTS:
            break
        added.append(commit)
    for commit in reversed(added):
        discussions.add_commit(session, discussion, author, commit.oid, commit.title)


@dataclasses.dataclass(frozen=True)
class PullState:
    """Where a pull request stands against its target."""

    head: str
    target_head: str | None
    base: str | None  # merge base
    conflicts: list[str]
    merge: merges.Merge | None


def _tree(session: Session, repo: Repo, commit: str | None) -> str | None:
    if commit is None:
        return None
    row = session.get(Commit, (repo.id, commit))
    return row.tree_oid if row else None


def state(session: Session, hub: Hub, repo: Repo, discussion: Discussion) -> PullState:
    ref = repos.get_ref(session, repo, "pr", str(discussion.num))
    if ref is None:
        raise NotFound(f"The ref of pull request #{discussion.num} is gone.")
    target = repos.get_ref(session, repo, "branch", discussion.target or "")
    if target is None:
        return PullState(ref.target, None, None, [], None)
    base = merges.merge_base(session, repo, target.target, ref.target)
    reader = TreeReader(session, hub.tree_cache)
    merge = merges.three_way(
        merges.files(reader, _tree(session, repo, base)),
        merges.files(reader, _tree(session, repo, target.target)),
        merges.files(reader, _tree(session, repo, ref.target)),
    )
    return PullState(ref.target, target.target, base, merge.conflicts, merge)


def merge(hub: Hub, repo_id: int, num: int, actor: str, comment: str | None) -> str:
    """Merge pull request ``num`` into its target; returns the merge commit id.

    Raises :class:`MergeConflict` naming the files changed differently on both sides.
    The target moves by compare-and-swap: a commit landing meanwhile means the merge
    is computed again against it."""
    for _attempt in range(20):
        try:
            return _merge_once(hub, repo_id, num, actor, comment)
        except _Moved:
            continue
    raise Conflict("The target branch kept moving under concurrent commits; try again.")


def _merge_once(hub: Hub, repo_id: int, num: int, actor: str, comment: str | None) -> str:
    with hub.db.write() as session:
        repo = session.get(Repo, repo_id)
        if repo is None:
            raise NotFound("The repository is gone.")
        discussion = for_ref(session, repo, str(num))
        if discussion.status == "merged":
            raise Conflict(f"Pull request #{num} is already merged.")
        if discussion.status == "closed":
            raise Conflict(f"Pull request #{num} is closed; reopen it to merge.")
        pull = state(session, hub, repo, discussion)
        if pull.target_head is None or pull.merge is None:
            raise Conflict(f"The target branch {discussion.target!r} of #{num} is gone.")
        if pull.conflicts:
            raise MergeConflict(num, pull.conflicts)
        ours_tree = _tree(session, repo, pull.target_head)
        assert ours_tree is not None
        reader = TreeReader(session, hub.tree_cache)
        tree, objects = merges.merged_tree(reader, ours_tree, pull.merge.changes)
        message = f"Merge pull request #{num}: {discussion.title}"
        oid = merges.write_commit(
            session, repo, tree, objects, [pull.target_head, pull.head], actor, message
        )
        branch = discussion.target or repos.DEFAULT_BRANCH
        if not repos.move_branch(session, repo, branch, pull.target_head, oid):
            raise _Moved
        hub.committer.branch_moved(
            session,
            reader,
            repo,
            branch,
            oid,
            tree,
            actor,
            "README.md" in pull.merge.changes,
        )
        if comment and comment.strip():
            discussions.add_comment(session, discussion, actor, comment)
        discussion.status = "merged"
        discussion.merge_commit = oid
        discussions.add_event(session, discussion, "status-change", actor, status="merged")
        hub.audit.record(
            session,
            audit.PullRequestMerged.of(
                repo, actor, num=num, target=branch, commit=oid, head=pull.head
            ),
        )
        return oid


def diff(
    session: Session,
    hub: Hub,
    repo: Repo,
    base: str | None,
    head: str,
    *,
    listable: Callable[[str], bool],
    downloadable: Callable[[str], bool],
) -> str:
    """A git-style diff of the pull request's changes (merge base to head): names only
    where ``listable`` says, contents only where ``downloadable`` says."""
    reader = TreeReader(session, hub.tree_cache)
    old = merges.files(reader, _tree(session, repo, base))
    new = merges.files(reader, _tree(session, repo, head))
    out: list[str] = []
    total = 0
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path), new.get(path)
        if a is not None and b is not None and a.oid == b.oid and a.executable == b.executable:
            continue
        if not listable(path):
            continue
        text = _file_diff(session, hub, path, a.oid if a else None, b.oid if b else None)
        if not downloadable(path):
            text = _header(path, a is None, b is None) + "Binary files differ\n"
        total += len(text)
        if total > DIFF_TOTAL_BYTES:
            out.append("... (diff truncated)\n")
            break
        out.append(text)
    return "".join(out)


def _header(path: str, added: bool, deleted: bool) -> str:
    head = f"diff --git a/{path} b/{path}\n"
    if added:
        head += "new file mode 100644\n"
    elif deleted:
        head += "deleted file mode 100644\n"
    return head


def _text(session: Session, hub: Hub, oid: str | None) -> list[str] | None:
    """A file's lines, or None when it is not small text (LFS, large, binary)."""
    if oid is None:
        return []
    blob = session.get(FileBlob, oid)
    if blob is None or blob.lfs or blob.size > DIFF_FILE_BYTES:
        return None
    try:
        with hub.blobs.open(blob.sha256) as f:
            data = f.read(DIFF_FILE_BYTES + 1)
    except (FileNotFoundError, HubError):
        return None
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return None


def _file_diff(session: Session, hub: Hub, path: str, a: str | None, b: str | None) -> str:
    head = _header(path, a is None, b is None)
    old, new = _text(session, hub, a), _text(session, hub, b)
    if old is None or new is None:
        return head + "Binary files differ\n"
    lines = difflib.unified_diff(
        old,
        new,
        fromfile=f"a/{path}" if a else "/dev/null",
        tofile=f"b/{path}" if b else "/dev/null",
    )
    missing = "\n\\ No newline at end of file\n"
    return head + "".join(ln if ln.endswith("\n") else ln + missing for ln in lines)


def check_number(text: str) -> int:
    if not text.isdigit() or len(text) > 9 or int(text) < 1:
        raise BadRequest("A discussion number is a positive integer.")
    return int(text)
