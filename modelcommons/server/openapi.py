"""An OpenAPI 3.1 description of every route, written from the router itself.

Paths, methods and path parameters come from the route patterns (regular
expressions on the raw path, see :mod:`.routing`), so the description cannot
leave a route out: ``GET /api/openapi.json`` serves it, and a test fails if any
route of ``app.build_router()`` is missing. What a pattern cannot say (query
parameters, request bodies) is listed here per handler; routes not listed are
described with their path alone.

Pattern to template: a named group becomes ``{name}`` (an ``enum`` when it is a
choice of words, else a ``pattern``); an optional group of words, and a
non-capturing choice of words, become one path per choice; ``\\.`` is a dot.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .routing import Handler, Route, Router

ERROR = {
    "type": "object",
    "required": ["error", "code"],
    "properties": {"error": {"type": "string"}, "code": {"type": "string"}},
}

_INT = {"type": "integer", "minimum": 0}
_BOOL = {"type": "string", "enum": ["true", "false", "1", "0"]}
_TEXT = {"type": "string"}
#: Query parameters per handler (``module.function``).
QUERY: dict[str, dict[str, dict[str, Any]]] = {
    "api.repos.list_repos": {
        "search": _TEXT,
        "author": _TEXT,
        "filter": _TEXT,
        "pipeline_tag": _TEXT,
        "library": _TEXT,
        "sort": _TEXT,
        "direction": _TEXT,
        "limit": _INT,
        "cursor": _TEXT,
        "full": _BOOL,
        "cardData": _BOOL,
    },
    "api.repos.info": {"expand": _TEXT, "blobs": _BOOL},
    "api.files.tree": {"recursive": _BOOL, "expand": _BOOL, "cursor": _TEXT, "limit": _INT},
    "api.files.resolve": {"download": _BOOL},
    "api.refs.list_refs": {"include_prs": _BOOL},
    "api.refs.list_commits": {"p": _INT, "limit": _INT},
    "api.uploads.commit": {"create_pr": _BOOL},
    "api.access_requests.list_requests": {"cursor": _TEXT, "limit": _INT},
    "api.audit.repo_log": {"format": {"type": "string", "enum": ["json", "jsonl"]}},
    "api.audit.namespace_log": {"format": {"type": "string", "enum": ["json", "jsonl"]}},
    "web.repo_pages.tree_page": {"offset": _INT},
    "web.repo_pages.commits_page": {"p": _INT},
    "web.repo_pages.switch": {"rev": _TEXT, "view": _TEXT, "path": _TEXT},
    "web.search_page.search": {"q": _TEXT, "type": _TEXT, "sort": _TEXT, "p": _INT},
    "web.search_page.models": {"q": _TEXT, "sort": _TEXT, "p": _INT},
    "web.search_page.datasets": {"q": _TEXT, "sort": _TEXT, "p": _INT},
    "web.account_pages.login_form": {"next": _TEXT},
    "api.discussions.list_discussions": {
        "type": {"type": "string", "enum": ["all", "discussion", "pull_request"]},
        "status": {"type": "string", "enum": ["all", "open", "closed"]},
        "author": _TEXT,
        "p": _INT,
    },
    "api.discussions.details": {"diff": _BOOL},
    "api.git.info_refs": {
        "service": {"type": "string", "enum": ["git-upload-pack", "git-receive-pack"]}
    },
    "api.provenance.signature_state": {"revision": _TEXT},
    "api.provenance.post_signature": {"revision": _TEXT, "branch": _TEXT},
    "api.provenance.bill_of_materials": {
        "revision": _TEXT,
        "format": {"type": "string", "enum": ["cyclonedx"]},
    },
}

_JSON = "application/json"
#: Request bodies per handler: media type and schema. Forms of the pages are
#: ``application/x-www-form-urlencoded`` with a ``csrf_token`` field.
BODIES: dict[str, tuple[str, dict[str, Any]]] = {
    "api.repos.create": (
        _JSON,
        {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": _TEXT,
                "organization": _TEXT,
                "type": {"type": "string", "enum": ["model", "dataset"]},
                "private": {"type": "boolean"},
            },
        },
    ),
    "api.repos.delete": (_JSON, {"type": "object"}),
    "api.repos.move": (
        _JSON,
        {"type": "object", "properties": {"fromRepo": _TEXT, "toRepo": _TEXT, "type": _TEXT}},
    ),
    "api.repos.validate_yaml": (_JSON, {"type": "object", "properties": {"content": _TEXT}}),
    "api.repos.settings": (_JSON, {"type": "object"}),
    "api.access_requests.handle": (_JSON, {"type": "object"}),
    "api.access_requests.grant": (_JSON, {"type": "object"}),
    "api.releases.put_plan": (_JSON, {"type": "object"}),
    "api.releases.decide": (_JSON, {"type": "object"}),
    "api.files.paths_info": (
        _JSON,
        {"type": "object", "properties": {"paths": {"type": "array", "items": _TEXT}}},
    ),
    "api.refs.create_branch": (
        _JSON,
        {"type": "object", "properties": {"startingPoint": _TEXT}},
    ),
    "api.refs.create_tag": (_JSON, {"type": "object", "properties": {"tag": _TEXT}}),
    "api.preupload.preupload": (
        _JSON,
        {
            "type": "object",
            "properties": {
                "files": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"path": _TEXT, "size": _INT, "sample": _TEXT},
                    },
                }
            },
        },
    ),
    "api.uploads.commit": ("application/x-ndjson", {"type": "string"}),
    "api.uploads.lfs_batch": ("application/vnd.git-lfs+json", {"type": "object"}),
    "api.uploads.lfs_verify": ("application/vnd.git-lfs+json", {"type": "object"}),
    "api.uploads.lfs_complete": (_JSON, {"type": "object"}),
    "api.uploads.lfs_upload": ("application/octet-stream", {"type": "string"}),
    "api.uploads.lfs_part": ("application/octet-stream", {"type": "string"}),
    "api.discussions.create": (
        _JSON,
        {
            "type": "object",
            "required": ["title"],
            "properties": {
                "title": _TEXT,
                "description": _TEXT,
                "pullRequest": {"type": "boolean"},
            },
        },
    ),
    "api.discussions.comment": (_JSON, {"type": "object", "properties": {"comment": _TEXT}}),
    "api.discussions.edit_comment": (
        _JSON,
        {"type": "object", "properties": {"content": _TEXT}},
    ),
    "api.discussions.rename": (_JSON, {"type": "object", "properties": {"title": _TEXT}}),
    "api.discussions.change_status": (
        _JSON,
        {
            "type": "object",
            "properties": {
                "status": {"type": "string", "enum": ["open", "closed"]},
                "comment": _TEXT,
            },
        },
    ),
    "api.discussions.merge": (_JSON, {"type": "object", "properties": {"comment": _TEXT}}),
    "api.webhooks.create": (
        _JSON,
        {
            "type": "object",
            "properties": {
                "url": _TEXT,
                "secret": _TEXT,
                "watched": {"type": "array", "items": {"type": "object"}},
                "domains": {"type": "array", "items": _TEXT},
            },
        },
    ),
    "api.webhooks.update": (_JSON, {"type": "object"}),
    "api.git.upload_pack": ("application/x-git-upload-pack-request", {"type": "string"}),
    "api.git.receive_pack": ("application/x-git-receive-pack-request", {"type": "string"}),
}

_FORM = (
    "application/x-www-form-urlencoded",
    {"type": "object", "properties": {"csrf_token": _TEXT}},
)


def handler_name(handler: Handler) -> str:
    """``api.repos.create``: the handler's module within the package, and its name."""
    module = handler.__module__.removeprefix("modelcommons.")
    return f"{module}.{handler.__name__}"


