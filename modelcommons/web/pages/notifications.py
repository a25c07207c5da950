"""A signed-in user's notifications: discussions and pull requests that changed since
they last looked (``community/notifications.py``), and access requests to gated
repositories they administer that wait for their decision."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from ...accounts import Principal
from ...accounts.roles import repo_role
from ...accounts.users import org_roles
from ...community import notifications
from ...db.schema import AccessRecord, Account, Repo
from ...governance import gating
from ...server.routing import Ctx
from ..forms import read_form, require_user
from ..templating import redirect, render
from ..views import repo_path

MAX_REPOS = 500


def waiting_requests(
    session: Session, me: Principal
) -> list[tuple[Repo, list[tuple[AccessRecord, Account]]]]:
    """Pending access requests on gated repositories ``me`` administers."""
    admin_of = [me.name] + [o for o, r in org_roles(session, me.user_id).items() if r == "admin"]
    out = []
    repos = session.scalars(
        select(Repo).where(Repo.namespace.in_(admin_of)).order_by(Repo.id).limit(MAX_REPOS)
    )
    for repo in repos:
        if repo_role(session, me, repo) != "admin" or gating.mode_of(session, repo) == "off":
            continue
        pending = gating.current_requests(session, repo, "pending", limit=20)
        if pending:
            out.append((repo, pending))
    return out


def page(ctx: Ctx) -> Response:
    me = require_user(ctx)
    with ctx.hub.db.read() as session:
        return render(
            ctx,
            "account/notifications.html",
            title="Notifications · Model Commons",
            changed=[(repo_path(r), r.repo_id, d) for r, d in notifications.unread(session, me)],
            requests=[(repo_path(r), r.repo_id, p) for r, p in waiting_requests(session, me)],
        )


async def mark_all_read(ctx: Ctx) -> Response:
    me = require_user(ctx)
    await read_form(ctx)

    def work() -> Response:
        with ctx.hub.db.write() as session:
            ids = [d.id for _, d in notifications.unread(session, me)]
            notifications.mark_seen(session, me.user_id, ids)
        return redirect(ctx, "/notifications")

    return await ctx.run(work)
