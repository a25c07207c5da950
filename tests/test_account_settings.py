"""A newcomer's account: a token-only user gets a password from the command line,
signs in in a real browser, manages their email, password and tokens (fine-grained,
with an expiry) on the account pages, and the real client honours each token's scope,
expiry and revocation. On SQLite and PostgreSQL; time moves through the hub's
``test_clock_file``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from .conftest import Server
from .test_web import browser  # noqa: F401

CSRF = "settings-csrf-token-at-least-32-characters"
FIRST = "newcomer's first password"


@dataclasses.dataclass
class Hub:
    server: Server
    clock_file: Path
    offset: float = 0.0

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self.clock_file.write_text(str(self.offset))

    def today(self) -> dt.date:
        return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.offset)).date()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    clock_file = tmp_path_factory.mktemp("clock") / "offset"
    srv = Server(request.param, test_clock_file=clock_file)
    srv.start()
    yield Hub(srv, clock_file)
    srv.close()


def whoami(hub: Hub, token: str) -> httpx.Response:
    return httpx.get(
        f"{hub.server.url}/api/whoami-v2", headers={"Authorization": f"Bearer {token}"}
    )


def sign_in(page, hub: Hub, name: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{hub.server.url}/login")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_the_newcomers_path(browser, hub: Hub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    srv, url = hub.server, hub.server.url
    me = f"newcomer{secrets.token_hex(3)}"
    # A token-only user, made by an administrator, with a token to set things up.
    setup = srv.cli("user", "create", me, "--token", "write").stdout.split()[-1]
    api = HfApi(endpoint=url, token=setup)
    api.create_repo(f"{me}/scoped", private=True)
    api.create_repo(f"{me}/elsewhere", private=True)
    api.upload_file(path_or_fileobj=b"theirs\n", path_in_repo="x.txt", repo_id=f"{me}/elsewhere")

    # Without a password there is no way into the browser...
    page = browser.new_context().new_page()
    sign_in(page, hub, me, "anything at all")
    assert "Incorrect username or password" in page.get_by_role("alert").inner_text()
    # ...until the command line gives one.
    empty = srv.cli("user", "set-password", me, check=False)
    assert empty.returncode == 1 and "empty" in empty.stderr
    short = srv.cli("user", "set-password", me, input="short\n", check=False)
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    nobody = srv.cli("user", "set-password", "nobody-" + me, input=f"{FIRST}\n", check=False)
    assert nobody.returncode == 1 and "No user or organisation" in nobody.stderr
    assert srv.cli("user", "set-password", me, input=f"{FIRST}\n").stdout.strip() == (
        f"Password of {me} set."
    )
    sign_in(page, hub, me.upper(), FIRST)  # names ignore case
    page.wait_for_url(f"{url}/")

    # The account page, from the header: an email address.
    page.get_by_role("link", name="Account", exact=True).click()
    page.wait_for_url(f"{url}/settings/account")
    page.get_by_label("Email").fill("not an address")
    page.get_by_role("button", name="Save email").click()  # the browser checks type=email
    assert page.url == f"{url}/settings/account"
    page.get_by_label("Email").fill(f"{me}@example.org")
    page.get_by_role("button", name="Save email").click()
    page.wait_for_url(f"{url}/settings/account?done=email")
    assert "email address was saved" in page.get_by_role("status").inner_text()
    assert page.get_by_label("Email").input_value() == f"{me}@example.org"

    # A fine-grained token that reaches one repository, read and write, for 30 days.
    page.get_by_role("link", name="Tokens").last.click()
    page.wait_for_url(f"{url}/settings/tokens")
    expires = hub.today() + dt.timedelta(days=30)
    page.get_by_label("Name").fill("ci")
    page.get_by_label("Role").select_option("fineGrained")
    page.get_by_label("Scope").fill(f"model:{me}/scoped")
    page.get_by_label("write", exact=True).check()
    page.get_by_label("Expires on").fill(expires.isoformat())
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text().strip()
    row = page.locator("table.files tr", has_text="ci").first.inner_text()
    assert f"model:{me}/scoped" in row and "read, write" in row and "fine-grained" in row
    assert (expires + dt.timedelta(days=1)).isoformat() + " 00:00 UTC" in row

    # The real client: inside the scope it reads and writes; outside it sees nothing.
    ci = HfApi(endpoint=url, token=token)
    assert ci.whoami()["auth"]["accessToken"]["fineGrained"]["scoped"] == [f"model:{me}/scoped"]
    ci.upload_file(path_or_fileobj=b"ours\n", path_in_repo="y.txt", repo_id=f"{me}/scoped")
    cached = hf_hub_download(
        f"{me}/scoped", "y.txt", token=token, endpoint=url, cache_dir=tmp_path / "c1"
    )
    assert Path(cached).read_bytes() == b"ours\n"
    with pytest.raises(RepositoryNotFoundError):
        ci.model_info(f"{me}/elsewhere")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(
            f"{me}/elsewhere", "x.txt", token=token, endpoint=url, cache_dir=tmp_path / "c2"
        )
    with pytest.raises(HfHubHTTPError) as outside:
        ci.create_repo(f"{me}/new-one")
    assert outside.value.response.status_code == 403

    # A wrong fine-grained request is refused with the form kept.
    page.get_by_label("Name").fill("broken")
    page.get_by_label("Role").select_option("fineGrained")
    page.get_by_role("button", name="Create token").click()
    assert "needs a scope" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Name").input_value() == "broken"

    # Revoked from the page: the client is refused at once.
    page.goto(f"{url}/settings/tokens")
    page.get_by_role("button", name="Revoke ci").click()
    page.wait_for_url(f"{url}/settings/tokens")
    assert "revoked" in page.locator("table.files tr", has_text="ci").first.inner_text()
    with pytest.raises(HfHubHTTPError) as refused:
        ci.whoami()
    assert refused.value.response.status_code == 401

    # A new password needs the current one, and signs out the other browsers.
    other = browser.new_context().new_page()
    sign_in(other, hub, me, FIRST)
    other.wait_for_url(f"{url}/")
    page.goto(f"{url}/settings/account")
    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password", exact=True).fill("my second password")
    page.get_by_label("New password again").fill("my second password")
    page.get_by_role("button", name="Change password").click()
    assert "current password is not right" in page.get_by_role("alert").inner_text()
    page.get_by_label("Current password").fill(FIRST)
    page.get_by_label("New password", exact=True).fill("my second password")
    page.get_by_label("New password again").fill("my second password")
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(f"{url}/settings/account?done=password")
    other.goto(f"{url}/settings/account")
    assert "/login?next=" in other.url
    page.goto(f"{url}/settings/tokens")  # this browser stays signed in
    assert page.url == f"{url}/settings/tokens"

    # Everything is in the user's audit log, and the chain holds.
    log = httpx.get(
        f"{url}/api/audit-log/{me}", headers={"Authorization": f"Bearer {setup}"}
    ).json()
    kinds = [(e["kind"], e["actor"]) for e in log]
    assert ("auth.password_set", None) in kinds and ("auth.password_set", me) in kinds
    assert ("account.email_changed", me) in kinds and ("token.revoked", me) in kinds
    created = next(e for e in log if e["kind"] == "token.created" and e["data"]["name"] == "ci")
    assert created["data"]["scopes"] == [f"model:{me}/scoped"]
    assert created["data"]["permissions"] == ["read", "write"]
    assert created["data"]["expires"] == f"{expires + dt.timedelta(days=1)}T00:00:00Z"
    first = next(e for e in log if e["kind"] == "auth.password_set")
    assert first["data"]["first"] is True and first["data"]["method"] == "cli"
    assert "chain intact" in srv.cli("audit-log", "verify").stdout


def test_an_expired_token_is_refused_like_a_revoked_one(hub: Hub) -> None:
    srv = hub.server
    me = f"expiring{secrets.token_hex(3)}"
    srv.cli("user", "create", me)
    made = srv.cli("token", "create", me, "--name", "soon", "--expires-in-days", "1")
    soon = made.stdout.split()[-1]
    assert "expires " in made.stderr
    until = hub.today() + dt.timedelta(days=400)
    dated = srv.cli("token", "create", me, "--name", "dated", "--expires", until.isoformat())
    later = dated.stdout.split()[-1]
    revoked = srv.cli("token", "create", me, "--name", "gone").stdout.split()[-1]
    srv.cli("token", "revoke", me, "gone")
    assert whoami(hub, soon).status_code == 200

    hub.advance(86400 + 60)
    expired = whoami(hub, soon)
    assert expired.status_code == 401
    assert expired.headers["X-Error-Code"] == "InvalidCredentials"
    unknown = whoami(hub, "mc_" + secrets.token_urlsafe(32))
    assert (expired.json(), expired.headers["X-Error-Message"]) == (
        whoami(hub, revoked).json(),
        unknown.headers["X-Error-Message"],
    )
    with pytest.raises(HfHubHTTPError) as refused:
        HfApi(endpoint=srv.url, token=soon).whoami()
    assert refused.value.response.status_code == 401
    assert whoami(hub, later).status_code == 200
    listing = srv.cli("token", "list", me).stdout
    assert "soon\tread\texpired" in listing and "dated\tread\tactive" in listing
    assert "gone\tread\trevoked" in listing
    assert f"expires {until + dt.timedelta(days=1)}T00:00:00Z" in listing

    # An expiry must lie ahead, and be one way of saying it.
    for args, error in (
        (["--expires", "2001-02-03"], "has already passed"),
        (["--expires", "next week"], "Invalid expiry"),
        (["--expires-in-days", "2", "--expires", "2999-01-01"], "not both"),
        (["--expires-in-days", "99999"], "at most 3650 days"),
        (["--expires", "2999-01-01"], "at most 3650 days"),
    ):
        bad = srv.cli("token", "create", me, *args, check=False)
        assert bad.returncode == 1 and error in bad.stderr, bad.stderr


def test_set_password_signs_the_user_out_of_every_browser(hub: Hub) -> None:
    srv = hub.server
    me = f"resetting{secrets.token_hex(3)}"
    srv.cli("user", "create", me, input=f"{FIRST}\n")
    token = srv.cli("token", "create", me).stdout.split()[-1]
    with httpx.Client(base_url=srv.url, cookies={"commons_csrf": CSRF}) as c:
        login = {"csrf_token": CSRF, "username": me, "password": FIRST}
        assert c.post("/login", data=login).status_code == 303
        assert c.get("/settings/account").status_code == 200
        done = srv.cli("user", "set-password", me, input="an administrator's choice\n")
        assert done.stdout.strip() == f"Password of {me} set; 1 browser session ended."
        assert c.get("/settings/account").status_code == 303  # to /login
        assert c.post("/login", data=login).status_code == 401
        login["password"] = "an administrator's choice"
        assert c.post("/login", data=login).status_code == 303
        bad = c.post("/settings/account/email", data={"csrf_token": CSRF, "email": "a b@c"})
        assert bad.status_code == 400 and "is not an email address" in bad.text
    assert whoami(hub, token).status_code == 200  # tokens are separate credentials
