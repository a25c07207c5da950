#!/usr/bin/env python3
"""Xet benchmark: the stock client (hf_xet) against Git LFS on the same bytes, and what
chunk-level dedup saves, through a real ``commons serve``.

Run it from the repository root with the project's virtual environment::

    .venv/bin/python benchmarks/xet.py --mb 256

Measured, each upload in a fresh client process (``huggingface_hub.upload_file``):

* a Xet upload (hf_xet, no settings) of random bytes, end to end (token, xorbs,
  shard, which the hub verifies by reconstructing the file and hashing it, commit),
  against an LFS multipart upload of the same bytes (``HF_HUB_DISABLE_XET=1``);
* how long the hub's shard verification (reconstruct + sha256) takes, from the
  request log;
* downloads of the Xet-stored file through Xet and through plain HTTP (curl-like
  streaming reconstruction);
* dedup: a "fine-tune" of the file (5 % of its bytes changed in three contiguous
  regions) uploaded to another user's repository; the blob store's growth against
  the fine-tune's size. And the overhead of storing random bytes.
* the hub's peak RSS growth over the whole run, from ``/proc/PID/status``.

The results overwrite ``benchmarks/XET_RESULTS.md``. The hub process is stopped by
its PID and the temporary folder removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
MB = 1000 * 1000

UPLOAD = r"""
import sys, json, time
from huggingface_hub import HfApi
a = json.loads(sys.argv[1])
api = HfApi()
api.create_repo(a["repo"], exist_ok=True)
t = time.perf_counter()
api.upload_file(path_or_fileobj=a["path"], path_in_repo=a["name"], repo_id=a["repo"])
print("RESULT", json.dumps(time.perf_counter() - t))
"""

DOWNLOAD = r"""
import sys, json, time, hashlib
from huggingface_hub import hf_hub_download
a = json.loads(sys.argv[1])
t = time.perf_counter()
p = hf_hub_download(a["repo"], a["name"])
took = time.perf_counter() - t
h = hashlib.sha256()
with open(p, "rb") as f:
    while b := f.read(1 << 22):
        h.update(b)
print("RESULT", json.dumps([took, h.hexdigest()]))
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _client(
    url: str, token: str, home: Path, script: str, args: dict[str, str], **env: str
) -> object:
    e = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    e.update(HF_ENDPOINT=url, HF_TOKEN=token, HF_HOME=str(home), HF_HUB_DISABLE_PROGRESS_BARS="1")
    e.update(HF_HUB_DISABLE_TELEMETRY="1", **env)
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(args)], env=e, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line.removeprefix("RESULT "))


def _stored(data: Path) -> int:
    return sum(p.stat().st_size for p in (data / "blobs" / "objects").rglob("*") if p.is_file())


def _write(path: Path, size: int, seed: int) -> None:
    rng = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 * MB)
            f.write(rng.randbytes(n))
            left -= n


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(1 << 22):
            h.update(b)
    return h.hexdigest()


def _rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mb", type=int, default=256, help="MB of the file")
    args = parser.parse_args()
    size = args.mb * MB
    tmp = Path(tempfile.mkdtemp(prefix="commons-xet-bench-"))
    port = _port()
    url = f"http://127.0.0.1:{port}"
    data = tmp / "hub"
    env = dict(os.environ, PYTHONPATH=str(ROOT), COMMONS_REGULAR_UPLOAD_MAX_BYTES=str(MB))
    log = open(tmp / "hub.log", "wb")  # noqa: SIM115 (closed in the finally below)
    hub = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelcommons",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    results: dict[str, object] = {}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/health").status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        baseline = _rss_kb(hub.pid, "VmRSS:")
        tokens = {}
        for user in ("alice", "bob"):
            made = subprocess.run(
                [
                    *[sys.executable, "-m", "modelcommons", "user", "create", user],
                    *["--token", "write", "--data-dir", str(data)],
                ],
                env=env,
                input="",
                capture_output=True,
                text=True,
                check=True,
            )
            tokens[user] = made.stdout.strip().splitlines()[-1]
        base, tuned = tmp / "base.bin", tmp / "tuned.bin"
        _write(base, size, 1)
        shutil.copyfile(base, tuned)
        with open(tuned, "r+b") as f:
            for i, frac in enumerate((0.15, 0.5, 0.8)):
                f.seek(int(size * frac))
                f.write(random.Random(100 + i).randbytes(size // 60))
        alice, bob = tokens["alice"], tokens["bob"]
        before = _stored(data)
        results["xet_upload_s"] = _client(
            url,
            alice,
            tmp / "h1",
            UPLOAD,
            {"repo": "alice/xet", "path": str(base), "name": "w.bin"},
        )
        stored_random = _stored(data) - before
        results["random_overhead"] = stored_random / size - 1
        results["lfs_upload_s"] = _client(
            url,
            alice,
            tmp / "h2",
            UPLOAD,
            {"repo": "alice/lfs", "path": str(base), "name": "w.bin"},
            HF_HUB_DISABLE_XET="1",
        )
        log.flush()
        shard_ms = [
            float(m.group(1))
            for m in re.finditer(
                rb'"POST /cas/v1/shards" 200 \d+ ([0-9.]+)ms', (tmp / "hub.log").read_bytes()
            )
        ]
        results["shard_verify_s"] = shard_ms[0] / 1000 if shard_ms else None
        before = _stored(data)
        results["finetune_upload_s"] = _client(
            url, bob, tmp / "h3", UPLOAD, {"repo": "bob/ft", "path": str(tuned), "name": "w.bin"}
        )
        grew = _stored(data) - before
        results["finetune_stored_fraction"] = grew / size
        results["finetune_saved"] = 1 - grew / size
        want = _sha256(base)
        took, got = _client(
            url, alice, tmp / "h4", DOWNLOAD, {"repo": "alice/xet", "name": "w.bin"}
        )  # type: ignore[misc]
        assert got == want
        results["xet_download_s"] = took
        took, got = _client(
            url,
            alice,
            tmp / "h5",
            DOWNLOAD,
            {"repo": "alice/xet", "name": "w.bin"},
            HF_HUB_DISABLE_XET="1",
        )  # type: ignore[misc]
        assert got == want
        results["http_download_reconstructed_s"] = took
        took, got = _client(
            url,
            alice,
            tmp / "h6",
            DOWNLOAD,
            {"repo": "alice/lfs", "name": "w.bin"},
            HF_HUB_DISABLE_XET="1",
        )  # type: ignore[misc]
        results["http_download_lfs_blob_s"] = took
        results["hub_peak_rss_growth_mb"] = (_rss_kb(hub.pid, "VmHWM:") - baseline) / 1024
    finally:
        hub.terminate()
        hub.wait(timeout=30)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [
        "# Xet benchmark results",
        "",
        f"{dt.date.today()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; file {args.mb} MB of random bytes; one run "
        f"(`.venv/bin/python benchmarks/xet.py --mb {args.mb}`), on a machine shared with "
        "other work.",
        "",
        "| measure | value |",
        "|---|---|",
    ]
    for key, value in results.items():
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        lines.append(f"| {key} | {shown} |")
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "XET_RESULTS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
