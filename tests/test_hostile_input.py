"""Hostile input gets a 4xx in the one error shape, and the server stays up.

One test per case found in the security review (deep JSON, odd pagination values,
a non-integer preupload size, a NUL in a revision, oversized request heads), each
sent as the attack was, over HTTP to a real ``commons serve`` on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket

import httpx
import pytest
from huggingface_hub import HfApi

from .conftest import Server

DEEP = ("[" * 100_000 + "]" * 100_000).encode()


def _auth(srv: Server) -> dict[str, str]:
    return {"Authorization": f"Bearer {srv.user('hostile')}"}


@pytest.fixture(scope="module")
def target(server: Server) -> str:
    """A public model with one commit, owned by the ``hostile`` user."""
    api = HfApi(endpoint=server.url, token=server.user("hostile"))
    api.create_repo("hostile/target", exist_ok=True)
    api.upload_file(path_or_fileobj=b"hello\n", path_in_repo="a.txt", repo_id="hostile/target")
    return "hostile/target"


def assert_refused(srv: Server, r: httpx.Response, status: int | None = None) -> None:
    """A 4xx in the one error shape, and the server still answers."""
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    if status is not None:
        assert r.status_code == status, r.text[:300]
    code = r.headers["x-error-code"]
    assert code and r.headers["x-error-message"]
    if r.headers.get("content-type", "").startswith("application/json"):
        body = r.json()
        assert set(body) == {"error", "code"} and body["code"] == code and body["error"]
    elif r.request.method != "HEAD":  # a page: the error page, with the same headers
        assert r.headers["content-type"].startswith("text/html")
    assert httpx.get(srv.url + "/api/health").status_code == 200


def test_deeply_nested_json_is_refused(server: Server, target: str) -> None:
    headers = {**_auth(server), "Content-Type": "application/json"}
    for path in (
        "/api/repos/create",
        f"/api/models/{target}/paths-info/main",
        f"/{target}.git/info/lfs/objects/batch",
        "/api/validate-yaml",
        f"/api/models/{target}/branch/b1",
    ):
        r = httpx.post(server.url + path, content=DEEP, headers=headers, timeout=30)
        assert_refused(server, r, 400)
        assert "nested" in r.json()["error"], path
    # The commit's NDJSON header line.
    line = b'{"key": "header", "value": {"summary": ' + DEEP + b"}}\n"
    r = httpx.post(f"{server.url}/api/models/{target}/commit/main", content=line, headers=headers)
    assert_refused(server, r, 400)
    # Not JSON numbers, and nesting just past the limit that Python itself would parse.
    for body in (b'{"paths": NaN}', b'{"paths": Infinity}', b'{"a":' * 65 + b"1" + b"}" * 65):
        r = httpx.post(
            f"{server.url}/api/models/{target}/paths-info/main", content=body, headers=headers
        )
        assert_refused(server, r, 400)


def test_pagination_values_out_of_range_are_refused(server: Server, target: str) -> None:
    huge = "9" * 30
    cursor = base64.urlsafe_b64encode(huge.encode()).decode()
    for path, params in (
        (f"/api/models/{target}/commits/main", {"p": "-1"}),
        (f"/api/models/{target}/commits/main", {"p": huge}),
        (f"/api/models/{target}/commits/main", {"limit": "-5"}),
        (f"/api/models/{target}/commits/main", {"p": "1e3"}),
        ("/api/models", {"cursor": cursor}),
        ("/api/models", {"cursor": "%%%"}),
        ("/api/models", {"limit": huge}),
        (f"/api/models/{target}/tree/main", {"cursor": cursor}),
        (f"/{target}/tree/main", {"offset": huge}),
        (f"/{target}/tree/main", {"offset": "-1"}),
        (f"/{target}/commits/main", {"p": "-1"}),
        (f"/{target}/commits/main", {"p": huge}),
        ("/search", {"p": huge}),
    ):
        r = httpx.get(server.url + path, params=params)
        assert_refused(server, r, 400)
        assert r.headers["x-error-message"], (path, params)


def test_preupload_size_must_be_an_integer(server: Server, target: str) -> None:
    url = f"{server.url}/api/models/{target}/preupload/main"
    for size in ("abc", {"n": 1}, [1], 1.5, -1, True, "1" * 5000):
        body = {"files": [{"path": "x.bin", "size": size}]}
        r = httpx.post(url, json=body, headers=_auth(server))
        assert_refused(server, r, 400)
        assert "size" in r.json()["error"], size
    ok = httpx.post(url, json={"files": [{"path": "x.txt", "size": 10}]}, headers=_auth(server))
    assert ok.status_code == 200 and ok.json()["files"][0]["uploadMode"] == "regular"


def test_control_characters_in_a_revision_keep_the_connection(server: Server, target: str) -> None:
    with httpx.Client(base_url=server.url) as client:
        for rev in ("ma%00in", "a%0d%0aSet-Cookie:%20x=1", "%7f%1b[31m"):
            for path in (
                f"/api/models/{target}/revision/{rev}",
                f"/{target}/resolve/{rev}/a.txt",
                f"/api/models/{target}/tree/{rev}",
                f"/{target}/tree/{rev}",
                f"/api/models?search={rev}",
            ):
                r = client.get(path)
                if "search" in path and "%00" not in rev:
                    assert r.status_code == 200
                    continue
                assert_refused(server, r)
                message = r.headers["x-error-message"]
                assert not any(ord(c) < 32 or ord(c) == 127 for c in message)
                assert "x=1" not in r.headers.get("set-cookie", "")
            head = client.head(f"/{target}/resolve/{rev}/a.txt")
            assert 400 <= head.status_code < 500 and head.headers["x-error-code"]


def _raw_request(srv: Server, head: bytes, *, then_read: bool = True) -> bytes:
    """Send ``head`` on a fresh connection and read what comes back (until close)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        # The server may close before the client has sent everything.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head)
        chunks = []
        while then_read:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def _parse(response: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    return int(status_line.split()[1]), headers, body


def test_oversized_request_heads_get_431(server: Server) -> None:
    # One header of 128 KiB, never finished: refused once 64 KiB have arrived.
    big = b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (128 * 1024)
    status, headers, body = _parse(_raw_request(server, big))
    assert status == 431
    assert headers["x-error-code"] == "RequestHeaderFieldsTooLarge"
    assert json.loads(body) == {
        "error": headers["x-error-message"],
        "code": headers["x-error-code"],
    }
    # Too many header fields.
    many = b"GET /api/health HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-H%d: v\r\n" % i for i in range(500)
    )
    status, headers, _ = _parse(_raw_request(server, many + b"\r\n"))
    assert status == 431 and "header fields" in headers["x-error-message"]
    # A URL as long counts too.
    status, _, _ = _parse(
        _raw_request(server, b"GET /api/health?" + b"q" * (100 * 1024) + b" HTTP/1.1\r\n\r\n")
    )
    assert status == 431
    # The 32 MiB header of the report: the connection ends long before it is all sent.
    response = _raw_request(
        server, b"GET /api/health HTTP/1.1\r\nX-Big: " + b"a" * (32 * 1024 * 1024) + b"\r\n\r\n"
    )
    assert b" 200 " not in response.split(b"\r\n", 1)[0]
    assert httpx.get(server.url + "/api/health").status_code == 200


