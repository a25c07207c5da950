"""Background jobs on Huey: due release promotions, post-commit pipeline steps, webhook
deliveries and moving LFS uploads into the Xet chunk store (``xet_chunk_uploads``).

Huey is a small, mature task queue with storage backends chosen at run time: the
embedded default needs nothing beyond the data dir (``SqliteHuey``, a file next to the
database, with a consumer thread inside ``commons serve``), ``memory``/``immediate``
serve tests, and ``redis`` lets several hub processes share one queue, with leases so
that the jobs of a worker killed mid-job run again (``leases.py``). Celery or RQ would
need a broker even for one process; Huey needs none by default.

Every job is idempotent, since a job may run twice (``leases.py`` says when): a
promotion names the stage it expects to open (and locks the plan), a pipeline step
claims its ``pipeline_steps`` row, a webhook delivery sends only while its row is
``pending`` (deliveries are at least once anyway), a chunking finds the blob converted.

Jobs are enqueued only after the transaction that made them due has committed:
:meth:`Jobs.after_commit` parks them on the session until its ``after_commit`` event.

May import: ``governance``, ``webhooks`` and ``xet`` (the jobs' own code).
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from .. import webhooks
from ..governance import releases
from ..settings import Settings
from ..xet import migrate as xet_migrate

if TYPE_CHECKING:
    from huey import Huey

    from ..hub import Hub
    from ..pipeline.steps import Landed

log = logging.getLogger("modelcommons.jobs")
QUEUES = ("sqlite", "memory", "immediate", "redis")


def _chunk(hub: Hub, sha256: str) -> bool:
    item = xet_migrate.candidate(hub.db, sha256)
    if item is None:
        # Bytes already held as chunks (sent again by Git LFS, which has the client
        # send them to prove it has them): the whole-file copy just received goes.
        if xet_migrate.held(hub.db, sha256):
            xet_migrate.drop_whole_copy(hub.blobs, sha256)
        return False
    url = chunking_cas_url(hub.settings)
    if url is None:
        log.warning(
            "Not moving %s into the Xet store: a `commons worker` reaches the CAS through "
            "xet_cas_url or public_url, and neither is set (it stays whole; `commons xet "
            "migrate` moves it once one is).",
            sha256,
        )
        return False
    return xet_migrate.convert(hub.db, hub.blobs, hub.xet_signer, url, item)


def chunking_cas_url(s: Settings) -> str | None:
    """Where a chunk job reaches the CAS: ``xet_cas_url``; else, with the Redis queue
    (jobs run in a `commons worker`, which serves no HTTP), where clients reach it
    (``public_url``), or nowhere when that is unset too (calling its own host:port
    would wait on a hub that is not there); else this process itself."""
    configured = s.xet_cas_url
    if configured is None and s.task_queue == "redis":
        if not s.public_url:
            return None
        configured = s.public_url.rstrip("/") + "/cas"
    prefix = "" if s.proxy_strips_prefix else s.url_prefix  # as requests reach this process
    return xet_migrate.local_cas_url(s.host, s.port, prefix, configured)


def make_huey(settings: Settings, runner: str) -> Huey:
    """The queue of ``settings``; ``runner`` names this process's lease (Redis)."""
    # Imported here: huey loads its Redis and PostgreSQL storages eagerly, a third of
    # a second that every `commons` command would otherwise pay before doing anything.
    from huey import MemoryHuey, SqliteHuey

    kind, name = settings.task_queue, settings.task_queue_name
    # No job's return value is ever read: Huey would keep every one (forever, in
    # Redis or the SQLite file) unless told not to.
    if kind == "sqlite":
        return SqliteHuey(name, results=False, filename=str(settings.data_dir / "queue.db"))
    if kind == "memory":
        return MemoryHuey(name, results=False)
    if kind == "immediate":
        return MemoryHuey(name, results=False, immediate=True)
    if kind == "redis":
        from .leases import LeasedRedisHuey

        return LeasedRedisHuey(
            name,
            results=False,
            url=settings.redis_url,
            worker=runner,
            lease_seconds=settings.job_lease_seconds,
        )
    raise ValueError(f"task_queue must be one of {', '.join(QUEUES)}, not {kind!r}.")


@dataclasses.dataclass(frozen=True)
class _Queue:
    huey: Huey
    promote: Any  # huey TaskWrappers: calling one enqueues the task
    check: Any
    step: Any
    deliver: Any
    chunk: Any


