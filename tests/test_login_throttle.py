"""Sign-in limits: failures counted per account and per client address, in the database.

The served hub's clock is moved through its ``test_clock_file`` setting, so windows
pass without sleeping. Each test starts after every earlier window has ended.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import Server

PER_ACCOUNT = 3
PER_ADDRESS = 7
WINDOW = 600
PASSWORD = "correct horse battery"


@dataclasses.dataclass
class ServerClock:
    """Seconds added to the server's clock, written where it reads them."""

    path: Path
    offset: float = 0.0

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self.path.write_text(str(self.offset))


@dataclasses.dataclass
class Throttled:
    server: Server
    clock: ServerClock
    users: set[str] = dataclasses.field(default_factory=set)

    def user(self, name: str) -> str:
        if name not in self.users:
            self.server.cli("user", "create", name, input=f"{PASSWORD}\n")
            self.users.add(name)
        return name


def start(backend: str, clock_file: Path, **settings: object) -> Server:
    srv = Server(
        backend,
        login_max_failures_per_account=PER_ACCOUNT,
        login_max_failures_per_address=PER_ADDRESS,
        login_window_seconds=WINDOW,
        test_clock_file=clock_file,
        **settings,
    )
    srv.start()
    return srv


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Throttled]:
    clock_file = tmp_path_factory.mktemp("clock") / "offset"
    srv = start(request.param, clock_file)
    yield Throttled(srv, ServerClock(clock_file))
    srv.close()


@pytest.fixture(autouse=True)
def fresh_windows(request: pytest.FixtureRequest) -> None:
    """Every window opened by an earlier test has ended."""
    if "hub" in request.fixturenames:
        request.getfixturevalue("hub").clock.advance(WINDOW + 1)


class Browser:
    """A client that posts the sign-in form as a browser would (CSRF cookie and field)."""

    def __init__(self, server: Server, headers: dict[str, str] | None = None) -> None:
        self.client = httpx.Client(base_url=server.url, headers=headers or {})
        self.csrf = self.client.get("/login").cookies["commons_csrf"]

    def sign_in(self, name: str, password: str, **headers: str) -> httpx.Response:
        self.client.cookies.delete("commons_session")
        form = {"username": name, "password": password, "csrf_token": self.csrf, "next": "/"}
        return self.client.post("/login", data=form, headers=headers)

    def fail(self, name: str, times: int, **headers: str) -> None:
        for _ in range(times):
            assert self.sign_in(name, "wrong guess", **headers).status_code == 401

    def close(self) -> None:
        self.client.close()


@pytest.fixture()
def browser(hub: Throttled) -> Iterator[Browser]:
    b = Browser(hub.server)
    yield b
    b.close()


def assert_throttled(response: httpx.Response, what: str) -> int:
    assert response.status_code == 429, response.text[:300]
    assert f"Too many failed sign-ins {what}" in response.text
    assert "commons_session" not in response.cookies
    retry_after = int(response.headers["retry-after"])
    assert 0 < retry_after <= WINDOW
    return retry_after


def test_a_locked_account_refuses_even_the_right_password(hub: Throttled, browser: Browser) -> None:
    ada = hub.user("ada")
    browser.fail(ada, PER_ACCOUNT)
    right = browser.sign_in(ada, PASSWORD)
    assert assert_throttled(right, "for this account") == WINDOW
    wrong = browser.sign_in(ada, "another guess")
    assert_throttled(wrong, "for this account")
    assert wrong.text == right.text  # nothing tells the right password from a wrong one


def test_other_accounts_from_the_same_address_are_unaffected(
    hub: Throttled, browser: Browser
) -> None:
    ada, bea = hub.user("ada"), hub.user("bea")
    browser.fail(ada, PER_ACCOUNT)
    assert browser.sign_in(ada, PASSWORD).status_code == 429
    assert browser.sign_in(bea, PASSWORD).status_code == 303


def test_the_lock_ends_with_its_window_however_often_it_is_tried(
    hub: Throttled, browser: Browser
) -> None:
    ada = hub.user("ada")
    browser.fail(ada, PER_ACCOUNT)
    for _ in range(5):  # knocking on a locked account does not extend the lock
        hub.clock.advance(WINDOW / 10)
        browser.sign_in(ada, "wrong guess")
    remaining = assert_throttled(browser.sign_in(ada, PASSWORD), "for this account")
    assert remaining <= WINDOW / 2 + 1
    hub.clock.advance(remaining)
    assert browser.sign_in(ada, PASSWORD).status_code == 303


