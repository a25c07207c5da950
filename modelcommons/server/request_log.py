"""The server's log: one format for every line (text or JSON), and the request log.

``commons serve`` sends everything through the root logger with one formatter, so the
hub's warnings, uvicorn's errors and the request log read alike, and
``COMMONS_LOG_FORMAT=json`` makes each of them one JSON object per line for a log
collector. The request log (:class:`RequestLog`) writes one line per request once
its response is sent; uvicorn's own access log stays off.

Nothing secret reaches it. Tokens travel in headers, never in this hub's URLs, except
the signed LFS transfer URLs (``/lfs/{action}/{token}/...``), whose token segments are
replaced by ``[redacted]``. In the query, the value of any key one of whose words
names a secret (``token``, ``access_token``, ``X-Amz-Signature``, ``password``,
``api_key``, ``code``...) is replaced too, and so is any value that looks like a token
(``mc_...``, ``hf_...``) whatever its key, in case a client puts one where it should
not.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(message)s"
REDACTED = "[redacted]"

#: Words that make a query key secret, after splitting it on punctuation and case.
SECRET_WORDS = frozenset(
    {
        "apikey",
        "auth",
        "authorization",
        "bearer",
        "code",
        "cookie",
        "credential",
        "credentials",
        "csrf",
        "jwt",
        "key",
        "otp",
        "pass",
        "passwd",
        "password",
        "pwd",
        "secret",
        "session",
        "sessionid",
        "sig",
        "signature",
        "token",
    }
)
_TOKEN_VALUE = re.compile(r"^(?:mc|hf)_[A-Za-z0-9_-]{8,}$")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_WORDS = re.compile(r"[^A-Za-z0-9]+")
_PART_NUMBER = re.compile(r"^[0-9]{1,6}$")
#: Bytes that a log line must not carry as they are (controls, spaces, quotes, non-ASCII).
_UNSAFE = re.compile(r'[^\x21-\x7e]|"')

#: Where :class:`RequestLog` finds the caller's name, set by the app once it knows it.
_PRINCIPAL = "commons.principal"
#: Where it finds the request's id (:func:`with_request_id`).
_REQUEST_ID = "commons.request_id"

requests_log = logging.getLogger("modelcommons.requests")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, and the record's
    ``fields`` (a dict passed as ``extra={"fields": ...}``) at the top level. A record
    with an ``event`` name (the request log's ``request``) has it instead of a message."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
        }
        event = getattr(record, "event", None)
        if isinstance(event, str):
            out["event"] = event  # the fields say it all; no message repeating them
        else:
            out["message"] = record.getMessage()
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, separators=(",", ":"))


def check_format(value: str) -> str:
    if value not in FORMATS:
        raise ValueError(f"log_format: {value!r} is not one of {', '.join(FORMATS)}")
    return value


def configure(log_format: str) -> None:
    """Send every log line to stderr in ``log_format`` (``text`` or ``json``)."""
    handler = logging.StreamHandler()
    formatter = JsonFormatter() if check_format(log_format) == "json" else None
    handler.setFormatter(formatter or logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def note_principal(scope: Scope, name: str) -> None:
    """Record who made the request, for its log line."""
    scope[_PRINCIPAL] = name


@functools.lru_cache(maxsize=512)
def _secret_key(raw_key: str) -> bool:
    """Whether a query key (as sent, still encoded) names a secret. Cached: clients
    use a handful of keys over and over."""
    words = _WORDS.split(_CAMEL.sub(r"\1 \2", unquote_plus(raw_key)).lower())
    return any(word in SECRET_WORDS for word in words)


def _token_like(raw: str) -> bool:
    return "_" in raw and _TOKEN_VALUE.match(unquote_plus(raw)) is not None


def redact_query(query: str) -> str:
    """The query string with secret values replaced (keys and order kept)."""
    out = []
    for item in query.split("&"):
        key, sep, value = item.partition("=")
        if sep and (_secret_key(key) or _token_like(value)):
            item = f"{key}={REDACTED}"
        elif not sep and _token_like(key):
            item = REDACTED
        out.append(item)
    return "&".join(out)


def redact_path(path: str, prefix: str = "") -> str:
    """The path with the tokens of signed LFS URLs replaced: under ``{prefix}/lfs/``,
    every segment after the action (``upload``, ``part``, ...) but part numbers."""
    if not path.startswith(prefix + "/lfs/"):
        return path
    segments = path[len(prefix) :].split("/")  # ["", "lfs", action, token, ...]
    for i in range(3, len(segments)):
        if not _PART_NUMBER.match(segments[i]):
            segments[i] = REDACTED
    return prefix + "/".join(segments)


def with_request_id(scope: Scope, send: Send) -> Send:
    """Give the request an id: an ``X-Request-Id`` header on its response (the clients
    quote it in their error messages, ``(Request ID: ...)``) and the ``request_id``
    field of its JSON log line, so that a user's report leads to the line. The id is
    the hub's own, never one a client sent."""
    request_id = secrets.token_hex(12)
    scope[_REQUEST_ID] = request_id

    async def send_with_id(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
            headers.append((b"x-request-id", request_id.encode()))
            message = {**message, "headers": headers}
        await send(message)

    return send_with_id


def _safe(text: str) -> str:
    """``text`` fit for one log line: controls, spaces, quotes and non-ASCII escaped."""
    if text.isascii() and text.isprintable() and " " not in text and '"' not in text:
        return text  # the usual case, checked without a regular expression
    return _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), text)


class RequestLog:
    """ASGI middleware: one line per HTTP request, written when its response is done.

    Fields: method, path (as routed, secrets redacted), status, bytes of body sent,
    duration in milliseconds, principal (the caller's name, or ``-``) and client
    address (the connecting peer, or the one a trusted proxy names).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefix: str = "",
        logger: logging.Logger = requests_log,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.logger = logger
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.clock()
        status = 0
        sent = 0

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
            elif kind == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except BaseException:
            status = status or 500
            raise
        finally:
            self._write(scope, status, sent, self.clock() - started)

    def _write(self, scope: Scope, status: int, sent: int, seconds: float) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        raw = scope.get("raw_path") or scope["path"].encode()
        path = redact_path(raw.decode("latin-1").split("?", 1)[0], self.prefix)
        query = scope.get("query_string", b"").decode("latin-1")
        if query:
            path += "?" + redact_query(query)
        path = _safe(path)
        method = _safe(scope.get("method", "-"))
        principal = _safe(scope.get(_PRINCIPAL) or "-")
        client = scope.get("client")
        address = _safe(str(client[0])) if client else "-"
        ms = round(seconds * 1000, 1)
        fields = {
            "method": method,
            "path": path,
            "status": status,
            "bytes": sent,
            "duration_ms": ms,
            "principal": principal,
            "client": address,
            "request_id": _safe(scope.get(_REQUEST_ID) or "-"),
        }
        # makeRecord and handle, as Logger.info does, less its walk up the stack for
        # the caller's file and line, which would always be these.
        record = self.logger.makeRecord(
            self.logger.name,
            logging.INFO,
            __file__,
            0,
            '%s %s "%s %s" %d %d %.1fms',
            (address, principal, method, path, status, sent, ms),
            None,
            extra={"fields": fields, "event": "request"},
        )
        self.logger.handle(record)
