"""The one error shape of the hub.

Every refusal is a :class:`HubError`. It becomes a response with a JSON body
``{"error": message, "code": code}`` and the headers ``X-Error-Code`` and
``X-Error-Message``, which the ``huggingface_hub`` client maps to its own
exceptions (``RepositoryNotFoundError``, ``RevisionNotFoundError``,
``EntryNotFoundError``...). HEAD responses carry the same headers with no body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping


class HubError(Exception):
    status: int = 400
    code: str = "BadRequest"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, object]:
        return {"error": self.message, "code": self.code, **self.extra}

    def response_headers(self) -> dict[str, str]:
        headers = {"X-Error-Code": self.code, **self.headers}
        safe = {name: header_value(value, limit=None) for name, value in headers.items()}
        return {**safe, "X-Error-Message": header_value(self.message)}


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def header_value(text: str, limit: int | None = 1000) -> str:
    """``text`` made fit for an HTTP header value: latin-1, one line, no control
    characters (a NUL or CR/LF from a user's path or revision, echoed in a message,
    would otherwise break or split the response), at most ``limit`` characters."""
    safe = _CONTROL.sub(" ", text).encode("latin-1", "replace").decode("latin-1")
    return safe if limit is None else safe[:limit]


class BadRequest(HubError):
    status = 400
    code = "BadRequest"


class Unauthorized(HubError):
    status = 401
    code = "Unauthorized"


class Forbidden(HubError):
    status = 403
    code = "Forbidden"


class NotFound(HubError):
    status = 404
    code = "NotFound"


class RepoNotFound(NotFound):
    code = "RepoNotFound"

    def __init__(self, repo_id: str = "", **kwargs: object) -> None:
        # The Hugging Face Hub's words: the client leaves out a server message that its
        # own "Repository Not Found for url: ..." already says, so its users see one.
        super().__init__("Repository not found", **kwargs)  # type: ignore[arg-type]
        self.repo_id = repo_id


class RepoRedirect(HubError):
    """A moved repository's old id: a 307 to the same request under its new id (a
    relative ``Location``, which the clients follow for downloads too)."""

    status = 307
    code = "RepoMoved"

    def __init__(self, repo_id: str, location: str) -> None:
        super().__init__(f"Repository moved to {repo_id}", headers={"Location": location})


class RevisionNotFound(NotFound):
    code = "RevisionNotFound"


class EntryNotFound(NotFound):
    code = "EntryNotFound"


class Conflict(HubError):
    status = 409
    code = "Conflict"


class PreconditionFailed(HubError):
    status = 412
    code = "ParentCommitMismatch"


class ContentUnavailable(HubError):
    """A file whose bytes are not in the blob store: ``commons fsck --repair`` moved
    them to quarantine because they no longer matched their sha256 (or they were
    lost). Permanent until someone uploads the same file again."""

    status = 410
    code = "ContentUnavailable"

    def __init__(self, path: str) -> None:
        super().__init__(
            f"The bytes of {path!r} are not available on this hub (they failed an "
            "integrity check); uploading the same file again restores them."
        )


class PayloadTooLarge(HubError):
    status = 413
    code = "PayloadTooLarge"


class Unprocessable(HubError):
    status = 422
    code = "Unprocessable"


class GatedRepo(HubError):
    """A gated repository's file, for a caller without an accepted access request:
    401 when anonymous, 403 when signed in (the clients word their advice on it)."""

    status = 403
    code = "GatedRepo"


class NotReleased(GatedRepo):
    """What a staged release plan has not opened to the caller yet. The same answer
    as a gated file for the clients; pages say to wait for the plan, not to ask."""
