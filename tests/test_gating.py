"""Gated repositories with the real huggingface_hub client, on both backends."""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

from .conftest import Server

CSRF = "c" * 40
CARD = """---
license: other
license_name: demo-licence-1.0
gated: {gated}
extra_gated_prompt: {prompt}
extra_gated_fields:
  Company: text
  Country: country
  Start date: date_picker
  Use:
    type: select
    options: [research, {{label: Commercial use, value: commercial}}]
  I agree to the licence: checkbox
---
# A gated model
"""
ANSWERS = {
    "field_0": "Acme",
    "field_1": "fr",
    "field_2": "2026-01-02",
    "field_3": "commercial",
    "field_4": "yes",
}


class Person:
    """A user signed in through the web (to request access) with a write token."""

    def __init__(self, srv: Server, name: str) -> None:
        self.name = name
        self.web = httpx.Client(base_url=srv.url, cookies={"commons_csrf": CSRF})
        r = self.web.post(
            "/join",
            data={
                "csrf_token": CSRF,
                "username": name,
                "email": f"{name}@example.org",
                "password": "a long enough password",
            },
        )
        assert r.status_code == 303, r.text
        page = self.web.post(
            "/settings/tokens", data={"csrf_token": CSRF, "name": "t", "role": "write"}
        ).text
        found = re.search(r'id="new-token">([^<]+)<', page)
        assert found, page
        self.token = found.group(1).strip()
        self.api = HfApi(endpoint=srv.url, token=self.token)

    def request(self, repo: str, answers: dict[str, str] | None = None) -> httpx.Response:
        data = {"csrf_token": CSRF, **(ANSWERS if answers is None else answers)}
        return self.web.post(f"/{repo}/access", data=data)


def _name(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(3)}"


def _gated_repo(owner: Person, name: str, *, gated: str = "false", prompt: str = "Be nice.") -> str:
    repo = f"{owner.name}/{name}"
    owner.api.create_repo(repo)
    owner.api.upload_file(
        path_or_fileobj=CARD.format(gated=gated, prompt=prompt).encode(),
        path_in_repo="README.md",
        repo_id=repo,
    )
    owner.api.upload_file(path_or_fileobj=b'{"a": 1}', path_in_repo="config.json", repo_id=repo)
    return repo


def _download(srv: Server, repo: str, token: str | bool, tmp: Path) -> str:
    return hf_hub_download(repo, "config.json", token=token, cache_dir=tmp, endpoint=srv.url)


def _events(srv: Server) -> list[dict[str, Any]]:
    out = srv.cli("audit-log", "export").stdout
    return [json.loads(line) for line in out.splitlines()]


