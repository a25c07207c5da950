"""Gated access in the browser: the request form, the owner's review page and the
gating control of the settings page. The rules are gating.py's and access.py's."""

from __future__ import annotations

import json

from starlette.datastructures import FormData
from starlette.responses import Response

from ...api.common import load_repo
from ...errors import BadRequest, HubError
from ...governance import gating
from ...server.routing import Ctx
from ...storage import repos
from ..forms import field, read_form, require_user
from ..markdown import render_card
from ..templating import redirect, render
from ..views import repo_path
from .manage import settings_page
from .repository import page_context


async def set_gating(ctx: Ctx) -> Response:
    me = require_user(ctx)
    form = await read_form(ctx)
    choice = field(form, "gated")
    days = field(form, "access_days")

    def work() -> Response:
        try:
            mode = "card" if choice == "card" else gating.parse_mode(choice)
            seconds: int | None = None
            if days:
                try:
                    value = float(days)
                except ValueError as exc:
                    raise BadRequest("Access duration must be a number of days.") from exc
                if not 0 < value <= 36500:
                    raise BadRequest("Access duration must be between 0 and 36500 days.")
                seconds = max(round(value * 86400), 1)
            with ctx.hub.db.write() as session:
                repo = load_repo(session, ctx, mode="admin")
                gating.set_mode(ctx.hub, session, me, repo, mode=mode, access_seconds=seconds)
                url = repo_path(repo)
        except HubError as exc:
            if exc.status >= 404:
                raise
            return settings_page(ctx, error=exc.message, status=400)
        return redirect(ctx, url + "/settings")

    return await ctx.run(work)


def _form_page(
    ctx: Ctx, *, error: str | None = None, values: dict[str, str] | None = None, status: int = 200
) -> Response:
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx)
        card = repos.card_of(repo)
        mode = gating.mode_of(session, repo)
        record = gating.newest(session, repo, ctx.principal.user_id) if ctx.principal else None
        prompt = card.get("extra_gated_prompt")
        return render(
            ctx,
            "repo/access.html",
            status=status,
            **page_context(session, ctx, repo, "card", "main"),
            mode=mode,
            state=gating.describe(record, card),
            reason=record.reason if record is not None else None,
            expires_at=record.expires_at if record is not None else None,
            heading=str(card.get("extra_gated_heading") or f"Access {repo.repo_id}"),
            prompt_html=render_card(str(prompt)) if prompt else "",
            fields=gating.form_fields(card),
            button=str(card.get("extra_gated_button_content") or "Agree and request access"),
            licence_sha256=gating.licence_sha256(card),
            values=values or {},
            error=error,
        )


def request_form(ctx: Ctx) -> Response:
    return _form_page(ctx)


async def request_access(ctx: Ctx) -> Response:
    me = require_user(ctx)
    form = await read_form(ctx)
    values = {k: v for k, v in form.items() if isinstance(v, str)}

    def work() -> Response:
        try:
            with ctx.hub.db.write() as session:
                repo = load_repo(session, ctx)
                fields = gating.form_fields(repos.card_of(repo))
                answers = gating.answers_from(fields, lambda name: _get(form, name))
                gating.request_access(ctx.hub, session, me, repo, answers)
                url = repo_path(repo)
        except HubError as exc:
            if exc.status not in (400, 409):
                raise
            return _form_page(ctx, error=exc.message, values=values, status=exc.status)
        return redirect(ctx, url + "/access")

    return await ctx.run(work)


def _get(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def review_page(ctx: Ctx) -> Response:
    require_user(ctx)
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx, mode="admin")
        card = repos.card_of(repo)
        groups = []
        for status in gating.STATUSES:
            rows = []
            for record, user in gating.current_requests(session, repo, status, limit=1000):
                rows.append(
                    {
                        "id": record.id,
                        "user": user.name,
                        "email": user.email or "",
                        "at": record.created_at,
                        "fields": json.loads(record.fields or "{}"),
                        "reason": record.reason,
                        "state": gating.describe(record, card),
                        "expires_at": record.expires_at,
                    }
                )
            groups.append((status, rows))
        return render(
            ctx,
            "repo/access_requests.html",
            **page_context(session, ctx, repo, "access", "main"),
            mode=gating.mode_of(session, repo),
            groups=groups,
            history=[(r, u.name) for r, u in gating.history(session, repo)][-200:][::-1],
        )


async def review(ctx: Ctx) -> Response:
    me = require_user(ctx)
    form = await read_form(ctx)
    status = field(form, "status")
    reason = field(form, "reason") or None

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="admin")
            if status == "grant":
                gating.grant(ctx.hub, session, me, repo, field(form, "user"))
            else:
                gating.decide(
                    ctx.hub,
                    session,
                    me,
                    repo,
                    user=field(form, "user"),
                    request_id=None,
                    status=status,
                    reason=reason if status == "rejected" else None,
                )
            url = repo_path(repo)
        return redirect(ctx, url + "/access-requests")

    return await ctx.run(work)
