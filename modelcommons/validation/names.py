"""Validation of every user-supplied name and path. Each refusal says why."""

from __future__ import annotations

import re

from ..errors import BadRequest

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_REF = re.compile(r"^[A-Za-z0-9._/-]+$")
REPO_TYPES = {"model": "models", "dataset": "datasets"}
URL_PREFIX = {"model": "", "dataset": "datasets/"}


def check_name(name: str, what: str = "name") -> str:
    if not name or len(name) > 96:
        raise BadRequest(f"Invalid {what} {name!r}: it must be 1 to 96 characters long.")
    if not _NAME.match(name):
        raise BadRequest(
            f"Invalid {what} {name!r}: use letters, digits, '-', '_' and '.', "
            "starting with a letter or digit."
        )
    if "--" in name or ".." in name:
        raise BadRequest(f"Invalid {what} {name!r}: '--' and '..' are not allowed.")
    if name.endswith(".git") or name.endswith("."):
        raise BadRequest(f"Invalid {what} {name!r}: it may not end with '.git' or '.'.")
    return name


#: First path segments the hub itself uses; no user or organisation may take them.
RESERVED_NAMES = frozenset(
    {
        "api",
        "datasets",
        "spaces",
        "models",
        "search",
        "login",
        "logout",
        "join",
        "new",
        "settings",
        "static",
        "lfs",
        "organizations",
        "docs",
        "admin",
        "-",
        "help",
    }
)


def check_account_name(name: str, what: str) -> str:
    check_name(name, what)
    if name.lower() in RESERVED_NAMES:
        raise BadRequest(f"The {what} {name!r} is reserved by the hub.")
    return name


def check_repo_id(repo_id: str) -> tuple[str, str]:
    parts = repo_id.split("/")
    if len(parts) != 2:
        raise BadRequest(f"Invalid repository id {repo_id!r}: expected 'namespace/name'.")
    return check_name(parts[0], "namespace"), check_name(parts[1], "repository name")


def check_path(path: str, max_length: int = 1024) -> str:
    """A file path inside a repository: relative, normalised, no git internals."""
    if not path:
        raise BadRequest("Invalid path: it is empty.")
    if len(path.encode()) > max_length:
        raise BadRequest(f"Invalid path {path[:80]!r}...: longer than {max_length} bytes.")
    if "\0" in path:
        raise BadRequest("Invalid path: it contains a NUL character.")
    if "\\" in path:
        raise BadRequest(f"Invalid path {path!r}: backslashes are not allowed; use '/'.")
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise BadRequest(f"Invalid path {path!r}: control characters are not allowed.")
    if path.startswith("/"):
        raise BadRequest(f"Invalid path {path!r}: absolute paths are not allowed.")
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise BadRequest(
                f"Invalid path {path!r}: empty, '.' and '..' segments are not allowed."
            )
        if part.lower() == ".git":  # in any case: a case-insensitive disk is a git client's
            raise BadRequest(f"Invalid path {path!r}: '.git' is reserved.")
    return path


def check_ref_name(name: str) -> str:
    """A branch or tag name, following git's check-ref-format rules."""
    bad = (
        not name
        or len(name) > 200
        or not _REF.match(name)
        or name.startswith(("/", ".", "-"))
        or name.endswith(("/", ".", ".lock"))
        or "//" in name
        or ".." in name
        or "/." in name
        or name == "HEAD"
    )
    if bad:
        raise BadRequest(
            f"Invalid branch or tag name {name!r}: use letters, digits, '.', '_', '-' "
            "and '/', without '..', '//' or a leading '-', '.' or '/'."
        )
    return name


def repo_type_from_plural(plural: str) -> str:
    for kind, p in REPO_TYPES.items():
        if p == plural:
            return kind
    raise BadRequest(f"Unknown repository type {plural!r}: expected 'models' or 'datasets'.")


def repo_type_from_body(value: object) -> str:
    if value in (None, "model"):
        return "model"
    if value == "dataset":
        return "dataset"
    raise BadRequest(f"Unsupported repository type {value!r}: this hub hosts models and datasets.")