def test_manual_gating_end_to_end(server: Server, tmp_path: Path, hf_env: None) -> None:
    owner, bob, carol = (Person(server, _name(p)) for p in ("own", "bob", "car"))
    repo = _gated_repo(owner, "gated")
    owner.api.update_repo_settings(repo, gated="manual")
    assert owner.api.model_info(repo).gated == "manual"

    # Anonymous: 401 GatedRepo; signed in without a request: 403 GatedRepo.
    with pytest.raises(GatedRepoError) as anon:
        _download(server, repo, False, tmp_path / "a")
    assert anon.value.response.status_code == 401
    with pytest.raises(GatedRepoError) as signed:
        _download(server, repo, bob.token, tmp_path / "b")
    assert signed.value.response.status_code == 403
    with pytest.raises(GatedRepoError):
        snapshot_download(repo, token=bob.token, cache_dir=tmp_path / "s", endpoint=server.url)
    head = httpx.head(f"{server.url}/{repo}/resolve/main/config.json")
    assert head.status_code == 401 and head.headers["X-Error-Code"] == "GatedRepo"
    # The card stays open, .gitattributes does not (as on the Hub); the owner is never gated.
    with pytest.raises(GatedRepoError):
        hf_hub_download(repo, ".gitattributes", token=bob.token, endpoint=server.url)
    hf_hub_download(repo, "README.md", token=False, cache_dir=tmp_path / "r", endpoint=server.url)
    assert Path(_download(server, repo, owner.token, tmp_path / "o")).read_text() == '{"a": 1}'

    # A bad form is refused; a good one leaves the request pending (manual).
    assert bob.request(repo, {"field_0": "Acme"}).status_code == 400
    assert bob.request(repo).status_code == 303
    assert carol.request(repo).status_code == 303
    pending = list(owner.api.list_pending_access_requests(repo))
    assert {r.username for r in pending} == {bob.name, carol.name}
    # Pagination follows Link.
    page = httpx.get(
        f"{server.url}/api/models/{repo}/user-access-request/pending",
        params={"limit": 1},
        headers={"Authorization": f"Bearer {owner.token}"},
    )
    assert len(page.json()) == 1 and 'rel="next"' in page.headers["Link"]
    rest = httpx.get(page.links["next"]["url"], headers={"Authorization": f"Bearer {owner.token}"})
    assert [page.json()[0]["user"]["user"], rest.json()[0]["user"]["user"]] == [
        bob.name,
        carol.name,
    ]
    mine = next(r for r in pending if r.username == bob.name)
    assert mine.fields == {
        "Company": "Acme",
        "Country": "FR",
        "Start date": "2026-01-02",
        "Use": "commercial",
        "I agree to the licence": True,
    }
    assert mine.email == f"{bob.name}@example.org"
    with pytest.raises(GatedRepoError):
        _download(server, repo, bob.token, tmp_path / "b2")
    # Strangers cannot see the list.
    with pytest.raises(HfHubHTTPError):
        list(bob.api.list_pending_access_requests(repo))

    owner.api.accept_access_request(repo, bob.name)
    assert Path(_download(server, repo, bob.token, tmp_path / "b3")).read_text() == '{"a": 1}'
    snap = snapshot_download(repo, token=bob.token, cache_dir=tmp_path / "s2", endpoint=server.url)
    assert (Path(snap) / "config.json").exists()
    bob.api.auth_check(repo)  # raises GatedRepoError without access

    owner.api.reject_access_request(repo, carol.name, rejection_reason="Not a fit")
    rejected = list(owner.api.list_rejected_access_requests(repo))
    assert [r.username for r in rejected] == [carol.name]
    assert carol.request(repo).status_code == 409  # a rejected user cannot ask again
    with pytest.raises(GatedRepoError):
        _download(server, repo, carol.token, tmp_path / "c")

    accepted = list(owner.api.list_accepted_access_requests(repo))
    assert [r.username for r in accepted] == [bob.name]

    # Cancelling moves bob back to pending and takes his access away.
    owner.api.cancel_access_request(repo, bob.name)
    assert bob.name in {r.username for r in owner.api.list_pending_access_requests(repo)}
    with pytest.raises(GatedRepoError):
        _download(server, repo, bob.token, tmp_path / "b4")

    # Granting gives access without a request.
    dave = Person(server, _name("dav"))
    owner.api.grant_access(repo, dave.name)
    assert Path(_download(server, repo, dave.token, tmp_path / "d")).read_text() == '{"a": 1}'
    with pytest.raises(HfHubHTTPError):
        owner.api.grant_access(repo, "nobody-here")

    # Every step is in the audit log, and the log is intact.
    kinds = [(e["kind"], e["data"].get("user")) for e in _events(server)]
    assert ("gating.changed", None) in kinds
    assert ("gating.requested", bob.name) in kinds
    assert ("gating.licence_accepted", bob.name) in kinds
    assert ("gating.decided", carol.name) in kinds
    assert ("gating.granted", dave.name) in kinds
    downloads = [e for e in _events(server) if e["kind"] == "gating.download"]
    assert {e["actor"] for e in downloads} >= {bob.name, dave.name}
    assert owner.name not in {e["actor"] for e in downloads}
    assert server.cli("audit-log", "verify", check=False).returncode == 0


def test_auto_gating_accepts_at_once(server: Server, tmp_path: Path, hf_env: None) -> None:
    owner, erin = Person(server, _name("own")), Person(server, _name("eri"))
    repo = _gated_repo(owner, "auto")
    owner.api.update_repo_settings(repo, gated="auto")
    with pytest.raises(GatedRepoError):
        _download(server, repo, erin.token, tmp_path / "e")
    assert erin.request(repo).status_code == 303
    assert Path(_download(server, repo, erin.token, tmp_path / "e2")).read_text() == '{"a": 1}'
    [record] = list(owner.api.list_accepted_access_requests(repo))
    assert record.username == erin.name
    assert list(owner.api.list_pending_access_requests(repo)) == []
    # Turning gating off opens the files to everyone.
    owner.api.update_repo_settings(repo, gated=False)
    assert owner.api.model_info(repo).gated is False
    assert Path(_download(server, repo, False, tmp_path / "anon")).exists()


