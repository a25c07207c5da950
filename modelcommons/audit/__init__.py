"""The audit log: a tamper-evident record of security-relevant events.

Events (``events``) are typed dataclasses appended to a sha256 hash chain
(``chain``) in the transaction of the change they describe, anchored outside the
database and signed at intervals with an Ed25519 key (``signing``), so that a
third party can verify an export offline. The names below are the package's
surface.

May import: ``db`` and the foundation modules only, so that every domain can record
events.
"""

from .chain import AuditLog, as_json, entry_hash
from .events import (
    AccessDecided,
    AccessGranted,
    AccessRequested,
    CommentHidden,
    DefaultVisibilitySet,
    DiscussionStatusChanged,
    EmailChanged,
    Event,
    GatedDownload,
    GatingChanged,
    LfsFilesPurged,
    LicenceAccepted,
    LicencePolicySet,
    LicenceViolationsCommitted,
    PasswordSet,
    PullRequestMerged,
    ReleaseDecided,
    RepoCreated,
    RepoDeleted,
    RepoEvent,
    RepoMoved,
    RoleSet,
    ScanPolicySet,
    SignedIn,
    SignInThrottled,
    TokenCreated,
    TokenRevoked,
    VisibilityChanged,
    gated_download,
)

__all__ = [
    "AccessDecided",
    "AccessGranted",
    "AccessRequested",
    "AuditLog",
    "CommentHidden",
    "DefaultVisibilitySet",
    "DiscussionStatusChanged",
    "EmailChanged",
    "Event",
    "GatedDownload",
    "GatingChanged",
    "LfsFilesPurged",
    "LicenceAccepted",
    "LicencePolicySet",
    "LicenceViolationsCommitted",
    "PasswordSet",
    "PullRequestMerged",
    "ReleaseDecided",
    "RepoCreated",
    "RepoDeleted",
    "RepoEvent",
    "RepoMoved",
    "RoleSet",
    "ScanPolicySet",
    "SignInThrottled",
    "SignedIn",
    "TokenCreated",
    "TokenRevoked",
    "VisibilityChanged",
    "as_json",
    "entry_hash",
    "gated_download",
]
