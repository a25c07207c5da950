"""A Redis queue whose jobs outlive the worker that took them (README "Scaling out").

Huey's Redis storage pops a job off the queue (``BRPOP``) before running it, so a
``commons worker`` killed mid-job loses the job for good. Here a worker moves each job
it takes, in one atomic step (``BLMOVE``), from the queue onto a list of its own
(``huey.taken.<queue>.<worker>``), and removes it from there only once Huey is done
with it: it ran, failed for good, or was put back (or scheduled) for a retry.

Each worker holds a **lease**: a key ``huey.lease.<queue>.<worker>`` that expires
``job_lease_seconds`` after it was last renewed, renewed every third of that by a
thread of the worker. The same thread **reclaims** the jobs of the other workers
(``huey.workers.<queue>``, a set) whose lease has expired: one Lua script moves their
taken jobs back to the head of the queue, so exactly one worker gets each, and forgets
the dead worker. A worker that stops on SIGTERM puts its own taken jobs back at once.

So a job is delivered at least once: it runs again after its worker died, and may run
twice when a worker died after finishing a job but before removing it, or was cut off
from Redis for longer than its lease. Every job is idempotent (README "Scaling out").

Redis may lose jobs without any worker dying: it restarted without persistence, or a
replica could not enqueue while it was unreachable (the commit stands; ``Jobs`` logs
the failed enqueue). A worker whose renewal failed, or that finds its own lease gone
although it held it, calls :attr:`LeasedRedisStorage.on_reconnect` once Redis answers
again: ``Jobs`` then queues the unfinished pipeline steps from the database again.

The lease is also how a job tells whether another worker still runs a piece of work
it finds claimed (:meth:`LeasedRedisStorage.alive`): pipeline steps record the runner.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from huey import RedisHuey
from huey import signals as huey_signals
from huey.storage import RedisStorage

log = logging.getLogger("modelcommons.jobs")

#: KEYS: the workers set, the queue. ARGV: lease key prefix, taken key prefix, this
#: worker. Moves the taken jobs of every worker without a lease back to the queue's
#: head (the end ``BLMOVE`` takes from), forgets those workers; returns the jobs moved.
_RECLAIM = """
local moved = 0
for _, w in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if w ~= ARGV[3] and redis.call('EXISTS', ARGV[1] .. w) == 0 then
    while redis.call('LMOVE', ARGV[2] .. w, KEYS[2], 'RIGHT', 'RIGHT') do
      moved = moved + 1
    end
    redis.call('SREM', KEYS[1], w)
  end
