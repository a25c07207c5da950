"""The events of the audit log: one frozen dataclass per kind of security-relevant
change. Core code records them with :meth:`modelcommons.audit.chain.AuditLog.record`,
in the transaction of the change they describe."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Self


@dataclasses.dataclass(frozen=True)
class Event:
    """Base of every event; subclasses name their ``kind`` and add fields."""

    kind: ClassVar[str] = "event"
    actor: str | None

    def data(self) -> dict[str, Any]:
        fields = dataclasses.asdict(self)
        fields.pop("actor")
        for key in ("repo", "namespace"):
            fields.pop(key, None)
        return fields

    @property
    def repo_pk(self) -> int | None:
        return getattr(self, "repo", None)

    @property
    def scope(self) -> str | None:
        return getattr(self, "namespace", None)


@dataclasses.dataclass(frozen=True)
class RepoEvent(Event):
    """An event about one repository: its key, its namespace and its id at the time."""

    repo: int = 0
    namespace: str = ""
    repo_id: str = ""

    @classmethod
    def of(cls, repo: Any, actor: str | None, **fields: Any) -> Self:
        """The event about ``repo`` (a :class:`~modelcommons.schema.Repo`)."""
        return cls(actor, repo=repo.id, namespace=repo.namespace, repo_id=repo.repo_id, **fields)


@dataclasses.dataclass(frozen=True)
class SignedIn(Event):
    kind: ClassVar[str] = "auth.sign_in"
    namespace: str = ""  # who signed in
    method: str = "password"


@dataclasses.dataclass(frozen=True)
class SignInThrottled(Event):
    """Failed sign-ins filled the limit for an account (``by`` "account"; ``namespace``
    is the user) or a client address (``by`` "address"): attempts are refused until
    ``until``. Recorded once per lock, when it begins, not for each refused attempt."""

    kind: ClassVar[str] = "auth.sign_in_throttled"
    namespace: str | None = None
    by: str = ""
    address: str = ""  # of the attempt that filled the limit
    failures: int = 0
    until: str = ""


@dataclasses.dataclass(frozen=True)
class TokenCreated(Event):
    kind: ClassVar[str] = "token.created"
    namespace: str = ""  # the token's owner
    name: str = ""
    role: str = ""
    #: Fine-grained tokens: what they reach and may do there.
    scopes: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()
    expires: str | None = None  # ISO 8601 UTC, or None for never

    def data(self) -> dict[str, Any]:
        # Left out when unset, so a plain token's entry reads as it always has.
        return {k: v for k, v in super().data().items() if v not in ((), [], None)}


@dataclasses.dataclass(frozen=True)
class TokenRevoked(Event):
    kind: ClassVar[str] = "token.revoked"
    namespace: str = ""
    name: str = ""


@dataclasses.dataclass(frozen=True)
class RoleSet(Event):
    """A user's role in an organisation was given or changed."""

    kind: ClassVar[str] = "org.role_set"
    namespace: str = ""  # the organisation
    user: str = ""
    role: str = ""


@dataclasses.dataclass(frozen=True)
class RepoCreated(RepoEvent):
    kind: ClassVar[str] = "repo.created"
    private: bool = False


@dataclasses.dataclass(frozen=True)
class RepoMoved(Event):
    kind: ClassVar[str] = "repo.moved"
    repo: int = 0
    namespace: str = ""
    from_id: str = ""
    to_id: str = ""


@dataclasses.dataclass(frozen=True)
class RepoDeleted(RepoEvent):
    kind: ClassVar[str] = "repo.deleted"


@dataclasses.dataclass(frozen=True)
class LfsFilesPurged(RepoEvent):
    """LFS objects deleted for good (``permanently_delete_lfs_files``): how many had
    their bytes removed, and how many stayed because another repository shares them."""

    kind: ClassVar[str] = "repo.lfs_purged"
    removed: int = 0
    kept: int = 0


@dataclasses.dataclass(frozen=True)
class VisibilityChanged(RepoEvent):
    kind: ClassVar[str] = "repo.visibility_changed"
    private: bool = False


@dataclasses.dataclass(frozen=True)
class GatingChanged(RepoEvent):
    """The gating setting of a repository changed (mode "off", "auto", "manual")."""

    kind: ClassVar[str] = "gating.changed"
    mode: str = "off"
    access_seconds: int | None = None


