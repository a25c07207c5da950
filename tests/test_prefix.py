"""A hub under a path: HF_ENDPOINT=https://example.org/hub behind a reverse proxy.

The server runs with ``public_url`` ending in ``/hub``. By default the proxy forwards
the full path, so requests outside ``/hub`` are not found; with
``proxy_strips_prefix`` the proxy removes ``/hub`` and the hub still writes it into
every URL it hands out.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download, set_client_factory
from huggingface_hub.utils._http import default_client_factory

from modelcommons.settings import Settings

from .conftest import COMMONS, ROOT, Server
from .test_web import browser  # noqa: F401  (the Chromium fixture)

PREFIX = "/hub"
MB = 1000 * 1000


@pytest.fixture(scope="module")
def hub() -> Iterator[Server]:
    """Under /hub; pages of two so that clients follow ``Link`` headers; anything
    over 1 MB through LFS, multipart above 5 MiB."""
    srv = Server(
        "sqlite",
        prefix=PREFIX,
        page_size=2,
        regular_upload_max_bytes=1_000_000,
        multipart_chunk_bytes=5 * 1024 * 1024,
    )
    srv.start()
    yield srv
    srv.close()


@pytest.fixture()
def client_requests() -> Iterator[list[str]]:
    """Every URL the in-process huggingface_hub client requests, redirects included."""
    seen: list[str] = []

    def factory():  # type: ignore[no-untyped-def]
        client = default_client_factory()
        client.event_hooks["request"].append(lambda request: seen.append(str(request.url)))
        return client

    set_client_factory(factory)
    try:
        yield seen
    finally:
        set_client_factory(default_client_factory)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_real_client_under_a_prefix(
    hub: Server, tmp_path: Path, hf_env: None, client_requests: list[str]
) -> None:
    endpoint = hub.endpoint
    token = hub.user("hanna")
    api = HfApi(endpoint=endpoint, token=token)
    repo = "hanna/prefixed"
    url = api.create_repo(repo)
    assert url == f"{endpoint}/{repo}"
    assert api.whoami()["name"] == "hanna"

    folder = tmp_path / "up"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden_size": 8}\n')
    (folder / "sub" / "notes.txt").write_text("hello from under /hub\n")
    basic = folder / "basic.dat"  # over 1 MB: LFS, in one PUT
    basic.write_bytes(os.urandom(2 * MB))
    big = folder / "model.bin"  # over 10 MB: LFS, multipart
    big.write_bytes(os.urandom(11 * MB))
    commit = api.upload_folder(repo_id=repo, folder_path=folder, commit_message="Add files")
    assert commit.commit_url.startswith(f"{endpoint}/{repo}/commit/")
    api.upload_file(path_or_fileobj=b"# Prefixed\n", path_in_repo="README.md", repo_id=repo)

    # Six files, in pages of two: the client follows the Link headers.
    files = api.list_repo_files(repo)
    assert sorted(files) == sorted(
        [".gitattributes", "config.json", "sub/notes.txt", "basic.dat", "model.bin", "README.md"]
    )
    siblings = {s.rfilename: s for s in api.model_info(repo, files_metadata=True).siblings or []}
    assert siblings["model.bin"].lfs is not None and siblings["basic.dat"].lfs is not None
    commits = api.list_repo_commits(repo)
    assert [c.title for c in commits][:2] == ["Upload README.md with huggingface_hub", "Add files"]
    assert [m.id for m in api.list_models(author="hanna")] == [repo]

    for name, source in (("model.bin", big), ("basic.dat", basic)):
        out = hf_hub_download(repo, name, endpoint=endpoint, token=token, cache_dir=tmp_path / "c")
        assert _sha256(Path(out)) == _sha256(source)
    out = hf_hub_download(repo, "sub/notes.txt", endpoint=endpoint, cache_dir=tmp_path / "c")
    assert Path(out).read_text() == "hello from under /hub\n"

    # Every request the client made, LFS hrefs and pagination links included,
    # went to URLs the hub handed out under the prefix.
    assert client_requests
    outside = [u for u in client_requests if not u.startswith(f"{endpoint}/")]
    assert outside == []
    assert any("/lfs/part/" in u for u in client_requests)
    assert any("/lfs/upload/" in u for u in client_requests)
    assert any("cursor=" in u for u in client_requests)


def test_links_the_api_writes_carry_the_prefix(hub: Server) -> None:
    token = hub.user("hanna")
    auth = {"Authorization": f"Bearer {token}"}
    api = HfApi(endpoint=hub.endpoint, token=token)
    repo = "hanna/links"
    api.create_repo("hanna/links-parent")
    api.create_repo(repo)
    card = b"---\nbase_model: hanna/links-parent\n---\n# Child\n"
    api.upload_file(path_or_fileobj=card, path_in_repo="README.md", repo_id=repo)
    for i in range(2):
        api.upload_file(path_or_fileobj=f"{i}\n".encode(), path_in_repo=f"f{i}", repo_id=repo)
    with httpx.Client(base_url=hub.endpoint, headers=auth) as c:
        first = c.get(f"/api/models/{repo}/commits/main", params={"limit": 2})
        assert first.status_code == 200
        nxt = first.links["next"]["url"]
        assert nxt.startswith(f"{hub.endpoint}/api/models/{repo}/commits/main?")
        rest = c.get(nxt)
        assert rest.status_code == 200 and len(first.json()) + len(rest.json()) == 4

        oid = hashlib.sha256(b"x" * 100).hexdigest()
        batch = c.post(
            f"/{repo}.git/info/lfs/objects/batch",
            json={"operation": "upload", "objects": [{"oid": oid, "size": 100}]},
        ).json()
        actions = batch["objects"][0]["actions"]
        assert actions["upload"]["href"].startswith(f"{hub.endpoint}/lfs/upload/")
        assert actions["verify"]["href"] == f"{hub.endpoint}/{repo}.git/info/lfs/objects/verify"

        hub.settle(repo)  # lineage follows in a pipeline job
        parents = c.get(f"/api/models/{repo}/lineage").json()["parents"]
        assert [p["url"] for p in parents] == [f"{PREFIX}/hanna/links-parent"]
        children = c.get("/api/models/hanna/links-parent/lineage").json()["children"]
        assert [p["url"] for p in children] == [f"{PREFIX}/{repo}"]

        # Pages redirect within the prefix, and their cookies are scoped to it.
        login = c.get("/settings/tokens")
        assert login.status_code == 303
        assert login.headers["location"] == f"{PREFIX}/login?next=/settings/tokens"
        cookies = c.get("/login").headers.get_list("set-cookie")
        assert cookies and all(f"path={PREFIX}" in h.lower() for h in cookies)


def test_outside_the_prefix_is_not_found(hub: Server) -> None:
    for path in ("/api/health", "/api/models", "/login", "/", "/static/commons.css", "/hubx"):
        r = httpx.get(f"{hub.url}{path}")
        assert r.status_code == 404, path
        assert r.headers["content-type"] == "application/json"
    page = httpx.get(f"{hub.url}/login", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert f'href="{PREFIX}/"' in page.text and 'href="/login"' not in page.text
    # The prefix itself, with or without its slash, is the home page.
    for path in (PREFIX, f"{PREFIX}/"):
        home = httpx.get(f"{hub.url}{path}", headers={"Accept": "text/html"})
        assert home.status_code == 200 and f"<code>{hub.endpoint}</code>" in home.text


def test_repeated_slashes_under_the_prefix(hub: Server) -> None:
    """Slashes are collapsed before the prefix is looked for: an HF_ENDPOINT of
    ``https://example.org/hub/`` works; a path outside the prefix stays outside."""
    for path in (f"{PREFIX}//api//health", f"/{PREFIX}/api/health/", f"{PREFIX}/api/health//"):
        r = httpx.get(f"{hub.url}{path}")
        assert r.status_code == 200 and r.json()["status"] == "ok", path
    assert httpx.get(f"{hub.url}//api//health").status_code == 404
    assert httpx.get(f"{hub.url}{PREFIX}x//api/health").status_code == 404