def describe(router: Router) -> dict[str, Any]:
    """The OpenAPI document for every route of ``router``."""
    paths: dict[str, dict[str, Any]] = {}
    for route in router.routes:
        for template, parameters in templates(route.pattern.pattern):
            item = paths.setdefault(template, {})
            for method in sorted(route.methods):
                # Routes match in order: a template already described keeps the first.
                item.setdefault(method.lower(), _operation(route, method, template, parameters))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Model Commons",
            "version": "1",
            "description": "The Hugging Face Hub API as this hub serves it, and its pages "
            "(tagged `pages`). Every error is `{error, code}` with the headers "
            "`X-Error-Code` and `X-Error-Message`; pages answer errors in HTML with "
            "the same headers.",
        },
        "paths": paths,
        "components": {"schemas": {"Error": ERROR}},
    }


def _operation(
    route: Route, method: str, template: str, parameters: list[dict[str, Any]]
) -> dict[str, Any]:
    name = handler_name(route.handler)
    doc = (route.handler.__doc__ or "").strip().splitlines()
    query = [
        {"name": key, "in": "query", "required": False, "schema": schema}
        for key, schema in QUERY.get(name, {}).items()
    ]
    media = "text/html" if route.web else _JSON
    error = {"description": "Refused", "headers": {"X-Error-Code": {"schema": _TEXT}}}
    if route.plain:  # git's smart HTTP: git's own media types, errors as text
        media = "application/octet-stream"
        error["content"] = {"text/plain": {"schema": _TEXT}}
    elif not route.web:
        error["content"] = {_JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()} {template}",
        "summary": doc[0] if doc else name.rsplit(".", 1)[-1].replace("_", " "),
        "tags": ["pages" if route.web else "api"],
        "x-handler": name,
        "parameters": parameters + query,
        "responses": {"200": {"description": "OK", "content": {media: {}}}, "4XX": error},
    }
    body = BODIES.get(name) or (_FORM if route.web and method == "POST" else None)
    if body is not None and method in ("POST", "PUT", "PATCH"):
        media_type, schema = body
        operation["requestBody"] = {"content": {media_type: {"schema": schema}}}
    return operation


