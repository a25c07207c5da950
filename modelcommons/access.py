"""Who may read and write which repository: the rules live here and only here.

A private repository answers anyone without read access exactly as a missing
one does (``RepoNotFound``), so its existence never leaks.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import gating
from .accounts import Principal
from .errors import Forbidden, GatedRepo, RepoNotFound, Unauthorized
from .schema import Account, Membership, Repo

WRITE_ROLES = ("write", "admin")

#: Files of a gated repository anyone who can see it may download: the card, the
#: attributes and the licence, so people can read what they are asked to accept.
OPEN_FILES = frozenset(
    {"README.md", ".gitattributes", "LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE"}
)


def namespace_role(session: Session, principal: Principal | None, namespace: str) -> str | None:
    """The principal's role over a namespace: "admin" for their own, else the org role."""
    if principal is None:
        return None
    if principal.name == namespace or principal.is_admin:
        return "admin"
    row = session.execute(
        select(Membership.role)
        .join(Account, Account.id == Membership.org_id)
        .where(Account.name == namespace, Membership.user_id == principal.user_id)
    ).first()
    return row[0] if row else None


def can_read(session: Session, principal: Principal | None, repo: Repo) -> bool:
    if not repo.private:
        return True
    return namespace_role(session, principal, repo.namespace) is not None


def require_read(session: Session, principal: Principal | None, repo: Repo) -> None:
    if not can_read(session, principal, repo):
        raise RepoNotFound(repo.repo_id)


def require_write(session: Session, principal: Principal | None, repo: Repo) -> None:
    """Write access to a repository (commit, branch, tag, LFS upload)."""
    require_read(session, principal, repo)
    if principal is None:
        raise Unauthorized("You must be authenticated to write to this repository.")
    if namespace_role(session, principal, repo.namespace) not in WRITE_ROLES:
        raise Forbidden(f"You don't have write access to {repo.repo_id}.")
    if not principal.can_write:
        raise Forbidden("This token is read-only; create a token with write access.")


def require_admin(session: Session, principal: Principal | None, repo: Repo) -> None:
    """Settings, move and delete: owners and organisation admins."""
    require_write(session, principal, repo)
    if namespace_role(session, principal, repo.namespace) != "admin":
        raise Forbidden(f"Only admins of {repo.namespace!r} can change this repository.")


def require_namespace_write(session: Session, principal: Principal | None, namespace: str) -> None:
    """Creating repositories under a namespace."""
    if principal is None:
        raise Unauthorized("You must be authenticated to create a repository.")
    if not principal.can_write:
        raise Forbidden("This token is read-only; create a token with write access.")
    if namespace_role(session, principal, namespace) not in WRITE_ROLES:
        raise Forbidden(f"You cannot create repositories under {namespace!r}.")


def require_download(
    session: Session, principal: Principal | None, repo: Repo, path: str | None
) -> bool:
    """Downloading a file (``path``; None for "any file", e.g. LFS objects by hash).

    Read access first; then, on a gated repository, every file outside OPEN_FILES
    needs an accepted request that is current (same licence text, not expired),
    unless the caller has a role over the namespace (owners and organisation
    members are never gated). Returns True when the caller got through the gate
    only by an accepted request, which the caller audits as a gated download.
    """
    require_read(session, principal, repo)
    if path is not None and path in OPEN_FILES:
        return False
    if gating.mode_of(session, repo) == "off":
        return False
    if namespace_role(session, principal, repo.namespace) is not None:
        return False
    if principal is None:
        raise GatedRepo(
            f"Access to {repo.repo_id} is restricted: you must be signed in and have "
            "an accepted access request to download its files.",
            status=401,
        )
    if not gating.has_access(session, repo, principal.user_id):
        raise GatedRepo(
            f"Access to {repo.repo_id} is restricted and you are not in the authorized "
            "list. Request access on its page and wait for it to be accepted.",
            status=403,
        )
    return True
