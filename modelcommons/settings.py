"""One settings object, built once and handed to :class:`modelcommons.hub.Hub`.

Nothing here reads the environment at import time; :meth:`Settings.from_env` is
called explicitly by the command line.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

MB = 1000 * 1000
MiB = 1024 * 1024
GB = 1000 * MB


@dataclasses.dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./commons-data")
    #: SQLAlchemy URL; defaults to ``sqlite:///<data_dir>/commons.db``.
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    #: Public base URL used in absolute links (``url``, ``commitUrl``, LFS hrefs,
    #: ``Link`` headers). When unset it is derived from each request's Host header.
    #: Its path, if any (``https://example.org/hub``), is the hub's URL prefix: every
    #: route, link, redirect and cookie lives under it (see :attr:`url_prefix`).
    public_url: str | None = None
    #: Whether the reverse proxy removes ``public_url``'s path before forwarding
    #: (``/hub/api/...`` arrives as ``/api/...``). False (the default): requests arrive
    #: with the full path, and a path outside the prefix is not found.
    proxy_strips_prefix: bool = False
    #: Reverse proxies whose ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed:
    #: comma-separated addresses or networks (``127.0.0.1,::1``, ``10.0.0.0/8``), or
    #: ``*`` for any peer. Empty (the default): none, and a request's client address is
    #: the peer that connected, whatever headers it sends.
    trusted_proxies: str = ""
    #: Failed sign-ins allowed per account name, and per client address (an IPv6 client
    #: counts as its /64), within ``login_window_seconds``; further attempts are refused
    #: with 429, without checking the password, until that window ends. 0: no limit.
    login_max_failures_per_account: int = 10
    login_max_failures_per_address: int = 100
    #: A window starts at the first failure after the previous window ended.
    login_window_seconds: int = 900
    #: Files of this size and above are stored as git LFS objects.
    lfs_threshold_bytes: int = 10 * MB
    #: Preupload answers ``regular`` (inline base64 in the commit) up to this size and
    #: ``lfs`` above, as the Hugging Face Hub does: stock clients then upload through
    #: Xet (or Git LFS with ``HF_HUB_DISABLE_XET=1``), streamed, whatever the size.
    regular_upload_max_bytes: int = 10 * MB
    #: Preupload also answers ``lfs`` for non-empty files that ``.gitattributes`` sends
    #: to LFS (``*.bin``...) or that are stored as LFS, whatever their size, as the
    #: Hugging Face Hub does (stock clients then upload them through Xet or Git LFS).
    lfs_by_pattern: bool = True
    #: Largest single file accepted (the plain-HTTP download limit of the client).
    max_file_bytes: int = 50 * GB
    max_operations_per_commit: int = 25_000
    max_path_length: int = 1024
    max_commit_message_bytes: int = 64 * 1024
    #: git over HTTP: the largest pack one push may send, which is also the most its
    #: objects may unpack to (LFS files travel through the LFS API, not in the pack).
    git_max_push_bytes: int = 2 * GB
    #: The largest object (commit, tree or file) in a pushed pack. Files that are not
    #: LFS pointers must also be under ``lfs_threshold_bytes``, as on the Hugging Face Hub.
    git_max_object_bytes: int = 16 * MiB
    #: Branches a git push may not rewind (force-push) or delete: comma-separated
    #: patterns (``main,release/*``).
    protected_branches: str = "main"
    #: Xet: how long a CAS token (and a xorb range URL) stays valid; the client
    #: asks for a new token before it expires.
    xet_token_ttl_seconds: int = 900
    #: Xet: the CAS's URL as clients are told it (``casUrl``). Unset: ``/cas`` on
    #: this hub, served by the same process.
    xet_cas_url: str | None = None
    #: Xet: move each file of ``lfs_threshold_bytes`` or more that arrives by Git LFS
    #: (basic or multipart) or inline into the chunk store in the background (as
    #: ``commons xet migrate`` does), so that it is stored once and deduplicates.
    xet_chunk_uploads: bool = True
    #: How long signed LFS upload URLs stay valid.
    lfs_url_ttl_seconds: int = 3600
    #: Multipart LFS uploads are offered for objects above this size, in parts of
    #: this size. Each part costs a request and a pipeline drain: in two side-by-side
    #: runs of benchmarks/transfer.py under load, 64 MiB parts reached 0.85 of a basic
    #: PUT's speed and 256 MiB parts 0.99 (the committed RESULTS.md shows 0.93).
    multipart_chunk_bytes: int = 256 * MiB
    #: With blobs in S3: multipart LFS parts go from the client straight to the store
    #: (presigned PUT URLs in the batch answer); the hub still reads them back and
    #: checks the sha256 before the object is usable.
    upload_presigned_parts: bool = False
    #: Bytes per read when serving files (Starlette's 64 KiB default is 3-4x slower).
    download_chunk_bytes: int = 4 * MiB
    #: Caps on one request's head: bytes of the request line and headers, and header
    #: fields. Past either, ``commons serve`` answers 431 and closes the connection.
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    #: Uploads (LFS PUTs and parts, xorbs, shards) read straight from the socket by
    #: worker threads, at most this many at a time (each holds up to three threads
    #: and 8 MiB of buffers while its client sends); the rest take uvicorn's slower
    #: path. 0: never.
    socket_body_slots: int = 8
    #: Such an upload that receives no byte for this long is given up (408).
    body_idle_timeout_seconds: int = 60
    #: Uploads to a local blob folder write whole aligned blocks with ``O_DIRECT``,
    #: past the page cache (storage/direct.py): less CPU per byte, and stored uploads
    #: do not push read data out of the cache. Off: every write is buffered.
    direct_io: bool = True
    #: Secret for signed URLs; generated and stored in the data dir when unset.
    secret_key: str | None = None
    page_size: int = 1000
    #: What a licence violation in a card's ancestry does: "warn" (store and report
    #: the findings) or "reject" (fail the commit). Namespaces may override it with
    #: ``commons policy set``.
    licence_policy: str = "warn"
    #: What a file found ``unsafe`` by the scanners does: "warn" (flag it and show why)
    #: or "quarantine" (everyone but the repository's admins gets 403 ``UnsafeFile``
    #: for it, and it is left out of their listings). Namespaces may override it with
    #: ``commons scan policy``.
    scan_policy: str = "warn"
    #: Background jobs (staged release promotions): "sqlite" (embedded Huey queue in
    #: the data dir, consumed inside ``commons serve``), "redis" (at ``redis_url``),
    #: "memory" or "immediate" (tests: jobs run as they are enqueued).
    task_queue: str = "sqlite"
    redis_url: str = "redis://127.0.0.1:6379/0"
    task_queue_name: str = "commons"
    #: With the Redis queue, a worker holds a lease this long (renewed every third of
    #: it); the jobs of a worker whose lease expired are put back on the queue.
    job_lease_seconds: int = 30
    #: How often the scheduler looks for due release promotions.
    release_tick_seconds: int = 30
    #: Log lines (the request log, warnings, errors) as ``text`` or ``json`` (one
    #: object per line).
    log_format: str = "text"
    #: Whether ``commons serve`` logs one line per request.
    log_requests: bool = True
    #: The Ed25519 key that signs audit checkpoints; default ``audit-signing.key`` in
    #: the data dir (made, 0600, on first use). Keep it away from the database's disk
    #: so that whoever can rewrite the log cannot sign the rewrite.
    audit_key_file: str | None = None
    #: A signed checkpoint is made at least every this many audit entries...
    audit_checkpoint_entries: int = 32
    #: ...and, when entries are appended, at least this often.
    audit_checkpoint_seconds: int = 600
    # -- scaling out (README "Scaling out") --
    #: Where blobs live: unset (``<data_dir>/blobs``), a folder, or
    #: ``s3://bucket/prefix`` for an S3-compatible object store. Credentials come from
    #: the standard AWS variables (``AWS_ACCESS_KEY_ID``...) or profile (``AWS_PROFILE``).
    blob_store: str | None = None
    #: The S3 endpoint for a store that is not AWS (MinIO, Ceph, ...).
    s3_endpoint_url: str | None = None
    #: The S3 region; unset: ``AWS_REGION`` / the profile's.
    s3_region: str | None = None
    #: How long a call to the store may wait to connect, and then for each answer,
    #: and how many times it is tried: a store that hangs costs a request at most
    #: about attempts x timeout before its 503.
    s3_timeout_seconds: int = 60
    s3_attempts: int = 5
    #: ``resolve`` of a file in an object store answers 302 to a presigned URL of the
    #: store (valid ``download_redirect_seconds``) instead of sending the bytes itself.
    download_redirect: bool = False
    download_redirect_seconds: int = 300
    #: Whether ``serve`` (and every command) upgrades the database when it starts. Turn
    #: it off for replicas: ``commons migrate`` runs once, and a replica started on an
    #: older database refuses to start instead of racing the others to upgrade it.
    auto_migrate: bool = True
    #: Webhooks are delivered only to public addresses (checked on the address the
    #: URL resolves to, at each delivery), and to these networks too: comma-separated
    #: CIDRs (``10.0.0.0/8,192.168.1.20/32``), for receivers inside your own network.
    webhook_allowed_networks: str = ""
    #: Attempts per delivery (the first and the retries), and the wait between them.
    webhook_max_attempts: int = 5
    webhook_retry_seconds: int = 60
    #: How long one delivery may take (connecting and the answer).
    webhook_timeout_seconds: int = 10
    #: Tests only: a file holding seconds to add to the hub's clock, read on every
    #: reading of the clock, so a test can move time for a server in another process.
    test_clock_file: str | None = None

    @property
    def sqlite_path(self) -> Path:
        """Where the embedded SQLite database lives when ``database_url`` is unset."""
        return self.data_dir / "commons.db"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.sqlite_path.resolve()}"

    @property
    def audit_key_path(self) -> Path:
        return (
            Path(self.audit_key_file)
            if self.audit_key_file
            else self.data_dir / "audit-signing.key"
        )

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def trusted_proxy_list(self) -> list[str]:
        """``trusted_proxies`` split and checked; a malformed entry raises ValueError."""
        items = [item.strip() for item in self.trusted_proxies.split(",") if item.strip()]
        for item in items:
            if item == "*":
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {item!r} is not an IP address or network"
                ) from None
        return items

    @property
    def url_prefix(self) -> str:
        """The path of ``public_url`` without its trailing slash: ``""`` (the hub is at
        the root) or like ``/hub``. A malformed ``public_url`` raises ValueError."""
        if not self.public_url:
            if self.proxy_strips_prefix:
                raise ValueError("proxy_strips_prefix needs a public_url with a path")
            return ""
        parts = urlsplit(self.public_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"public_url: {self.public_url!r} is not an http(s) URL")
        if parts.query or parts.fragment or "@" in parts.netloc:
            raise ValueError(
                f"public_url: {self.public_url!r} may not have a query, fragment or user"
            )
        prefix = parts.path.removesuffix("/")
        if prefix and not _PREFIX.fullmatch(prefix):
            raise ValueError(
                f"public_url: the path {parts.path!r} must be /segment[/segment...] of "
                "letters, digits, '-', '_', '.' and '~', without '.' or '..' segments"
            )
        if self.proxy_strips_prefix and not prefix:
            raise ValueError("proxy_strips_prefix needs a public_url with a path")
        return prefix

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``COMMONS_*`` variables, then explicit overrides (CLI flags)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(f"COMMONS_{field.name.upper()}")
            if raw is None:
                continue
            if field.type in ("int", int):
                values[field.name] = int(raw)
            elif field.type in ("bool", bool):
                values[field.name] = _flag(field.name, raw)
            elif field.name == "data_dir":
                values[field.name] = Path(raw)
            else:
                values[field.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "data_dir" in values:
            values["data_dir"] = Path(str(values["data_dir"]))
        return cls(**values)  # type: ignore[arg-type]


_SEGMENT = r"(?!\.\.?(?:/|$))[A-Za-z0-9._~-]+"
_PREFIX = re.compile(f"(?:/{_SEGMENT})+")


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"COMMONS_{name.upper()}: {raw!r} is not a boolean (true or false)")
