"""Replicas of one hub for the scale-out tests: what they share (a PostgreSQL
database, a bucket prefix, a Redis queue, the secrets), each on an empty data dir."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .conftest import PostgresDatabase, Server, s3_server
from .s3 import S3Target

MiB = 1024 * 1024
CHUNK = 5 * MiB


class Shared:
    """What the replicas of one hub share: a database, a bucket prefix, a queue, and
    the secrets (given by settings, as the README says)."""

    def __init__(self, s3: S3Target) -> None:
        self.s3 = s3
        self.pg = PostgresDatabase()
        self.keys = Path(tempfile.mkdtemp(prefix="commons-keys-"))
        self.blob_url = s3.url()
        self.settings: dict[str, Any] = {
            "database_url": self.pg.url,
            "auto_migrate": "false",
            "secret_key": secrets.token_urlsafe(32),
            "audit_key_file": str(self.keys / "audit.key"),
            "task_queue": "redis",
            "task_queue_name": f"scale{secrets.token_hex(4)}",
            "regular_upload_max_bytes": MiB,
            "multipart_chunk_bytes": CHUNK,
            "blob_store": self.blob_url,
        }
        self.servers: list[Server] = []

    def replica(self, **overrides: Any) -> Server:
        srv = s3_server(self.s3, "sqlite", **{**self.settings, **overrides})
        self.servers.append(srv)
        return srv

    def close(self) -> None:
        for srv in self.servers:
            srv.close()
        self.pg.drop()
        shutil.rmtree(self.keys, ignore_errors=True)
