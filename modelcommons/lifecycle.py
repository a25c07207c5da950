"""Repository lifecycle with its access rules: create, move, delete, visibility.

The API and the web pages both call these, so a rule is enforced the same way
whichever door a request comes through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import access, auditlog, repos
from .accounts import Principal
from .commits import initial_commit
from .errors import BadRequest, Forbidden, NotFound
from .names import check_repo_id
from .schema import Account, Repo

if TYPE_CHECKING:
    from .hub import Hub


def _actor(principal: Principal | None) -> str | None:
    return principal.name if principal else None


def _owner(session: Session, namespace: str) -> Account:
    owner = session.scalar(select(Account).where(Account.name == namespace))
    if owner is None:
        raise BadRequest(f"No user or organisation named {namespace!r}.")
    return owner


def create(
    hub: Hub,
    session: Session,
    principal: Principal | None,
    kind: str,
    namespace: str,
    name: str,
    *,
    private: bool,
) -> Repo:
    check_repo_id(f"{namespace}/{name}")
    owner = _owner(session, namespace)
    access.require_namespace_write(session, principal, namespace)
    assert principal is not None
    repo = repos.new_repo(session, kind, namespace, name, owner.id, private=private)
    repo.created_by = principal.user_id
    initial_commit(session, hub, repo, principal.name)
    hub.reindex(session, repo)
    hub.audit.record(
        session,
        auditlog.RepoCreated.of(repo, principal.name, private=private),
    )
    return repo


def move(hub: Hub, session: Session, principal: Principal | None, repo: Repo, target: str) -> None:
    namespace, name = check_repo_id(target)
    access.require_admin(session, principal, repo)
    before = repo.repo_id
    if namespace != repo.namespace:
        owner = _owner(session, namespace)
        try:
            access.require_namespace_admin(session, principal, namespace)
        except NotFound as exc:
            raise Forbidden(f"Only admins of {namespace!r} can move repositories into it.") from exc
        repo.owner_id = owner.id
    repos.move_repo(session, repo, namespace, name)
    hub.reindex(session, repo)
    hub.audit.record(
        session,
        auditlog.RepoMoved(
            _actor(principal), repo=repo.id, namespace=namespace, from_id=before, to_id=repo.repo_id
        ),
    )


def delete(hub: Hub, session: Session, principal: Principal | None, repo: Repo) -> None:
    access.require_admin(session, principal, repo)
    hub.audit.record(
        session,
        auditlog.RepoDeleted.of(
            repo,
            _actor(principal),
        ),
    )
    hub.unindex(session, repo)
    repos.delete_repo(session, repo)


def set_visibility(
    hub: Hub, session: Session, principal: Principal | None, repo: Repo, *, private: bool
) -> None:
    access.require_admin(session, principal, repo)
    if repo.private != private:
        hub.audit.record(
            session,
            auditlog.VisibilityChanged.of(
                repo,
                _actor(principal),
                private=private,
            ),
        )
    repo.private = private
    hub.reindex(session, repo)
