"""The Community tab in a real browser: propose a change, discuss it, merge it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from huggingface_hub import HfApi

from .conftest import Server
from .test_web import browser, sign_up

__all__ = ["browser"]


@pytest.fixture(scope="module")
def web() -> Iterator[Server]:
    srv = Server("sqlite")
    srv.start()
    yield srv
    srv.close()


def test_propose_discuss_and_merge_in_the_browser(browser, web: Server) -> None:  # type: ignore[no-untyped-def]
    owner_token = web.user("olive")
    owner = HfApi(endpoint=web.url, token=owner_token)
    repo = "olive/community"
    owner.create_repo(repo)
    owner.upload_file(
        path_or_fileobj=b"# Community\n\nold line\n", path_in_repo="README.md", repo_id=repo
    )

    # A visitor signs up and proposes a change to the card, in the browser.
    visitor = browser.new_context()
    page = visitor.new_page()
    sign_up(page, web, "vera")
    page.goto(f"{web.url}/{repo}/discussions")
    assert "Nothing open here yet." in page.locator("ol.discussions").inner_text()
    page.goto(f"{web.url}/{repo}/propose/main/README.md")
    assert "old line" in page.get_by_label("Content").input_value()
    page.get_by_label("Content").fill("# Community\n\nnew line\n")
    page.get_by_label("Title").fill("Fix the card")
    page.get_by_label("Why (markdown)").fill("The old line was **wrong**.")
    page.get_by_role("button", name="Open pull request").click()
    page.wait_for_url(f"{web.url}/{repo}/discussions/1")
    assert page.locator("#status").inner_text() == "open"
    # The description is rendered markdown; the diff is the files-changed view.
    assert page.locator(".comment-body strong").inner_text() == "wrong"
    diff = page.locator("pre.diff-body").inner_text()
    assert "-old line" in diff and "+new line" in diff
    assert page.get_by_role("button", name="Merge pull request").count() == 0  # not a writer
    # A comment with hostile markup comes back sanitised.
    page.get_by_label("Comment (markdown)").fill("Looks good <script>alert(1)</script> *yes*")
    page.get_by_role("button", name="Comment").click()
    page.wait_for_url(f"{web.url}/{repo}/discussions/1")
    bodies = page.locator(".comment-body")
    assert bodies.count() == 2 and bodies.nth(1).locator("em").inner_text() == "yes"
    assert "<script>" not in page.content().split("comment-body", 2)[2].split("</div>", 1)[0]

    # The owner merges it from the page (CSRF-protected form).
    olive = browser.new_context()
    owner_page = olive.new_page()
    web.cli("user", "set-password", "olive", input="a long enough password\n")
    owner_page.goto(f"{web.url}/login")
    owner_page.get_by_label("Username").fill("olive")
    owner_page.get_by_label("Password").fill("a long enough password")
    owner_page.get_by_role("button", name="Sign in").click()
    owner_page.goto(f"{web.url}/{repo}/discussions?type=pull_request")
    owner_page.get_by_role("link", name="Fix the card").click()
    owner_page.get_by_role("button", name="Merge pull request").click()
    owner_page.wait_for_url(f"{web.url}/{repo}/discussions/1")
    assert owner_page.locator("#status").inner_text() == "merged"
    card = owner.hf_hub_download(repo, "README.md")
    with open(card, "rb") as f:
        assert f.read() == b"# Community\n\nnew line\n"
    owner_page.goto(f"{web.url}/{repo}/discussions?status=closed")
    assert "Fix the card" in owner_page.locator("ol.discussions").inner_text()

    # A plain discussion, closed by its author.
    page.goto(f"{web.url}/{repo}/discussions/new")
    page.get_by_label("Title").fill("A question")
    page.get_by_label("Description (markdown)").fill("Which licence?")
    page.get_by_role("button", name="Open discussion").click()
    page.wait_for_url(f"{web.url}/{repo}/discussions/2")
    page.get_by_role("button", name="Close").click()
    page.wait_for_url(f"{web.url}/{repo}/discussions/2")
    assert page.locator("#status").inner_text() == "closed"
    # A form without the CSRF proof is refused.
    cookies = {c["name"]: c["value"] for c in visitor.cookies()}
    forged = httpx.post(
        f"{web.url}/{repo}/discussions/2/status",
        data={"status": "open", "csrf_token": "forged"},
        cookies=cookies,
    )
    assert forged.status_code == 403
    visitor.close()
    olive.close()
