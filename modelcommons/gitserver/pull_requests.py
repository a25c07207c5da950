"""Pushes that open or update a pull request: ``refs/for/<branch>`` (a new pull
request against ``<branch>``) and ``refs/pr/<n>`` (new commits for pull request
``n``).

This is the one place the push code hands such a ref to; pull requests
themselves live elsewhere. Until they are wired here, these pushes are refused
with a clear 4xx answer, and nothing of the push is kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from ..accounts import Principal
from ..db.schema import Repo
from ..errors import HubError

if TYPE_CHECKING:
    from ..hub import Hub


class PullRequestsUnavailable(HubError):
    status = 422
    code = "PullRequestsUnavailable"

    def __init__(self) -> None:
        super().__init__("pull requests over git are not available yet: push to a branch instead.")


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
    raise PullRequestsUnavailable()
