"""The web UI in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError

from .conftest import Server

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def web() -> Iterator[Server]:
    srv = Server("sqlite")
    srv.start()
    yield srv
    srv.close()


def sign_up(page, web: Server, name: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{web.url}/join")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Email").fill(f"{name}@example.org")
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{web.url}/")
    assert page.get_by_role("link", name=name).is_visible()


def test_a_researchers_day(browser, web: Server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context()
    page = context.new_page()
    sign_up(page, web, "rita")

    # A token, shown once, that the real client accepts.
    page.goto(f"{web.url}/settings/tokens")
    page.get_by_label("Name").fill("laptop")
    page.get_by_label("Role").select_option("write")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text().strip()
    assert HfApi(endpoint=web.url, token=token).whoami()["name"] == "rita"
    page.goto(f"{web.url}/settings/tokens")
    assert page.locator("#new-token").count() == 0  # never shown again
    assert "laptop" in page.locator("table.files").inner_text()

    # A repository, then files uploaded from the browser.
    page.goto(f"{web.url}/new")
    page.get_by_label("Name").fill("web-model")
    page.get_by_role("button", name="Create repository").click()
    page.wait_for_url(f"{web.url}/rita/web-model")
    page.get_by_role("link", name="Upload").click()
    (tmp_path / "README.md").write_text(
        "---\nlicense: mit\npipeline_tag: text-classification\ntags: [zephyr]\n---\n"
        "# Zephyrquill classifier\n\nIt sorts **zephyrquill** reviews.\n\n"
        "| split | rows |\n|---|---|\n| train | 3 |\n"
    )
    (tmp_path / "config.json").write_text('{"hidden_size": 32}\n')
    (tmp_path / "notes.txt").write_text("first line\nsecond line\n")
    page.set_input_files(
        "#file-input", [str(tmp_path / n) for n in ("README.md", "config.json", "notes.txt")]
    )
    page.get_by_label("Commit message").fill("Add the classifier")
    page.get_by_role("button", name="Commit changes").click()
    page.get_by_role("link", name="View the files").click()
    page.wait_for_url(f"{web.url}/rita/web-model/tree/main")
    listing = page.locator("table.files").inner_text()
    for name in ("README.md", "config.json", "notes.txt", ".gitattributes"):
        assert name in listing

    # The card, rendered.
    page.goto(f"{web.url}/rita/web-model")
    assert page.get_by_role("heading", name="Zephyrquill classifier").is_visible()
    assert page.locator("article.card table").count() == 1
    assert "mit" in page.locator("aside.sidebar").inner_text()

    # Found by a word from its card (once the search step has run), then narrowed
    # with a facet.
    web.settle("rita/web-model")
    page.get_by_label("Search models and datasets").fill("zephyrquill")
    page.get_by_label("Search models and datasets").press("Enter")
    page.wait_for_url(re.compile(r".*/search\?q=zephyrquill"))
    assert page.get_by_role("link", name="rita/web-model").is_visible()
    page.locator(".facet").get_by_role("link", name=re.compile("text-classification")).click()
    assert "task: text-classification" in page.locator(".active-filters").inner_text()
    assert page.get_by_role("link", name="rita/web-model").is_visible()
    page.goto(f"{web.url}/search?q=zephyrquill&license=apache-2.0")
    assert page.get_by_role("link", name="rita/web-model").count() == 0
    page.goto(f"{web.url}/rita/web-model")

    # Files, a file, history and a diff.
    page.get_by_role("link", name="Files").click()
    page.get_by_role("link", name="config.json").click()
    assert '"hidden_size"' in page.locator(".code").inner_text()
    page.get_by_role("link", name="History").click()
    page.get_by_role("link", name="Add the classifier").click()
    diff = page.locator("section.commit-view").inner_text()
    assert "notes.txt" in diff and "+second line" in diff

    # Edit the README in the browser.
    page.goto(f"{web.url}/rita/web-model")
    page.get_by_role("link", name="Edit card").click()
    content = page.get_by_label("Content").input_value()
    page.get_by_label("Content").fill(content.replace("sorts", "gently sorts"))
    page.get_by_role("button", name="Commit changes").click()
    page.wait_for_url(f"{web.url}/rita/web-model")
    assert "gently sorts" in page.locator("article.card").inner_text()
    page.goto(f"{web.url}/rita/web-model/commits/main")
    assert "Update README.md" in page.locator("ol.commits").inner_text()

    # Like, then unlike.
    page.goto(f"{web.url}/rita/web-model")
    page.get_by_role("button", name=re.compile("Like")).click()
    assert page.get_by_role("button", name=re.compile("Liked")).inner_text().endswith("1")

    # Make it private: signed out, it is nowhere.
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("button", name="Make private").click()
    assert "private" in page.locator(".settings").inner_text()
    anon = browser.new_context().new_page()
    response = anon.goto(f"{web.url}/rita/web-model")
    assert response is not None and response.status == 404
    anon.goto(f"{web.url}/rita")
    assert "web-model" not in anon.content()
    anon.goto(f"{web.url}/")
    assert "web-model" not in anon.content()
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=web.url, token=False).model_info("rita/web-model")

    # Rename, then delete with typed confirmation.
    page.goto(f"{web.url}/rita/web-model/settings")
    page.get_by_label("New id").fill("rita/renamed-model")
    page.get_by_role("button", name="Rename").click()
    page.wait_for_url(f"{web.url}/rita/renamed-model/settings")
    page.get_by_label("Repository id").fill("wrong")
    page.get_by_role("button", name="Delete").click()
    assert "exactly" in page.locator(".error").inner_text()
    page.get_by_label("Repository id").fill("rita/renamed-model")
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(f"{web.url}/rita")
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=web.url, token=token).model_info("rita/renamed-model")

    # Sign out.
    page.get_by_role("button", name="Sign out").click()
    assert page.get_by_role("link", name="Sign in").is_visible()
    context.close()


HOSTILE_CARD = """---
license: mit
---
# Hostile