_WORDS = re.compile(r"[A-Za-z0-9_./-]+")


def templates(pattern: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Each path template a route pattern stands for, with its path parameters."""
    pieces = _pieces(pattern.removeprefix("^").removesuffix("$"))
    variants: list[tuple[str, list[dict[str, Any]]]] = [("", [])]
    for kind, name, inner, optional in pieces:
        choices = inner.split("|")
        if kind == "text":
            variants = [(t + inner, p) for t, p in variants]
        elif kind == "named" and not optional:
            if all(_WORDS.fullmatch(c) for c in choices):
                schema: dict[str, Any] = {"type": "string", "enum": choices}
            else:
                schema = {"type": "string", "pattern": f"^(?:{inner})$"}
            param = {"name": name, "in": "path", "required": True, "schema": schema}
            variants = [(t + "{" + name + "}", [*p, param]) for t, p in variants]
        else:  # an optional group or a non-capturing choice: one path per word
            if not all(_WORDS.fullmatch(c) for c in choices):
                raise ValueError(f"cannot describe the group {inner!r} of {pattern!r}")
            words = [*choices, ""] if optional else choices
            variants = [(t + w, p) for t, p in variants for w in words]
    yield from variants


def _pieces(pattern: str) -> list[tuple[str, str, str, bool]]:
    """(kind, name, inner, optional) of each literal run and group of ``pattern``."""
    out: list[tuple[str, str, str, bool]] = []
    i, text = 0, ""
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            text += pattern[i + 1]
            i += 2
        elif c == "(":
            if text:
                out.append(("text", "", text, False))
                text = ""
            end = _close(pattern, i)
            group = pattern[i + 1 : end]
            optional = pattern[end + 1 : end + 2] == "?"
            if group.startswith("?P<"):
                name, _, inner = group[3:].partition(">")
                out.append(("named", name, inner, optional))
            elif group.startswith("?:"):
                out.append(("choice", "", group[2:], optional))
            else:
                raise ValueError(f"unnamed group in {pattern!r}")
            i = end + (2 if optional else 1)
        elif c in "[]*+?{}|.^$":
            raise ValueError(f"cannot describe {c!r} outside a group in {pattern!r}")
        else:
            text += c
            i += 1
    if text:
        out.append(("text", "", text, False))
    return out


def _close(pattern: str, start: int) -> int:
    """The index of the parenthesis closing the one at ``start``."""
    depth, i, in_class = 0, start, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError(f"unbalanced group in {pattern!r}")
