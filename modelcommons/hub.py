"""The Hub: built once from :class:`Settings`, and handed to everything else."""

from __future__ import annotations

import concurrent.futures
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from . import scaleout
from .accounts.login_throttle import LoginThrottle
from .audit import AuditLog
from .clock import Clock, clock_for
from .db.database import Database
from .db.schema import Repo
from .errors import HubError, RepoNotFound
from .governance import quarantine
from .jobs import Jobs
from .pipeline.runner import Pipeline
from .search import SearchIndex, open_search_index
from .settings import Settings
from .storage.backends import open_blob_store
from .storage.blobs import BlobStore
from .storage.commits import Committer
from .storage.signed_urls import UrlSigner
from .storage.trees import TreeCache
from .webhooks import Webhooks
from .xet.blobstore import XetBackedStore
from .xet.tokens import XetSigner


class Hub:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.resolved_database_url)
        if settings.scan_policy not in quarantine.POLICIES:
            raise ValueError(
                f"scan_policy must be warn or quarantine, not {settings.scan_policy!r}"
            )
        # access.content reads the hub's scan policy from the session it is given.
        self.db.sessions.configure(info={quarantine.SESSION_KEY: settings.scan_policy})
        #: Where blobs are kept (a folder or an object store), and the store the rest
        #: of the hub reads: files held as Xet chunks read through it like any blob
        #: (xet/blobstore.py).
        self.store: BlobStore = open_blob_store(settings)
        self.blobs: BlobStore = XetBackedStore(self.store, self.db)
        self.tree_cache = TreeCache()
        #: Signs URLs; every replica must have the same (``scaleout.check_secrets``).
        #: ``signer`` signs LFS upload URLs, ``download_signer`` download URLs, with
        #: another salt, so that neither kind of URL works as the other.
        self.secret = self._secret()
        self.signer = UrlSigner(self.secret, settings.lfs_url_ttl_seconds, "upload")
        self.download_signer = UrlSigner(self.secret, settings.lfs_url_ttl_seconds, "download")
        #: Signs Xet CAS tokens and xorb range URLs.
        self.xet_signer = XetSigner(self.secret, settings.xet_token_ttl_seconds)
        #: The post-commit pipeline (plugins): the commit engine's observer.
        self.pipeline = Pipeline(self)
        self.committer = Committer(self, self.pipeline)
        self.audit = AuditLog(
            scaleout.anchors_for(self.store, settings.data_dir / "audit-anchors.log"),
            settings.audit_key_path,
            every=settings.audit_checkpoint_entries,
            seconds=settings.audit_checkpoint_seconds,
        )
        event.listen(self.db.sessions, "after_commit", self.audit.write_anchors)
        event.listen(
            self.db.sessions,
            "after_rollback",
            lambda session: session.info.pop("audit_anchors", None),
        )
        self.search: SearchIndex = open_search_index(
            self.db.engine.dialect.name, self.blobs, self.tree_cache
        )
        self.clock: Clock = clock_for(settings)
        self.login_throttle = LoginThrottle.from_settings(settings)
        self.jobs = Jobs(self)
        self.webhooks = Webhooks(self, self._secret())
        #: Threads for hashing and disk writes, so the event loop keeps receiving.
        self.io = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="io")

    def _secret(self) -> str:
        if self.settings.secret_key:
            return self.settings.secret_key
        path: Path = self.settings.data_dir / "secret.key"
        if not path.exists():
            tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never world-readable
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
            os.replace(tmp, path)
        return path.read_text().strip()

    def migrate(self) -> None:
        self.db.migrate()

    def startup(self) -> None:
        """Run migrations (or, with ``auto_migrate`` off, require them run), check that
        this process shares the other replicas' secrets, and clear staging files left
        by interrupted uploads."""
        scaleout.prepare(self)
        self.index_missing()
        self.blobs.cleanup_staging(older_than_seconds=self.settings.lfs_url_ttl_seconds * 2)

    def outage(self, exc: BaseException) -> HubError | None:
        """A 503 for an error that says a backend is unreachable (``scaleout``)."""
        return scaleout.outage(exc)

    def health(self) -> dict[str, str]:
        """``ok`` or the error, for the database, the blob store and the queue."""
        return scaleout.health(self)

    def index_missing(self) -> None:
        """Index repositories that have no search document (e.g. after upgrading)."""
        while True:
            with self.db.write() as session:
                if not self.search.index_missing(session):
                    return

    def store_bytes(self, data: bytes) -> str:
        staged = self.blobs.stage()
        staged.write(data)
        sha = staged.sha256()
        self.blobs.promote(staged, sha)
        return sha

    def rebuild_search(
        self,
        repo_pk: int | None = None,
        *,
        batch: int = 200,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Rebuild the search index for one repository, or for all of them.

        All: every document is dropped first (one transaction), then repositories are
        indexed afresh in id order, ``batch`` per transaction; until it finishes,
        searches miss the repositories not reached yet. ``progress(done, total)``
        follows each batch. Returns how many repositories were indexed.
        """
        if repo_pk is not None:
            with self.db.write() as session:
                repo = session.get(Repo, repo_pk)
                if repo is None:
                    raise RepoNotFound()
                self.search.rebuild(session, repo)
            return 1
        with self.db.write() as session:
            total = session.scalar(select(func.count()).select_from(Repo)) or 0
            self.search.reset(session)
        done, last = 0, 0
        while True:
            with self.db.write() as session:
                chunk = list(
                    session.scalars(
                        select(Repo).where(Repo.id > last).order_by(Repo.id).limit(batch)
                    )
                )
                for repo in chunk:
                    self.search.rebuild(session, repo)
            if not chunk:
                return done
            done, last = done + len(chunk), chunk[-1].id
            if progress:
                progress(done, max(total, done))

    def reindex(self, session: Session, repo: Repo) -> None:
        """Bring the search index up to date with ``repo`` (same transaction)."""
        self.search.update(session, repo)

    def unindex(self, session: Session, repo: Repo) -> None:
        self.search.remove(session, repo.id)

    def close(self) -> None:
        self.jobs.stop()
        self.io.shutdown(wait=False, cancel_futures=True)
        self.db.dispose()
