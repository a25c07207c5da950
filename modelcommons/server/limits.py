"""Caps on a request's head (request line and headers), enforced as it arrives.

uvicorn's httptools protocol, which ``commons serve`` runs for its speed, puts no
limit on headers: it buffers whatever arrives until the blank line, so a client
could make the server hold a 32 MiB header (or a million small ones) per
connection. This subclass counts the bytes of each request's head before handing
them to the parser, and its header fields once parsed, and answers ``431
Request Header Fields Too Large`` in the hub's error shape, then closes the
connection, as soon as either limit is passed. Requests the parser refuses (a
control character in a header, say) get their 400 in the same shape. It changes
nothing else: bodies and responses take uvicorn's path untouched (the per-chunk
cost is a comparison and a count of body bytes), except that a connection offers
the app the rest of a body of known length to read straight from the socket
(``bodies.py``).
"""

from __future__ import annotations

import http
import json
from typing import Any, ClassVar, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..errors import HubError
from ..settings import Settings
from .bodies import SOCKET_BODY, SocketBodies, SocketBody, content_length, fresh_parser

CODE = "RequestHeaderFieldsTooLarge"


class _TooManyHeaders(Exception):
    pass


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    #: Bytes of the request line and headers of one request.
    max_head_bytes: ClassVar[int] = 64 * 1024
    #: Header fields of one request.
    max_headers: ClassVar[int] = 100
    #: Threads for bodies read straight from the socket; None: always through ASGI.
    socket_bodies: ClassVar[SocketBodies | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Bytes received of the current request's head; None while in its body.
        self._head_bytes: int | None = 0
        self._completed = 0  # requests whose whole message has arrived
        self._refusal: str | None = None
        #: Body bytes of the current request the parser has passed on.
        self.body_seen = 0

    def data_received(self, data: bytes) -> None:
        if self._head_bytes is None:
            super().data_received(data)
            return
        room = self.max_head_bytes - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            super().data_received(data)
            return
        # Parse only what fits: if that does not finish the head, refuse.
        completed = self._completed
        super().data_received(data[:room])
        if self.transport.is_closing():
            return
        if self._head_bytes is not None and self._completed == completed:
            self._refuse(f"The request line and headers exceed {self.max_head_bytes} bytes.")
            return
        self.data_received(data[room:])

    def on_headers_complete(self) -> None:
        # Counted once the head is in (the byte cap already bounds how many fit),
        # rather than in on_header, which runs for every header of every request.
        if len(self.headers) > self.max_headers:
            self._refusal = f"The request has more than {self.max_headers} header fields."
            raise _TooManyHeaders  # httptools stops; uvicorn calls send_400_response
        self._head_bytes = None
        self.body_seen = 0
        super().on_headers_complete()
        cycle = self.cycle
        if self.socket_bodies is not None and cycle is not None and cycle.scope is self.scope:
            length = content_length(self.headers)
            if length:
                extensions = cast("dict[str, Any]", self.scope.setdefault("extensions", {}))
                extensions[SOCKET_BODY] = SocketBody(self, cycle, length)

    def on_body(self, body: bytes) -> None:
        self.body_seen += len(body)
        super().on_body(body)

    def restart_parser(self) -> None:
        """A new parser, at a request boundary: the body of the current request was
        read past the parser (``bodies.py``)."""
        self.parser = fresh_parser(self)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._completed += 1
        self._head_bytes = 0

    def send_400_response(self, msg: str) -> None:
        """What uvicorn sends when the parser refuses a request (a control character in
        a header, a malformed request line): in the one error shape, like the rest."""
        if self._refusal is not None:
            self._refuse(self._refusal)
        else:
            self._send_error(HubError(msg, code="BadRequest"))

    def _refuse(self, message: str) -> None:
        """431 in the one error shape, then close: the rest of the head is never read."""
        self._refusal = message
        self._send_error(HubError(message, status=431, code=CODE))

    def _send_error(self, error: HubError) -> None:
        body = json.dumps(error.body()).encode()
        reason = http.HTTPStatus(error.status).phrase.encode()
        lines = [b"HTTP/1.1 %d %s\r\n" % (error.status, reason)]
        for name, value in self.server_state.default_headers:
            lines += [name, b": ", value, b"\r\n"]
        for key, text in error.response_headers().items():
            lines += [key.encode("latin-1"), b": ", text.encode("latin-1"), b"\r\n"]
        lines += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
        self.transport.write(b"".join(lines))
        self.transport.close()


def protocol_for(settings: Settings) -> type[BoundedHttpToolsProtocol]:
    """The protocol class ``commons serve`` hands uvicorn, with the settings' caps,
    and threads for bodies read straight from the socket."""
    return type(
        "HubHttpToolsProtocol",
        (BoundedHttpToolsProtocol,),
        {
            "max_head_bytes": settings.max_header_bytes,
            "max_headers": settings.max_headers,
            "socket_bodies": (
                SocketBodies(settings.socket_body_slots, settings.body_idle_timeout_seconds)
                if settings.socket_body_slots > 0
                else None
            ),
        },
    )
