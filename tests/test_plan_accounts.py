"""Release plans hold the accounts they name by id, taken when the plan is set.

Before: a plan stored names and matched them at download and approval time, so a
plan naming ``partners`` before anyone had registered it handed the partners-only
stage to whoever registered ``partners`` later, and a user named like the
approvals organisation had their approval counted as an admin's.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import text

from modelcommons.db.database import Database

from .conftest import Server

CSRF = "plan-accounts-csrf-token-at-least-32-chars"
PASSWORD = "a long enough password"


class Lab:
    """An organisation ``lab`` (admin ``alice``) with a repository ``lab/model`` whose
    ``large/`` files a plan controls; ``partners`` (member ``pat``); ``sam``, a
    stranger. Names carry a suffix so tests share a server."""

    def __init__(self, srv: Server) -> None:
        self.srv = srv
        self.sfx = sfx = secrets.token_hex(3)
        self.alice, self.pat, self.sam = f"alice{sfx}", f"pat{sfx}", f"sam{sfx}"
        self.lab, self.partners = f"lab{sfx}", f"partners{sfx}"
        self.tokens = {}
        for user in (self.alice, self.pat, self.sam):
            made = srv.cli("user", "create", user, "--token", "write", input=f"{PASSWORD}\n")
            self.tokens[user] = made.stdout.split()[-1]
        srv.cli("org", "create", self.lab, "--member", f"{self.alice}:admin")
        self.repo = f"{self.lab}/model"
        self.call("POST", "/api/repos/create", json={"name": "model", "organization": self.lab})
        body = "\n".join(
            [
                '{"key": "header", "value": {"summary": "weights"}}',
                '{"key": "file", "value": {"path": "large/w.bin", "encoding": "base64",'
                ' "content": "d2VpZ2h0cw=="}}',
            ]
        )
        self.call("POST", f"/api/models/{self.repo}/commit/main", content=body.encode())

    def token(self, user: str) -> str:
        return self.tokens[user]

    def call(self, method: str, path: str, user: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(user or self.alice)}"}
        r = httpx.request(method, f"{self.srv.url}{path}", headers=headers, **kw)
        return r

    def put(self, stages: list[dict[str, Any]], **extra: Any) -> httpx.Response:
        return self.call(
            "PUT", f"/api/models/{self.repo}/release-plan", json={"stages": stages, **extra}
        )

    def plan(self) -> dict[str, Any]:
        r = httpx.get(f"{self.srv.url}/api/models/{self.repo}/release-plan")
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    def promote(self) -> None:
        r = self.call("POST", f"/api/models/{self.repo}/release-plan/promote", json={})
        assert r.status_code == 200, r.text

    def can_download(self, user: str) -> bool:
        r = self.call("GET", f"/{self.repo}/resolve/main/large/w.bin", user=user)
        assert r.status_code in (200, 403), r.text
        return r.status_code == 200


def members(orgs: list[str] = [], users: list[str] = []) -> dict[str, Any]:  # noqa: B006
    return {
        "name": "partners",
        "audience": {"kind": "members", "orgs": orgs, "users": users},
        "opens": {"files": ["large/*"]},
    }


def approvals(org: str | None, count: int = 1) -> dict[str, Any]:
    return {
        "name": "public",
        "audience": "public",
        "opens": {"files": ["large/*"]},
        "conditions": {"approvals": {"count": count, "role": "admin", "org": org}},
    }


@pytest.fixture()
def lab(server: Server) -> Lab:
    return Lab(server)


def test_a_plan_may_name_only_accounts_that_exist(lab: Lab) -> None:
    cases = [
        ([members(orgs=[lab.partners])], lab.partners, "no account has that name"),
        ([members(users=["nobody" + lab.sfx])], "nobody" + lab.sfx, "no account has that name"),
        ([members(users=[lab.lab])], lab.lab, "which is an organisation, not a user"),
        ([members(orgs=[lab.pat])], lab.pat, "which is a user, not an organisation"),
        ([approvals("reviewers" + lab.sfx)], "reviewers" + lab.sfx, "no account has that name"),
        ([approvals(lab.sam)], lab.sam, "which is a user, not an organisation"),
    ]
    for stages, named, why in cases:
        r = lab.put(stages)
        assert r.status_code == 400, (named, r.text)
        assert repr(named) in r.json()["error"] and why in r.json()["error"], r.text
        assert r.json()["error"].startswith("stage 1: ")
    assert lab.call("GET", f"/api/models/{lab.repo}/release-plan").status_code == 404

    # The settings page's editor says the same, with the text kept.
    with httpx.Client(base_url=lab.srv.url, cookies={"commons_csrf": CSRF}) as page:
        login = {"csrf_token": CSRF, "username": lab.alice, "password": PASSWORD}
        assert page.post("/login", data=login).status_code == 303
        text = yaml.safe_dump({"stages": [members(orgs=[lab.partners])]})
        saved = page.post(
            f"/{lab.repo}/settings/release-plan",
            data={"csrf_token": CSRF, "action": "save", "plan": text},
        )
        assert saved.status_code == 400
        assert "no account has that name" in saved.text and lab.partners in saved.text

    # Once partners exists, the same plan is taken, and shown with names.
    lab.srv.cli("org", "create", lab.partners, "--member", f"{lab.pat}:read")
    r = lab.put([members(orgs=[lab.partners.upper()], users=[lab.sam]), approvals(None)])
    assert r.status_code == 200, r.text
    shown = lab.plan()["stages"]
    assert shown[0]["audience"] == {"kind": "members", "orgs": [lab.partners], "users": [lab.sam]}
    assert shown[1]["conditions"]["approvals"] == {"count": 1, "role": "admin", "org": None}
    assert "org_ids" not in str(shown) and "user_ids" not in str(shown)


def test_a_look_alike_of_a_named_organisation_gets_nothing(lab: Lab) -> None:
    """The name a plan names cannot be taken again, in any case; the stage goes to
    the organisation's members, by id."""
    lab.srv.cli("org", "create", lab.partners, "--member", f"{lab.pat}:read")
    assert lab.put([members(orgs=[lab.partners]), approvals(lab.lab)]).status_code == 200
    lab.promote()
    look_alike = lab.partners.upper()
    taken = lab.srv.cli("user", "create", look_alike, "--token", "write", check=False)
    assert taken.returncode == 1 and "already taken" in taken.stderr
    with httpx.Client(base_url=lab.srv.url, cookies={"commons_csrf": CSRF}) as page:
        form = {"csrf_token": CSRF, "username": look_alike, "password": PASSWORD}
        assert page.post("/join", data=form).status_code == 400
    assert lab.can_download(lab.pat)
    assert not lab.can_download(lab.sam)