@dataclasses.dataclass(frozen=True)
class AccessRequested(RepoEvent):
    kind: ClassVar[str] = "gating.requested"
    user: str = ""
    licence_sha256: str = ""


@dataclasses.dataclass(frozen=True)
class AccessDecided(RepoEvent):
    """A reviewer accepted, rejected or cancelled (status "pending") a request."""

    kind: ClassVar[str] = "gating.decided"
    user: str = ""
    status: str = ""
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class AccessGranted(RepoEvent):
    kind: ClassVar[str] = "gating.granted"
    user: str = ""


@dataclasses.dataclass(frozen=True)
class LicenceAccepted(RepoEvent):
    """An acceptance record was written: the user now holds access under this licence."""

    kind: ClassVar[str] = "gating.licence_accepted"
    user: str = ""
    revision: str = ""
    licence_sha256: str = ""
    record: int = 0


@dataclasses.dataclass(frozen=True)
class GatedDownload(RepoEvent):
    kind: ClassVar[str] = "gating.download"
    path: str = ""
    revision: str = ""


@dataclasses.dataclass(frozen=True)
class LicencePolicySet(Event):
    kind: ClassVar[str] = "licence.policy_set"
    namespace: str = ""
    policy: str = ""


@dataclasses.dataclass(frozen=True)
class ScanPolicySet(Event):
    """A namespace's scan policy (warn, quarantine, or default: the hub's)."""

    kind: ClassVar[str] = "scan.policy_set"
    namespace: str = ""
    policy: str = ""


@dataclasses.dataclass(frozen=True)
class DefaultVisibilitySet(Event):
    """Whether a namespace's new repositories are private unless asked otherwise."""

    kind: ClassVar[str] = "namespace.default_visibility_set"
    namespace: str = ""
    visibility: str = ""


@dataclasses.dataclass(frozen=True)
class LicenceViolationsCommitted(RepoEvent):
    """A card commit with licence violations, let through because the policy warns."""

    kind: ClassVar[str] = "licence.violations_committed"
    commit: str = ""
    clauses: tuple[str, ...] = ()


def gated_download(
    repo: Any, principal_name: str | None, path: str, revision: str
) -> GatedDownload:
    """The event for a gated or staged file fetched (or shown) outside the namespace."""
    return GatedDownload.of(repo, principal_name, path=path, revision=revision)


@dataclasses.dataclass(frozen=True)
class ReleaseDecided(RepoEvent):
    """A staged-release decision: plan set, replaced, restarted or ended, stage
    promoted, paused, resumed, rolled back or approved. ``actor`` None is the scheduler."""

    kind: ClassVar[str] = "release.decided"
    action: str = ""
    stage: int = -1
    stage_name: str = ""
    rationale: str = ""


@dataclasses.dataclass(frozen=True)
class PasswordSet(Event):
    """A user's password was set or changed: by the user on the account page
    (``actor`` the user) or with ``commons user set-password`` (``actor`` None).
    ``sessions_ended``: the browser sessions signed out by it."""

    kind: ClassVar[str] = "auth.password_set"
    namespace: str = ""  # the user
    method: str = ""  # "account page" | "cli"
    first: bool = False  # the account had no password before
    sessions_ended: int = 0


@dataclasses.dataclass(frozen=True)
class EmailChanged(Event):
    """A user changed their email address on the account page (the address itself
    is not logged: the log outlives it)."""

    kind: ClassVar[str] = "account.email_changed"
    namespace: str = ""
    cleared: bool = False


@dataclasses.dataclass(frozen=True)
class PullRequestMerged(RepoEvent):
    """A pull request merged into ``target`` by the merge commit ``commit``."""

    kind: ClassVar[str] = "discussion.merged"
    num: int = 0
    target: str = ""
    commit: str = ""
    head: str = ""


@dataclasses.dataclass(frozen=True)
class DiscussionStatusChanged(RepoEvent):
    """A discussion or pull request closed or opened again."""

    kind: ClassVar[str] = "discussion.status_changed"
    num: int = 0
    pull_request: bool = False
    status: str = ""


@dataclasses.dataclass(frozen=True)
class CommentHidden(RepoEvent):
    """A comment hidden (its text erased for good), by its author or a writer."""

    kind: ClassVar[str] = "discussion.comment_hidden"
    num: int = 0
    comment: str = ""
    comment_author: str = ""
