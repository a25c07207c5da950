"""The `commons` command: users, organisations and tokens, server running or not."""

from __future__ import annotations

import httpx
from huggingface_hub import HfApi

from .conftest import Server


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
    assert me["orgs"] == [{"type": "org", "name": "cli-org", "roleInOrg": "read"}]
