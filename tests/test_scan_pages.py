"""Scan results on the pages, in a real browser: a badge per file in the tree, the
full report (imports with their safety, findings, when) on the file's page, and the
files with issues on the card page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from huggingface_hub import HfApi

from .conftest import Server
from .scan_corpus.benign import benign
from .scan_corpus.hostile import malicious
from .test_pipeline import _wait_step, upload, wait_scanned
from .test_web import ARGS, CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def test_pages_show_scan_results(browser, sqlite_server: Server, repo_name: str) -> None:  # type: ignore[no-untyped-def]
    hub = sqlite_server
    api = HfApi(endpoint=hub.url, token=hub.user("alice"))
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    upload(
        api,
        repo,
        {
            "README.md": b"---\nlicense: mit\n---\n# Scanned\n",
            "evil.pkl": malicious()["getattr_chain.pkl"],
            "ok.safetensors": benign()["linear.safetensors"],
            "lambda.keras": malicious()["lambda.keras"],
        },
    )
    wait_scanned(api, repo)
    assert _wait_step(hub, repo)["status"] == "done"  # the card's summary is its result
    page = browser.new_context().new_page()

    page.goto(f"{hub.url}/{repo}/tree/main")
    badges = {
        row.locator("td a").first.inner_text().strip(): row.locator("[data-scan]").inner_text()
        for row in page.locator("table.files tbody tr").all()
        if row.locator("[data-scan]").count()
    }
    assert badges["evil.pkl"] == "unsafe"
    assert badges["lambda.keras"] == "unsafe"
    assert badges["ok.safetensors"] == "safe"
    assert badges["README.md"] == "safe"

    page.goto(f"{hub.url}/{repo}/blob/main/evil.pkl")
    report = page.get_by_role("region", name="Security scan")
    assert "unsafe" in report.locator("h2").inner_text()
    rows = [r.inner_text().split("\t")[:3] for r in report.locator("tbody tr").all()]
    assert ["__builtin__", "getattr", "dangerous"] in rows
    assert ["__builtin__", "__import__", "dangerous"] in rows
    assert "Scanned" in report.inner_text()

    page.goto(f"{hub.url}/{repo}")
    summary = page.get_by_role("region", name="Security scan")
    text = summary.inner_text()
    assert "evil.pkl" in text and "__builtin__.getattr" in text
    assert "lambda.keras" in text and "Lambda layer" in text
    assert "ok.safetensors" not in text
    summary.get_by_role("link", name="lambda.keras").click()
    assert "Lambda layer 'pwn' runs code on load" in page.locator(".scan-findings").inner_text()
