"""The ASGI application: routes, authentication and the error boundary."""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import re
from urllib.parse import quote, unquote

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from . import accounts
from .accounts import browser_sessions
from .api import routes as api_routes
from .errors import BadRequest, GatedRepo, HubError, NotFound, NotReleased, Unauthorized
from .hub import Hub
from .server import openapi, request_log
from .server.responses import error_response, json_response, plain_error_response
from .server.routing import Ctx, Route, Router, normalize_path
from .web import routes as web_routes
from .web import sessions, templating
from .web.forms import LoginRequired

log = logging.getLogger("modelcommons")
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def build_router() -> Router:
    """Every route of the hub: the API's, two of the hub's own, then the pages'."""
    r = Router()
    api_routes.add_routes(r)
    r.add("GET", "/api/health", health)
    r.add("GET", r"/api/openapi\.json", openapi_description)
    web_routes.add_routes(r)
    return r


def health(ctx: Ctx) -> Response:
    """Whether the hub answers, and whether what it needs does (the database, the blob
    store, the Redis queue): 503 with the failing part named, for a load balancer."""
    checks = ctx.hub.health()
    if all(v == "ok" for v in checks.values()):
        return json_response({"status": "ok", **checks})
    return json_response({"status": "unavailable", **checks}, 503, {"Retry-After": "5"})


@functools.cache
def _description() -> dict[str, object]:
    return openapi.describe(build_router())


def openapi_description(ctx: Ctx) -> Response:
    """This API as OpenAPI 3.1, written from the routes themselves."""
    return json_response({**_description(), "servers": [{"url": ctx.base_url}]})


