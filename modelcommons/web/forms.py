"""Reading browser forms: size-limited, CSRF-checked, and login-gated."""

from __future__ import annotations

from urllib.parse import quote

from starlette.datastructures import FormData

from ..accounts import Principal
from ..errors import HubError
from ..server.routing import Ctx
from ..validation.inputs import check_text
from .sessions import check_csrf

MAX_FORM_BYTES = 2 * 1024 * 1024


class LoginRequired(HubError):
    """Raised by pages that need a signed-in user; the app redirects to /login."""

    status = 303
    code = "LoginRequired"


async def read_form(ctx: Ctx) -> FormData:
    declared = ctx.request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise HubError("This form is too large.", status=413, code="PayloadTooLarge")
    form = await ctx.request.form(max_files=0, max_fields=200, max_part_size=MAX_FORM_BYTES)
    for name, value in form.multi_items():
        check_text(name, "A form field's name")
        if isinstance(value, str):
            check_text(value, f"The form field {name!r}")
    token = form.get("csrf_token")
    check_csrf(ctx.request, token if isinstance(token, str) else None)
    return form


def field(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name, default)
    return value.strip() if isinstance(value, str) else default


def require_user(ctx: Ctx) -> Principal:
    if ctx.principal is None:
        # The path within the hub, still percent-encoded: quoted once more for the query.
        target = quote(ctx.raw_path, safe="/")
        raise LoginRequired("Sign in to continue.", headers={"Location": f"/login?next={target}"})
    return ctx.principal


def safe_next(value: str) -> str:
    """Only paths within the hub (redirects add the URL prefix): never an open redirect."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"
