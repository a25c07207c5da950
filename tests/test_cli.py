"""The `commons` command: users, organisations and tokens, server running or not."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi

from .conftest import COMMONS, ROOT, Server, free_port


def test_token_lifecycle_while_server_runs(server: Server) -> None:
    server.cli("user", "create", "tokuser", "--email", "t@example.org")
    out = server.cli("token", "create", "tokuser", "--write", "--name", "laptop")
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("mc_") and len(token) > 40
    assert HfApi(endpoint=server.url, token=token).whoami()["name"] == "tokuser"
    listing = server.cli("token", "list", "tokuser").stdout
    assert "laptop\twrite\tactive" in listing
    assert "last used never" not in listing  # the request above was recorded
    assert token not in listing  # shown once, never again
    server.cli("token", "revoke", "tokuser", "laptop")
    r = httpx.get(f"{server.url}/api/whoami-v2", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert "revoked" in server.cli("token", "list", "tokuser").stdout
    # A user and a read token in one command: the token alone on stdout.
    made = server.cli("user", "create", "tokuser2", "--token", "read")
    assert made.stdout.strip().count("\n") == 0
    reader = HfApi(endpoint=server.url, token=made.stdout.strip())
    assert reader.whoami()["auth"]["accessToken"]["role"] == "read"


def test_secrets_are_hashed_at_rest(sqlite_server: Server) -> None:
    token = sqlite_server.user("hashcheck")
    sqlite_server.cli("user", "create", "pwuser", input="correct horse battery staple\n")
    raw = (sqlite_server.data_dir / "commons.db").read_bytes()
    wal = sqlite_server.data_dir / "commons.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert token.encode() not in raw
    assert b"correct horse battery staple" not in raw
    assert b"scrypt$" in raw


def test_refusals_are_clear(server: Server) -> None:
    server.cli("user", "create", "dupe")
    again = server.cli("user", "create", "dupe", check=False)
    assert again.returncode == 1 and "already taken" in again.stderr
    bad = server.cli("user", "create", "../evil", check=False)
    assert bad.returncode == 1 and "Invalid user name" in bad.stderr
    missing = server.cli("token", "create", "nobody-here", check=False)
    assert missing.returncode == 1 and "nobody-here" in missing.stderr


def test_org_membership_commands(server: Server) -> None:
    server.user("orgowner")
    server.user("newbie")
    server.cli("org", "create", "cli-org", "--member", "orgowner")
    server.cli("org", "add-member", "cli-org", "newbie", "--role", "read")
    me = HfApi(endpoint=server.url, token=server.user("newbie")).whoami()
    assert me["orgs"] == [
        {"type": "org", "name": "cli-org", "fullname": "cli-org", "roleInOrg": "read"}
    ]
    # Role changes are security events: the organisation's admins read them in its log.
    log = httpx.get(
        f"{server.url}/api/audit-log/cli-org",
        headers={"Authorization": f"Bearer {server.user('orgowner')}"},
    ).json()
    roles = [(e["data"]["user"], e["data"]["role"]) for e in log if e["kind"] == "org.role_set"]
    assert roles == [("orgowner", "admin"), ("newbie", "read")]


def test_search_reindex_rebuilds_lost_and_stale_documents(server: Server, repo_name: str) -> None:
    from sqlalchemy import text

    from modelcommons.hub import Hub
    from modelcommons.settings import Settings
    from modelcommons.storage import repos

    token = server.user("indexer")
    api = HfApi(endpoint=server.url, token=token)
    word = f"zq{secrets.token_hex(5)}"
    named, carded = f"{repo_name}-{word}", f"{repo_name}-card"
    api.create_repo(f"indexer/{named}")
    api.create_repo(f"indexer/{carded}")
    api.upload_file(
        path_or_fileobj=f"---\nlicense: mit\n---\n# About {word}\n".encode(),
        path_in_repo="README.md",
        repo_id=f"indexer/{carded}",
    )

    def found() -> set[str]:
        r = httpx.get(f"{server.url}/api/models", params={"search": word})
        r.raise_for_status()
        return {m["id"] for m in r.json()}

    both = {f"indexer/{named}", f"indexer/{carded}"}
    server.settle(f"indexer/{carded}")  # the search index follows in a pipeline job
    assert found() == both
    # One document lost (a restore from an older backup), one stale.
    hub = Hub(Settings(data_dir=server.data_dir, database_url=server.pg.url if server.pg else None))
    try:
        with hub.db.write() as session:
            hub.unindex(session, repos.get_repo(session, "model", "indexer", named))
            stale = repos.get_repo(session, "model", "indexer", carded)
            hub.search.update(session, stale, readme="# Nothing to see\n")
        assert found() == set()

        out = server.cli("search", "reindex", "--repo", f"model:indexer/{named}")
        assert f"Reindexed model indexer/{named}" in out.stdout
        assert found() == {f"indexer/{named}"}
        out = server.cli("search", "reindex", "--batch-size", "2")
        assert found() == both
        total = int(out.stdout.split(":")[1].split()[0])
        assert f"Indexed {total}/{total} repositories" in out.stderr

        # The engine's own index damaged under intact rows: a full rebuild repairs it.
        with hub.db.write() as session:
            if server.pg:
                session.execute(text("UPDATE search_documents SET name = 'x', body = ''"))
            else:
                session.execute(text("INSERT INTO search_fts(search_fts) VALUES ('delete-all')"))
        assert found() == set()
        server.cli("search", "reindex")
        assert found() == both
    finally:
        hub.close()
    bad = server.cli("search", "reindex", "--repo", f"indexer/{named}", check=False)
    assert bad.returncode == 1 and "model:NS/NAME" in bad.stderr
    missing = server.cli("search", "reindex", "--repo", "model:indexer/nope", check=False)
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_gc_dry_run_changes_nothing(server: Server) -> None:
    objects = server.data_dir / "blobs" / "objects"
    before = sorted(p for p in objects.rglob("*") if p.is_file())
    out = server.cli("gc", "--dry-run", "--grace-hours", "0").stdout
    assert out.startswith("Dry run: nothing was removed.\nWould remove ")
    assert f"Checked {len(before)} blob" in out
    assert sorted(p for p in objects.rglob("*") if p.is_file()) == before
    bad = server.cli("gc", "--grace-hours", "-1", check=False)
    assert bad.returncode == 2 and "--grace-hours" in bad.stderr


def _commons_in(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`commons ARGS` run from ``folder`` with no COMMONS_ settings but ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COMMONS_")}
    return subprocess.run(
        [*COMMONS, *args],
        input="",
        capture_output=True,
        text=True,
        cwd=folder,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        timeout=120,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("user", "create", "x"),
        ("token", "list", "x"),
        ("org", "create", "acme"),
        ("gc", "--dry-run"),
        ("audit-log", "verify"),
        ("release", "tick"),
        ("search", "reindex"),
    ],
)
def test_commands_refuse_a_missing_default_hub(tmp_path: Path, args: tuple[str, ...]) -> None:
    """Run from another folder without settings, a command says where it looked and
    what to do, and makes nothing there."""
    result = _commons_in(tmp_path, *args)
    assert result.returncode == 1, result.stderr
    assert str(tmp_path / "commons-data") in result.stderr
    assert "--data-dir" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_given_data_dir_or_database_is_honoured(tmp_path: Path) -> None:
    """Flags and COMMONS_ settings name a hub, created and migrated if new, as before."""
    made = _commons_in(tmp_path, "user", "create", "ada", "--data-dir", str(tmp_path / "new"))
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "new" / "commons.db").exists()
    env_dir = tmp_path / "from-env"
    by_env = _commons_in(tmp_path, "user", "create", "bea", COMMONS_DATA_DIR=str(env_dir))
    assert by_env.returncode == 0 and (env_dir / "commons.db").exists()
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    (tmp_path / "other").mkdir()
    by_url = _commons_in(tmp_path / "other", "user", "create", "cy", "--database-url", url)
    assert by_url.returncode == 0 and (tmp_path / "elsewhere.db").exists()
    # Relative --data-dir, from the folder it is relative to.
    relative = _commons_in(tmp_path, "token", "list", "ada", "--data-dir", "new")
    assert relative.returncode == 0, relative.stderr
    # Once the default holds a hub, commands use it without flags.
    (tmp_path / "commons-data").symlink_to(tmp_path / "new")
    token = _commons_in(tmp_path, "token", "create", "ada")
    assert token.returncode == 0, token.stderr


def test_serve_still_creates_the_default(tmp_path: Path) -> None:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COMMONS_")}
    proc = subprocess.Popen(
        [*COMMONS, "serve", "--port", str(port)],
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, "the server exited"
            time.sleep(0.1)
        assert (tmp_path / "commons-data" / "commons.db").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # And now commands run from that folder find it.
    assert _commons_in(tmp_path, "user", "create", "dee").returncode == 0
