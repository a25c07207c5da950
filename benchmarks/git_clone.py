#!/usr/bin/env python3
"""git clone against snapshot_download: the same repository, the same run.

Run it from the repository root with the project's virtual environment::

    .venv/bin/python benchmarks/git_clone.py [--commits 1000] [--lfs-mb 1024]

A real ``commons serve`` (this checkout, SQLite, in a temporary folder) gets a model
with ``--commits`` commits of history (made locally with ``git fast-import`` and
pushed once, over the hub's git protocol) and one LFS file of ``--lfs-mb`` MiB
(uploaded with ``huggingface_hub``). Then, interleaved over ``--rounds`` rounds so
that a noisy machine affects both alike, it times:

* ``git clone`` with git-lfs (Debian's git and git-lfs): the whole history, then the
  LFS file through the batch API, checked out as the real file;
* ``GIT_LFS_SKIP_SMUDGE=1 git clone``: the history alone, for context;
* ``huggingface_hub.snapshot_download`` of the same revision (the baseline);

and reads the hub's peak memory during each (``VmHWM`` of its process, reset before
each run) and its resting RSS. Every downloaded copy of the LFS file is checked by
sha256. The results overwrite ``benchmarks/GIT_RESULTS.md``. The hub is stopped by
its own PID and the temporary folder removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) // 1024  # MiB
    raise RuntimeError(key)


def _history(folder: Path, commits: int, parent: str) -> None:
    """``commits`` commits on top of ``parent``, each changing a small file, in one
    fast-import stream (in a clone: main is protected, so the history must extend it)."""
    stream = []
    for i in range(commits):
        text = f"step {i}\n".encode()
        message = f"commit {i}\n".encode()
        stream.append(b"commit refs/heads/main\n")
        stream.append(f"committer Bench <b@example.org> {1700000000 + i} +0000\n".encode())
        stream.append(b"data %d\n%s\n" % (len(message), message))
        if i == 0:
            stream.append(f"from {parent}\n".encode())
        stream.append(b"M 100644 inline notes/log.txt\ndata %d\n%s\n" % (len(text), text))
        if i == 0:
            card = b"---\nlicense: mit\n---\n# A benchmark model\n"
            stream.append(b"M 100644 inline README.md\ndata %d\n%s\n" % (len(card), card))
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=folder, input=b"".join(stream), check=True
    )
    subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=folder, check=True)


def _big_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 8 * MiB))
            f.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--lfs-mb", type=int, default=1024, help="MiB of the LFS file")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="commons-git-bench-"))
    port = _port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(ROOT), COMMONS_LOG_REQUESTS="false")
    client = {"HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    os.environ.update(client, HF_HOME=str(tmp / "hf"))  # read when huggingface_hub is imported
    env.update(client)
    data = tmp / "hub"
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
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    gitenv = dict(env, HOME=str(tmp / "home"), GIT_TERMINAL_PROMPT="0")
    (tmp / "home").mkdir()
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
        made = subprocess.run(
            [
                sys.executable,
                "-m",
                "modelcommons",
                "user",
                "create",
                "bench",
                "--token",
                "write",
                "--data-dir",
                str(data),
            ],
            env=env,
            input="",
            capture_output=True,
            text=True,
            check=True,
        )
        token = made.stdout.strip().splitlines()[-1]
        auth = ["-c", f"http.extraHeader=Authorization: Bearer {token}"]
        subprocess.run(
            ["git", "lfs", "install", "--skip-repo"], env=gitenv, check=True, capture_output=True
        )
        from huggingface_hub import HfApi, snapshot_download

        api = HfApi(endpoint=url, token=token)
        api.create_repo("bench/model")
        src = tmp / "src"
        subprocess.run(
            ["git", *auth, "clone", "-q", f"{url}/bench/model", str(src)],
            env=gitenv,
            check=True,
            capture_output=True,
        )
        head = api.model_info("bench/model").sha or ""
        _history(src, args.commits, head)
        started = time.perf_counter()
        subprocess.run(
            ["git", *auth, "push", "--force", f"{url}/bench/model", "main"],
            cwd=src,
            env=gitenv,
            check=True,
            capture_output=True,
        )
        push_seconds = time.perf_counter() - started
        big = tmp / "weights.safetensors"
        want = _big_file(big, args.lfs_mb * MiB)
        started = time.perf_counter()
        api.upload_file(
            path_or_fileobj=str(big), path_in_repo="weights.safetensors", repo_id="bench/model"
        )
        upload_seconds = time.perf_counter() - started
        big.unlink()
        revision = api.model_info("bench/model").sha
        resting = _status(hub.pid, "VmRSS")

        def clone(skip_smudge: bool, n: int) -> Path:
            target = tmp / f"clone-{skip_smudge}-{n}"
            extra = {"GIT_LFS_SKIP_SMUDGE": "1"} if skip_smudge else {}
            subprocess.run(
                ["git", *auth, "clone", "-q", f"{url}/bench/model", str(target)],
                env=gitenv | extra,
                check=True,
                capture_output=True,
            )
            return target

        runs: dict[str, list[tuple[float, int]]] = {
            "git clone (with git-lfs)": [],
            "git clone, history only": [],
            "snapshot_download": [],
        }
        for n in range(args.rounds):
            for name in runs:
                Path(f"/proc/{hub.pid}/clear_refs").write_text("5")
                started = time.perf_counter()
                if name == "snapshot_download":
                    folder = Path(
                        snapshot_download(
                            "bench/model",
                            endpoint=url,
                            token=token,
                            cache_dir=str(tmp / f"cache{n}"),
                        )
                    )
                    got = folder / "weights.safetensors"
                else:
                    folder = clone(name.endswith("only"), n)
                    got = folder / "weights.safetensors"
                seconds = time.perf_counter() - started
                peak = _status(hub.pid, "VmHWM")
                if not name.endswith("only"):
                    assert _sha256(got) == want, f"{name}: wrong bytes"
                    if name.startswith("git"):
                        count = subprocess.run(
                            ["git", "rev-list", "--count", "HEAD"],
                            cwd=folder,
                            capture_output=True,
                            text=True,
                            check=True,
                        )
                        assert int(count.stdout) == args.commits + 2  # initial + upload
                runs[name].append((seconds, peak))
                shutil.rmtree(folder if name != "snapshot_download" else tmp / f"cache{n}")
        _write(args, revision or "", push_seconds, upload_seconds, resting, runs)
    finally:
        hub.send_signal(signal.SIGTERM)
        try:
            hub.wait(20)
        except subprocess.TimeoutExpired:
            hub.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def _write(
    args: argparse.Namespace,
    revision: str,
    push: float,
    upload: float,
    resting: int,
    runs: dict[str, list[tuple[float, int]]],
) -> None:
    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    lfs = subprocess.run(["git", "lfs", "version"], capture_output=True, text=True).stdout.strip()
    base = statistics.median(s for s, _ in runs["snapshot_download"])
    lines = [
        "# git clone against snapshot_download",
        "",
        f"`benchmarks/git_clone.py --commits {args.commits} --lfs-mb {args.lfs_mb} "
        f"--rounds {args.rounds}`, {dt.date.today().isoformat()}: one `commons serve` on SQLite, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {git}, "
        f"{lfs.split(' (')[0]}, over 127.0.0.1. The repository: {args.commits} commits of "
        f"history plus a card and an LFS file of {args.lfs_mb} MiB (2 more commits), "
        f"revision `{revision[:12]}`.",
        "",
        "| client | time (median) | vs snapshot_download | hub peak RSS (max) |",
        "|---|---|---|---|",
    ]
    for name, values in runs.items():
        seconds = statistics.median(s for s, _ in values)
        peak = max(p for _, p in values)
        lines.append(f"| {name} | {seconds:.2f} s | {seconds / base:.2f}x | {peak} MiB |")
    lines += [
        "",
        f"The hub rests at {resting} MiB RSS after the uploads. Setting up: the "
        f"{args.commits}-commit history pushed over git in {push:.2f} s (one push, every "
        f"object checked); the LFS file uploaded by `huggingface_hub` in {upload:.2f} s.",
        "",
        "Peak RSS is the hub process's `VmHWM`, reset before each run: memory stays flat "
        "because packs are made from stored objects a batch at a time and LFS bytes are "
        "streamed from disk by the LFS download URL, as for `snapshot_download`. A git-lfs "
        "clone writes the file twice (into `.git/lfs/objects`, then the working tree); "
        "`snapshot_download` writes it once.",
        "",
    ]
    out = ROOT / "benchmarks" / "GIT_RESULTS.md"
    out.write_text("\n".join(lines))
    print(out.read_text())


if __name__ == "__main__":
    main()
