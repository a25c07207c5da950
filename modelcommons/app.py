"""The ASGI application: routes, authentication and the error boundary."""

from __future__ import annotations

import base64
import binascii
import logging
import re

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from . import accounts
from .api import files, refs, repos, uploads
from .errors import HubError, NotFound, Unauthorized
from .hub import Hub
from .responses import error_response, json_response
from .routing import PREFIX, REPO, REV, Ctx, Router, T

log = logging.getLogger("modelcommons")
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def build_router() -> Router:
    r = Router()
    api = f"/api/{T}/{REPO}"
    r.add("GET", "/api/whoami-v2", repos.whoami)
    r.add("POST", "/api/repos/create", repos.create)
    r.add("DELETE", "/api/repos/delete", repos.delete)
    r.add("POST", "/api/repos/move", repos.move)
    r.add("POST", "/api/validate-yaml", repos.validate_yaml)
    r.add("GET", f"/api/{T}", repos.list_repos)
    r.add("GET", api, repos.info)
    r.add("GET", f"{api}/revision/{REV}", repos.info)
    r.add("PUT", f"{api}/settings", repos.settings)
    r.add("GET", f"{api}/auth-check", repos.auth_check)
    r.add("GET", f"{api}/tree/{REV}", files.tree)
    r.add("GET", f"{api}/tree/{REV}/(?P<path>.*)", files.tree)
    r.add("POST", f"{api}/paths-info/{REV}", files.paths_info)
    r.add("GET", f"{api}/refs", refs.list_refs)
    r.add("POST", f"{api}/branch/(?P<branch>[^/]+)", refs.create_branch)
    r.add("DELETE", f"{api}/branch/(?P<branch>[^/]+)", refs.delete_branch)
    r.add("POST", f"{api}/tag/{REV}", refs.create_tag)
    r.add("DELETE", f"{api}/tag/{REV}", refs.delete_tag)
    r.add("GET", f"{api}/commits/{REV}", refs.list_commits)
    r.add("POST", f"{api}/preupload/{REV}", uploads.preupload)
    r.add("POST", f"{api}/commit/{REV}", uploads.commit)
    r.add("GET", f"{api}/xet-(?:read|write)-token/(?P<rev>.*)", uploads.xet_token)
    r.add("GET", f"{api}/xet-(?:read|write)-token", uploads.xet_token)
    lfs = f"/{PREFIX}{REPO}\\.git/info/lfs"
    r.add("POST", f"{lfs}/objects/batch", uploads.lfs_batch)
    r.add("POST", f"{lfs}/objects/verify", uploads.lfs_verify)
    r.add("PUT", "/lfs/upload/(?P<token>[^/]+)", uploads.lfs_upload)
    r.add("PUT", "/lfs/part/(?P<token>[^/]+)/(?P<part>[0-9]{1,6})", uploads.lfs_part)
    r.add("POST", "/lfs/complete/(?P<token>[^/]+)", uploads.lfs_complete)
    r.add("GET", "/lfs/objects/(?P<token>[^/]+)", uploads.lfs_download)
    r.add("GET", f"/{PREFIX}{REPO}/resolve/{REV}/(?P<path>.+)", files.resolve)
    r.add("GET", "/api/health", lambda ctx: json_response({"status": "ok"}))
    return r


class HubApp:
    """An ASGI callable over a :class:`Hub`."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.router = build_router()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        head = request.method == "HEAD"
        try:
            response = await self._handle(request, scope)
        except HubError as exc:
            response = error_response(exc, head=head)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, scope.get("path"))
            response = error_response(
                HubError("Internal server error", status=500, code="InternalError"), head=head
            )
        await response(scope, receive, send)

    async def _handle(self, request: Request, scope: Scope) -> Response:
        raw = scope.get("raw_path") or scope["path"].encode()
        raw_path = raw.decode("latin-1").split("?", 1)[0]
        found = self.router.match(request.method, raw_path)
        if found is None:
            raise NotFound(f"Not found: {request.method} {scope['path']}")
        if found is False:
            raise HubError("Method not allowed", status=405, code="MethodNotAllowed")
        assert not isinstance(found, bool)
        route, params = found
        principal = await self._authenticate(request)
        ctx = Ctx(self.hub, request, params, principal, self._base_url(request), raw_path)
        if route.is_async:
            return await route.handler(ctx)  # type: ignore[no-any-return, misc]
        return await anyio.to_thread.run_sync(route.handler, ctx)  # type: ignore[arg-type]

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
            return None
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
                principal, stale = accounts.authenticate(session, token)
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
