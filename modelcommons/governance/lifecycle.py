"""Repository lifecycle with its access rules: create, move, delete, visibility.

The API and the web pages both call these, so a rule is enforced the same way
whichever door a request comes through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from .. import audit
from ..accounts import Principal, find_account, roles
from ..db.schema import Account, Repo
from ..errors import BadRequest, Conflict, Forbidden, NotFound
from ..storage import repos
from ..storage.commits import initial_commit
from ..validation.names import check_repo_id

if TYPE_CHECKING:
    from ..hub import Hub


def _actor(principal: Principal | None) -> str | None:
    return principal.name if principal else None


def _owner(session: Session, namespace: str) -> Account:
    """The account a typed namespace means, in any letter case (its spelling wins)."""
    owner = find_account(session, namespace)
    if owner is None:
        raise BadRequest(f"No user or organisation named {namespace!r}.")
    return owner


class RepoExists(Conflict):
    """The name is taken by a repository the caller may read, ``kind`` ``repo_id``
    (the API's create answers with its URL, which the client's ``exist_ok`` reads).
    Plain values: the transaction, and the row with it, is gone when this is caught."""

    code = "RepoExists"

    def __init__(self, repo: Repo) -> None:
        # The Hugging Face Hub's words, which its clients' users match on.
        super().__init__(f"A {repo.kind} repository called {repo.repo_id} already exists.")
        self.kind, self.repo_id = repo.kind, repo.repo_id


def _name_free(
    session: Session,
    principal: Principal | None,
    kind: str,
    namespace: str,
    name: str,
    *,
    moving: Repo | None = None,
) -> None:
    """Refuse a repository name already taken in any letter case.

    The one rule for every create and move: the answer names the repository that
    holds the name only to a caller who may read it. Anyone else learns that the
    name is taken and nothing more, in words built from what they asked for.
    """
    holder = repos.find_clash(session, kind, namespace, name, moving=moving)
    if holder is None:
        return
    if roles.can_read(session, principal, holder):
        raise RepoExists(holder)
    raise Forbidden(
        f"You cannot use the name {namespace}/{name}: a {kind} repository with that name "
        "(ignoring letter case) exists and your credentials cannot read it."
    )


def create(
    hub: Hub,
    session: Session,
    principal: Principal | None,
    kind: str,
    namespace: str,
    name: str,
    *,
    private: bool | None,
) -> Repo:
    """A new repository; ``private=None``: as its namespace's default (public unless
    the organisation's new repositories are private by default)."""
    check_repo_id(f"{namespace}/{name}")
    owner = _owner(session, namespace)
    namespace = owner.name
    if private is None:
        private = owner.private_by_default
    roles.require_namespace_write(session, principal, namespace)
    assert principal is not None
    _name_free(session, principal, kind, namespace, name)
    repo = repos.new_repo(session, kind, namespace, name, owner.id, private=private)
    repo.created_by = principal.user_id
    initial_commit(session, hub, repo, principal.name)
    hub.reindex(session, repo)
    hub.audit.record(
        session,
        audit.RepoCreated.of(repo, principal.name, private=private),
    )
    return repo


def move(hub: Hub, session: Session, principal: Principal | None, repo: Repo, target: str) -> None:
    namespace, name = check_repo_id(target)
    roles.require_admin(session, principal, repo)
    before = repo.repo_id
    if namespace.lower() == repo.namespace.lower():
        namespace = repo.namespace
    else:
        owner = _owner(session, namespace)
        namespace = owner.name
        try:
            roles.require_namespace_admin(session, principal, namespace)
        except NotFound as exc:
            raise Forbidden(f"Only admins of {namespace!r} can move repositories into it.") from exc
        repo.owner_id = owner.id
    _name_free(session, principal, repo.kind, namespace, name, moving=repo)
    repos.move_repo(session, repo, namespace, name)
    hub.reindex(session, repo)
    hub.audit.record(
        session,
        audit.RepoMoved(
            _actor(principal), repo=repo.id, namespace=namespace, from_id=before, to_id=repo.repo_id
        ),
    )


def delete(hub: Hub, session: Session, principal: Principal | None, repo: Repo) -> None:
    roles.require_admin(session, principal, repo)
    hub.audit.record(
        session,
        audit.RepoDeleted.of(
            repo,
            _actor(principal),
        ),
    )
    hub.unindex(session, repo)
    repos.delete_repo(session, repo)


def set_visibility(
    hub: Hub, session: Session, principal: Principal | None, repo: Repo, *, private: bool
) -> None:
    roles.require_admin(session, principal, repo)
    if repo.private != private:
        hub.audit.record(
            session,
            audit.VisibilityChanged.of(
                repo,
                _actor(principal),
                private=private,
            ),
        )
    repo.private = private
    hub.reindex(session, repo)