class Jobs:
    #: How often Huey runs a failed post-commit step again (after its first run).
    STEP_RETRIES = 3

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._queue: _Queue | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        #: This process, as the runner of pipeline steps and the holder of a lease.
        self.runner = secrets.token_hex(8)
        #: An enqueue after a commit failed here (the queue was unreachable).
        self._lost = False
        event.listen(hub.db.sessions, "after_commit", self._flush)
        event.listen(hub.db.sessions, "after_rollback", self._discard)

    @property
    def queue(self) -> _Queue:
        """The task queue, opened on first use (most `commons` commands never need it)."""
        with self._lock:
            if self._queue is None:
                from huey.exceptions import RetryTask

                huey, hub = make_huey(self.hub.settings, self.runner), self.hub

                def promote(repo_pk: int, stage: int) -> bool:
                    return releases.run_promotion(hub, repo_pk, stage)

                def check() -> int:
                    return releases.schedule_due(hub)

                def step(landed: Landed, name: str) -> str:
                    try:
                        return hub.pipeline.run_step(landed, name)
                    except Exception as exc:
                        # The database or the store is down: try again until it is
                        # back, without spending the step's own retries.
                        if hub.outage(exc) is None:
                            raise
                        raise RetryTask(str(exc)[:200], delay=5) from exc

                def deliver(delivery_id: int) -> bool:
                    return webhooks.deliver(hub, delivery_id)

                settings = hub.settings

                def chunk(sha256: str) -> bool:
                    return _chunk(hub, sha256)

                self._queue = _Queue(
                    huey,
                    huey.task(name="release.promote")(promote),
                    huey.task(name="release.check")(check),
                    # Post-commit steps: retried, each run idempotent (pipeline/runner.py).
                    huey.task(name="pipeline.step", retries=self.STEP_RETRIES, retry_delay=2)(step),
                    huey.task(
                        name="webhook.deliver",
                        retries=max(settings.webhook_max_attempts - 1, 0),
                        retry_delay=settings.webhook_retry_seconds,
                    )(deliver),
                    huey.task(name="xet.chunk")(chunk),
                )
            return self._queue

    @property
    def huey(self) -> Huey:
        return self.queue.huey

    def alive(self, runner: str) -> bool:
        """Whether the process ``runner`` (a :attr:`runner`) may still be running a job.

        With Redis: it holds its lease. Otherwise the queue has one consumer process
        (``commons serve``'s threads), so only this one is alive: a runner recorded
        by an earlier process died with it.
        """
        if runner == self.runner:
            return True
        if self.hub.settings.task_queue != "redis":
            return False
        return bool(self.huey.storage.alive(runner))

    def promote(self, repo_pk: int, stage: int) -> None:
        self.queue.promote(repo_pk, stage)

    def check(self) -> None:
        self.queue.check()

    def pipeline_step(self, landed: Landed, name: str) -> None:
        """Queue one background step of the post-commit pipeline for one commit."""
        self.queue.step(landed, name)

    def deliver_webhook(self, delivery_id: int) -> None:
        self.queue.deliver(delivery_id)

    def chunk(self, sha256: str) -> None:
        """Move a verified LFS upload into the Xet chunk store (``xet_chunk_uploads``)."""
        self.queue.chunk(sha256)

    def after_commit(self, session: Session, job: Callable[[], None]) -> None:
        """Run ``job`` (an enqueue) once ``session`` commits; never if it rolls back."""
        session.info.setdefault("after_commit_jobs", []).append(job)

    def _flush(self, session: Session) -> None:
        jobs = session.info.pop("after_commit_jobs", [])
        failed = False
        for job in jobs:
            try:
                job()
            except Exception:
                # The change is committed; a job that could not be enqueued (the queue
                # is down) is queued again once it answers: promotions by the release
                # ticker, pipeline steps (still `queued` in the database) by the next
                # enqueue that works here, or by a worker when Redis is back.
                log.exception("could not enqueue a job after a commit")
                failed = True
        if failed:
            self._lost = True
        elif jobs and self._lost:
            self._requeue()

    def _requeue(self) -> None:
        """Queue again the pipeline steps left `queued` (an enqueue may have failed, a
        process stopped) or `running` under a dead runner. If the database or the
        queue cannot be reached, the release ticker tries again."""
        self._lost = False
        try:
            count = self.hub.pipeline.resume()
        except Exception:
            log.exception("could not queue the unfinished pipeline steps again")
            self._lost = True
        else:
            if count:
                log.warning("queued %d unfinished pipeline step(s) again", count)

    def _discard(self, session: Session) -> None:
        session.info.pop("after_commit_jobs", None)

    def start(self) -> None:
        """Start a consumer (threads) and the ticker that enqueues due promotions,
        inside ``commons serve``; with the Redis queue serve only enqueues, and
        ``commons worker`` (:meth:`run_worker`) runs the jobs."""
        if self.hub.settings.task_queue == "redis":
            return
        if not self.huey.immediate and self.hub.settings.task_queue != "memory":
            # An idle worker backs off to at most 1 s between polls (Huey's default is
            # 10 s): post-commit scans start within about a second of the commit.
            consumer = self.huey.create_consumer(
                workers=2, worker_type="thread", periodic=False, max_delay=1.0
            )
            consumer.start()
        threading.Thread(target=self._tick, name="release-scheduler", daemon=True).start()

    def run_worker(self, workers: int = 2) -> None:
        """``commons worker``: consume the queue until SIGINT or SIGTERM. With Redis
        the worker holds a lease: the jobs it took come back to the queue if it dies
        (``leases.py``), and at once when it stops. Due release promotions are found
        by the ticker, which runs here too."""
        consumer = self.huey.create_consumer(
            workers=workers, worker_type="thread", periodic=False, max_delay=1.0
        )
        leased = self.hub.settings.task_queue == "redis"
        if leased:
            self.huey.storage.on_reconnect = self._requeue
            self.huey.storage.reclaim()  # before the first job: take the lease
        threading.Thread(target=self._tick, name="release-scheduler", daemon=True).start()
        # Pipeline steps a stopped process left queued or running; with the database
        # down, the ticker tries again.
        self._requeue()
        try:
            consumer.run()
        finally:
            if leased:
                self.huey.storage.release()

    def _tick(self) -> None:
        while not self._stop.wait(self.hub.settings.release_tick_seconds):
            if self._lost:
                self._requeue()
            try:
                releases.schedule_due(self.hub)
            except Exception:
                log.exception("release scheduler tick failed")

    def stop(self) -> None:
        self._stop.set()
        queue = self._queue
        if queue is not None and self.hub.settings.task_queue == "redis":
            try:
                queue.huey.storage.release()
            except Exception:
                log.exception("could not give the job lease back")