def test_pages_in_a_browser_stay_under_the_prefix(browser, hub: Server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    base = hub.endpoint
    context = browser.new_context()
    page = context.new_page()
    requests: list[tuple[str, str, str]] = []
    failures: list[tuple[int, str]] = []
    page.on("request", lambda r: requests.append((r.method, r.resource_type, r.url)))
    page.on("response", lambda r: failures.append((r.status, r.url)) if r.status >= 400 else None)

    # Sign up, sign out, then sign in from a page that needs it and land back on it.
    page.goto(f"{base}/join")
    page.get_by_label("Username").fill("pia")
    page.get_by_label("Email").fill("pia@example.org")
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{base}/")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/settings/tokens")
    page.wait_for_url(f"{base}/login?next=/settings/tokens")
    page.get_by_label("Username").fill("pia")
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/settings/tokens")
    cookies = {c["name"]: c for c in context.cookies()}
    assert {"commons_session", "commons_csrf"} <= set(cookies)
    assert all(c["path"] == PREFIX for c in cookies.values())

    # A repository made from the New form, files uploaded by the page's script.
    page.get_by_role("link", name="New").click()
    page.get_by_label("Name").fill("prefixed-model")
    page.get_by_role("button", name="Create repository").click()
    page.wait_for_url(f"{base}/pia/prefixed-model")
    page.get_by_role("link", name="Upload").click()
    (tmp_path / "README.md").write_text("# Prefixed card\n\nIt lives under a path.\n")
    (tmp_path / "notes.txt").write_text("first line\nsecond line\n")
    (tmp_path / "weights.bin").write_bytes(os.urandom(1_500_000))  # through LFS
    names = ("README.md", "notes.txt", "weights.bin")
    page.set_input_files("#file-input", [str(tmp_path / n) for n in names])
    page.get_by_label("Commit message").fill("Add notes")
    page.get_by_role("button", name="Commit changes").click()
    page.get_by_role("link", name="View the files").click()
    page.wait_for_url(f"{base}/pia/prefixed-model/tree/main")
    assert "weights.bin" in page.locator("table.files").inner_text()

    # The repository page, its files tab, a file, its raw bytes, history, a like.
    page.get_by_role("link", name="prefixed-model").first.click()
    page.wait_for_url(f"{base}/pia/prefixed-model")
    assert page.get_by_role("heading", name="Prefixed card").is_visible()
    page.get_by_role("link", name="Files").click()
    page.wait_for_url(f"{base}/pia/prefixed-model/tree/main")
    page.get_by_role("link", name="notes.txt").click()
    page.wait_for_url(f"{base}/pia/prefixed-model/blob/main/notes.txt")
    assert "second line" in page.locator(".code").inner_text()
    page.get_by_role("link", name="Raw").click()
    page.wait_for_url(f"{base}/pia/prefixed-model/resolve/main/notes.txt")
    page.go_back()
    page.get_by_role("link", name="History").click()
    page.get_by_role("link", name="Add notes").click()
    assert "+second line" in page.locator("section.commit-view").inner_text()
    page.get_by_role("button", name=re.compile("Like")).click()
    assert page.get_by_role("button", name=re.compile("Liked")).is_visible()
    page.get_by_label("Search models and datasets").fill("prefixed")
    page.get_by_label("Search models and datasets").press("Enter")
    page.wait_for_url(re.compile(re.escape(f"{base}/search?q=prefixed")))
    page.get_by_role("link", name="pia/prefixed-model").click()
    page.wait_for_url(f"{base}/pia/prefixed-model")
    context.close()

    outside = [r for r in requests if not r[2].startswith(f"{base}/")]
    assert outside == []
    kinds = {(method, kind) for method, kind, _ in requests}
    assert {("GET", "stylesheet"), ("GET", "script"), ("POST", "document")} <= kinds
    assert ("POST", "xhr") in kinds  # the upload script's commit
    assert ("PUT", "xhr") in kinds  # and its LFS upload
    assert any(url.startswith(f"{base}/lfs/upload/") for _, _, url in requests)
    assert failures == []


