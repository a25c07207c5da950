"""Provenance in the browser: signing keys in the settings, the signature and the bill
of materials on the repository page (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

from pathlib import Path

import httpx
from huggingface_hub import HfApi

from .conftest import Server
from .test_signing import keypair
from .test_web import browser, sign_up

__all__ = ["browser"]  # the fixture, shared with test_web


def test_keys_page_signature_and_bom_download(
    browser, sqlite_server: Server, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    server = sqlite_server
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    sign_up(page, server, "vera")
    token = server.cli("token", "create", "vera", "--write").stdout.split()[-1]
    api = HfApi(endpoint=server.url, token=token)
    repo = "vera/signed"
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=b"w" * 100, path_in_repo="weights.bin", repo_id=repo)
    private, public = keypair(tmp_path, "vera")

    # A key pasted into the settings page, listed with its fingerprint.
    page.goto(f"{server.url}/settings/keys")
    page.get_by_label("Public key (PEM").fill("not a key")
    page.get_by_role("button", name="Add key").click()
    assert "Not a PEM public key" in page.get_by_role("alert").inner_text()
    page.get_by_label("Public key (PEM").fill(public.read_text())
    page.get_by_label("Title").fill("workstation")
    page.get_by_role("button", name="Add key").click()
    page.wait_for_url(f"{server.url}/settings/keys")
    listed = page.locator("table.files").inner_text()
    assert "workstation" in listed and "SHA256:" in listed
    keys = httpx.get(f"{server.url}/api/signing-keys/vera").json()
    assert [k["title"] for k in keys] == ["workstation"]

    page.goto(f"{server.url}/{repo}")
    assert page.locator(".signature-unsigned").inner_text() == "not signed"
    server.cli("sign", repo, "--key", str(private))
    page.goto(f"{server.url}/{repo}")
    provenance = page.get_by_role("region", name="Signature and bill of materials")
    assert provenance.locator(".signature-verified").inner_text() == "verified"
    text = provenance.inner_text()
    assert f"signed by vera, key {keys[0]['short']}, verified" in text

    with page.expect_download() as caught:
        provenance.get_by_role("link", name="Download CycloneDX").click()
    download = caught.value
    assert download.suggested_filename.endswith(".cdx.json")
    assert '"specVersion":"1.6"' in Path(download.path()).read_text()

    # A later commit changes a signed file: the page says so, naming it.
    api.upload_file(path_or_fileobj=b"changed", path_in_repo="weights.bin", repo_id=repo)
    page.goto(f"{server.url}/{repo}")
    assert provenance.locator(".signature-mismatch").inner_text() == "no longer matches"
    assert "weights.bin" in provenance.inner_text()

    # Removing the key: the signature's key is no longer known here.
    page.goto(f"{server.url}/settings/keys")
    page.get_by_role("button", name=f"Remove key {keys[0]['short']}").click()
    page.wait_for_url(f"{server.url}/settings/keys")
    assert "No signing keys yet." in page.locator("table.files").inner_text()
    context.close()