def test_a_success_clears_the_account_count(hub: Throttled, browser: Browser) -> None:
    ada = hub.user("ada")
    browser.fail(ada, PER_ACCOUNT - 1)
    assert browser.sign_in(ada, PASSWORD).status_code == 303
    browser.fail(ada, PER_ACCOUNT - 1)  # would have locked without the reset
    assert browser.sign_in(ada, PASSWORD).status_code == 303


def test_a_name_in_any_letter_case_is_one_account_and_one_count(
    hub: Throttled, browser: Browser
) -> None:
    """Names are one account whatever their case, so a guesser cannot get
    PER_ACCOUNT tries for each spelling of it."""
    ada = hub.user("ada")
    for spelling in (ada.upper(), ada.capitalize(), ada)[:PER_ACCOUNT]:
        browser.fail(spelling, 1)
    assert_throttled(browser.sign_in(ada.upper(), PASSWORD), "for this account")
    assert_throttled(browser.sign_in(ada, PASSWORD), "for this account")
    assert "Cleared" in hub.server.cli("user", "unlock", ada.upper()).stdout
    signed_in = browser.sign_in(ada.upper(), PASSWORD)  # and signs in as ada
    assert signed_in.status_code == 303
    assert browser.client.get("/api/whoami-v2").json()["name"] == ada


def test_the_account_page_counts_wrong_current_passwords_as_failed_sign_ins(
    hub: Throttled, browser: Browser
) -> None:
    """A stolen session must not be a way to guess the password without limit."""
    ada = hub.user("ada")
    assert browser.sign_in(ada, PASSWORD).status_code == 303
    form = {
        "csrf_token": browser.csrf,
        "new_password": "a new password",
        "new_password_again": "a new password",
    }

    def change(current: str) -> httpx.Response:
        return browser.client.post(
            "/settings/account/password", data={**form, "current_password": current}
        )

    for _ in range(PER_ACCOUNT):
        wrong = change("wrong guess")
        assert wrong.status_code == 403 and "current password is not right" in wrong.text
    locked = change(PASSWORD)
    assert_throttled(locked, "for this account")
    assert_throttled(Browser(hub.server).sign_in(ada, PASSWORD), "for this account")
    hub.clock.advance(WINDOW + 1)
    assert change(PASSWORD).status_code == 303
    assert Browser(hub.server).sign_in(ada, "a new password").status_code == 303
    hub.server.cli("user", "set-password", ada, input=f"{PASSWORD}\n")  # for later tests


def test_names_nobody_has_lock_alike(hub: Throttled, browser: Browser) -> None:
    """A lock says nothing about whether the account exists."""
    browser.fail("nobody-here", PER_ACCOUNT)
    assert_throttled(browser.sign_in("nobody-here", "wrong guess"), "for this account")


def test_the_address_limit_covers_every_account(hub: Throttled, browser: Browser) -> None:
    bea = hub.user("bea")
    for i in range(PER_ADDRESS):  # never PER_ACCOUNT failures on one name
        browser.fail(f"guess{i}", 1)
    retry_after = assert_throttled(browser.sign_in(bea, PASSWORD), "from your network address")
    hub.clock.advance(retry_after)
    assert browser.sign_in(bea, PASSWORD).status_code == 303


def test_successes_do_not_count_against_the_address(hub: Throttled, browser: Browser) -> None:
    bea = hub.user("bea")
    for _ in range(PER_ADDRESS + 2):
        assert browser.sign_in(bea, PASSWORD).status_code == 303
    browser.fail("someone", 1)


def test_concurrent_guesses_cannot_overshoot_the_limit(hub: Throttled) -> None:
    ada = hub.user("ada")
    browsers = [Browser(hub.server) for _ in range(12)]
    try:
        with concurrent.futures.ThreadPoolExecutor(len(browsers)) as pool:
            codes = list(pool.map(lambda b: b.sign_in(ada, "wrong guess").status_code, browsers))
    finally:
        for b in browsers:
            b.close()
    assert sorted(codes) == [401] * PER_ACCOUNT + [429] * (len(browsers) - PER_ACCOUNT)


def test_a_lock_is_audited_once_in_the_users_log(hub: Throttled, browser: Browser) -> None:
    ada = hub.user("ada")
    token = hub.server.cli("token", "create", ada, "--write").stdout.strip().splitlines()[-1]

    def throttled_entries() -> list[dict[str, object]]:
        log = httpx.get(
            f"{hub.server.url}/api/audit-log/{ada}", headers={"Authorization": f"Bearer {token}"}
        )
        assert log.status_code == 200
        return [e for e in log.json() if e["kind"] == "auth.sign_in_throttled"]

    before = len(throttled_entries())
    browser.fail(ada, PER_ACCOUNT)
    for _ in range(4):
        browser.sign_in(ada, "wrong guess")
    entries = throttled_entries()
    assert len(entries) == before + 1
    entry = entries[-1]
    assert entry["actor"] is None and entry["namespace"] == ada
    data = entry["data"]
    assert isinstance(data, dict)
    assert data["by"] == "account" and data["failures"] == PER_ACCOUNT
    assert data["address"] == "127.0.0.1" and str(data["until"]).endswith("Z")
    assert "chain intact" in hub.server.cli("audit-log", "verify").stdout


