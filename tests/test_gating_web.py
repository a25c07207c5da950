"""Gated access in Chromium: a user requests access, the owner reviews requests."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import GatedRepoError

from .conftest import Server
from .test_web import browser, sign_up, web  # noqa: F401  (fixtures)

CARD = """---
license: other
license_name: demo-1.0
extra_gated_prompt: You agree not to use this model to **harm** anyone.
extra_gated_fields:
  Affiliation: text
  Country: country
  Intended use:
    type: select
    options: [research, education]
  Start date: date_picker
  I accept the licence: checkbox
---
# Guarded model
"""


def _token(page, srv: Server) -> str:  # type: ignore[no-untyped-def]
    page.goto(f"{srv.url}/settings/tokens")
    page.get_by_label("Name").fill("cli")
    page.get_by_label("Role").select_option("write")
    page.get_by_role("button", name="Create token").click()
    return str(page.locator("#new-token").inner_text().strip())


def _ask(page, srv: Server, repo: str, affiliation: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{srv.url}/{repo}")
    page.get_by_role("link", name="Request access").click()
    page.wait_for_url(f"{srv.url}/{repo}/access")
    assert "harm" in page.locator("article.gate-prompt").inner_text()
    page.get_by_label("Affiliation").fill(affiliation)
    page.get_by_label("Country").fill("de")
    page.get_by_label("Intended use").select_option("research")
    page.get_by_label("Start date").fill("2026-03-04")
    page.get_by_label("I accept the licence").check()
    page.get_by_role("button", name="Agree and request access").click()
    page.wait_for_url(f"{srv.url}/{repo}/access")


def test_request_and_review_access(browser, web: Server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    owner = browser.new_context().new_page()
    sign_up(owner, web, "gwen")
    api = HfApi(endpoint=web.url, token=_token(owner, web))
    repo = "gwen/guarded"
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=CARD.encode(), path_in_repo="README.md", repo_id=repo)
    api.upload_file(path_or_fileobj=b"weights", path_in_repo="model.bin", repo_id=repo)

    # The owner turns on manual gating from the settings page.
    owner.goto(f"{web.url}/{repo}/settings")
    owner.get_by_label("Gating").select_option("manual")
    owner.get_by_role("button", name="Save gating").click()
    owner.wait_for_url(f"{web.url}/{repo}/settings")
    assert "manual approval" in owner.locator("section.settings").inner_text()
    assert api.model_info(repo).gated == "manual"

    # Anonymous visitors see the gate and are asked to sign in.
    anon = browser.new_context().new_page()
    anon.goto(f"{web.url}/{repo}")
    anon.get_by_role("link", name="Request access").click()
    assert anon.get_by_role("link", name="Sign in to request access").is_visible()

    # Two users ask; the form is validated by the browser and the server.
    hugo = browser.new_context().new_page()
    sign_up(hugo, web, "hugo")
    hugo_token = _token(hugo, web)
    with pytest.raises(GatedRepoError):
        hf_hub_download(repo, "model.bin", token=hugo_token, cache_dir=tmp_path, endpoint=web.url)
    _ask(hugo, web, repo, "Hugo Labs")
    assert "pending" in hugo.get_by_role("status").inner_text()
    hugo.goto(f"{web.url}/{repo}/blob/main/model.bin")
    assert "restricted" in hugo.locator("main").inner_text()

    iris = browser.new_context().new_page()
    sign_up(iris, web, "iris")
    _ask(iris, web, repo, "Iris Inc")

    # The owner reviews: accept hugo, reject iris with a reason.
    owner.goto(f"{web.url}/{repo}")
    owner.get_by_role("link", name="Access requests").first.click()
    owner.wait_for_url(f"{web.url}/{repo}/access-requests")
    pending = owner.locator("table[data-status=pending]")
    assert "Hugo Labs" in pending.inner_text() and "Iris Inc" in pending.inner_text()
    owner.get_by_role("button", name="Accept hugo").click()
    owner.wait_for_url(f"{web.url}/{repo}/access-requests")
    owner.get_by_label("Reason for rejecting iris").fill("Outside the pilot")
    owner.get_by_role("button", name="Reject iris").click()
    owner.wait_for_url(f"{web.url}/{repo}/access-requests")
    assert "hugo" in owner.locator("table[data-status=accepted]").inner_text()
    rejected = owner.locator("table[data-status=rejected]").inner_text()
    assert "iris" in rejected and "Outside the pilot" in rejected

    # Hugo now downloads; iris sees why she was turned down.
    path = hf_hub_download(
        repo, "model.bin", token=hugo_token, cache_dir=tmp_path, endpoint=web.url
    )
    assert Path(path).read_bytes() == b"weights"
    hugo.goto(f"{web.url}/{repo}")
    assert "granted access" in hugo.locator("section.gate").inner_text()
    hugo.goto(f"{web.url}/{repo}/blob/main/model.bin")
    assert "restricted" not in hugo.locator("main").inner_text()
    owner.goto(f"{web.url}/{repo}/audit")
    log = owner.locator("table.files").inner_text()
    assert "gating.download" in log and "gating.licence_accepted" in log
    owner.goto(f"{web.url}/{repo}/access-requests")
    iris.goto(f"{web.url}/{repo}/access")
    assert "Outside the pilot" in iris.get_by_role("status").inner_text()

    # The owner can also grant directly and put someone back to pending.
    owner.get_by_label("Grant access to user").fill("iris")
    owner.get_by_role("button", name="Grant access").click()
    owner.wait_for_url(f"{web.url}/{repo}/access-requests")
    assert "iris" in owner.locator("table[data-status=accepted]").inner_text()
    owner.get_by_role("button", name="Move hugo back to pending").click()
    owner.wait_for_url(f"{web.url}/{repo}/access-requests")
    assert "hugo" in owner.locator("table[data-status=pending]").inner_text()
    record = owner.locator("table").last.inner_text()
    hugo_rows = [line.split("\t")[3] for line in record.splitlines() if "\thugo\t" in line]
    assert hugo_rows == ["pending", "accepted", "pending"]  # newest first, none rewritten
    assert httpx.get(f"{web.url}/{repo}/resolve/main/README.md").status_code == 200
