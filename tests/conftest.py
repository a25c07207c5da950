"""Fixtures: real `commons serve` processes on SQLite and PostgreSQL.

Every test talks to a server over HTTP with the real clients; nothing under
test is mocked. PostgreSQL tests get a fresh database that is dropped after.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from .s3 import S3Target, s3_target

# The client reads its cache location at import time; keep it out of ~.
_HF_HOME = tempfile.mkdtemp(prefix="commons-hf-home-")
os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ.pop("HF_TOKEN", None)

PG_ADMIN_URL = os.environ.get("COMMONS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ROOT = Path(__file__).resolve().parent.parent
COMMONS = [sys.executable, "-m", "modelcommons"]
#: The background steps that follow a commit changing a card on main (Server.settle).
CARD_STEPS = ("search", "lineage", "licences")


def redis_up() -> bool:
    """Whether Redis answers at 127.0.0.1:6379 (tests of the Redis queue need it)."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(not redis_up(), reason="no Redis at 127.0.0.1:6379")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresDatabase:
    """A throwaway PostgreSQL database on the local server."""

    def __init__(self) -> None:
        import psycopg

        self.name = f"commons_test_{secrets.token_hex(6)}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        self.url = f"{base}/{self.name}"

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Server:
    """A `commons serve` subprocess with its own data dir (and database)."""

    #: Every server of this test process by the URL clients use (Server.at).
    running: ClassVar[dict[str, Server]] = {}

    @classmethod
    def at(cls, endpoint: str) -> Server:
        """The server a client's ``endpoint`` points at."""
        return cls.running[endpoint.rstrip("/")]

    def __init__(self, backend: str, *, prefix: str = "", **settings: object) -> None:
        """``prefix`` (``/hub``): serve under that path, as ``public_url`` on this port."""
        self.backend = backend
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"commons-{backend}-"))
        self.pg = PostgresDatabase() if backend == "postgresql" else None
        self.env = dict(os.environ)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        #: What clients use as HF_ENDPOINT: ``url`` plus the prefix, if any.
        self.endpoint = self.url + prefix
        if prefix:
            settings = {"public_url": self.endpoint, **settings}
        for key, value in settings.items():
            self.env[f"COMMONS_{key.upper()}"] = str(value)
        self.health_url = f"{self.endpoint}/api/health"
        Server.running[self.url] = Server.running[self.endpoint] = self
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.data_dir / "server.log"
        self._tokens: dict[str, str] = {}
        #: `commons worker` processes of this hub (start_worker).
        self.workers: list[subprocess.Popen[bytes]] = []

    @property
    def db_args(self) -> list[str]:
        args = ["--data-dir", str(self.data_dir)]
        if self.pg:
            args += ["--database-url", self.pg.url]
        return args

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [*COMMONS, "serve", "--port", str(self.port), *self.db_args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=ROOT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.health_url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start in 60 s")

    def start_worker(self) -> subprocess.Popen[bytes]:
        """A `commons worker` on this hub's settings (stopped with the server)."""
        with open(self.data_dir / "worker.log", "ab") as log:
            proc = subprocess.Popen(
                [*COMMONS, "worker", *self.db_args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=ROOT,
            )
        self.workers.append(proc)
        return proc

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: no cleanup, no shutdown hooks."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def close(self) -> None:
        self.stop()
        if self.pg:
            self.pg.drop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def cli(
        self, *args: str, input: str = "", check: bool = True, process: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run a ``commons`` command on this hub's data dir and database.

        In this process by default, through click's runner: the same command code and
        the same settings, without a second of interpreter and import start-up per call,
        which most tests only need to set up accounts. ``process=True`` runs the
        installed command in a process of its own, for tests of the command itself.
        """
        if process:
            result = subprocess.run(
                [*COMMONS, *args, *self.db_args],
                input=input,
                capture_output=True,
                text=True,
                env=self.env,
                cwd=ROOT,
                timeout=120,
            )
        else:
            from click.testing import CliRunner

            from modelcommons.cli import main

            settings = {k: v for k, v in self.env.items() if k.startswith(("COMMONS_", "AWS_"))}
            ran = CliRunner().invoke(main, [*args, *self.db_args], input=input, env=settings)
            if ran.exception is not None and not isinstance(ran.exception, SystemExit):
                raise ran.exception
            result = subprocess.CompletedProcess(
                ["commons", *args], ran.exit_code, ran.stdout, ran.stderr
            )
        if check and result.returncode != 0:
            raise AssertionError(f"commons {' '.join(args)} failed: {result.stderr}")
        return result

    def settle(
        self,
        repo_id: str,
        repo_type: str = "model",
        steps: tuple[str, ...] = CARD_STEPS,
    ) -> list[dict[str, object]]:
        """Wait until the post-commit pipeline's ``steps`` (those that follow a card:
        search index, lineage, licence check) are done or failed for every commit of
        ``repo_id``, as ``commons scan status`` shows them; returns those rows. They are
        background jobs: poll, with a generous deadline, not a timing assertion."""
        deadline = time.monotonic() + 120
        while True:
            out = self.cli("scan", "status", repo_id, "--kind", repo_type, "--json").stdout
            rows = [r for r in json.loads(out) if r["step"] in steps]
            if all(r["status"] in ("done", "error") for r in rows):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"pipeline of {repo_id} not settled: {rows}")
            time.sleep(0.1)

    def user(self, name: str, *, write: bool = True) -> str:
        """Create a user (once) and return a token for them."""
        key = f"{name}:{write}"
        if key not in self._tokens:
            role = "write" if write else "read"
            if not any(k.startswith(f"{name}:") for k in self._tokens):
                out = self.cli("user", "create", name, "--token", role)
            else:
                out = self.cli("token", "create", name, *(["--write"] if write else []))
            self._tokens[key] = out.stdout.strip().splitlines()[-1]
        return self._tokens[key]

    def rss_high_water_kb(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM")

    def reset_high_water(self) -> None:
        """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs)."""
        assert self.proc is not None
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")

    def rss_kb(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """The default hub, once per database backend."""
    srv = Server(request.param)
    srv.start()
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def sqlite_server() -> Iterator[Server]:
    """A default hub on SQLite, for client-compatibility tests that don't vary by DB."""
    srv = Server("sqlite")
    srv.start()
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def lfs_server() -> Iterator[Server]:
    """A hub that sends anything over 1 MB through LFS, with 5 MiB multipart chunks."""
    srv = Server(
        "sqlite", regular_upload_max_bytes=1_000_000, multipart_chunk_bytes=5 * 1024 * 1024
    )
    srv.start()
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Target]:
    """An S3-compatible store (moto's server, or COMMONS_TEST_S3_URL): see tests/s3.py."""
    yield from s3_target()


def s3_server(target: S3Target, backend: str = "sqlite", **settings: object) -> Server:
    """A hub (not started) whose blobs live in a fresh prefix of ``target`` (or in the
    ``blob_store`` given, to share one between replicas)."""
    url = str(settings.pop("blob_store", None) or target.url())
    srv = Server(backend, **{**target.settings(url), **settings})
    srv.env.update(target.env)
    srv.s3 = target.store(srv.data_dir / "scratch-test", url)  # type: ignore[attr-defined]
    return srv


@pytest.fixture()
def hf_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Xet off, as a user who follows the README would have it."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)


_counter = iter(range(10**9))


@pytest.fixture()
def repo_name() -> str:
    return f"repo{next(_counter)}-{secrets.token_hex(3)}"