def test_an_approval_counts_only_from_the_approvals_organisation(lab: Lab) -> None:
    lab.srv.cli("org", "create", lab.partners, "--member", f"{lab.pat}:admin")
    # The approvals organisation typed in another case is the same organisation.
    plan = [members(users=[lab.pat]), approvals(lab.partners.upper(), count=2)]
    assert lab.put(plan).status_code == 200
    assert lab.plan()["stages"][1]["conditions"]["approvals"]["org"] == lab.partners
    lab.promote()
    for user in (lab.sam, lab.alice, lab.pat):  # a stranger, the repo's admin, a partner admin
        r = lab.call("POST", f"/api/models/{lab.repo}/release-plan/approve", user=user, json={})
        assert r.status_code == 200, r.text
    status = lab.plan()["stages"][1]["conditionsStatus"]
    assert status == [
        {"name": "approvals", "holds": False, "detail": f"1 of 2 approvals by admins ({lab.pat})"}
    ]


def test_approvals_in_a_user_namespace_count_only_from_that_user(server: Server) -> None:
    sfx = secrets.token_hex(3)
    owner, other = f"owner{sfx}", f"other{sfx}"
    headers = {"Authorization": f"Bearer {server.user(owner)}"}
    assert httpx.post(
        f"{server.url}/api/repos/create", json={"name": "solo"}, headers=headers
    ).is_success
    url = f"{server.url}/api/models/{owner}/solo/release-plan"
    # Naming the repository's own user namespace is the same as naming nobody.
    for org in (None, owner.upper()):
        plan = {"stages": [approvals(org)]}
        assert httpx.put(url, json=plan, headers=headers).status_code == 200
    other_headers = {"Authorization": f"Bearer {server.user(other)}"}
    assert httpx.post(f"{url}/approve", json={}, headers=other_headers).status_code == 200

    def holds() -> bool:
        return bool(httpx.get(url).json()["stages"][0]["conditionsStatus"][0]["holds"])

    assert not holds()
    assert httpx.post(f"{url}/approve", json={}, headers=headers).status_code == 200
    assert holds()


def test_a_deleted_account_matches_nobody_and_leaves_the_plan_editable(lab: Lab) -> None:
    """Accounts are never deleted by the hub itself; one removed from the database
    by hand drops out of the plan that named it, and nobody inherits its place."""
    gone = f"gone{lab.sfx}"
    lab.srv.cli("user", "create", gone, "--token", "write", input=f"{PASSWORD}\n")
    lab.srv.cli("org", "create", lab.partners, "--member", f"{lab.pat}:read")
    assert lab.put([members(orgs=[lab.partners], users=[gone])]).status_code == 200
    lab.promote()
    srv = lab.srv
    db = Database(srv.pg.url if srv.pg else f"sqlite:///{srv.data_dir / 'commons.db'}")
    try:
        with db.write() as session:
            session.execute(text("DELETE FROM accounts WHERE name = :n"), {"n": gone})
    finally:
        db.dispose()
    shown = lab.plan()["stages"][0]["audience"]
    assert shown == {"kind": "members", "orgs": [lab.partners], "users": []}
    # What is shown is what is stored: sending it back changes no opened stage.
    r = lab.put([{**members(orgs=[lab.partners]), "audience": shown}])
    assert r.status_code == 200, r.text
    assert lab.can_download(lab.pat)
