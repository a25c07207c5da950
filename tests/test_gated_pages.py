"""The card page of a gated repository with a release plan, and the page a gated file
answers, in Chromium: banners above the two columns, and a way to ask for access."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from huggingface_hub import HfApi

from .conftest import Server
from .test_web import browser, sign_up  # noqa: F401  (the shared Chromium fixture)

CARD = "---\nlicense: mit\n---\n# Wide card\n\n" + "A sentence of the card. " * 120 + "\n"


@pytest.fixture(scope="module")
def hub() -> Iterator[Server]:
    srv = Server("sqlite")
    srv.start()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def owner(hub: Server) -> HfApi:
    """gina's gated model with a release plan, a gated dataset, and a model whose
    only restriction is its plan."""
    token = hub.user("gina")
    api = HfApi(endpoint=hub.url, token=token)
    for repo, kind in (("gina/gated", "model"), ("gina/gdata", "dataset"), ("gina/staged", None)):
        api.create_repo(repo, repo_type=kind)
        api.upload_file(
            path_or_fileobj=CARD.encode(), path_in_repo="README.md", repo_id=repo, repo_type=kind
        )
        api.upload_file(
            path_or_fileobj=b"weights", path_in_repo="big/w.bin", repo_id=repo, repo_type=kind
        )
    api.update_repo_settings("gina/gated", gated="manual")
    api.update_repo_settings("gina/gdata", gated="auto", repo_type="dataset")
    plan = {
        "stages": [
            {"name": "owners", "audience": "owners", "opens": {"files": ["big/*"]}},
            {"name": "everyone", "audience": "public", "opens": {"files": ["big/*"]}},
        ],
        "rationale": "two stages",
    }
    for repo in ("gina/gated", "gina/staged"):
        r = httpx.put(
            f"{hub.url}/api/models/{repo}/release-plan",
            json=plan,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
    return api


def test_banners_sit_above_the_two_columns(browser, hub: Server, owner: HfApi) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_up(page, hub, "vera")
    page.goto(f"{hub.url}/gina/gated")
    gate = page.locator("section.gate").bounding_box()
    release = page.locator("section.release").bounding_box()
    card = page.locator("article.card").bounding_box()
    side = page.locator("aside.sidebar").bounding_box()
    assert gate and release and card and side
    # Both banners come before the columns start, one under the other, full width.
    assert gate["y"] + gate["height"] <= release["y"] + 1
    assert release["y"] + release["height"] <= min(card["y"], side["y"]) + 1
    assert release["width"] >= card["width"] + side["width"]
    # The card has the main column: left of the sidebar, and the wider of the two.
    assert card["x"] + card["width"] <= side["x"]
    assert card["width"] > 2 * side["width"]
    assert abs(card["y"] - side["y"]) < 2
    context.close()


def test_a_gated_files_page_says_how_to_ask_for_access(browser, hub: Server, owner: HfApi) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    context = browser.new_context()
    page = context.new_page()
    sign_up(page, hub, "wes")
    # Until its plan opens big/* to everyone, the plan holds the file back: promote it
    # through both stages, so that only the gate is left.
    for _ in range(2):
        r = httpx.post(
            f"{hub.url}/api/models/gina/gated/release-plan/promote",
            json={"rationale": "open", "force": True},
            headers={"Authorization": f"Bearer {owner.token}"},
        )
        assert r.status_code == 200, r.text
    for url, access in (
        ("/gina/gated/blob/main/big/w.bin", "/gina/gated/access"),
        ("/datasets/gina/gdata/blob/main/big/w.bin", "/datasets/gina/gdata/access"),
    ):
        shown = page.goto(hub.url + url)
        assert shown is not None and shown.status == 403, url
        link = page.get_by_role("link", name="Request access")
        assert link.get_attribute("href") == access
        link.click()
        page.wait_for_url(hub.url + access)
        assert page.get_by_role("button", name="Agree and request access").is_visible()

    # Signed out: 401, with a way to sign in first that comes back to the file.
    anon = browser.new_context().new_page()
    shown = anon.goto(f"{hub.url}/gina/gated/blob/main/big/w.bin")
    assert shown is not None and shown.status == 401
    assert anon.get_by_role("link", name="Request access").get_attribute("href") == (
        "/gina/gated/access"
    )
    assert anon.get_by_role("link", name="sign in", exact=True).get_attribute("href") == (
        "/login?next=/gina/gated/blob/main/big/w.bin"
    )

    # Held back by a release plan only: no access to ask for, the plan to read.
    shown = page.goto(f"{hub.url}/gina/staged/blob/main/big/w.bin")
    assert shown is not None and shown.status == 403
    assert page.get_by_role("link", name="Request access").count() == 0
    assert "staged release" in page.locator("main").inner_text()
    back = page.get_by_role("link", name="Back to the repository")
    assert back.get_attribute("href") == "/gina/staged"
    context.close()
