"""Who may read, write and administer which repository: the role rules, here and only here.

A private repository answers anyone without read access exactly as a missing
one does (``RepoNotFound``), so its existence never leaks.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session

from ..db.schema import Account, Membership, Repo
from ..errors import Forbidden, NotFound, RepoNotFound, Unauthorized
from .principals import Principal
from .users import org_roles

WRITE_ROLES = ("write", "admin")
#: Roles that may create repositories in a namespace.
CREATE_ROLES = ("contributor", "write", "admin")


def namespace_role(session: Session, principal: Principal | None, namespace: str) -> str | None:
    """The principal's role over a namespace: "admin" for their own, else the org role
    (read, contributor, write or admin). A fine-grained token outside its scope has none."""
    if principal is None:
        return None
    if principal.scope is not None and not principal.scope.covers_namespace(namespace):
        return None
    return _member_role(session, principal, namespace)


def _member_role(session: Session, principal: Principal, namespace: str) -> str | None:
    if principal.name == namespace or principal.is_admin:
        return "admin"
    row = session.execute(
        select(Membership.role)
        .join(Account, Account.id == Membership.org_id)
        .where(Account.name == namespace, Membership.user_id == principal.user_id)
    ).first()
    return row[0] if row else None


def repo_role(session: Session, principal: Principal | None, repo: Repo) -> str | None:
    """The principal's effective role over one repository: read, write, admin or None.

    Contributors write to the repositories they created and read the others; a
    fine-grained token reaches only the repositories and namespaces it names.
    """
    if principal is None:
        return None
    if principal.scope is not None and not principal.scope.covers_repo(repo.kind, repo.repo_id):
        return None
    role = _member_role(session, principal, repo.namespace)
    if role == "contributor":
        return "write" if repo.created_by == principal.user_id else "read"
    return role


def can_read(session: Session, principal: Principal | None, repo: Repo) -> bool:
    if not repo.private:
        return True
    return (
        repo_role(session, principal, repo) is not None
        and principal is not None
        and (principal.allows("read"))
    )


def can_write(session: Session, principal: Principal | None, repo: Repo) -> bool:
    return (
        principal is not None
        and principal.allows("write")
        and repo_role(session, principal, repo) in WRITE_ROLES
    )


def listed_namespaces(session: Session, principal: Principal | None) -> frozenset[str] | None:
    """Namespaces whose private repositories show in the principal's listings and
    search results; None for all of them (hub admins).

    A fine-grained token lists only the namespaces it names: the private
    repositories it names one by one it may open, but they are not listed.
    """
    if principal is None:
        return frozenset()
    if principal.scope is not None:
        names = {principal.name, *org_roles(session, principal.user_id)}
        if principal.is_admin:
            names |= {e[3:] for e in principal.scope.entities if e.startswith("ns:")}
        return frozenset(n for n in names if principal.scope.covers_namespace(n))
    if principal.is_admin:
        return None
    return frozenset({principal.name, *org_roles(session, principal.user_id)})


def listed(session: Session, principal: Principal | None) -> ColumnElement[bool]:
    """A WHERE clause on repos: what :func:`listed_namespaces` lets the principal list."""
    names = listed_namespaces(session, principal)
    if names is None:
        return true()
    if not names:
        return Repo.private.is_(False)
    return or_(Repo.private.is_(False), Repo.namespace.in_(sorted(names)))


def require_read(session: Session, principal: Principal | None, repo: Repo) -> None:
    if not can_read(session, principal, repo):
        raise RepoNotFound(repo.repo_id)


def require_participant(session: Session, principal: Principal | None, repo: Repo) -> None:
    """Acting as oneself on a repository one can read: likes and release approvals.

    No role is needed, but the caller must be signed in and hold a token that may
    change things (a read-only token only reads) and, if fine-grained, reaches
    this repository.
    """
    require_read(session, principal, repo)
    if principal is None:
        raise Unauthorized("You must be signed in to do this.")
    if not principal.allows("write"):
        raise Forbidden("This token may not write; create a token with write access.")
    if principal.scope is not None and not principal.scope.covers_repo(repo.kind, repo.repo_id):
        raise Forbidden(f"This token does not reach {repo.repo_id}.")


def require_write(session: Session, principal: Principal | None, repo: Repo) -> None:
    """Write access to a repository (commit, branch, tag, LFS upload)."""
    require_read(session, principal, repo)
    if principal is None:
        raise Unauthorized("You must be authenticated to write to this repository.")
    if repo_role(session, principal, repo) not in WRITE_ROLES:
        raise Forbidden(f"You don't have write access to {repo.repo_id}.")
    if not principal.allows("write"):
        raise Forbidden("This token may not write; create a token with write access.")


def require_admin(session: Session, principal: Principal | None, repo: Repo) -> None:
    """Settings, move, delete, gating decisions and the audit log: admins only."""
    require_write(session, principal, repo)
    assert principal is not None
    if repo_role(session, principal, repo) != "admin" or not principal.allows("admin"):
        raise Forbidden(f"Only admins of {repo.namespace!r} can change this repository.")


def require_namespace_write(session: Session, principal: Principal | None, namespace: str) -> None:
    """Creating repositories under a namespace."""
    if principal is None:
        raise Unauthorized("You must be authenticated to create a repository.")
    if not principal.allows("write"):
        raise Forbidden("This token may not write; create a token with write access.")
    if namespace_role(session, principal, namespace) not in CREATE_ROLES:
        raise Forbidden(f"You cannot create repositories under {namespace!r}.")


def require_namespace_admin(session: Session, principal: Principal | None, namespace: str) -> None:
    """Reading a namespace's audit log, moving repositories into it."""
    if (
        namespace_role(session, principal, namespace) != "admin"
        or principal is None
        or (not principal.allows("admin"))
    ):
        raise NotFound(f"Nothing under {namespace!r} that you may administer.")
