"""May this caller see this content at this revision: the one place every route asks.

The rules themselves are in :mod:`modelcommons.governance.content`; this module
builds one caller's view of a repository from the caller's role
(:mod:`modelcommons.accounts.roles`), the gating mode and the release plan.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..accounts import Principal
from ..accounts.roles import repo_role, require_read
from ..db.schema import Repo
from . import gating, quarantine, releases
from .content import RepoContent

#: Files of a gated repository anyone who can see it may download: the card and the
#: licence, so people can read what they are asked to accept. ``.gitattributes`` is
#: gated like the rest, as on the Hugging Face Hub (its clients' tests expect a
#: ``GatedRepoError`` for it); its names are listed all the same.
OPEN_FILES = frozenset({"README.md", "LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE"})


def content(session: Session, principal: Principal | None, repo: Repo) -> RepoContent:
    """What the caller may see of a repository's content: the one place every route
    that shows bytes, names, sizes, hashes or history of a path asks.

    Read access first (a private repository the caller cannot read is
    ``RepoNotFound``). Then ``.at(revision)`` resolves the revision once to its
    canonical form (:func:`modelcommons.storage.repos.canonical`) and refuses a closed one;
    the answer says per path whether the caller may see it listed and download it
    (and, under a scan policy of ``quarantine``, refuses unsafe files to all but the
    repository's admins).
    See :class:`modelcommons.governance.content.RepoContent` for the rules.
    """
    require_read(session, principal, repo)
    role = repo_role(session, principal, repo)
    return RepoContent(
        session=session,
        principal=principal,
        repo=repo,
        is_owner=role is not None,
        gate=gating.mode_of(session, repo),
        plan=None if role is not None else releases.openings(session, principal, repo),
        open_files=OPEN_FILES,
        quarantine=(
            quarantine.Quarantine(session, repo)
            if role != "admin" and quarantine.policy_for(session, repo.namespace) == "quarantine"
            else None
        ),
    )
