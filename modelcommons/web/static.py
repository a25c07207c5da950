"""Static assets shipped in the package (no build step), plus generated CSS."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from starlette.responses import FileResponse, Response

from ..errors import NotFound
from ..server.routing import Ctx
from .markdown import pygments_css

STATIC = Path(__file__).resolve().parent.parent / "static"
#: Folders under ``static/`` that hold vendored libraries, served as they are.
VENDORED = frozenset({"noble-hashes"})
TYPES = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


@cache
def _pygments() -> bytes:
    return pygments_css().encode()


def serve(ctx: Ctx) -> Response:
    name = ctx.params["file"]
    headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    if name == "pygments.css":
        return Response(_pygments(), media_type="text/css", headers=headers)
    path = STATIC / name
    suffix = path.suffix
    folder = path.parent.relative_to(STATIC) if path.parent.is_relative_to(STATIC) else None
    if (
        suffix not in TYPES
        or not path.is_file()
        or folder is None
        or (folder != Path(".") and str(folder) not in VENDORED)
    ):
        raise NotFound(f"No static file {name!r}.")
    return FileResponse(path, media_type=TYPES[suffix], headers=headers)