def test_an_administrator_can_lift_a_lock(hub: Throttled, browser: Browser) -> None:
    ada = hub.user("ada")
    browser.fail(ada, PER_ACCOUNT)
    assert browser.sign_in(ada, PASSWORD).status_code == 429
    assert "Cleared" in hub.server.cli("user", "unlock", ada).stdout
    assert browser.sign_in(ada, PASSWORD).status_code == 303
    assert "had none" in hub.server.cli("user", "unlock", ada).stdout


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(
    hub: Throttled, tmp_path: Path
) -> None:
    if hub.server.backend != "sqlite":
        pytest.skip("address handling does not depend on the database")
    # Untrusted: a client cannot spread its guesses over addresses it makes up.
    browser = Browser(hub.server)
    for i in range(PER_ADDRESS):
        browser.fail(f"spoof{i}", 1, **{"X-Forwarded-For": f"203.0.113.{i}"})
    assert_throttled(
        browser.sign_in(hub.user("bea"), PASSWORD, **{"X-Forwarded-For": "198.51.100.1"}),
        "from your network address",
    )
    browser.close()

    clock = ServerClock(tmp_path / "offset")
    proxied = start("sqlite", clock.path, trusted_proxies="127.0.0.1,::1")
    try:
        proxied.cli("user", "create", "bea", input=f"{PASSWORD}\n")
        browser = Browser(proxied)

        def via(address: str) -> dict[str, str]:
            return {"X-Forwarded-For": f"{address}, 127.0.0.1"}  # the proxy appended itself

        for i in range(PER_ADDRESS):
            browser.fail(f"name{i}", 1, **via("2001:db8:1:2::1"))
        # The same /64 is the same subscriber; another address is someone else.
        locked = browser.sign_in("bea", PASSWORD, **via("2001:db8:1:2::ffff"))
        assert_throttled(locked, "from your network address")
        assert browser.sign_in("bea", PASSWORD, **via("2001:db8:1:3::1")).status_code == 303
        assert browser.sign_in("bea", PASSWORD).status_code == 303  # the proxy's own address
        browser.close()
    finally:
        proxied.close()


def test_limits_and_proxies_are_settings(tmp_path: Path) -> None:
    from modelcommons.settings import Settings

    settings = Settings.from_env(
        {
            "COMMONS_LOGIN_MAX_FAILURES_PER_ACCOUNT": "5",
            "COMMONS_LOGIN_MAX_FAILURES_PER_ADDRESS": "0",
            "COMMONS_LOGIN_WINDOW_SECONDS": "60",
            "COMMONS_TRUSTED_PROXIES": " 10.0.0.0/8, ::1 ",
        },
        data_dir=str(tmp_path),
    )
    assert settings.login_max_failures_per_account == 5
    assert settings.login_max_failures_per_address == 0
    assert settings.login_window_seconds == 60
    assert settings.trusted_proxy_list == ["10.0.0.0/8", "::1"]
    with pytest.raises(ValueError, match="not an IP address"):
        _ = Settings(trusted_proxies="localhost").trusted_proxy_list


def test_a_bad_proxy_setting_stops_the_server(tmp_path: Path) -> None:
    srv = Server("sqlite", trusted_proxies="proxy.internal")
    try:
        result = srv.cli("serve", "--port", "1", check=False)
        assert result.returncode != 0 and "not an IP address or network" in result.stderr
    finally:
        srv.close()


def test_rows_of_ended_windows_are_purged(hub: Throttled, browser: Browser) -> None:
    from sqlalchemy import select

    from modelcommons.db.database import Database
    from modelcommons.db.schema import LoginAttempt

    srv = hub.server
    db = Database(srv.pg.url if srv.pg else f"sqlite:///{srv.data_dir / 'commons.db'}")
    try:
        browser.fail("purge-me", 1)
        hub.clock.advance(WINDOW)
        browser.fail("fresh-name", 1)  # starts new windows, which purges ended ones
        with db.read() as session:
            keys = set(session.scalars(select(LoginAttempt.key)))
        assert "purge-me" not in keys and "fresh-name" in keys
    finally:
        db.dispose()