def test_requests_within_the_caps_are_served(server: Server, target: str) -> None:
    headers = {f"X-H{i}": "v" * 200 for i in range(90)}
    assert httpx.get(server.url + "/api/health", headers=headers).status_code == 200
    # Keep-alive: many requests on one connection each get their own allowance.
    with httpx.Client(base_url=server.url) as client:
        for _ in range(50):
            assert client.get("/api/health", headers={"X-Pad": "p" * 40_000}).status_code == 200
    # A body past the head's cap is a body, not a header.
    big_body = json.dumps({"paths": ["a.txt"] * 9_000}).encode()
    assert len(big_body) > 64 * 1024
    r = httpx.post(
        f"{server.url}/api/models/{target}/paths-info/main",
        content=big_body,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 200 and [e["path"] for e in r.json()] == ["a.txt"]


def test_non_ascii_csrf_tokens_are_refused(server: Server, target: str) -> None:
    """hmac.compare_digest raises on non-ASCII text: a 500 before (found by test_fuzz)."""
    cookies = {"commons_csrf": "abc"}
    r = httpx.post(
        server.url + "/login",
        content=b"csrf_token=%C2%80&username=a&password=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        cookies=cookies,
    )
    assert_refused(server, r, 403)
    r = httpx.post(
        f"{server.url}/api/models/{target}/like",
        headers={"X-CSRF-Token": b"\xe9t\xe9", "Cookie": "commons_session=x; commons_csrf=abc"},
    )
    assert_refused(server, r, 403)


def test_parser_refusals_are_in_the_error_shape(server: Server) -> None:
    status, headers, body = _parse(
        _raw_request(server, b"GET /api/health HTTP/1.1\r\nX-Bad: a\x7fb\r\n\r\n")
    )
    assert status == 400 and headers["x-error-code"] == "BadRequest"
    assert json.loads(body)["code"] == "BadRequest"
