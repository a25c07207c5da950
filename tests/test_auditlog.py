"""The audit log: events are recorded, and any edit, insertion or deletion shows."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from huggingface_hub import HfApi
from sqlalchemy import create_engine, text

from .conftest import Server


@pytest.fixture(params=["sqlite", "postgresql"])
def audited(request: pytest.FixtureRequest) -> Iterator[Server]:
    srv = Server(request.param)
    srv.start()
    yield srv
    srv.close()


def _sql(srv: Server, statement: str) -> None:
    url = srv.pg.url if srv.pg else f"sqlite:///{srv.data_dir / 'commons.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


def _verify(srv: Server) -> tuple[int, str]:
    result = srv.cli("audit-log", "verify", check=False)
    return result.returncode, result.stdout + result.stderr


def _entries(srv: Server) -> list[dict[str, object]]:
    out = srv.cli("audit-log", "export").stdout
    return [json.loads(line) for line in out.splitlines()]


def test_events_are_recorded_and_chained(audited: Server) -> None:
    srv = audited
    srv.user("owner")
    srv.cli("token", "revoke", "owner", "cli")
    entries = _entries(srv)
    kinds = [e["kind"] for e in entries]
    assert kinds == ["token.created", "token.revoked"]
    assert entries[0]["namespace"] == "owner" and entries[0]["data"] == {
        "name": "cli",
        "role": "write",
    }
    assert entries[1]["prev"] == entries[0]["hash"]
    assert _verify(srv) == (0, "OK: 2 entries, chain intact.\n")


def test_tampering_is_detected(audited: Server) -> None:
    srv = audited
    for name in ("t1", "t2", "t3", "t4"):
        srv.user(name)  # one token.created event each
    assert _verify(srv)[0] == 0

    # An edited entry.
    _sql(srv, 'UPDATE audit_events SET data = \'{"name": "cli", "role": "read"}\' WHERE seq = 2')
    code, out = _verify(srv)
    assert code == 1 and "entry 2: its content does not match its hash" in out
    _sql(srv, 'UPDATE audit_events SET data = \'{"name": "cli", "role": "write"}\' WHERE seq = 2')
    assert _verify(srv)[0] == 0

    # A deleted entry in the middle.
    row = _entries(srv)[2]
    _sql(srv, "DELETE FROM audit_events WHERE seq = 3")
    code, out = _verify(srv)
    assert code == 1 and "expected sequence number 3" in out
    _sql(
        srv,
        "INSERT INTO audit_events (seq, created_at, kind, actor, repo_id, namespace, "
        "data, prev_hash, hash) VALUES (3, '"
        + str(row["at"]).replace("T", " ")[:-1]
        + "', 'token.created', NULL, NULL, 't3', '{\"name\": \"cli\", \"role\": "
        "\"write\"}', '" + str(row["prev"]) + "', '" + str(row["hash"]) + "')",
    )
    assert _verify(srv)[0] == 0

    # An inserted (forged) entry, even with a well-formed hash of its own.
    _sql(srv, "UPDATE audit_events SET seq = seq + 100 WHERE seq >= 3")
    _sql(srv, "UPDATE audit_events SET seq = seq - 99 WHERE seq >= 103")
    _sql(
        srv,
        "INSERT INTO audit_events (seq, created_at, kind, actor, repo_id, namespace, "
        "data, prev_hash, hash) VALUES (3, '2026-01-01 00:00:00', 'token.revoked', "
        "NULL, NULL, 'x', '{}', '" + "0" * 64 + "', '" + "1" * 64 + "')",
    )
    code, out = _verify(srv)
    assert code == 1 and "entry 3" in out and "chain is broken" in out

    # The newest entries removed: the chain left is valid, the anchors are not.
    _sql(srv, "DELETE FROM audit_events WHERE seq >= 3")
    code, out = _verify(srv)
    assert code == 1 and "was recorded but is missing" in out


def test_owners_read_their_repository_log(audited: Server) -> None:
    srv = audited
    token = srv.user("logowner")
    with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {token}"}) as c:
        # The web UI's lifecycle records creation and visibility changes.
        api = HfApi(endpoint=srv.url, token=token)
        api.create_repo("logowner/audited")
        api.update_repo_settings("logowner/audited", private=True)
        api.update_repo_settings("logowner/audited", private=True)  # no change, no event
        log = c.get("/api/models/logowner/audited/audit-log").json()
        kinds = [e["kind"] for e in log]
        assert kinds == ["repo.created", "repo.visibility_changed"]
        assert log[1]["data"]["private"] is True and log[1]["actor"] == "logowner"
        jsonl = c.get("/api/models/logowner/audited/audit-log", params={"format": "jsonl"})
        assert [json.loads(x)["kind"] for x in jsonl.text.splitlines()] == kinds
        mine = c.get("/api/audit-log/logowner").json()
        assert {"token.created", "repo.created"} <= {e["kind"] for e in mine}
    stranger = {"Authorization": f"Bearer {srv.user('nosy')}"}
    assert (
        httpx.get(f"{srv.url}/api/models/logowner/audited/audit-log", headers=stranger).status_code
        == 404
    )
    assert httpx.get(f"{srv.url}/api/audit-log/logowner", headers=stranger).status_code == 404