class StrippingProxy:
    """A reverse proxy that forwards ``{prefix}/...`` as ``/...``, like nginx's
    ``location /hub/ { proxy_pass http://hub/; }`` or Traefik's StripPrefix, but
    leaving the rest of the path exactly as the client encoded it."""

    HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.upstream = ""
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("transfer-encoding", "").lower() == "chunked":
                    chunks = []
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("content-length") or 0))

            def _forward(self) -> None:
                proxy.seen.append(self.path)
                body = self._body()
                if not self.path.startswith(proxy.prefix + "/"):
                    self.send_response(404)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                headers = [(k, v) for k, v in self.headers.items() if k.lower() not in proxy.HOP]
                with httpx.Client() as client:
                    request = client.build_request(
                        self.command,
                        proxy.upstream + self.path[len(proxy.prefix) :],
                        headers=headers,
                        content=body,
                    )
                    response = client.send(request, stream=True)
                    data = b"".join(response.iter_raw())
                self.send_response(response.status_code)
                for key, value in response.headers.multi_items():
                    if key.lower() not in proxy.HOP:
                        self.send_header(key, value)
                length = response.headers.get("content-length", "0")
                self.send_header(
                    "content-length", length if self.command == "HEAD" else str(len(data))
                )
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_proxy_that_strips_the_prefix(tmp_path: Path) -> None:
    """The proxy sends /api/...; uvicorn's root_path puts /hub back for the app."""
    proxy = StrippingProxy(PREFIX)
    srv = Server("sqlite", public_url=f"{proxy.url}{PREFIX}", proxy_strips_prefix="true")
    proxy.upstream = srv.url
    try:
        srv.start()  # its health check, like every request, arrives without the prefix
        endpoint = f"{proxy.url}{PREFIX}"
        token = srv.user("sven")
        api = HfApi(endpoint=endpoint, token=token)
        assert api.create_repo("sven/stripped") == f"{endpoint}/sven/stripped"
        api.upload_file(path_or_fileobj=b"hi\n", path_in_repo="a.txt", repo_id="sven/stripped")
        assert sorted(api.list_repo_files("sven/stripped")) == [".gitattributes", "a.txt"]
        out = hf_hub_download("sven/stripped", "a.txt", endpoint=endpoint, cache_dir=tmp_path)
        assert Path(out).read_text() == "hi\n"
        assert proxy.seen and all(p.startswith(f"{PREFIX}/") for p in proxy.seen)

        login = httpx.get(f"{endpoint}/login")
        assert login.status_code == 200
        assert f'action="{PREFIX}/login"' in login.text
        assert f'src="{PREFIX}/static/commons.js"' in login.text
        assert all(f"path={PREFIX}" in h.lower() for h in login.headers.get_list("set-cookie"))
        tokens = httpx.get(f"{endpoint}/settings/tokens")
        assert tokens.headers["location"] == f"{PREFIX}/login?next=/settings/tokens"
        # Straight to the hub, a path that still has the prefix is not the hub's.
        assert httpx.get(f"{srv.url}/api/health").status_code == 200
        assert httpx.get(f"{srv.url}{PREFIX}/api/health").status_code == 404
    finally:
        srv.close()
        proxy.close()


