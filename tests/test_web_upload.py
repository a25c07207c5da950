"""Uploads from the browser through Git LFS, in Chromium against `commons serve`.

The hub runs with a 1 MB LFS threshold, 5 MiB multipart chunks and a 20 MB file limit,
so a 2 MB file goes through a basic LFS transfer and a 12 MiB one through three parts.
Memory: the page and its hashing worker have their reads of files (Blob.arrayBuffer,
text, stream, FileReader) and the bodies they send recorded, and the test asserts that
no large file is ever read whole: the worker reads slices, parts are sent as slices.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import HfApi, hf_hub_download

from .conftest import Server
from .test_web import browser, sign_up  # noqa: F401  (the shared Chromium fixture)

MiB = 1024 * 1024
SLICE = 4 * MiB  # hashing.js reads this much at a time
LIMIT = 20_000_000

# Records every read of a Blob's bytes and every body sent, in the page and (run again
# in it) in the hashing worker; and every change of an upload row's state.
RECORDER = """
(() => {
  const g = globalThis;
  g.__reads = [];
  g.__sends = [];
  g.__states = [];
  const wrap = (proto, name, sizeOf) => {
    const original = proto[name];
    proto[name] = function (...args) {
      g.__reads.push({ how: name, size: sizeOf(this, args) });
      return original.apply(this, args);
    };
  };
  for (const name of ["arrayBuffer", "text", "stream", "bytes"]) {
    if (Blob.prototype[name]) wrap(Blob.prototype, name, (blob) => blob.size);
  }
  if (g.FileReader) {
    for (const name of ["readAsArrayBuffer", "readAsBinaryString", "readAsDataURL", "readAsText"]) {
      wrap(FileReader.prototype, name, (_, args) => args[0].size);
    }
  }
  if (g.XMLHttpRequest) {
    const open = XMLHttpRequest.prototype.open;
    XMLHttpRequest.prototype.open = function (method, url, ...rest) {
      this.__target = method + " " + url;
      return open.call(this, method, url, ...rest);
    };
    const send = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.send = function (body) {
      g.__sends.push({ to: this.__target, blob: body instanceof Blob, size: body ? body.size : 0 });
      return send.call(this, body);
    };
  }
  if (g.document) {
    new MutationObserver((changes) => {
      for (const c of changes) {
        const row = c.target;
        if (!row.classList || !row.classList.contains("upload-item")) continue;
        g.__states.push({
          path: row.querySelector(".upload-path").textContent,
          state: row.dataset.state,
          label: row.querySelector(".upload-state").textContent,
          value: row.querySelector("progress").value,
        });
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
  }
})();
"""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest) -> Iterator[Server]:
    srv = Server(
        request.param,
        lfs_threshold_bytes=1_000_000,
        multipart_chunk_bytes=5 * MiB,
        max_file_bytes=LIMIT,
    )
    srv.start()
    yield srv
    srv.close()


def _files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = {
        "notes.txt": b"a small text file\n",
        "medium.bin": os.urandom(2 * 1000 * 1000),
        "large.bin": os.urandom(12 * MiB),
    }
    for name, data in made.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in made}


def _open_upload_page(page: Any, url: str) -> Any:
    """The upload page, with the recorder running in its hashing worker too."""
    page.goto(url)
    deadline = time.monotonic() + 10
    while not page.workers and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert len(page.workers) == 1, "the page starts one hashing worker"
    worker = page.workers[0]
    worker.evaluate(RECORDER)
    return worker


def _signed_in(browser: Any, hub: Server, name: str) -> tuple[Any, Any, HfApi]:  # noqa: F811
    context = browser.new_context()
    context.add_init_script(RECORDER)
    page = context.new_page()
    sign_up(page, hub, name)
    token = hub.cli("token", "create", name, "--write").stdout.split()[-1]
    return context, page, HfApi(endpoint=hub.url, token=token)


def test_files_upload_through_lfs_with_progress(browser, hub: Server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    context, page, api = _signed_in(browser, hub, "uma")
    api.create_repo("uma/big")
    files = _files(tmp_path)
    worker = _open_upload_page(page, f"{hub.url}/uma/big/upload/main")
    assert "20.0 MB" in page.locator("#upload-limit").inner_text()  # the limit, up front

    page.set_input_files("#file-input", [str(p) for p in files.values()])
    rows = page.locator("li.upload-item")
    assert rows.count() == 3
    page.get_by_label("Commit message").fill("Three files from the browser")
    page.get_by_role("button", name="Commit changes").click()
    page.locator("#upload-status").get_by_text("Committed 3 files").wait_for(timeout=120_000)

    # Every file's progress reached done.
    for i in range(3):
        assert rows.nth(i).get_attribute("data-state") == "done"
        assert rows.nth(i).locator("progress").evaluate("p => p.value") == 100
    states = page.evaluate("() => globalThis.__states")
    seen = {name: [s["state"] for s in states if s["path"] == name] for name in files}
    for name in ("medium.bin", "large.bin"):
        order = [s for i, s in enumerate(seen[name]) if i == 0 or seen[name][i - 1] != s]
        assert order[-4:] == ["hashing", "uploading", "uploaded", "done"], (name, order)
    uploading = [
        s["value"] for s in states if s["path"] == "large.bin" and s["state"] == "uploading"
    ]
    assert uploading[0] == 0 and uploading[-1] == 100  # shown rising while the parts went
    assert seen["notes.txt"][-1] == "done" and "hashing" not in seen["notes.txt"]

    # The commit landed, with the bytes as they were; the large files as LFS.
    commits = api.list_repo_commits("uma/big")
    assert commits[0].title == "Three files from the browser"
    infos = {i.path: i for i in api.get_paths_info("uma/big", list(files))}
    assert infos["medium.bin"].lfs is not None and infos["large.bin"].lfs is not None
    assert infos["notes.txt"].lfs is None
    for name, path in files.items():
        got = hf_hub_download(
            "uma/big", name, endpoint=hub.url, token=api.token, cache_dir=tmp_path / "cache"
        )
        assert hashlib.sha256(Path(got).read_bytes()).hexdigest() == (
            hashlib.sha256(path.read_bytes()).hexdigest()
        ), name
    assert page.get_by_role("link", name="View the files").get_attribute("href") == (
        "/uma/big/tree/main"
    )

    # Memory: no large file was read whole, by the page or the worker.
    small = files["notes.txt"].stat().st_size
    page_reads = page.evaluate("() => globalThis.__reads")
    assert page_reads and all(r["size"] <= small for r in page_reads), page_reads
    worker_reads = worker.evaluate("() => globalThis.__reads")
    assert worker_reads and max(r["size"] for r in worker_reads) == SLICE
    assert sum(r["size"] for r in worker_reads) == 2_000_000 + 12 * MiB  # each hashed once
    sends = page.evaluate("() => globalThis.__sends")
    parts = [s["size"] for s in sends if "/lfs/part/" in s["to"]]
    assert parts == [5 * MiB, 5 * MiB, 2 * MiB]
    assert all(s["blob"] for s in sends if "/lfs/" in s["to"])
    whole = [s["size"] for s in sends if "/lfs/upload/" in s["to"]]
    assert whole == [2_000_000]  # a File handed to the browser, which streams it
    context.close()


def test_refusals_removals_and_errors_per_file(browser, hub: Server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    context, page, api = _signed_in(browser, hub, "ugo")
    api.create_repo("ugo/careful")
    files = _files(tmp_path)
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as f:  # sparse: over the limit, on disk almost nothing
        f.truncate(LIMIT + 1)
    unwanted = tmp_path / "unwanted.txt"
    unwanted.write_text("not this one\n")
    bad = tmp_path / "back\\slash.txt"  # a name the hub refuses
    bad.write_text("refused by the hub\n")
    _open_upload_page(page, f"{hub.url}/ugo/careful/upload/main")
    button = page.get_by_role("button", name="Commit changes")

    # Over the limit: refused at once, with the limit, and it blocks the commit.
    page.set_input_files("#file-input", [str(huge), str(files["notes.txt"]), str(unwanted)])
    refused = page.locator("li.upload-item[data-state=refused]")
    assert refused.count() == 1
    assert "files up to 20.0 MB can be uploaded" in refused.locator(".upload-error").inner_text()
    assert button.is_disabled()
    assert "Remove the file over 20.0 MB" in page.locator("#upload-status").inner_text()
    page.get_by_role("button", name="Remove huge.bin").click()
    page.get_by_role("button", name="Remove unwanted.txt").click()
    assert page.locator("li.upload-item").count() == 1 and button.is_enabled()

    # The hub refuses one file: the error is on that file, and nothing is committed.
    page.set_input_files("#file-input", [str(bad), str(files["large.bin"])])
    button.click()
    failed = page.locator("li.upload-item[data-state=failed]")
    failed.wait_for(timeout=60_000)
    page.locator("#upload-status").get_by_text("Nothing was committed").wait_for(timeout=60_000)
    assert failed.count() == 1
    assert "back\\slash.txt" in failed.locator(".upload-path").inner_text()
    assert "backslashes are not allowed" in failed.locator(".upload-error").inner_text()
    large_row = page.locator("li.upload-item", has_text="large.bin")
    assert large_row.get_attribute("data-state") == "uploaded"  # its bytes are on the hub
    assert [c.title for c in api.list_repo_commits("ugo/careful")] == ["initial commit"]

    # A broken connection on one part: that file fails, with the reason.
    page.get_by_role("button", name="Remove back\\slash.txt").click()
    page.set_input_files("#file-input", [str(files["medium.bin"])])
    page.route("**/lfs/upload/**", lambda route: route.abort())
    button.click()
    page.locator("#upload-status").get_by_text("Nothing was committed").wait_for(timeout=60_000)
    medium = page.locator("li.upload-item", has_text="medium.bin")
    assert medium.get_attribute("data-state") == "failed"
    assert "network error" in medium.locator(".upload-error").inner_text()
    page.unroute("**/lfs/upload/**")

    # Again: only what is missing is sent, and the commit lands.
    before = len(page.evaluate("() => globalThis.__sends"))
    button.click()
    page.locator("#upload-status").get_by_text("Committed 3 files").wait_for(timeout=60_000)
    resent = [s["to"] for s in page.evaluate("() => globalThis.__sends")[before:]]
    assert not any("/lfs/part/" in s for s in resent)  # large.bin was not sent twice
    assert sorted(api.list_repo_files("ugo/careful")) == [
        ".gitattributes",
        "large.bin",
        "medium.bin",
        "notes.txt",
    ]
    context.close()


def test_vendored_scripts_are_served_and_nothing_else(sqlite_server: Server) -> None:
    import httpx

    base = f"{sqlite_server.url}/static"
    for name in ("hashing.js", "upload.js", "noble-hashes/sha2.js", "noble-hashes/utils.js"):
        r = httpx.get(f"{base}/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    for name in (
        "noble-hashes/LICENSE",
        "noble-hashes/VENDORED.md",
        "other/commons.js",
        "noble-hashes/..%2Fcommons.js",
        "noble-hashes/%2e%2e/commons.js",
        "..%2F..%2Fsettings.py",
    ):
        assert httpx.get(f"{base}/{name}").status_code == 404, name
