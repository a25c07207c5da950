"""Signed checkpoints: a consistent rewrite of the audit log no longer verifies.

The attack of the report, by someone with write access to the database and the
data dir but not to the signing key: edit an entry, recompute the hash chain from
there on, rewrite the anchors file to match. Before checkpoints, ``commons
audit-log verify`` said OK. A third party checks an export offline with only the
public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from .conftest import COMMONS, ROOT, Server


@pytest.fixture(params=["sqlite", "postgresql"])
def signed(request: pytest.FixtureRequest) -> Iterator[Server]:
    srv = Server(request.param, audit_checkpoint_entries=3)
    srv.start()
    yield srv
    srv.close()


def _engine(srv: Server) -> Engine:
    url = srv.pg.url if srv.pg else f"sqlite:///{srv.data_dir / 'commons.db'}"
    return create_engine(url)


def _verify(srv: Server, *args: str) -> tuple[int, str]:
    result = srv.cli("audit-log", "verify", *args, check=False)
    return result.returncode, result.stdout + result.stderr


def _rewrite(srv: Server, seq: int, data: dict[str, object]) -> None:
    """What an intruder without the key does: change entry ``seq``, then recompute
    every hash from there on (as the README documents them) and the anchors file."""
    engine = _engine(srv)
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT * FROM audit_events ORDER BY seq")).mappings().all()
        prev = "0" * 64
        digests: dict[int, str] = {}
        for row in rows:
            entry = dict(row)
            if entry["seq"] == seq:
                entry["data"] = json.dumps(data, sort_keys=True)
            at = entry["created_at"]
            body = {
                "seq": entry["seq"],
                "at": (at if isinstance(at, str) else at.strftime("%Y-%m-%d %H:%M:%S.%f"))
                .replace(" ", "T")
                .ljust(26, "0")
                + "Z",
                "kind": entry["kind"],
                "actor": entry["actor"],
                "repo": entry["repo_id"],
                "namespace": entry["namespace"],
                "data": json.loads(entry["data"]),
                "prev": prev,
            }
            digest = hashlib.sha256(
                json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            ).hexdigest()
            conn.execute(
                text("UPDATE audit_events SET data = :d, prev_hash = :p, hash = :h WHERE seq = :s"),
                {"d": entry["data"], "p": prev, "h": digest, "s": entry["seq"]},
            )
            digests[entry["seq"]] = digest
            prev = digest
    engine.dispose()
    anchors = srv.data_dir / "audit-anchors.log"
    lines = [ln.split() for ln in anchors.read_text().splitlines()]
    anchors.write_text("".join(f"{s} {digests[int(s)]}\n" for s, _ in lines))


def test_a_consistent_rewrite_without_the_key_is_caught(signed: Server) -> None:
    srv = signed
    for name in ("a1", "a2", "a3", "a4", "a5"):
        srv.user(name)  # one token.created entry each
    assert _verify(srv) == (0, "OK: 5 entries, chain intact.\n")
    key = srv.cli("audit-log", "key").stdout.strip()
    assert key.startswith("ed25519:")
    key_file = srv.data_dir / "audit-signing.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    # Entry 2 says the token could only read; the chain and anchors are redone.
    _rewrite(srv, 2, {"name": "cli", "role": "read"})
    code, out = _verify(srv)
    assert code == 1
    assert "differs from its signed checkpoint (the log was rewritten)" in out
    assert "chain is broken" not in out and "does not match its hash" not in out
    assert "anchored" not in out and "missing" not in out  # the old checks are fooled

    # Removing the checkpoints that name the rewritten entries shows too.
    _rewrite(srv, 2, {"name": "cli", "role": "write"})
    assert _verify(srv)[0] == 0
    engine = _engine(srv)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_checkpoints"))
    engine.dispose()
    code, out = _verify(srv)
    assert code == 1 and "no signed checkpoint" in out
    srv.cli("audit-log", "checkpoint")  # an administrator signs the log as it is now
    assert _verify(srv)[0] == 0

    # A key file replaced by the intruder's own, with everything re-signed by it:
    # the key noted down earlier no longer verifies the checkpoints.
    key_file.unlink()
    engine = _engine(srv)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_checkpoints"))
    engine.dispose()
    srv.cli("audit-log", "checkpoint")
    assert _verify(srv)[0] == 0  # with the (new) key file's own key
    code, out = _verify(srv, "--public-key", key)
    assert code == 1 and "does not verify with this key" in out


def test_checkpoints_are_made_at_intervals(signed: Server) -> None:
    srv = signed
    for name in ("b1", "b2", "b3", "b4", "b5", "b6", "b7"):
        srv.user(name)
    engine = _engine(srv)
    with engine.connect() as conn:
        seqs = [r[0] for r in conn.execute(text("SELECT seq FROM audit_checkpoints ORDER BY seq"))]
    engine.dispose()
    assert seqs == [1, 4, 7]  # the first entry, then every 3 (audit_checkpoint_entries)


def _offline(*args: str, cwd: Path) -> tuple[int, str]:
    """``commons audit-log verify`` where there is no hub at all."""
    result = subprocess.run(
        [*COMMONS, "audit-log", "verify", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    return result.returncode, result.stdout + result.stderr


def test_an_export_verifies_offline_with_the_printed_key(
    sqlite_server: Server, tmp_path: Path
) -> None:
    srv = sqlite_server
    srv.user("exporter")
    key = srv.cli("audit-log", "key").stdout.strip()
    first = tmp_path / "first.jsonl"
    first.write_text(srv.cli("audit-log", "export", "--signed").stdout)
    srv.user("exporter2")
    export = tmp_path / "export.jsonl"
    export.write_text(srv.cli("audit-log", "export", "--signed").stdout)
    lines = export.read_text().splitlines()
    assert json.loads(lines[0])["public_key"] == key
    assert "checkpoint" in json.loads(lines[-1])  # it ends signed

    away = tmp_path / "elsewhere"  # no data dir, no database: the file and the key
    away.mkdir()
    (away / "key.txt").write_text(key + "\n")
    code, out = _offline("--export", str(export), "--public-key", key, cwd=away)
    assert code == 0 and out.startswith("OK:") and "signed checkpoints verify" in out
    assert _offline("--export", str(export), "--public-key", "key.txt", cwd=away)[0] == 0
    code, _ = _offline(
        "--export", str(export), "--previous", str(first), "--public-key", key, cwd=away
    )
    assert code == 0
    assert sorted(p.name for p in away.iterdir()) == ["key.txt"]  # nothing was created

    # Another key, an edited entry, or a cut-back log: each is refused.
    other = Server("sqlite")
    try:
        other_key = other.cli("audit-log", "key").stdout.strip()
    finally:
        shutil.rmtree(other.data_dir, ignore_errors=True)
    code, out = _offline("--export", str(export), "--public-key", other_key, cwd=away)
    assert code == 1 and "does not verify with this key" in out
    edited = tmp_path / "edited.jsonl"
    edited.write_text(
        "\n".join(ln.replace('"role": "write"', '"role": "admin"', 1) for ln in lines)
    )
    code, out = _offline("--export", str(edited), "--public-key", key, cwd=away)
    assert code == 1 and "does not match its hash" in out
    shorter = tmp_path / "shorter.jsonl"
    shorter.write_text("\n".join(lines[:2]))
    code, out = _offline(
        "--export", str(shorter), "--previous", str(export), "--public-key", key, cwd=away
    )
    assert code == 1 and "cut back" in out


def test_openssl_checks_a_checkpoint_as_the_readme_says(
    sqlite_server: Server, tmp_path: Path
) -> None:
    """The README's procedure, step 3, with openssl instead of this hub's code."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl")
    srv = sqlite_server
    srv.user("openssl-check")
    (tmp_path / "pub.pem").write_text(srv.cli("audit-log", "key", "--pem").stdout)
    last = json.loads(srv.cli("audit-log", "export", "--signed").stdout.splitlines()[-1])
    cp = last["checkpoint"]
    message = f"model-commons audit checkpoint v1\n{cp['seq']}\n{cp['hash']}\n{cp['at']}\n"
    (tmp_path / "msg").write_bytes(message.encode())
    (tmp_path / "sig").write_bytes(base64.b64decode(cp["signature"]))
    check = [
        "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin",
        "-in", "msg", "-sigfile", "sig",
    ]  # fmt: skip
    result = subprocess.run(check, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0 and "Signature Verified Successfully" in result.stdout
    (tmp_path / "msg").write_bytes(message.replace("v1", "v2").encode())
    assert subprocess.run(check, cwd=tmp_path, capture_output=True).returncode != 0
