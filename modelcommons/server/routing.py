"""Routing on the raw request path.

The client quotes revisions with ``quote(rev, safe="")``, so ``refs/pr/1``
arrives as ``refs%2Fpr%2F1``. Routing on the decoded path would confuse the
revision with the file path, so routes match ``scope["raw_path"]`` and each
captured segment is percent-decoded afterwards.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import unquote

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from ..accounts import Principal
from ..validation.names import RESERVED_NAMES

if TYPE_CHECKING:
    from ..hub import Hub


R = TypeVar("R")

_SLASHES = re.compile(r"/{2,}")


def normalize_path(raw_path: str) -> str:
    """The raw (still percent-encoded) request path as the hub routes it.

    Each run of ``/`` becomes one and a trailing ``/`` goes (the root stays ``/``), as
    on the Hugging Face Hub: an ``HF_ENDPOINT`` ending in ``/`` makes clients request
    ``//api/...`` and ``//datasets/...``, and ``tree/main/dir/`` means ``tree/main/dir``.
    Only literal slashes are touched: a ``%2F`` inside a segment (a quoted revision
    such as ``refs%2Fpr%2F1``) is data, not a separator, and stays as it is.
    """
    path = _SLASHES.sub("/", raw_path)
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path if path.startswith("/") else "/" + path


@dataclasses.dataclass
class Ctx:
    """Everything a handler needs: the hub, the request, its parameters and caller."""

    hub: Hub
    request: Request
    params: dict[str, str]
    principal: Principal | None
    #: Absolute URL of the hub's root, with the URL prefix: ``https://example.org/hub``.
    base_url: str
    #: The request's path within the hub: still percent-encoded, without the prefix.
    raw_path: str = ""
    #: Where the hub lives on its host: ``""`` or like ``/hub`` (``Settings.url_prefix``).
    prefix: str = ""

    def url(self, path: str) -> str:
        """An absolute URL for a path within the hub (``/api/...``)."""
        return self.base_url + path

    def href(self, path: str) -> str:
        """A same-site URL for a path within the hub: links, redirects, cookies."""
        if not path.startswith("/") or path.startswith("//"):
            raise ValueError(f"not a path within the hub: {path!r}")
        return self.prefix + path

    @property
    def cookie_path(self) -> str:
        return self.prefix or "/"

    async def run(self, fn: Callable[[], R]) -> R:
        """Run blocking work (database, disk) on a worker thread."""
        return await anyio.to_thread.run_sync(fn)


SyncHandler = Callable[[Ctx], Response]
AsyncHandler = Callable[[Ctx], Awaitable[Response]]
Handler = SyncHandler | AsyncHandler

# Building blocks for route patterns.
T = r"(?P<t>models|datasets|spaces)"
REPO = r"(?P<ns>[^/]+)/(?P<name>[^/]+)"
REV = r"(?P<rev>refs/pr/\d+|refs/convert/[^/]+|[^/]+)"
PREFIX = r"(?P<p>datasets/|spaces/)?"


@dataclasses.dataclass(frozen=True)
class Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    handler: Handler
    web: bool = False
    #: Errors as ``text/plain``, 401 with a Basic challenge: for git clients.
    plain: bool = False
    #: The handler authenticates the caller itself (the Xet CAS: its bearer is a
    #: Xet token, not a hub token); ``principal`` stays None.
    self_auth: bool = False

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.handler)


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(
        self,
        methods: str,
        pattern: str,
        handler: Handler,
        *,
        web: bool = False,
        plain: bool = False,
        self_auth: bool = False,
    ) -> None:
        """Register a route; ``web`` routes are pages (session auth, HTML errors),
        ``plain`` ones answer errors for git clients (see ``plain_error_response``)."""
        verbs = frozenset(methods.split())
        if "GET" in verbs:
            verbs |= {"HEAD"}
        self.routes.append(Route(verbs, re.compile(f"^{pattern}$"), handler, web, plain, self_auth))

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | bool | None:
        """The route and decoded params; ``False`` if the path exists for other methods."""
        path_matched = False
        for route in self.routes:
            m = route.pattern.match(raw_path)
            if m is None:
                continue
            params = {k: unquote(v) for k, v in m.groupdict().items() if v is not None}
            if route.web and params.get("ns", "").lower() in RESERVED_NAMES:
                continue  # /api/..., /static/... are never user or repository pages
            if method not in route.methods:
                path_matched = True
                continue
            return route, params
        return False if path_matched else None