<script>window.__pwned = 'script'</script>
<img src="x" onerror="window.__pwned = 'onerror'">
<a href="javascript:window.__pwned='js-link'" id="jslink">click me</a>
[md link](javascript:window.__pwned='md-link')
<svg><script>window.__pwned='svg'</script><circle onload="window.__pwned='svg-onload'"/></svg>
<iframe src="javascript:parent.__pwned='iframe'"></iframe>
<div style="background:url(javascript:window.__pwned='style')">styled</div>
<object data="javascript:window.__pwned='object'"></object>
<a href="data:text/html,<script>alert(1)</script>" id="datalink">data</a>
<details open ontoggle="window.__pwned='ontoggle'"><summary>s</summary></details>
"""


def test_hostile_card_runs_nothing(browser, web: Server) -> None:  # type: ignore[no-untyped-def]
    api = HfApi(endpoint=web.url, token=web.user("eve"))
    api.create_repo("eve/hostile")
    api.upload_file(
        path_or_fileobj=HOSTILE_CARD.encode(), path_in_repo="README.md", repo_id="eve/hostile"
    )
    api.upload_file(
        path_or_fileobj=b"<html><script>window.__pwned='raw'</script></html>",
        path_in_repo="page.html",
        repo_id="eve/hostile",
    )
    api.upload_file(
        path_or_fileobj=b'<svg xmlns="http://www.w3.org/2000/svg" '
        b'onload="window.__pwned=1"><script>window.__pwned=2</script></svg>',
        path_in_repo="img.svg",
        repo_id="eve/hostile",
    )
    page = browser.new_context().new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    response = page.goto(f"{web.url}/eve/hostile")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    card = page.locator("article.card")
    assert card.locator("script, iframe, object, svg, [onerror], [onload], [style]").count() == 0
    for link in card.locator("a").all():
        href = link.get_attribute("href") or ""
        assert not href.lower().startswith(("javascript:", "data:"))
    if page.locator("#jslink").count():
        page.locator("#jslink").click()
    assert page.evaluate("window.__pwned") is None
    for path in ("blob/main/page.html", "blob/main/img.svg", "resolve/main/page.html"):
        page.goto(f"{web.url}/eve/hostile/{path}")
        page.wait_for_timeout(200)
        assert page.evaluate("window.__pwned") is None, path
    assert dialogs == []
    # Raw user files are never served as active content from the hub's origin.
    for name in ("page.html", "img.svg"):
        raw = httpx.get(f"{web.url}/eve/hostile/resolve/main/{name}")
        assert raw.headers["content-type"].split(";")[0] in (
            "text/plain",
            "application/octet-stream",
        )
        assert "sandbox" in raw.headers["content-security-policy"]
        assert raw.headers["x-content-type-options"] == "nosniff"


def test_forms_need_csrf_and_cookies_are_locked_down(web: Server) -> None:
    with httpx.Client(base_url=web.url) as client:
        join = client.get("/join")
        cookie = join.cookies.get("commons_csrf")
        assert cookie
        set_cookie = join.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=strict" in set_cookie
        # No token: refused. Foreign origin: refused even with the token.
        form = {"username": "csrfuser", "email": "", "password": "long enough pass"}
        assert client.post("/join", data=form).status_code == 403
        foreign = client.post(
            "/join", data={**form, "csrf_token": cookie}, headers={"Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        ok = client.post("/join", data={**form, "csrf_token": cookie})
        assert ok.status_code == 303
        session_cookie = next(
            h for h in ok.headers.get_list("set-cookie") if h.startswith("commons_session=")
        ).lower()
        assert "httponly" in session_cookie and "samesite=lax" in session_cookie
        # The session works for pages, but API writes by cookie need the CSRF header.
        create = client.post("/api/repos/create", json={"name": "via-cookie"})
        assert create.status_code == 403
        create = client.post(
            "/api/repos/create", json={"name": "via-cookie"}, headers={"X-CSRF-Token": cookie}
        )
        assert create.status_code == 200
        assert client.post("/logout", data={"csrf_token": "wrong"}).status_code == 403


def test_login_failures_and_open_redirects(web: Server) -> None:
    web.cli("user", "create", "lena", input="correct horse battery\n")
    with httpx.Client(base_url=web.url) as client:
        token = client.get("/login").cookies["commons_csrf"]
        bad = client.post(
            "/login",
            data={"username": "lena", "password": "nope", "csrf_token": token, "next": "/"},
        )
        assert bad.status_code == 401 and "Incorrect username or password" in bad.text
        unknown = client.post(
            "/login",
            data={"username": "nobody", "password": "nope", "csrf_token": token, "next": "/"},
        )
        assert unknown.status_code == 401 and "Incorrect username or password" in unknown.text
        # A token-only account has no password; not even the one the hub hashes
        # against to keep answers equally slow signs it in.
        web.cli("user", "create", "tokenonly", input="\n")
        for guess in ("", "timing-equaliser"):
            refused = client.post(
                "/login",
                data={"username": "tokenonly", "password": guess, "csrf_token": token},
            )
            assert refused.status_code == 401
        good = client.post(
            "/login",
            data={
                "username": "lena",
                "password": "correct horse battery",
                "csrf_token": token,
                "next": "//evil.example/x",
            },
        )
        assert good.status_code == 303 and good.headers["location"] == "/"


def test_pages_answer_errors_as_html_and_api_as_json(web: Server) -> None:
    page = httpx.get(f"{web.url}/nobody/nothing", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert page.headers["x-error-code"] == "RepoNotFound"
    api = httpx.get(f"{web.url}/api/models/nobody/nothing", headers={"Accept": "text/html"})
    assert api.headers["content-type"] == "application/json"
    login = httpx.get(f"{web.url}/settings/tokens")
    assert login.status_code == 303 and login.headers["location"].startswith("/login?next=")


def test_reserved_names_cannot_be_taken(web: Server) -> None:
    for name in ("api", "datasets", "login", "settings", "new"):
        result = web.cli("user", "create", name, check=False)
        assert result.returncode == 1 and "reserved" in result.stderr