def test_gated_from_the_card_and_licence_change(
    server: Server, tmp_path: Path, hf_env: None
) -> None:
    owner, finn = Person(server, _name("own")), Person(server, _name("fin"))
    repo = _gated_repo(owner, "card", gated="auto", prompt="Version one.")
    assert owner.api.model_info(repo).gated == "auto"
    with pytest.raises(GatedRepoError):
        _download(server, repo, finn.token, tmp_path / "f")
    assert finn.request(repo).status_code == 303
    _download(server, repo, finn.token, tmp_path / "f2")
    record = httpx.get(
        f"{server.url}/api/models/{repo}/user-access-request/accepted",
        headers={"Authorization": f"Bearer {owner.token}"},
    ).json()[0]
    head = owner.api.model_info(repo).sha
    assert record["revision"] == head and len(record["licenceSha256"]) == 64

    # A new licence text: the old acceptance no longer grants access.
    owner.api.upload_file(
        path_or_fileobj=CARD.format(gated="auto", prompt="Version two.").encode(),
        path_in_repo="README.md",
        repo_id=repo,
    )
    with pytest.raises(GatedRepoError):
        _download(server, repo, finn.token, tmp_path / "f3")
    assert "accept them again" in finn.web.get(f"/{repo}/access").text
    assert finn.request(repo).status_code == 303
    _download(server, repo, finn.token, tmp_path / "f4")
    records = httpx.get(
        f"{server.url}/api/models/{repo}/user-access-request/accepted",
        headers={"Authorization": f"Bearer {owner.token}"},
    ).json()
    assert records[0]["licenceSha256"] != record["licenceSha256"]

    # The API setting overrides the card.
    owner.api.update_repo_settings(repo, gated=False)
    _download(server, repo, False, tmp_path / "anon")


def test_access_expires(server: Server, tmp_path: Path, hf_env: None) -> None:
    owner, gus = Person(server, _name("own")), Person(server, _name("gus"))
    repo = _gated_repo(owner, "expiring")
    r = httpx.put(
        f"{server.url}/api/models/{repo}/settings",
        json={"gated": "auto", "gated_access_days": 2 / 86400},
        headers={"Authorization": f"Bearer {owner.token}"},
    )
    assert r.status_code == 200 and r.json()["gated"] == "auto"
    assert gus.request(repo).status_code == 303
    _download(server, repo, gus.token, tmp_path / "g")
    time.sleep(2.5)
    with pytest.raises(GatedRepoError):
        _download(server, repo, gus.token, tmp_path / "g2")
    assert "access expired" in gus.web.get(f"/{repo}/access").text
    assert gus.request(repo).status_code == 303  # may ask again
    _download(server, repo, gus.token, tmp_path / "g3")


def test_gated_datasets(sqlite_server: Server, tmp_path: Path, hf_env: None) -> None:
    srv = sqlite_server
    owner, hal = Person(srv, _name("own")), Person(srv, _name("hal"))
    repo = f"{owner.name}/data"
    owner.api.create_repo(repo, repo_type="dataset")
    owner.api.upload_file(
        path_or_fileobj=b"a,b\n1,2\n", path_in_repo="t.csv", repo_id=repo, repo_type="dataset"
    )
    owner.api.update_repo_settings(repo, gated="manual", repo_type="dataset")
    assert owner.api.dataset_info(repo).gated == "manual"

    def get(token: str) -> str:
        return hf_hub_download(
            repo, "t.csv", repo_type="dataset", token=token, cache_dir=tmp_path, endpoint=srv.url
        )

    with pytest.raises(GatedRepoError):
        get(hal.token)
    assert hal.web.post(f"/datasets/{repo}/access", data={"csrf_token": CSRF}).status_code == 303
    [req] = list(owner.api.list_pending_access_requests(repo, repo_type="dataset"))
    owner.api.accept_access_request(repo, request_id=req.request_id, repo_type="dataset")
    assert Path(get(hal.token)).read_text() == "a,b\n1,2\n"


def test_org_members_are_never_gated(sqlite_server: Server, tmp_path: Path, hf_env: None) -> None:
    srv = sqlite_server
    admin, reader, outsider = (Person(srv, _name(p)) for p in ("adm", "rea", "out"))
    org = _name("org")
    srv.cli(
        "org", "create", org, "--member", f"{admin.name}:admin", "--member", f"{reader.name}:read"
    )
    repo = f"{org}/gated"
    admin.api.create_repo(repo)
    admin.api.upload_file(path_or_fileobj=b"w", path_in_repo="model.bin", repo_id=repo)
    admin.api.update_repo_settings(repo, gated="manual")

    def get(token: str, where: str) -> str:
        return hf_hub_download(
            repo, "model.bin", token=token, cache_dir=tmp_path / where, endpoint=srv.url
        )

    assert Path(get(reader.token, "r")).read_bytes() == b"w"
    with pytest.raises(GatedRepoError):
        get(outsider.token, "o")
    with pytest.raises(HfHubHTTPError):  # only admins review requests
        list(reader.api.list_pending_access_requests(repo))
    # Members go through without a request, so their downloads are not gated downloads.
    assert not [
        e for e in _events(srv) if e["kind"] == "gating.download" and e["actor"] == reader.name
    ]
