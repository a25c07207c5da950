"""Owners decide on a staged release from the repository page, in Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from huggingface_hub import HfApi

from .conftest import Server
from .test_web import browser  # noqa: F401  (the shared Chromium fixture)


@pytest.fixture(scope="module")
def hub() -> Iterator[Server]:
    srv = Server("sqlite")
    srv.start()
    yield srv
    srv.close()


def test_promote_from_the_page_and_read_the_namespace_log(browser, hub: Server) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    hub.cli("user", "create", "rel", input="release manager pw\n")
    token = hub.cli("token", "create", "rel", "--write").stdout.split()[-1]
    api = HfApi(endpoint=hub.url, token=token)
    api.create_repo("rel/staged")
    api.upload_file(path_or_fileobj=b"weights", path_in_repo="big/w.bin", repo_id="rel/staged")
    plan = {
        "stages": [
            {"name": "owners", "audience": "owners", "opens": {"files": ["big/*"]}},
            {"name": "everyone", "audience": "public", "opens": {"files": ["big/*"]}},
        ],
        "rationale": "two stages",
    }
    r = httpx.put(
        f"{hub.url}/api/models/rel/staged/release-plan",
        json=plan,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    file_url = f"{hub.url}/rel/staged/resolve/main/big/w.bin"
    assert httpx.get(file_url).status_code == 401

    page = browser.new_context().new_page()
    page.goto(f"{hub.url}/login")
    page.get_by_label("Username").fill("rel")
    page.get_by_label("Password").fill("release manager pw")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{hub.url}/")
    for _ in range(2):
        if httpx.get(file_url).status_code == 200:
            break
        page.goto(f"{hub.url}/rel/staged")
        page.get_by_label("Rationale").fill("the partners found no misuse")
        page.get_by_role("button", name="Promote").click()
        page.wait_for_url(f"{hub.url}/rel/staged")
    assert httpx.get(file_url).content == b"weights"
    timeline = page.locator("section.release").inner_text()
    assert "the partners found no misuse" in timeline and "promote" in timeline

    # Anonymous visitors see the timeline but no controls.
    anon = browser.new_context().new_page()
    anon.goto(f"{hub.url}/rel/staged")
    assert anon.locator("section.release").count() == 1
    assert anon.get_by_role("button", name="Promote").count() == 0
    shown = anon.goto(f"{hub.url}/rel/staged/blob/main/big/w.bin")
    assert shown is not None and shown.status == 200  # a released staged file, previewed

    page.goto(f"{hub.url}/rel")
    page.get_by_role("link", name="Audit log").click()
    log = page.locator("table.files").inner_text()
    assert "release.decided" in log and "repo.created" in log
    assert "gating.download" in log  # the anonymous download of a staged file
    anon.goto(f"{hub.url}/rel/-/audit")
    assert "/login?next=" in anon.url  # signed out: asked to sign in, shown nothing
    stranger = httpx.get(
        f"{hub.url}/api/audit-log/rel", headers={"Authorization": f"Bearer {hub.user('nosy-rel')}"}
    )
    assert stranger.status_code == 404


def test_closed_branches_stay_closed_by_commit_id(hub: Server) -> None:
    token = hub.user("brancher")
    api = HfApi(endpoint=hub.url, token=token)
    api.create_repo("brancher/model")
    api.create_branch("brancher/model", branch="xl")
    api.upload_file(
        path_or_fileobj=b"xl weights",
        path_in_repo="xl.bin",
        repo_id="brancher/model",
        revision="xl",
    )
    plan = {"stages": [{"name": "partners", "audience": "owners", "opens": {"branches": ["xl"]}}]}
    r = httpx.put(
        f"{hub.url}/api/models/brancher/model/release-plan",
        json=plan,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    refs = {b.name: b.target_commit for b in api.list_repo_refs("brancher/model").branches}
    for rev in ("xl", refs["xl"]):
        anon = httpx.get(f"{hub.url}/brancher/model/resolve/{rev}/xl.bin")
        assert anon.status_code == 401 and anon.headers["x-error-code"] == "GatedRepo", rev
    main = httpx.get(f"{hub.url}/brancher/model/resolve/{refs['main']}/.gitattributes")
    assert main.status_code == 200  # commits on open branches are fine by id
    owner = httpx.get(
        f"{hub.url}/brancher/model/resolve/{refs['xl']}/xl.bin",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert owner.content == b"xl weights"


def test_lfs_by_hash_and_auth_check_respect_the_plan(hub: Server) -> None:
    token = hub.user("hasher")
    api = HfApi(endpoint=hub.url, token=token)
    api.create_repo("hasher/model")
    api.upload_file(
        path_or_fileobj=b"x" * 2000, path_in_repo="w.safetensors", repo_id="hasher/model"
    )
    plan = {
        "stages": [{"name": "owners", "audience": "owners", "opens": {"files": ["*.safetensors"]}}]
    }
    assert (
        httpx.put(
            f"{hub.url}/api/models/hasher/model/release-plan",
            json=plan,
            headers={"Authorization": f"Bearer {token}"},
        ).status_code
        == 200
    )
    oid = next(f for f in api.list_repo_tree("hasher/model") if f.path == "w.safetensors")
    other = {"Authorization": f"Bearer {hub.user('hash-stranger')}"}
    batch = httpx.post(
        f"{hub.url}/hasher/model.git/info/lfs/objects/batch",
        headers=other,
        json={"operation": "download", "objects": [{"oid": oid.lfs.sha256, "size": 2000}]},
    )  # type: ignore[union-attr]
    assert batch.status_code == 403 and batch.headers["x-error-code"] == "GatedRepo"
    check = httpx.get(f"{hub.url}/api/models/hasher/model/auth-check", headers=other)
    assert check.status_code == 403
    owner = httpx.get(
        f"{hub.url}/api/models/hasher/model/auth-check",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert owner.status_code == 200
