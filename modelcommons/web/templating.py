"""Jinja2 templates and the headers every page carries."""

from __future__ import annotations

import datetime as dt
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..server.routing import Ctx
from ..sizes import human_size
from . import sessions

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' https: data:; style-src 'self'; "
        "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def time_ago(value: dt.datetime) -> str:
    seconds = (dt.datetime.now(dt.UTC).replace(tzinfo=None) - value).total_seconds()
    for limit, unit in (
        (60, "second"),
        (3600, "minute"),
        (86400, "hour"),
        (86400 * 30, "day"),
        (86400 * 365, "month"),
    ):
        if seconds < limit:
            div = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "month": 86400 * 30}[unit]
            count = max(int(seconds // div), 0 if unit == "second" else 1)
            if unit == "second" and count < 10:
                return "just now"
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    years = int(seconds // (86400 * 365))
    return f"{years} year{'s' if years != 1 else ''} ago"


def compact(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 1000:
        return f"{n / 1000:.1f}k"
    return str(n)


_env = Environment(
    loader=PackageLoader("modelcommons", "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(human_size=human_size, time_ago=time_ago, compact=compact)


def render(ctx: Ctx, template: str, status: int = 200, **values: Any) -> Response:
    """A page. URLs handed to templates are paths within the hub (``/login``,
    ``repo.url``); templates write every link as ``{{ base }}`` followed by one, so
    that the URL prefix (``Settings.url_prefix``) is added in one visible place."""
    values.setdefault("title", "Model Commons")
    html = _env.get_template(template).render(
        me=ctx.principal,
        csrf=sessions.csrf_token(ctx.request),
        base=ctx.prefix,
        base_url=ctx.base_url,
        request_path=ctx.raw_path,
        **values,
    )
    response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
    sessions.set_cookies(ctx.request, response, path=ctx.cookie_path)
    return response


def redirect(ctx: Ctx, path: str, **cookie_args: Any) -> Response:
    """303 to a path within the hub (``/``, ``/login?next=...``), under the prefix."""
    response = RedirectResponse(ctx.href(path), status_code=303, headers=PAGE_HEADERS)
    sessions.set_cookies(ctx.request, response, path=ctx.cookie_path, **cookie_args)
    return response
