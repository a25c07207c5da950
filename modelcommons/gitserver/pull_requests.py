"""Pushes that open or update a pull request: ``refs/for/<branch>`` (a new pull
request against ``<branch>``) and ``refs/pr/<n>`` (new commits for pull request
``n``).

This is the one place the push code hands such a ref to; pull requests themselves
live in :mod:`modelcommons.community`. Pushing needs write access to the
repository (the route checks it), so whoever pushes here may also update any pull
request of it, force included: a pull request's ref is not a protected branch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from ..accounts import Principal
from ..community import pulls
from ..db.schema import Commit, Repo
from ..errors import Conflict, NotFound
from ..storage import repos

if TYPE_CHECKING:
    from ..hub import Hub


def pushed(
    session: Session, hub: Hub, repo: Repo, pusher: Principal, ref: str, commit: str
) -> str | None:
    """Open (``refs/for/<branch>``) or update (``refs/pr/<n>``) a pull request whose
    head is ``commit``.

    Called inside the push's transaction, after the pushed objects and commits are
    in the repository (``commit`` is one of its commits) and before any ref moves:
    raising a :class:`HubError` refuses the whole push (its message is shown to the
    pusher on the ref's line), and everything done here commits with the push.
    Returns a line for the pusher (the pull request's URL), or None.
    """
    if ref.startswith("refs/for/"):
        branch = ref.removeprefix("refs/for/")
        head = session.get(Commit, (repo.id, commit))
        assert head is not None
        title = head.title if len(head.title.strip()) >= 3 else f"Changes pushed to {branch}"
        discussion = pulls.open_pull_request(
            session,
            repo,
            pusher.name,
            title[:200],
            head.message.split("\n", 1)[1].strip() if "\n" in head.message else None,
            target=branch,
            start=commit,
            status="open",
        )
        pulls.commits_added(session, repo, discussion, pusher.name, None, commit)
        num = discussion.num
        hub.committer.pull_request_moved(
            session, repo, str(num), commit, head.tree_oid, pusher.name
        )
        return f"opened pull request #{num} (push more commits to refs/pr/{num})"
    number = repos.pr_number(ref)
    if number is None:
        raise NotFound(f"{ref} is not a pull request ref.")
    discussion = pulls.for_ref(session, repo, str(number))
    if discussion.status == "merged":
        raise Conflict(f"pull request #{number} is merged: open a new one")
    current = repos.get_ref(session, repo, "pr", str(number))
    if current is None:
        raise NotFound(f"The ref of pull request #{number} is gone.")
    old = current.target
    if not repos.move_ref(session, repo, "pr", str(number), old, commit):
        raise Conflict("fetch first")
    pulls.commits_added(session, repo, discussion, pusher.name, old, commit)
    head = session.get(Commit, (repo.id, commit))
    assert head is not None
    hub.committer.pull_request_moved(session, repo, str(number), commit, head.tree_oid, pusher.name)
    return f"updated pull request #{number}"
