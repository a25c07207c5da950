"""Scan policy ``quarantine``: unsafe files refused (403 UnsafeFile) and left out of
listings and snapshots for everyone but the repository's admins; ``warn`` flags only.
Enforced in ``access.content``, so every content route obeys it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

from .conftest import Server
from .gitclient import Git
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


# ------------------------------------------------------------ every way in


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> Git:
    return Git(tmp_path_factory.mktemp("git-home"))


def _fresh(hub: Server) -> tuple[HfApi, str]:
    api = HfApi(endpoint=hub.url, token=hub.user("qadmin"))
    repo = f"qorg/holes-{secrets.token_hex(3)}"
    api.create_repo(repo)
    return api, repo


def _hidden_from_readers(hub: Server, repo: str, path: str, revision: str = "main") -> None:
    """``path`` is quarantined for a reader: not listed, 403 UnsafeFile by name, and
    the repository cannot be fetched with git (its bytes would come along)."""
    token = hub.user("qreader")
    reader = HfApi(endpoint=hub.url, token=token)
    assert path not in reader.list_repo_files(repo, revision=revision)
    direct = httpx.get(
        f"{hub.url}/{repo}/resolve/{quote(revision, safe='')}/{path}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert direct.status_code == 403 and direct.headers["X-Error-Code"] == "UnsafeFile"
    refs = httpx.get(
        f"{hub.url}/{repo}.git/info/refs?service=git-upload-pack",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert refs.status_code == 403 and refs.headers["X-Error-Code"] == "UnsafeFile"


def test_inline_file_quarantined(hub: Server) -> None:
    """A small file committed in the commit payload (not LFS) is scanned and
    quarantined like an LFS one, and git fetch cannot carry it out."""
    api, repo = _fresh(hub)
    upload(api, repo, {"model.dat": EVIL, "ok.txt": b"fine"})
    (entry,) = api.get_paths_info(repo, ["model.dat"])
    assert entry.lfs is None  # committed inline
    info = wait_scanned(api, repo)
    assert [f["path"] for f in info.security_repo_status["filesWithIssues"]] == ["model.dat"]
    _hidden_from_readers(hub, repo, "model.dat")
    assert "model.dat" in api.list_repo_files(repo)  # admins see it


def test_files_pushed_over_git_quarantined(hub: Server, git: Git, tmp_path: Path) -> None:
    """Files pushed with git, inline and through git-lfs, are scanned and quarantined."""
    api, repo = _fresh(hub)
    token = hub.user("qadmin")
    work = tmp_path / "w"
    git.run("clone", f"{hub.url}/{repo}", str(work), cwd=tmp_path, token=token)
    (work / "evil.pkl").write_bytes(EVIL)  # *.pkl is LFS in the hub's .gitattributes
    (work / "inline.dat").write_bytes(EVIL)
    (work / "early.dat").write_bytes(malicious()["raw_p2.pkl"])  # bytes of its own
    git.run("add", "-A", cwd=work)
    git.run("commit", "-qm", "evil", cwd=work)
    early = git.out("rev-parse", "HEAD", cwd=work)
    # A later commit of the same push removes one: it stays in the earlier commit.
    git.run("rm", "-q", "early.dat", cwd=work)
    git.run("commit", "-qm", "tidy", cwd=work)
    git.run("push", "origin", "main", cwd=work, token=token)
    lfs = {e.path: e.lfs for e in api.get_paths_info(repo, ["evil.pkl", "inline.dat"])}
    assert lfs["evil.pkl"] is not None and lfs["inline.dat"] is None
    info = wait_scanned(api, repo)
    issues = [f["path"] for f in info.security_repo_status["filesWithIssues"]]
    assert issues == ["evil.pkl", "inline.dat"]
    for path in issues:
        _hidden_from_readers(hub, repo, path)
    info = wait_scanned(api, repo, revision=early)
    assert "early.dat" in [f["path"] for f in info.security_repo_status["filesWithIssues"]]
    _hidden_from_readers(hub, repo, "early.dat", revision=early)


def test_pull_request_pushed_over_git_scanned(hub: Server, git: Git, tmp_path: Path) -> None:
    """A pull request opened (refs/for/main) or updated (refs/pr/N) by git push is
    scanned, and its unsafe files quarantined, like one made through the API."""
    api, repo = _fresh(hub)
    upload(api, repo, {"ok.txt": b"fine"})
    token = hub.user("qwriter")
    work = tmp_path / "w"
    git.run("clone", f"{hub.url}/{repo}", str(work), cwd=tmp_path, token=token)
    (work / "first.dat").write_bytes(malicious()["raw_p5.pkl"])
    git.run("add", "-A", cwd=work)
    git.run("commit", "-qm", "first", cwd=work)
    opened = git.run("push", "--progress", "origin", "HEAD:refs/for/main", cwd=work, token=token)
    assert "opened pull request #1" in opened.stderr, opened.stderr
    info = wait_scanned(api, repo, revision="refs/pr/1")
    assert [f["path"] for f in info.security_repo_status["filesWithIssues"]] == ["first.dat"]
    (work / "second.pkl").write_bytes(malicious()["raw_p4.pkl"])
    git.run("add", "-A", cwd=work)
    git.run("commit", "-qm", "second", cwd=work)
    git.run("push", "origin", "HEAD:refs/pr/1", cwd=work, token=token)
    info = wait_scanned(api, repo, revision="refs/pr/1")
    issues = [f["path"] for f in info.security_repo_status["filesWithIssues"]]
    assert issues == ["first.dat", "second.pkl"]
    for path in issues:
        _hidden_from_readers(hub, repo, path, revision="refs/pr/1")
