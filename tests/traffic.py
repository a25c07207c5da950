"""Clients committing through the real ``huggingface_hub`` client while something else
happens (a backend goes down, maintenance runs), and what they must find after."""

from __future__ import annotations

import hashlib
import os
import threading

from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError


class Traffic:
    """``clients`` threads committing through the real client until stopped; each
    commit's title is unique. ``acked``: titles the hub answered 200 for. ``refused``:
    (status, Retry-After, error code) of each error answer; ``broken``: anything else
    (a connection error, an exception that is no HTTP answer)."""

    def __init__(self, url: str, token: str, repo: str, *, clients: int = 3, lfs: bool = False):
        self.url, self.token, self.repo, self.lfs = url, token, repo, lfs
        self.acked: list[str] = []
        #: path -> sha256 of the bytes sent, for each acknowledged commit
        self.files: dict[str, str] = {}
        self.refused: list[tuple[int, str | None, str | None]] = []
        self.broken: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(clients)]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(300)

    def count(self) -> tuple[int, int]:
        with self._lock:
            return len(self.acked), len(self.refused)

    def a_file(self) -> str:
        """The path of a file an acknowledged commit holds (whichever client made it:
        under load, client 0 need not have committed twice)."""
        with self._lock:
            return next(iter(self.files))

    def _run(self, n: int) -> None:
        api = HfApi(endpoint=self.url, token=self.token)
        i = 0
        while not self._stop.is_set():
            i += 1
            title = f"client {n} commit {i}"
            data = os.urandom(96 * 1024) if self.lfs else f"{n}-{i}\n".encode()
            path = f"c{n}/{i}.bin"
            try:
                api.upload_file(
                    path_or_fileobj=data,
                    path_in_repo=path,
                    repo_id=self.repo,
                    commit_message=title,
                )
            except HfHubHTTPError as exc:
                r = exc.response
                with self._lock:
                    self.refused.append(
                        (r.status_code, r.headers.get("retry-after"), r.headers.get("x-error-code"))
                    )
                self._stop.wait(0.3)
                continue
            except Exception as exc:
                with self._lock:
                    self.broken.append(f"{type(exc).__name__}: {exc}")
                self._stop.wait(0.3)
                continue
            with self._lock:
                self.acked.append(title)
                self.files[path] = hashlib.sha256(data).hexdigest()

    def check(self) -> None:
        """Every error was a 503 with Retry-After; every acknowledged commit is in the
        branch's history, once."""
        assert not self.broken, self.broken[:5]
        odd = [r for r in self.refused if r != (503, "5", "ServiceUnavailable")]
        assert not odd, odd[:5]
        api = HfApi(endpoint=self.url, token=self.token)
        history = [c.title for c in api.list_repo_commits(self.repo)]
        missing = set(self.acked) - set(history)
        assert not missing, f"acknowledged commits lost: {sorted(missing)[:5]}"
        assert len(set(self.acked)) == len(self.acked)
