"""The pages' routes: the web UI, after the API's so that API paths always win."""

from __future__ import annotations

from ..server.routing import PREFIX, REPO, REV, Router
from . import static
from .pages import (
    account,
    account_settings,
    community,
    gating,
    home,
    manage,
    notifications,
    provenance,
    releases,
    repository,
    search,
    tokens,
)


def add_routes(r: Router) -> None:
    """The web UI. Pages come after the API so that API paths always win."""
    page = f"/{PREFIX}{REPO}"
    r.add("GET", "/", home.home, web=True)
    asset = r"(?P<file>(?:[a-z-]+/)?[A-Za-z0-9_-][A-Za-z0-9_.-]*)"  # static.VENDORED folders
    r.add("GET", f"/static/{asset}", static.serve, web=True)
    r.add("GET", "/login", account.login_form, web=True)
    r.add("POST", "/login", account.login, web=True)
    r.add("GET", "/join", account.join_form, web=True)
    r.add("POST", "/join", account.join, web=True)
    r.add("POST", "/logout", account.logout, web=True)
    r.add("GET", "/settings/account", account_settings.account_page, web=True)
    r.add("POST", "/settings/account/email", account_settings.change_email, web=True)
    r.add("POST", "/settings/account/fullname", account_settings.change_fullname, web=True)
    r.add("POST", "/settings/account/password", account_settings.change_password, web=True)
    r.add("GET", "/settings/tokens", tokens.tokens, web=True)
    r.add("POST", "/settings/tokens", tokens.create_token, web=True)
    r.add("POST", "/settings/tokens/revoke", tokens.revoke_token, web=True)
    r.add("GET", "/settings/keys", provenance.keys_page, web=True)
    r.add("POST", "/settings/keys", provenance.add_key, web=True)
    r.add("POST", "/settings/keys/remove", provenance.remove_key, web=True)
    r.add("GET", "/search", search.search, web=True)
    r.add("GET", "/models", search.models, web=True)
    r.add("GET", "/datasets", search.datasets, web=True)
    r.add("GET", "/notifications", notifications.page, web=True)
    r.add("POST", "/notifications/read", notifications.mark_all_read, web=True)
    r.add("GET", "/new", manage.new_form, web=True)
    r.add("POST", "/new", manage.create, web=True)
    r.add("GET", "/(?P<ns>[^/]+)/-/audit", manage.namespace_audit_page, web=True)
    r.add("GET", f"{page}", repository.card_page, web=True)
    r.add("GET", f"{page}/tree/{REV}", repository.tree_page, web=True)
    r.add("GET", f"{page}/tree/{REV}/(?P<path>.*)", repository.tree_page, web=True)
    r.add("GET", f"{page}/blob/{REV}/(?P<path>.+)", repository.blob_page, web=True)
    r.add("GET", f"{page}/commits/{REV}", repository.commits_page, web=True)
    r.add("GET", f"{page}/commit/{REV}", repository.commit_page, web=True)
    r.add("GET", f"{page}/switch", repository.switch, web=True)
    r.add("GET", f"{page}/upload/{REV}", manage.upload_page, web=True)
    r.add("GET", f"{page}/edit/{REV}/(?P<path>.+)", manage.edit_form, web=True)
    r.add("POST", f"{page}/edit/{REV}/(?P<path>.+)", manage.edit, web=True)
    r.add("GET", f"{page}/settings", manage.settings_page, web=True)
    r.add("POST", f"{page}/settings/visibility", manage.set_visibility, web=True)
    r.add("POST", f"{page}/settings/move", manage.move, web=True)
    r.add("POST", f"{page}/settings/delete", manage.remove, web=True)
    r.add("GET", f"{page}/settings/release-plan", releases.plan_page, web=True)
    r.add("POST", f"{page}/settings/release-plan", releases.save_plan, web=True)
    r.add("POST", f"{page}/like", manage.like, web=True)
    r.add("GET", f"{page}/audit", manage.audit_page, web=True)
    r.add("POST", f"{page}/release", manage.release_action, web=True)
    r.add("POST", f"{page}/settings/gating", gating.set_gating, web=True)
    r.add("GET", f"{page}/access", gating.request_form, web=True)
    r.add("POST", f"{page}/access", gating.request_access, web=True)
    r.add("GET", f"{page}/access-requests", gating.review_page, web=True)
    r.add("POST", f"{page}/access-requests", gating.review, web=True)
    add_community_routes(r, page)
    r.add("GET", "/(?P<ns>[^/]+)", account.profile, web=True)


def add_community_routes(r: Router, page: str) -> None:
    """The Community tab (``pages/community.py``)."""
    one = f"{page}/discussions/(?P<num>[0-9]{{1,9}})"
    r.add("GET", f"{page}/discussions", community.list_page, web=True)
    r.add("GET", f"{page}/discussions/new", community.new_form, web=True)
    r.add("POST", f"{page}/discussions/new", community.create, web=True)
    r.add("GET", one, community.discussion_page, web=True)
    r.add("POST", f"{one}/comment", community.comment, web=True)
    r.add("POST", f"{one}/status", community.set_status, web=True)
    r.add("POST", f"{one}/merge", community.merge, web=True)
    r.add("GET", f"{page}/propose/{REV}/(?P<path>.+)", community.propose_form, web=True)
    r.add("POST", f"{page}/propose/{REV}/(?P<path>.+)", community.propose, web=True)