@pytest.mark.parametrize(
    ("public_url", "prefix"),
    [
        (None, ""),
        ("https://example.org", ""),
        ("https://example.org/", ""),
        ("https://example.org/hub", "/hub"),
        ("https://example.org/hub/", "/hub"),
        ("http://10.0.0.1:8080/tools/model-hub", "/tools/model-hub"),
    ],
)
def test_the_prefix_is_public_urls_path(public_url: str | None, prefix: str) -> None:
    assert Settings(public_url=public_url).url_prefix == prefix


@pytest.mark.parametrize(
    "public_url",
    [
        "example.org/hub",
        "ftp://example.org/hub",
        "https://example.org/hub?x=1",
        "https://example.org/hub#top",
        "https://user@example.org/hub",
        "https://example.org//hub",
        "https://example.org/hub//",
        "https://example.org/a/../hub",
        "https://example.org/..",
        "https://example.org/./hub",
        "https://example.org/h%20ub",
        "https://example.org/h ub",
    ],
)
def test_malformed_public_urls_stop_the_server(public_url: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="public_url"):
        _ = Settings(public_url=public_url).url_prefix
    if public_url.endswith("/.."):  # once through the command, which refuses to start
        result = subprocess.run(
            [*COMMONS, "serve", "--data-dir", str(tmp_path), "--public-url", public_url],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert result.returncode == 2 and "public_url" in result.stderr


def test_stripping_needs_a_prefix() -> None:
    with pytest.raises(ValueError, match="proxy_strips_prefix"):
        _ = Settings(public_url="https://example.org", proxy_strips_prefix=True).url_prefix
    assert Settings.from_env({"COMMONS_PROXY_STRIPS_PREFIX": "true"}).proxy_strips_prefix
    with pytest.raises(ValueError, match="COMMONS_PROXY_STRIPS_PREFIX"):
        Settings.from_env({"COMMONS_PROXY_STRIPS_PREFIX": "maybe"})


def test_every_link_in_the_templates_starts_from_base() -> None:
    """Templates write site links as ``{{ base }}/...``; only fragments and queries
    of the current page may do without."""
    attribute = re.compile(r'\b(href|src|action|data-[a-z-]+-url)="([^"]*)"')
    templates = ROOT / "modelcommons" / "templates"
    found = 0
    for path in templates.rglob("*.html"):
        for match in attribute.finditer(path.read_text()):
            found += 1
            value = match.group(2)
            assert value.startswith(("{{ base }}", "#", "?")), f"{path.name}: {match.group(0)}"
    assert found > 50