class HubApp:
    """An ASGI callable over a :class:`Hub`."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.router = build_router()
        #: The path the hub lives under (from ``public_url``); routes never include it.
        self.prefix = hub.settings.url_prefix

    def _within_prefix(self, path: str) -> str | None:
        """The path within the hub, or None when ``path`` is outside the prefix.

        Requests always carry the prefix here: a proxy that forwards the full path
        sends it, and behind one that strips it, ``commons serve`` runs uvicorn with
        ``root_path`` set to the prefix, which puts it back in ``path`` and
        ``raw_path`` (the ASGI convention Starlette and uvicorn follow).
        """
        if not self.prefix:
            return path
        if path == self.prefix:
            return "/"
        if path.startswith(self.prefix + "/"):
            return path[len(self.prefix) :]
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        send = request_log.with_request_id(scope, send)
        full_path = self._normalize(scope)
        request = Request(scope, receive)
        head = request.method == "HEAD"
        raw_path = self._within_prefix(full_path)
        if raw_path is not None and self.prefix:
            scope["root_path"] = self.prefix  # ASGI: where this app is mounted
        base_url = self._base_url(request)
        ctx = Ctx(self.hub, request, {}, None, base_url, raw_path or full_path, self.prefix)
        route: Route | None = None
        try:
            if raw_path is None:
                raise NotFound(f"Not found: {request.method} {request.url.path}")
            if "%00" in full_path or b"%00" in scope.get("query_string", b""):
                raise BadRequest("The URL may not contain a NUL character (%00).")
            route = self._route(ctx)
            response = await self._handle(ctx, route)
        except HubError as exc:
            response = self._error(ctx, exc, route, head=head)
        except Exception as exc:
            error = self.hub.outage(exc)  # a backend down: 503 and Retry-After
            if error is None:
                log.exception("unhandled error on %s %s", request.method, scope.get("path"))
                error = HubError("Internal server error", status=500, code="InternalError")
            else:
                log.warning("%s on %s %s: %s", error.message, request.method, full_path, exc)
            response = self._error(ctx, error, route, head=head)
        await response(scope, receive, send)

    @staticmethod
    def _normalize(scope: Scope) -> str:
        """The request's raw path, normalised once for everything after: routing, the
        handlers (``request.url``) and the request log (see :func:`normalize_path`)."""
        raw = scope.get("raw_path") or scope["path"].encode()
        received = raw.decode("latin-1").split("?", 1)[0]
        path = normalize_path(received)
        if path != received:
            scope["raw_path"] = path.encode("latin-1")
            scope["path"] = unquote(path)
        return path

    def _route(self, ctx: Ctx) -> Route:
        found = self.router.match(ctx.request.method, ctx.raw_path)
        if found is None:
            raise NotFound(f"Not found: {ctx.request.method} {ctx.request.url.path}")
        if found is False:
            raise HubError("Method not allowed", status=405, code="MethodNotAllowed")
        assert not isinstance(found, bool)
        route, ctx.params = found
        return route

    def _error(self, ctx: Ctx, exc: HubError, route: Route | None, *, head: bool) -> Response:
        """JSON errors for the API and clients; HTML pages for browsers on pages."""
        if isinstance(exc, LoginRequired):
            return templating.redirect(ctx, exc.headers["Location"])
        if route is not None and route.plain:
            return plain_error_response(exc, head=head)
        if 300 <= exc.status < 400:  # a redirect (a moved repository), for every caller
            return error_response(exc, head=head)
        browser = "text/html" in ctx.request.headers.get("accept", "")
        if (route is not None and not route.web) or (route is None and not browser) or head:
            return error_response(exc, head=head)
        status = 404 if exc.code == "RepoNotFound" else exc.status
        headings = {
            400: "Bad request",
            401: "Sign in required",
            403: "Forbidden",
            404: "Not found",
            405: "Not allowed",
            413: "Too large",
        }
        response = templating.render(
            ctx,
            "error.html",
            status=status,
            title="Error",
            code=status,
            heading=headings.get(status, "Error"),
            message=exc.message,
            gate=self._gate_help(ctx, exc),
        )
        response.headers.update(exc.response_headers())
        return response

    @staticmethod
    def _gate_help(ctx: Ctx, exc: HubError) -> dict[str, str | None] | None:
        """For a gated file's page: where its repository is, and where to ask for
        access (None when a staged release, not the gate, holds the file back)."""
        ns, name = ctx.params.get("ns"), ctx.params.get("name")
        if not isinstance(exc, GatedRepo) or not ns or not name:
            return None
        repo = f"/{ctx.params.get('p') or ''}{quote(ns)}/{quote(name)}"
        access = None if isinstance(exc, NotReleased) else f"{repo}/access"
        return {"repo": repo, "access": access, "next": quote(ctx.raw_path, safe="/")}

    async def _handle(self, ctx: Ctx, route: Route) -> Response:
        if route.self_auth:
            ctx.principal = None
        elif route.web:
            ctx.principal = await self._session_principal(ctx.request)
        else:
            ctx.principal = await self._authenticate(ctx.request)
        if ctx.principal is not None:
            request_log.note_principal(ctx.request.scope, ctx.principal.name)
        if route.is_async:
            return await route.handler(ctx)  # type: ignore[no-any-return, misc]
        return await anyio.to_thread.run_sync(route.handler, ctx)  # type: ignore[arg-type]

    async def _session_principal(self, request: Request) -> accounts.Principal | None:
        value = request.cookies.get(sessions.SESSION_COOKIE)
        if not value:
            return None

        def work() -> accounts.Principal | None:
            with self.hub.db.read() as session:
                return browser_sessions.principal_for(session, value)

        return await anyio.to_thread.run_sync(work)

    def _base_url(self, request: Request) -> str:
        if self.hub.settings.public_url:
            return self.hub.settings.public_url.rstrip("/")
        host = request.headers.get("host", "")
        if not _HOST.match(host):
            host = f"{self.hub.settings.host}:{self.hub.settings.port}"
        return f"{request.url.scheme}://{host}"

    async def _authenticate(self, request: Request) -> accounts.Principal | None:
        header = request.headers.get("authorization", "")
        if not header:
            # A browser calling the API with its session cookie: reads are fine;
            # writes must prove they come from our pages (CSRF header).
            if request.method not in sessions.SAFE_METHODS:
                if not request.cookies.get(sessions.SESSION_COOKIE):
                    return None
                sessions.check_csrf(request, request.headers.get("x-csrf-token"))
            return await self._session_principal(request)
        scheme, _, value = header.partition(" ")
        token = value.strip()
        if scheme.lower() == "basic":  # git-lfs sends user:token
            try:
                token = base64.b64decode(token, validate=True).decode().partition(":")[2]
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise Unauthorized(accounts.INVALID_CREDENTIALS, code="InvalidCredentials") from exc
        elif scheme.lower() != "bearer":
            raise Unauthorized(accounts.INVALID_CREDENTIALS, code="InvalidCredentials")
        if not token:
            return None

        def work() -> accounts.Principal:
            with self.hub.db.read() as session:
                principal, stale = accounts.authenticate(session, token, self.hub.clock.now())
            if stale:
                with self.hub.db.write() as session:
                    accounts.touch_token(session, token)
            return principal

        return await anyio.to_thread.run_sync(work)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.hub.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
