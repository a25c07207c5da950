"""The attacks of the security issue's "one enforcement point" findings, replayed
with raw httpx and the real huggingface_hub client against `commons serve`, on
SQLite and PostgreSQL. Each must be refused; owners still see everything.

The repository (tests/content_world.py) is gated and in a staged release with a
closed branch ``xl``, a closed tag ``xl-v1`` and closed files ``staged/*``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import GatedRepoError

from . import content_world as world
from .conftest import Server
from .test_web import browser  # noqa: F401  (the shared Chromium fixture)

PASSWORD = "a long enough password"
CSRF = "s" * 40


@dataclasses.dataclass
class Person:
    name: str
    token: str
    cookies: httpx.Cookies  # a signed-in browser session


def person(srv: Server, name: str) -> Person:
    """A user with a password, a write token and a browser session."""
    out = srv.cli("user", "create", name, "--token", "write", input=f"{PASSWORD}\n")
    with httpx.Client(base_url=srv.url, cookies={"commons_csrf": CSRF}) as client:
        login = {"csrf_token": CSRF, "username": name, "password": PASSWORD}
        assert client.post("/login", data=login).status_code == 303
        return Person(name, out.stdout.split()[-1], client.cookies)


@dataclasses.dataclass
class Scene:
    srv: Server
    org: str
    owner: Person
    stranger: Person
    partner: Person
    content: world.ContentRepo

    @property
    def repo(self) -> str:
        return self.content.repo


def auth(who: Person | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {who.token}"} if who else {}


def cookies(who: Person | None) -> httpx.Cookies | None:
    return who.cookies if who else None


@pytest.fixture(scope="module")
def scene(server: Server) -> Scene:
    sfx = secrets.token_hex(3)
    owner, stranger, partner = (person(server, f"{p}{sfx}") for p in ("own", "eve", "pat"))
    org = f"lab{sfx}"
    server.cli("org", "create", org, "--member", f"{owner.name}:admin")
    content = world.build(
        server.url, owner.token, f"{org}/model", private=False, partner=partner.name
    )
    return Scene(server, org, owner, stranger, partner, content)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------ finding 3


def _batch(srv: Server, who: Person | None, repo: str, op: str, oid: str, size: int) -> Any:
    return httpx.post(
        f"{srv.url}/{repo}.git/info/lfs/objects/batch",
        json={"operation": op, "objects": [{"oid": oid, "size": size}]},
        headers=auth(who),
    )


def test_an_upload_url_never_downloads(scene: Scene) -> None:
    """A stranger asks to upload, into their own repository, objects that exist only
    in the gated, staged repository; the signed upload URLs must not serve them."""
    s = scene
    api = HfApi(endpoint=s.srv.url, token=s.stranger.token)
    own = api.create_repo(f"{s.stranger.name}/mine").repo_id
    for path in ("weights.bin", "staged/w.bin"):
        data = world.body(s.repo, path)
        # Basic upload (small) and multipart (announced as larger than a chunk).
        for size in (len(data), 200 * 1024 * 1024):
            r = _batch(s.srv, s.stranger, own, "upload", _sha256(data), size)
            assert r.status_code == 200, r.text
            upload = r.json()["objects"][0]["actions"]["upload"]
            hrefs = [
                upload["href"],
                *(v for k, v in upload.get("header", {}).items() if k != "chunk_size"),
            ]
            for href in hrefs:
                token = href.split("/lfs/", 1)[1].split("/")[1]
                got = httpx.get(f"{s.srv.url}/lfs/objects/{token}")
                assert got.status_code == 403, (path, size, got.status_code)
                assert world.marker(s.repo, path) not in got.text


def test_a_download_url_never_uploads_nor_serves_another_object(scene: Scene) -> None:
    s = scene
    data = world.body(s.repo, "weights.bin")
    r = _batch(s.srv, s.owner, s.repo, "download", _sha256(data), len(data))
    href = r.json()["objects"][0]["actions"]["download"]["href"]
    assert httpx.get(href).content == data  # the owner's own URL works
    token = href.rsplit("/", 1)[1]
    put = httpx.put(f"{s.srv.url}/lfs/upload/{token}", content=data)
    assert put.status_code == 403 and put.headers["x-error-code"] == "Forbidden"
    complete = httpx.post(f"{s.srv.url}/lfs/complete/{token}", json={"parts": []})
    assert complete.status_code == 403
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert httpx.get(f"{s.srv.url}/lfs/objects/{tampered}").status_code == 403


def test_strangers_get_no_download_url_and_learn_nothing_of_other_repositories(
    scene: Scene,
) -> None:
    s = scene
    data = world.body(s.repo, "staged/w.bin")
    for who in (None, s.stranger, s.partner):
        r = _batch(s.srv, who, s.repo, "download", _sha256(data), len(data))
        assert r.status_code == (401 if who is None else 403), r.text
        assert r.headers["x-error-code"] == "GatedRepo" and "href" not in r.text
    # In their own repository, an object held elsewhere answers like one that
    # exists nowhere.
    api = HfApi(endpoint=s.srv.url, token=s.stranger.token)
    own = api.create_repo(f"{s.stranger.name}/probe").repo_id
    answers = []
    for oid in (_sha256(data), "0" * 64):
        r = _batch(s.srv, s.stranger, own, "download", oid, len(data))
        assert r.status_code == 200
        answers.append(r.json()["objects"][0]["error"])
    assert answers[0] == answers[1] == {"code": 404, "message": "Object does not exist"}


def test_a_download_url_stops_working_when_its_caller_loses_access(server: Server) -> None:
    sfx = secrets.token_hex(3)
    owner, fan = person(server, f"gown{sfx}"), person(server, f"fan{sfx}")
    repo = f"{owner.name}/gated"
    api = HfApi(endpoint=server.url, token=owner.token)
    api.create_repo(repo)
    data = b"gated weights " + sfx.encode()
    api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=repo)
    api.update_repo_settings(repo, gated="manual")
    api.grant_access(repo, fan.name)

    def href(who: Person) -> str:
        r = _batch(server, who, repo, "download", _sha256(data), len(data))
        assert r.status_code == 200, r.text
        return str(r.json()["objects"][0]["actions"]["download"]["href"])

    url = href(fan)
    assert httpx.get(url).content == data
    api.cancel_access_request(repo, fan.name)  # back to pending: no access
    refused = httpx.get(url)
    assert refused.status_code == 403 and refused.headers["x-error-code"] == "GatedRepo"
    api.grant_access(repo, fan.name)
    assert httpx.get(url).content == data
    # A revoked token takes its URLs with it.
    spare = server.cli("token", "create", fan.name, "--name", "spare").stdout.split()[-1]
    url = href(Person(fan.name, spare, fan.cookies))
    assert httpx.get(url).content == data
    server.cli("token", "revoke", fan.name, "spare")
    assert httpx.get(url).status_code == 403
    # Private now: the URL answers as if the object were not there.
    url = href(fan)
    api.update_repo_settings(repo, private=True)
    gone = httpx.get(url)
    assert gone.status_code == 404 and gone.json()["error"] == "Object not found."
    api.delete_repo(repo)
    assert httpx.get(url).status_code == 404


# ------------------------------------------------------------------ finding 4


def test_the_commit_page_shows_gated_and_staged_contents_only_to_those_who_may_download(
    scene: Scene,
) -> None:
    s = scene
    gated, staged = world.marker(s.repo, "config.json"), world.marker(s.repo, "staged/notes.txt")
    url = f"{s.srv.url}/{s.repo}/commit/{s.content.main}"
    for who in (None, s.stranger):
        page = httpx.get(url, cookies=cookies(who))
        assert page.status_code == 200
        assert gated not in page.text and staged not in page.text
        assert "staged/notes.txt" not in page.text and "staged/w.bin" not in page.text
        assert "<code>config.json</code>" in page.text  # listed, as gated files are
        assert world.marker(s.repo, "README.md") in page.text  # the card is open
    owner = httpx.get(url, cookies=s.owner.cookies).text
    assert gated in owner and staged in owner and "staged/w.bin" in owner
    partner = httpx.get(url, cookies=s.partner.cookies).text
    # staged/* is released to partners, but the repository is gated too: they see the
    # names, not the contents, until an access request of theirs is accepted.
    assert "staged/notes.txt" in partner and staged not in partner and gated not in partner


def test_the_commit_page_in_a_browser(scene: Scene, browser) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    s = scene
    page = browser.new_context().new_page()
    page.goto(f"{s.srv.url}/{s.repo}/commit/{s.content.main}")
    shown = page.locator("section.commit-view").inner_text()
    assert "config.json" in shown and "Contents not shown" in shown
    assert "staged/" not in shown and world.marker(s.repo, "config.json") not in shown


# ------------------------------------------------------------------ finding 5


def _closed_names(c: world.ContentRepo) -> list[str]:
    return ["xl", "refs/heads/xl", "xl-v1", "refs/tags/xl-v1", "xl-alias", c.xl[:7], c.xl]


def _content_routes(repo: str, rev: str) -> list[tuple[str, str, dict[str, Any]]]:
    q = quote(rev, safe="")
    return [
        ("GET", f"/{repo}/resolve/{q}/xl/x.txt", {}),
        ("HEAD", f"/{repo}/resolve/{q}/xl/x.txt", {}),
        ("GET", f"/{repo}/raw/{q}/README.md", {}),
        ("GET", f"/api/models/{repo}/tree/{q}", {"params": {"recursive": "true"}}),
        ("GET", f"/api/models/{repo}/tree/{q}/xl", {}),
        ("POST", f"/api/models/{repo}/paths-info/{q}", {"data": {"paths": "xl/x.txt"}}),
        ("GET", f"/api/models/{repo}/revision/{q}", {}),
        ("GET", f"/api/models/{repo}/commits/{q}", {}),
        ("GET", f"/{repo}/tree/{q}", {}),
        ("GET", f"/{repo}/blob/{q}/xl/x.txt", {}),
        ("GET", f"/{repo}/commits/{q}", {}),
        ("GET", f"/{repo}/commit/{q}", {}),
        ("GET", f"/{repo}/switch", {"params": {"rev": rev}}),
    ]


def _ask(s: Scene, who: Person | None, method: str, path: str, kw: dict[str, Any]) -> Any:
    page = not path.startswith("/api/") and "/resolve/" not in path and "/raw/" not in path
    if page:
        return httpx.request(method, s.srv.url + path, cookies=cookies(who), **kw)
    return httpx.request(method, s.srv.url + path, headers=auth(who), **kw)


def test_a_closed_branch_is_closed_by_every_name(scene: Scene) -> None:
    s = scene
    secret = world.marker(s.repo, "xl/x.txt", "xl")
    for rev in _closed_names(s.content):
        for method, path, kw in _content_routes(s.repo, rev):
            for who, status in ((None, 401), (s.stranger, 403), (s.partner, 403)):
                r = _ask(s, who, method, path, kw)
                assert r.status_code == status, (rev, method, path, who, r.status_code)
                assert r.headers["x-error-code"] == "GatedRepo", (rev, path)
                assert secret not in r.text
            owner = _ask(s, s.owner, method, path, kw)
            assert owner.status_code in (200, 303), (rev, path, owner.status_code)


def test_the_client_cannot_reach_a_closed_branch(scene: Scene, tmp_path: Path) -> None:
    s = scene
    api = HfApi(endpoint=s.srv.url, token=s.stranger.token)
    for rev in _closed_names(s.content):
        with pytest.raises(GatedRepoError):
            hf_hub_download(
                s.repo, "xl/x.txt", revision=rev, token=s.stranger.token,
                cache_dir=tmp_path, endpoint=s.srv.url,
            )  # fmt: skip
        with pytest.raises(GatedRepoError):
            list(api.list_repo_tree(s.repo, revision=rev, recursive=True))
        with pytest.raises(GatedRepoError):
            api.model_info(s.repo, revision=rev)
        with pytest.raises(GatedRepoError):
            api.list_repo_commits(s.repo, revision=rev)
    owner = HfApi(endpoint=s.srv.url, token=s.owner.token)
    for rev in _closed_names(s.content):
        got = hf_hub_download(
            s.repo, "xl/x.txt", revision=rev, token=s.owner.token,
            cache_dir=tmp_path, endpoint=s.srv.url,
        )  # fmt: skip
        assert Path(got).read_bytes() == world.body(s.repo, "xl/x.txt", "xl")
        assert owner.model_info(s.repo, revision=rev).sha == s.content.xl


# ------------------------------------------------------------------ finding 6


def _hidden(s: Scene) -> list[str]:
    """What non-owners outside the partners must not find in any listing."""
    lfs = [world.body(s.repo, "staged/w.bin"), world.body(s.repo, "xl/w.bin", "xl")]
    names = ["staged/notes.txt", "staged/w.bin", "xl/x.txt", "xl/w.bin", "xl-alias"]
    return [*names, s.content.xl, *map(_sha256, lfs)]


def test_listings_omit_staged_files_and_closed_refs(scene: Scene) -> None:
    s = scene
    main = s.content.main
    visible = {".gitattributes", "README.md", "config.json", "weights.bin"}
    for who in (None, s.stranger):
        api = HfApi(endpoint=s.srv.url, token=who.token if who else False)
        info = api.model_info(s.repo, files_metadata=True)
        assert {f.rfilename for f in info.siblings or []} == visible
        by_id = api.model_info(s.repo, revision=main[:7], files_metadata=True)
        assert {f.rfilename for f in by_id.siblings or []} == visible
        for rev in ("main", "refs/heads/main", main, main[:7], "v1"):
            tree = {f.path for f in api.list_repo_tree(s.repo, revision=rev, recursive=True)}
            assert tree == visible, rev
        refs = api.list_repo_refs(s.repo)
        assert {b.name for b in refs.branches} == {"main"}
        assert {t.name for t in refs.tags} == {"v1"}
        found = api.get_paths_info(s.repo, ["staged/w.bin", "staged", "config.json"])
        assert [p.path for p in found] == ["config.json"]
        assert [c.commit_id for c in api.list_repo_commits(s.repo)] == [main, s.content.first]
        api_base = f"{s.srv.url}/api/models"
        asked: list[tuple[str, dict[str, str]]] = [
            (f"/{s.repo}", {"blobs": "true"}),
            (f"/{s.repo}/revision/{main}", {"blobs": "true"}),
            ("", {"author": s.org, "full": "true"}),
            (f"/{s.repo}/refs", {}),
            (f"/{s.repo}/tree/{main}", {"recursive": "1"}),
        ]
        raw = [httpx.get(api_base + path, params=q, headers=auth(who)) for path, q in asked]
        pages = [
            httpx.get(f"{s.srv.url}/{s.repo}{view}", cookies=cookies(who))
            for view in ("/tree/main", f"/tree/{main}", "/commits/main", f"/commit/{main}", "")
        ]
        for r in raw + pages:
            assert r.status_code == 200, r.url
            # (The plan itself is public, on the card page too: the names it opens
            # are no secret; what they hold is.)
            leaked = [h for h in _hidden(s) if h in r.text]
            if r is not pages[-1]:
                leaked += [h for h in ("xl-v1", "staged/") if h in r.text]
            assert leaked == [], (str(r.url), leaked)
        assert "weights.bin" in raw[0].text  # gated files stay listed, as on the HF Hub
    # Owners see everything; the partners see staged/* but not the closed branch.
    owner = HfApi(endpoint=s.srv.url, token=s.owner.token)
    assert {"staged/w.bin", "staged/notes.txt"} <= set(owner.list_repo_files(s.repo))
    assert {b.name for b in owner.list_repo_refs(s.repo).branches} == {"main", "xl"}
    partner = HfApi(endpoint=s.srv.url, token=s.partner.token)
    assert "staged/w.bin" in partner.list_repo_files(s.repo)
    assert {b.name for b in partner.list_repo_refs(s.repo).branches} == {"main"}


# ------------------------------------------------------------------ the audit log


def test_a_gated_file_page_is_audited_only_when_it_shows_the_file(server: Server) -> None:
    sfx = secrets.token_hex(3)
    owner, fan = person(server, f"aown{sfx}"), person(server, f"afan{sfx}")
    repo = f"{owner.name}/gated"
    api = HfApi(endpoint=server.url, token=owner.token)
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=b"\x00\x01binary", path_in_repo="blob.dat", repo_id=repo)
    api.upload_file(path_or_fileobj=b"shown text\n", path_in_repo="notes.txt", repo_id=repo)
    api.update_repo_settings(repo, gated="manual")
    api.grant_access(repo, fan.name)
    binary = httpx.get(f"{server.url}/{repo}/blob/main/blob.dat", cookies=fan.cookies)
    assert binary.status_code == 200 and "No preview" in binary.text
    text = httpx.get(f"{server.url}/{repo}/blob/main/notes.txt", cookies=fan.cookies)
    assert text.status_code == 200 and "shown text" in text.text
    events = [
        json.loads(line)
        for line in server.cli("audit-log", "export").stdout.splitlines()
        if '"gating.download"' in line and repo in line
    ]
    assert [e["data"]["path"] for e in events] == ["notes.txt"]
