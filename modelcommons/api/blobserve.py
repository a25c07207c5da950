"""Sending a blob's bytes, wherever the store keeps them.

A local store gives a path, served with sendfile (``BlobFileResponse``). An object
store is streamed from a ranged GET of the store, a piece at a time, honouring one
``Range`` as the clients send it (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``; several
ranges get the whole file). With ``download_redirect`` (object stores only) the
caller, already checked, is sent to a presigned URL of the store instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

from starlette.background import BackgroundTask
from starlette.responses import RedirectResponse, Response, StreamingResponse

from ..errors import HubError
from ..server.responses import BlobFileResponse
from ..server.routing import Ctx

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(HubError):
    status = 416
    code = "RangeNotSatisfiable"


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of one ``Range``, or None for the whole file. Raises 416
    when it starts past the end."""
    match = _RANGE.match(header.replace(" ", ""))
    if not header or match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last n bytes
        n = int(last)
        if n == 0:
            raise _unsatisfiable(size)
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise _unsatisfiable(size)
    return start, end


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        "The requested range is not satisfiable.", headers={"Content-Range": f"bytes */{size}"}
    )


def content_disposition(kind: str, filename: str) -> str:
    """As Starlette's FileResponse writes it, so both kinds of store answer alike."""
    quoted = quote(filename)
    if quoted != filename:
        return f"{kind}; filename*=utf-8''{quoted}"
    return f'{kind}; filename="{filename}"'


def redirect(
    ctx: Ctx, sha256: str, headers: Mapping[str, str], filename: str | None = None
) -> Response | None:
    """302 to the store when ``download_redirect`` is on and the store can sign URLs."""
    settings = ctx.hub.settings
    if not settings.download_redirect:
        return None
    url = ctx.hub.blobs.presigned_url(sha256, settings.download_redirect_seconds, filename)
    if url is None:
        return None
    response = RedirectResponse(url, status_code=302)
    response.headers.update(headers)
    return response


def send_blob(
    ctx: Ctx,
    sha256: str,
    size: int,
    *,
    headers: Mapping[str, str],
    media_type: str,
    filename: str | None = None,
    disposition: str = "attachment",
    background: BackgroundTask | None = None,
) -> Response:
    chunk = ctx.hub.settings.download_chunk_bytes
    path = ctx.hub.blobs.local_path(sha256)
    if path is not None:
        return BlobFileResponse(
            path,
            headers=dict(headers),
            media_type=media_type,
            content_disposition_type=disposition,
            filename=filename,
            chunk_size=chunk,
            stat_result=None,
        )
    out = dict(headers)
    out["Accept-Ranges"] = "bytes"
    if filename is not None:
        out["Content-Disposition"] = content_disposition(disposition, filename)
    wanted = parse_range(ctx.request.headers.get("range", ""), size)
    status = 200
    first, last = 0, size - 1
    if wanted is not None:
        first, last = wanted
        status = 206
        out["Content-Range"] = f"bytes {first}-{last}/{size}"
    out["Content-Length"] = str(last - first + 1)
    if ctx.request.method == "HEAD" or size == 0:
        return Response(b"", status_code=status, headers=out, media_type=media_type)
    body = ctx.hub.blobs.read_range(sha256, first, last, chunk)
    return StreamingResponse(
        body, status_code=status, headers=out, media_type=media_type, background=background
    )
