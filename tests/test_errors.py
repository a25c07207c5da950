"""The one error shape: pinned here, for every kind of refusal."""

from __future__ import annotations

import httpx

from modelcommons.errors import EntryNotFound, HubError, RepoNotFound
from modelcommons.server.responses import error_response

from .conftest import Server


def test_error_shape_is_defined_once() -> None:
    response = error_response(EntryNotFound("Entry not found: x", headers={"X-Repo-Commit": "a"}))
    assert response.status_code == 404
    assert response.headers["x-error-code"] == "EntryNotFound"
    assert response.headers["x-error-message"] == "Entry not found: x"
    assert response.headers["x-repo-commit"] == "a"
    assert response.body == b'{"error":"Entry not found: x","code":"EntryNotFound"}'
    head = error_response(RepoNotFound("a/b"), head=True)
    assert head.body == b"" and head.headers["x-error-code"] == "RepoNotFound"


def test_header_values_are_made_safe() -> None:
    error = HubError("line one\r\nInjected: yes \u2603")
    headers = error.response_headers()
    assert "\n" not in headers["X-Error-Message"] and "\r" not in headers["X-Error-Message"]
    headers["X-Error-Message"].encode("latin-1")


def test_every_error_over_http_has_the_shape(sqlite_server: Server) -> None:
    url = sqlite_server.url
    cases = [
        ("GET", "/api/models/nobody/nothing", 404, "RepoNotFound"),
        ("GET", "/nobody/nothing/resolve/main/x", 404, "RepoNotFound"),
        ("GET", "/api/no-such-endpoint", 404, "NotFound"),
        ("DELETE", "/api/whoami-v2", 405, "MethodNotAllowed"),
        ("GET", "/api/whoami-v2", 401, "Unauthorized"),
        ("POST", "/api/repos/create", 401, "Unauthorized"),
    ]
    for method, path, status, code in cases:
        r = httpx.request(method, url + path)
        assert r.status_code == status, (path, r.text)
        assert r.headers["x-error-code"] == code
        assert r.json()["error"] == r.headers["x-error-message"]
        assert r.json()["code"] == code
    bad = httpx.get(url + "/api/whoami-v2", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.headers["x-error-message"] == "Invalid credentials in Authorization header"


def test_oversized_json_bodies_are_refused(sqlite_server: Server) -> None:
    token = sqlite_server.user("alice")
    huge = b'{"name": "' + b"x" * (17 * 1024 * 1024) + b'"}'
    for path in ("/api/repos/create", "/api/validate-yaml"):
        r = httpx.post(
            sqlite_server.url + path, content=huge, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 413, path
        assert r.headers["x-error-code"] == "PayloadTooLarge"


def test_reserved_paths_are_never_pages(sqlite_server: Server) -> None:
    for path in ("/api/anything", "/api/models-tags-by-type", "/static/x/y", "/datasets/alice"):
        r = httpx.get(sqlite_server.url + path, headers={"Accept": "text/html"})
        assert r.status_code == 404 and r.headers["x-error-code"] == "NotFound", path
