"""Owners set up, edit and decide on a staged release from the repository pages, in Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from huggingface_hub import HfApi

from modelcommons.errors import HubError
from modelcommons.governance import releases
from modelcommons.web.pages import releases as release_pages

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


PLAN = """\
stages:
  - name: Small model
    audience: public
    opens:
      files: ["small/*"]
  - name: Large model
    audience: public
    opens:
      files: ["large/*"]
    not_before: 2019-11-05  # an unquoted YAML date is fine
"""


def sign_in(page, hub: Server, name: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{hub.url}/login")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{hub.url}/")


def test_plan_editor_creates_edits_and_ends_a_plan(browser, hub: Server) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    hub.cli("user", "create", "planner", input="plan editor pw\n")
    token = hub.cli("token", "create", "planner", "--write").stdout.split()[-1]
    api = HfApi(endpoint=hub.url, token=token)
    api.create_repo("planner/staged")
    for size in ("small", "large"):
        api.upload_file(
            path_or_fileobj=f"{size} weights".encode(),
            path_in_repo=f"{size}/w.bin",
            repo_id="planner/staged",
        )
    repo_url = f"{hub.url}/planner/staged"
    editor_url = f"{repo_url}/settings/release-plan"

    def anon_status(size: str) -> int:
        return httpx.get(f"{repo_url}/resolve/main/{size}/w.bin").status_code

    def plan() -> httpx.Response:
        return httpx.get(f"{hub.url}/api/models/planner/staged/release-plan")

    page = browser.new_context().new_page()
    sign_in(page, hub, "planner", "plan editor pw")
    page.goto(f"{repo_url}/settings")
    page.get_by_role("link", name="Edit the release plan").click()
    page.wait_for_url(editor_url)
    box = page.get_by_label("Plan (YAML)")
    starter = box.input_value()
    assert "GPT-2" in starter and "partner-org" in starter and "gated" in starter
    assert page.get_by_role("button", name="End plan").count() == 0

    # Mistakes are shown with the text kept, and nothing is saved.
    for text, error in (
        (PLAN.replace("audience: public", "audience: everyone", 1), "audience kind must be"),
        (PLAN + "  - name: [unclosed\n", "not valid YAML"),
    ):
        box.fill(text)
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.get_by_role("button", name="Save plan").click()
        assert answer.value.status == 400
        assert error in page.get_by_role("alert").inner_text()
        assert page.get_by_label("Plan (YAML)").input_value() == text
        assert plan().status_code == 404

    # Saved: the plan starts before its first stage, and the timeline says why.
    page.get_by_label("Plan (YAML)").fill(PLAN)
    page.get_by_label("Rationale").fill("small first, then large")
    page.get_by_role("button", name="Save plan").click()
    page.wait_for_url(repo_url)
    assert "small first, then large" in page.locator("section.release").inner_text()
    assert plan().json()["stages"][1]["not_before"] == "2019-11-05T00:00:00"
    assert anon_status("small") == 401
    page.get_by_label("Rationale").fill("small is safe")
    page.get_by_role("button", name="Promote").click()
    page.wait_for_url(repo_url)
    assert anon_status("small") == 200 and anon_status("large") == 401

    # A later stage edited from the saved YAML: the opened stage stays open.
    page.get_by_role("link", name="Edit plan").click()
    page.wait_for_url(editor_url)
    assert "stage 1 has been opened" in page.locator("section.settings").inner_text()
    saved = page.get_by_label("Plan (YAML)").input_value()
    assert "small/*" in saved and "Large model" in saved
    page.get_by_label("Plan (YAML)").fill(saved.replace("Large model", "Large model, reviewed"))
    page.get_by_role("button", name="Save plan").click()
    page.wait_for_url(repo_url)
    state = plan().json()
    assert state["current"] == 0 and state["stages"][1]["name"] == "Large model, reviewed"
    assert state["decisions"][-1]["action"] == "replace"
    assert anon_status("small") == 200

    # Changing the opened stage is refused, naming it, until the plan is restarted.
    page.goto(editor_url)
    changed = page.get_by_label("Plan (YAML)").input_value().replace("small/*", "small/*.bin")
    page.get_by_label("Plan (YAML)").fill(changed)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Save plan").click()
    assert answer.value.status == 409
    assert 'stage 1 ("Small model")' in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Plan (YAML)").input_value() == changed
    assert anon_status("small") == 200
    page.get_by_label("Restart from the first stage").check()
    page.get_by_label("Rationale").fill("weights only")
    page.get_by_role("button", name="Save plan").click()
    page.wait_for_url(repo_url)
    assert "restart" in page.locator("section.release").inner_text()
    state = plan().json()
    assert state["current"] == -1 and state["stages"][0]["opens"]["files"] == ["small/*.bin"]
    assert anon_status("small") == 401

    # Ended: every restriction lifts, and the editor offers the starter again.
    page.goto(editor_url)
    page.get_by_label("Rationale").fill("released in full")
    page.get_by_role("button", name="End plan").click()
    page.wait_for_url(repo_url)
    assert plan().json()["status"] == "ended"
    assert anon_status("small") == 200 and anon_status("large") == 200
    page.goto(editor_url)
    assert "has ended" in page.locator("section.settings").inner_text()
    assert page.get_by_label("Plan (YAML)").input_value() == starter

    # Datasets have the editor under /datasets/ like their other pages.
    api.create_repo("planner/corpus", repo_type="dataset")
    page.goto(f"{hub.url}/datasets/planner/corpus/settings/release-plan")
    page.get_by_label("Plan (YAML)").fill(PLAN)
    page.get_by_role("button", name="Save plan").click()
    page.wait_for_url(f"{hub.url}/datasets/planner/corpus")
    assert httpx.get(f"{hub.url}/api/datasets/planner/corpus/release-plan").status_code == 200


def test_plan_editor_is_for_admins_only(browser, hub: Server) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    api = HfApi(endpoint=hub.url, token=hub.user("guarded"))
    api.create_repo("guarded/public")
    api.create_repo("guarded/secret", private=True)
    hub.cli("user", "create", "kibitzer", input="kibitzer pw\n")
    hub.cli("org", "create", "guardians", "--member", "guarded:admin", "--member",
            "kibitzer:write")  # fmt: skip
    api.create_repo("guardians/model")  # kibitzer may write here, but is no admin
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, hub, "kibitzer", "kibitzer pw")
    csrf = next(c["value"] for c in context.cookies() if c["name"] == "commons_csrf")
    cases = (("guarded/public", 403), ("guardians/model", 403), ("guarded/secret", 404))
    for repo, status in cases:
        url = f"{hub.url}/{repo}/settings/release-plan"
        shown = page.goto(url)
        assert shown is not None and shown.status == status, repo
        assert page.get_by_label("Plan (YAML)").count() == 0
        for action in ("save", "end"):
            posted = page.request.post(
                url, form={"csrf_token": csrf, "action": action, "plan": PLAN}
            )
            assert posted.status == status, (repo, action)
            assert posted.headers["x-error-code"] != "CsrfFailed"
    for repo in ("guarded/public", "guardians/model"):
        assert httpx.get(f"{hub.url}/api/models/{repo}/release-plan").status_code == 404
    page.goto(f"{hub.url}/guardians/model/settings")  # no settings page either
    assert page.get_by_role("link", name="Edit the release plan").count() == 0
    anon = browser.new_context().new_page()
    anon.goto(f"{hub.url}/guarded/public/settings/release-plan")
    assert "/login?next=" in anon.url


def test_the_editor_yaml_gives_back_the_plan_it_shows() -> None:
    """What the editor shows must validate to the stored plan unchanged, or saving an
    untouched plan would be refused as changing an opened stage."""
    stages = releases.validate_stages(release_pages.parse_plan(release_pages.STARTER))
    assert [s["audience"]["kind"] for s in stages] == ["owners", "members", "gated", "public"]
    stages += releases.validate_stages(
        [
            {
                "name": "2019: the rest",
                "description": "Line one.\nLine 'two': \"quoted\".",
                "audience": {"kind": "members", "users": ["ada"], "orgs": ["lab"]},
                "opens": {"branches": ["xl"], "tags": ["v1.5"], "files": ["xl/**", "*.md"]},
                "not_before": "2019-11-05T17:30:00+01:00",
                "conditions": {"approvals": {"count": 1, "role": "write", "org": "lab"}},
                "auto": True,
            }
        ]
    )
    shown = release_pages.plan_yaml(stages)
    assert releases.validate_stages(release_pages.parse_plan(shown)) == stages
    for hostile, error in (
        ("a: &x [1]\nstages: *x\n", "aliases"),
        ("stages: " + "[" * 20 + "]" * 20, "nested too deeply"),
        ("stage: []", "Unknown top-level key stage"),
        ("#" * (release_pages.MAX_PLAN_CHARS + 1), "longer than"),
    ):
        with pytest.raises(HubError, match=error):
            release_pages.parse_plan(hostile)
