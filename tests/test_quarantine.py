"""Scan policy ``quarantine``: unsafe files refused (403 UnsafeFile) and left out of
listings and snapshots for everyone but the repository's admins; ``warn`` flags only.
Enforced in ``access.content``, so every content route obeys it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

from .conftest import Server
from .scan_corpus.benign import benign
from .scan_corpus.hostile import malicious
from .test_pipeline import upload, wait_scanned

EVIL = malicious()["raw_p3.pkl"]
GOOD = benign()["linear.pt"]


@pytest.fixture(scope="module")
def hub() -> Iterator[Server]:
    """A hub whose policy is quarantine, with an organisation of three roles."""
    srv = Server("sqlite", scan_policy="quarantine")
    srv.start()
    for name in ("qadmin", "qwriter", "qreader", "qstranger"):
        srv.user(name)
    srv.cli("org", "create", "qorg", "--member", "qadmin")
    srv.cli("org", "add-member", "qorg", "qwriter", "--role", "write")
    srv.cli("org", "add-member", "qorg", "qreader", "--role", "read")
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def repo(hub: Server) -> str:
    api = HfApi(endpoint=hub.url, token=hub.user("qadmin"))
    repo_id = f"qorg/model-{secrets.token_hex(3)}"
    api.create_repo(repo_id)
    upload(api, repo_id, {"evil.pkl": EVIL, "weights/good.pt": GOOD, "config.json": b"{}"})
    assert wait_scanned(api, repo_id).security_repo_status["scansDone"]
    return repo_id


def _refusal(hub: Server, repo: str, token: str | None, cache: Path) -> httpx.Response:
    """The client's download fails; the response it failed on (its HEAD's 403 comes
    back as the cause of the client's 'cannot locate the file' error)."""
    with pytest.raises((HfHubHTTPError, LocalEntryNotFoundError)) as refused:
        hf_hub_download(repo, "evil.pkl", endpoint=hub.url, token=token or False, cache_dir=cache)
    error = refused.value
    if isinstance(error, LocalEntryNotFoundError):
        assert isinstance(error.__cause__, HfHubHTTPError)
        error = error.__cause__
    assert isinstance(error, HfHubHTTPError) and error.response is not None
    direct = httpx.get(
        f"{hub.url}/{repo}/resolve/main/evil.pkl",
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )
    assert direct.status_code == error.response.status_code
    return direct


@pytest.mark.parametrize("who", [None, "qstranger", "qreader", "qwriter"])
def test_unsafe_file_refused_and_hidden(
    hub: Server, repo: str, who: str | None, tmp_path: Path
) -> None:
    token = hub.user(who) if who else None
    api = HfApi(endpoint=hub.url, token=token or False)
    response = _refusal(hub, repo, token, tmp_path / "refused")
    assert response.status_code == 403
    assert response.headers["X-Error-Code"] == "UnsafeFile"
    assert "os.system" in response.headers["X-Error-Message"]
    assert "evil.pkl" not in api.list_repo_files(repo)
    assert api.get_paths_info(repo, ["evil.pkl"]) == []
    local = Path(
        snapshot_download(repo, endpoint=hub.url, token=token or False, cache_dir=tmp_path)
    )
    assert (local / "weights" / "good.pt").read_bytes() == GOOD
    assert not (local / "evil.pkl").exists()
    # Downloads by hash cannot reach it either.
    lfs = httpx.post(
        f"{hub.url}/{repo}.git/info/lfs/objects/batch",
        json={"operation": "download", "objects": [{"oid": "0" * 64, "size": 1}]},
        headers={
            "Accept": "application/vnd.git-lfs+json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    assert lfs.status_code == 403 and lfs.headers["X-Error-Code"] == "UnsafeFile"


def test_admins_still_get_everything(hub: Server, repo: str, tmp_path: Path) -> None:
    token = hub.user("qadmin")
    api = HfApi(endpoint=hub.url, token=token)
    assert "evil.pkl" in api.list_repo_files(repo)
    path = hf_hub_download(repo, "evil.pkl", endpoint=hub.url, token=token, cache_dir=tmp_path)
    assert Path(path).read_bytes() == EVIL


def test_warn_policy_flags_only(sqlite_server: Server, repo_name: str, tmp_path: Path) -> None:
    """The default: an unsafe file is flagged and still served; an organisation
    that sets quarantine for itself gets it."""
    hub = sqlite_server
    hub.user("wowner")
    org = f"worg{secrets.token_hex(3)}"
    hub.cli("org", "create", org, "--member", "wowner")
    api = HfApi(endpoint=hub.url, token=hub.user("wowner"))
    repo = f"{org}/{repo_name}"
    api.create_repo(repo)
    upload(api, repo, {"evil.pkl": EVIL})
    info = wait_scanned(api, repo)
    assert [f["path"] for f in info.security_repo_status["filesWithIssues"]] == ["evil.pkl"]
    anon = HfApi(endpoint=hub.url, token=False)
    assert "evil.pkl" in anon.list_repo_files(repo)
    hf_hub_download(repo, "evil.pkl", endpoint=hub.url, token=False, cache_dir=tmp_path / "a")

    hub.cli("scan", "policy", org, "quarantine")
    assert "evil.pkl" not in anon.list_repo_files(repo)
    assert _refusal(hub, repo, None, tmp_path / "b").headers["X-Error-Code"] == "UnsafeFile"
    hub.cli("scan", "policy", org, "default")
    assert "evil.pkl" in anon.list_repo_files(repo)
    # Policy changes are security events in the organisation's audit log.
    log = httpx.get(
        f"{hub.url}/api/audit-log/{org}",
        headers={"Authorization": f"Bearer {hub.user('wowner')}"},
    ).json()
    assert [e["data"]["policy"] for e in log if e["kind"] == "scan.policy_set"] == [
        "quarantine",
        "default",
    ]