end
return moved
"""


class LeasedRedisStorage(RedisStorage):  # type: ignore[misc]
    """Huey's Redis storage with taken lists and leases (see the module doc)."""

    def __init__(self, name: str = "huey", *, worker: str, lease_seconds: int, **kw: Any):
        super().__init__(name, **kw)
        self.worker = worker
        self.lease_seconds = max(int(lease_seconds), 1)
        self.workers_key = f"huey.workers.{self.name}"
        self.lease_prefix = f"huey.lease.{self.name}."
        self.taken_prefix = f"huey.taken.{self.name}."
        self.lease_key = self.lease_prefix + worker
        self.taken_key = self.taken_prefix + worker
        self._reclaim = self.conn.register_script(_RECLAIM)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        #: Jobs finished while Redis could not be reached: finished at the next renewal.
        self._unfinished: list[tuple[bytes, bool]] = []
        self._unfinished_lock = threading.Lock()
        #: Called (in the lease thread) when Redis answers again after a renewal
        #: failed, or after it lost this worker's lease: jobs may have been lost.
        self.on_reconnect: Callable[[], None] | None = None
        self._held = False  # the lease was taken once
        self._cut = False  # the last renewal failed

    # ------------------------------------------------------------ taking, finishing

    def dequeue(self) -> bytes | None:
        self.hold_lease()
        try:
            data: bytes | None = self.conn.blmove(
                self.queue_key, self.taken_key, self.read_timeout, "RIGHT", "LEFT"
            )
        except TimeoutError:
            data = None  # as Huey's own: a lost connection propagates, for backoff
        self._local.taken = data
        return data

    def finished(self, ok: bool) -> None:
        """After Huey executed the job this thread took: drop it from the taken list
        when Huey is done with it (``ok``), else (the job was interrupted by a stop,
        or Huey could not even record a retry) put it back on the queue."""
        data, self._local.taken = getattr(self._local, "taken", None), None
        ok = ok and not getattr(self._local, "interrupted", False)
        self._local.interrupted = False
        if data is None:
            return
        try:
            self._finish(data, ok)
        except Exception:
            log.exception("could not finish a job in Redis; trying again with the lease")
            with self._unfinished_lock:
                self._unfinished.append((data, ok))

    def interrupted(self) -> None:
        """The job this thread runs was interrupted (Huey swallows the interrupt)."""
        self._local.interrupted = True

    def _finish(self, data: bytes, ok: bool) -> None:
        with self.conn.pipeline() as pipe:  # MULTI: removed and re-queued together
            pipe.lrem(self.taken_key, 1, data)
            if not ok:
                pipe.rpush(self.queue_key, data)
            pipe.execute()

    # ------------------------------------------------------------ the lease

    def hold_lease(self) -> None:
        """Take the lease (once) and keep renewing it until :meth:`release`."""
        with self._lock:
            if self._renewer is not None:
                return
            self._renew()
            self._renewer = threading.Thread(target=self._keep, name="job-lease", daemon=True)
            self._renewer.start()

    def _renew(self) -> int:
        try:
            with self.conn.pipeline() as pipe:
                pipe.exists(self.lease_key)
                pipe.set(self.lease_key, "1", ex=self.lease_seconds)
                pipe.sadd(self.workers_key, self.worker)
                had_lease = bool(pipe.execute()[0])
        except Exception:
            self._cut = True
            raise
        gap, self._cut = self._cut or (self._held and not had_lease), False
        self._held = True
        if gap and self.on_reconnect is not None:
            log.warning("Redis answers again: queueing what may have been lost meanwhile")
            try:
                self.on_reconnect()
            except Exception:
                log.exception("could not queue again the jobs Redis may have lost")
        with self._unfinished_lock:
            unfinished, self._unfinished = self._unfinished, []
        for i, (data, ok) in enumerate(unfinished):
            try:
                self._finish(data, ok)
            except Exception:
                with self._unfinished_lock:
                    self._unfinished.extend(unfinished[i:])
                raise
        moved = int(
            self._reclaim(
                keys=[self.workers_key, self.queue_key],
                args=[self.lease_prefix, self.taken_prefix, self.worker],
            )
        )
        if moved:
            log.warning("put back %d job(s) of workers whose lease expired", moved)
        return moved

    def _keep(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                self._renew()
            except Exception:
                log.exception("could not renew the job lease (Redis unreachable?)")

    def alive(self, worker: str) -> bool:
        """Whether ``worker`` (this one or another) holds its lease."""
        return worker == self.worker or bool(self.conn.exists(self.lease_prefix + worker))

    def reclaim(self) -> int:
        """Put back now the jobs of workers whose lease expired (also done every
        renewal); returns how many."""
        self.hold_lease()
        return self._renew()

    def release(self) -> None:
        """Stop renewing; put this worker's taken jobs back and drop its lease."""
        self._stop.set()
        if self._renewer is None:
            return
        while self.conn.lmove(self.taken_key, self.queue_key, "RIGHT", "RIGHT") is not None:
            pass
        with self.conn.pipeline() as pipe:
            pipe.delete(self.lease_key)
            pipe.srem(self.workers_key, self.worker)
            pipe.execute()


class LeasedRedisHuey(RedisHuey):  # type: ignore[misc]
    """``RedisHuey`` on :class:`LeasedRedisStorage`: a job leaves the worker's taken
    list only once :meth:`execute` returned (a retry is then stored already)."""

    storage_class = LeasedRedisStorage

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

        def interrupted(signal: str, task: Any, *args: Any) -> None:
            self.storage.interrupted()

        self.signal(huey_signals.SIGNAL_INTERRUPTED)(interrupted)

    def execute(self, task: Any, timestamp: Any = None) -> Any:
        ok = False
        try:
            value = super().execute(task, timestamp)
            ok = True
            return value
        finally:
            self.storage.finished(ok)
