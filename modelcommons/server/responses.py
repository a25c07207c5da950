"""Response helpers shared by the API: JSON, dates, errors, file streaming."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from starlette.responses import FileResponse, Response

from ..errors import HubError


def iso(value: dt.datetime) -> str:
    """The only date format the client accepts: UTC with a trailing Z."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def error_response(error: HubError, *, head: bool = False) -> Response:
    """The one error shape: JSON body plus X-Error-Code / X-Error-Message headers."""
    headers = error.response_headers()
    if head:
        return Response(b"", status_code=error.status, headers=headers)
    return json_response(error.body(), status=error.status, headers=headers)


#: The challenge that makes git ask its credential helper (or the user) for a
#: username and password; the hub reads the password as a token.
BASIC_CHALLENGE = 'Basic realm="Model Commons", charset="UTF-8"'


def plain_error_response(error: HubError, *, head: bool = False) -> Response:
    """The error shape for git clients: the same headers, the message as ``text/plain``
    (git prints such a body as ``remote: ...``; it hides JSON), and on a 401 a Basic
    challenge, since git sends credentials only after one."""
    headers = error.response_headers()
    if error.status == 401:
        headers["WWW-Authenticate"] = BASIC_CHALLENGE
    body = b"" if head else (error.message + "\n").encode()
    return Response(body, status_code=error.status, headers=headers, media_type="text/plain")


class BlobFileResponse(FileResponse):
    """A FileResponse with a large read size (Starlette's 64 KiB is 3-4x slower)."""

    def __init__(self, *args: Any, chunk_size: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chunk_size = chunk_size
