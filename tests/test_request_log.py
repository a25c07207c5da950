"""The request log of `commons serve`: one line per request, text or JSON, no secrets.

Real servers, real requests (the real client for an upload, httpx for the rest), and
the server's own stderr read back.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from huggingface_hub import HfApi

from modelcommons.server.request_log import redact_path, redact_query

from .conftest import COMMONS, ROOT, Server

SECRET = "mc_" + "S3cretTokenValue" * 3
SIGNATURE = "c2lnbmF0dXJlLXRoYXQtbXVzdC1uZXZlci1iZS1sb2dnZWQ"


@pytest.fixture(scope="module")
def text_hub() -> Iterator[Server]:
    srv = Server("sqlite", log_format="text", multipart_chunk_bytes=1024)
    srv.start()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def json_hub() -> Iterator[Server]:
    """JSON lines, under a path prefix: the log shows the path as the hub routed it."""
    srv = Server("sqlite", prefix="/hub", log_format="json", multipart_chunk_bytes=1024)
    srv.start()
    yield srv
    srv.close()


def _log_lines(srv: Server, count_before: int, until: str, timeout: float = 10) -> list[str]:
    """Lines written after ``count_before``, once one contains ``until`` (the line is
    written just after its response, so the client can be a moment ahead)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = srv.log.read_text(errors="replace").splitlines()[count_before:]
        if any(until in line for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def _line_count(srv: Server) -> int:
    return len(srv.log.read_text(errors="replace").splitlines())


def _exercise(srv: Server, name: str) -> dict[str, str]:
    """Requests of every kind; returns what the log must and must not show."""
    token = srv.user(name)
    api = HfApi(endpoint=srv.endpoint, token=token)
    repo = f"{name}/logged"
    api.create_repo(repo, exist_ok=True)
    auth = {"Authorization": f"Bearer {token}"}
    base = srv.endpoint
    assert httpx.get(f"{base}/api/health").status_code == 200
    assert httpx.get(f"{base}/api/whoami-v2", headers=auth).json()["name"] == name
    query = {"search": "zebra", "token": SECRET, "X-Amz-Signature": SIGNATURE, "q": SECRET}
    assert httpx.get(f"{base}/api/models", params=query).status_code == 200
    assert httpx.get(f"{base}/api/models/{name}/nothing-here").status_code in (401, 404)
    # Signed LFS URLs, basic and multipart, obtained and used as a client does.
    small, large = b"x" * 100, b"y" * 3000
    objects = [
        {"oid": hashlib.sha256(small).hexdigest(), "size": len(small)},
        {"oid": hashlib.sha256(large).hexdigest(), "size": len(large)},
    ]
    batch = httpx.post(
        f"{base}/{repo}.git/info/lfs/objects/batch",
        headers={**auth, "Accept": "application/vnd.git-lfs+json"},
        json={"operation": "upload", "transfers": ["basic", "multipart"], "objects": objects},
    ).json()["objects"]
    upload = batch[0]["actions"]["upload"]["href"]
    part = batch[1]["actions"]["upload"]["header"]["1"]
    assert httpx.put(upload, content=small).status_code == 200
    assert httpx.put(part, content=large[:1024]).status_code == 200
    return {
        "token": token,
        "upload_token": upload.rsplit("/", 1)[1],
        "part_token": part.rsplit("/", 2)[1],
    }


def test_text_request_log(text_hub: Server) -> None:
    before = _line_count(text_hub)
    secrets_ = _exercise(text_hub, "lena")
    lines = _log_lines(text_hub, before, "/lfs/part/")
    text = "\n".join(lines)
    for secret in (SECRET, SIGNATURE, *secrets_.values()):
        assert secret not in text
    pattern = re.compile(
        r'^\S+ \S+ INFO (?P<client>\S+) (?P<who>\S+) "(?P<method>[A-Z]+) (?P<path>\S+)" '
        r"(?P<status>\d{3}) (?P<bytes>\d+) (?P<ms>\d+\.\d)ms$"
    )
    entries = [m.groupdict() for line in lines if (m := pattern.match(line))]
    by_path = {e["path"].split("?")[0]: e for e in entries}
    health = by_path["/api/health"]
    assert health == {**health, "client": "127.0.0.1", "who": "-", "method": "GET"}
    body = httpx.get(f"{text_hub.endpoint}/api/health").content  # the same answer again
    assert health["status"] == "200" and int(health["bytes"]) == len(body)
    assert by_path["/api/whoami-v2"]["who"] == "lena"
    search = next(e for e in entries if e["path"].startswith("/api/models?"))
    assert "search=zebra" in search["path"]
    assert "token=[redacted]" in search["path"] and "X-Amz-Signature=[redacted]" in search["path"]
    assert "q=[redacted]" in search["path"]  # a token-like value, whatever its key
    assert by_path["/lfs/upload/[redacted]"]["method"] == "PUT"
    assert by_path["/lfs/upload/[redacted]"]["status"] == "200"
    assert by_path["/lfs/part/[redacted]/1"]["status"] == "200"
    assert by_path["/api/models/lena/nothing-here"]["status"] in ("401", "404")


def test_json_request_log_under_a_prefix(json_hub: Server) -> None:
    before = _line_count(json_hub)
    secrets_ = _exercise(json_hub, "jonas")
    # A doubled slash is logged as routed.
    assert httpx.get(f"{json_hub.url}/hub//api//health/?probe=last").status_code == 200
    lines = _log_lines(json_hub, before, "probe=last")
    text = "\n".join(lines)
    for secret in (SECRET, SIGNATURE, *secrets_.values()):
        assert secret not in text
    records = [json.loads(line) for line in lines]  # every line is JSON
    requests = [r for r in records if r.get("event") == "request"]
    assert requests
    for r in requests:
        assert set(r) >= {"time", "level", "method", "path", "status", "bytes", "duration_ms"}
        assert set(r) >= {"principal", "client"}
        assert r["path"].startswith("/hub/")
    paths = [r["path"].split("?")[0] for r in requests]
    assert "/hub/lfs/upload/[redacted]" in paths and "/hub/lfs/part/[redacted]/1" in paths
    assert "/hub/api/health?probe=last" in [r["path"] for r in requests]  # as routed
    whoami = next(r for r in requests if r["path"] == "/hub/api/whoami-v2")
    assert whoami["principal"] == "jonas" and whoami["status"] == 200
    anonymous = next(r for r in requests if r["path"] == "/hub/api/health")
    assert anonymous["principal"] == "-" and anonymous["client"] == "127.0.0.1"


def test_the_start_line_is_json_too(json_hub: Server) -> None:
    first = json_hub.log.read_text().splitlines()
    started = [json.loads(line) for line in first if "Model Commons on" in line]
    assert started and started[0]["level"] == "INFO"


def test_an_unknown_log_format_stops_the_server(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "COMMONS_LOG_FORMAT": "xml"}
    result = subprocess.run(
        [*COMMONS, "serve", "--data-dir", str(tmp_path / "d"), "--port", "1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 2 and "log_format" in result.stderr


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("search=bert&author=alice&sort=downloads", "search=bert&author=alice&sort=downloads"),
        ("access_token=abc&expand=x", "access_token=[redacted]&expand=x"),
        ("apiKey=abc&sessionId=def", "apiKey=[redacted]&sessionId=[redacted]"),
        (
            "X-Amz-Credential=a&X-Amz-Signature=b",
            "X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]",
        ),
        ("password=hunter2", "password=[redacted]"),
        ("search=hf_abcdefghijkl", "search=[redacted]"),
        ("mc_abcdefghijklmnop", "[redacted]"),
    ],
)
def test_query_redaction(query: str, expected: str) -> None:
    assert redact_query(query) == expected


@pytest.mark.parametrize(
    ("path", "prefix", "expected"),
    [
        ("/lfs/upload/tok.en", "", "/lfs/upload/[redacted]"),
        ("/lfs/part/tok/12", "", "/lfs/part/[redacted]/12"),
        ("/hub/lfs/complete/tok", "/hub", "/hub/lfs/complete/[redacted]"),
        ("/lfs/upload/tok", "/hub", "/lfs/upload/tok"),  # outside the hub: not routed
        ("/api/models/lfs/upload", "", "/api/models/lfs/upload"),
    ],
)
def test_path_redaction(path: str, prefix: str, expected: str) -> None:
    assert redact_path(path, prefix) == expected
