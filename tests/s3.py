"""An S3-compatible store for the tests: moto's standalone server (real HTTP, SigV4),
started once per session on a free port, or a real S3 / MinIO when
``COMMONS_TEST_S3_URL`` (``s3://bucket[/prefix]``) is set, with
``COMMONS_TEST_S3_ENDPOINT`` for a store that is not AWS and the standard AWS
credential variables. Each user of it gets a prefix of its own."""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelcommons.storage.s3 import S3BlobStore, S3Location
from modelcommons.storage.s3send import make_client


@dataclasses.dataclass
class S3Target:
    endpoint: str | None
    bucket: str
    base: str  # prefix of everything this session puts there ("" or ending in /)
    env: dict[str, str]

    def url(self, name: str | None = None) -> str:
        """A fresh ``s3://`` location for one hub or one test."""
        return f"s3://{self.bucket}/{self.base}{name or secrets.token_hex(6)}"

    def client(self) -> Any:
        old = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            return make_client(self.endpoint, self.env.get("AWS_DEFAULT_REGION"))
        finally:
            for key, value in old.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def store(self, scratch: Path, url: str | None = None) -> S3BlobStore:
        return S3BlobStore(S3Location.parse(url or self.url()), self.client(), scratch)

    def settings(self, url: str | None = None) -> dict[str, str]:
        """COMMONS_* settings (for ``Server``) of a hub whose blobs live here."""
        out = {"blob_store": url or self.url()}
        if self.endpoint:
            out["s3_endpoint_url"] = self.endpoint
        return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def s3_target() -> Iterator[S3Target]:
    """Yields the store for a test session; stops the moto server it started."""
    real = os.environ.get("COMMONS_TEST_S3_URL")
    if real:
        location = S3Location.parse(real)
        env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
        yield S3Target(
            os.environ.get("COMMONS_TEST_S3_ENDPOINT"),
            location.bucket,
            f"{location.prefix}test-{secrets.token_hex(4)}/",
            env,
        )
        return
    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    target = S3Target(endpoint, "commons-test", "", env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"moto did not start: {Path(log.name).read_text()}"
                    ) from None
                time.sleep(0.1)
        target.client().create_bucket(Bucket=target.bucket)
        yield target
    finally:
        proc.terminate()
        proc.wait(10)
        Path(log.name).unlink(missing_ok=True)
