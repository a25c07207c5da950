"""Find the plugins, run the steps after each commit, record what happened.

Synchronous steps run inside the commit's transaction (so the commit and their
results land together, and a ``HubError`` refuses the commit), and so do background
steps whose ``must_wait`` says the commit depends on them, with the steps they
``require`` (recorded ``done`` in that transaction). Every other step gets a
``pipeline_steps`` row (``queued``) in that same transaction and, once it commits,
a Huey job if nothing it requires is still to run (else the last requirement to
finish queues it). The job claims the row (``queued``/``error`` → ``running``, a
conditional update only one worker wins), runs the step and marks it ``done``, or
``error`` with the message and re-raises so Huey retries it; after the last retry
the steps that require it are marked ``error`` too. A ``done`` step never runs
again for that commit: running a job twice is harmless. A ``running`` row names its
runner (the process, in ``result`` until the step is done); a job that finds the row
``running`` takes it over only if that runner is dead (its lease expired,
``jobs/leases.py``), so a step whose worker was killed runs again, once. ``resume``
re-queues rows a stopped process left ``queued``, or ``running`` under a dead runner.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..clock import utcnow
from ..db.pipeline_tables import PipelineStep
from ..db.schema import Commit, Repo
from ..db.sqlutil import insert_ignore
from ..storage import repos
from . import builtin, hookspecs
from .steps import IN_COMMIT, Landed, Step, must_wait, requires, writes

if TYPE_CHECKING:
    from ..hub import Hub

log = logging.getLogger("modelcommons.pipeline")
ENTRY_POINT_GROUP = "modelcommons"
#: The entry point that names the built-in plugin (pyproject.toml).
BUILTIN_ENTRY_POINT = "builtin"
#: The key of a running step's ``result`` that names the process running it.
RUNNER = "runner"


def plugin_manager() -> pluggy.PluginManager:
    """Every installed plugin: the entry points of the group ``modelcommons``.

    The built-in plugin is one of them. An install whose metadata predates it (an
    editable install not reinstalled since) gets it registered under the same name.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    if pm.get_plugin(BUILTIN_ENTRY_POINT) is None:
        pm.register(builtin.PLUGIN, name=BUILTIN_ENTRY_POINT)
    return pm


def describe_plugins(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """Name, distribution and steps of each plugin (``commons plugins``)."""
    dists = {plugin: dist for plugin, dist in pm.list_plugin_distinfo()}
    out = []
    for name, plugin in pm.list_name_plugin():
        impl = getattr(plugin, "modelcommons_pipeline_steps", None)
        steps: list[Step] = list(impl() if impl is not None else [])
        dist = dists.get(plugin)
        out.append(
            {
                "name": name,
                "distribution": (
                    f"{dist.project_name} {dist.version}"
                    if dist is not None
                    else f"modelcommons {_version()}"
                ),
                "steps": [
                    {
                        "name": s.name,
                        "version": s.version,
                        "mode": "synchronous" if s.synchronous else "background",
                        "requires": list(requires(s)),
                        "waitsWhen": getattr(s, "waits_when", None),
                    }
                    for s in steps
                ],
            }
        )
    return out


def _version() -> str:
    try:
        return importlib.metadata.version("modelcommons")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _in_order(steps: list[Step]) -> list[Step]:
    """Plugin order, except that a step comes after the steps it requires."""
    by_name = {s.name: s for s in steps}
    out: list[Step] = []
    placed: set[str] = set()

    def place(step: Step, path: tuple[str, ...]) -> None:
        if step.name in placed:
            return
        if step.name in path:
            raise ValueError(f"pipeline steps require each other: {' -> '.join(path)}")
        for name in requires(step):
            if name in by_name:
                place(by_name[name], (*path, step.name))
        placed.add(step.name)
        out.append(step)

    for step in steps:
        place(step, ())
    return out


class Pipeline:
    """The hub's :class:`~modelcommons.storage.commits.CommitObserver`."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._steps: list[Step] | None = None
        #: Steps this process claimed whose run a backend outage cut short, the row
        #: perhaps left `running` under this live runner: its retry takes them over.
        self._cut: set[tuple[int, str, str]] = set()

    @property
    def steps(self) -> list[Step]:
        """Steps in plugin order (the built-in plugin first), one per name, each
        after those it requires."""
        if self._steps is None:
            pm = plugin_manager()
            seen: dict[str, Step] = {}
            for batch in reversed(pm.hook.modelcommons_pipeline_steps()):
                for step in batch:
                    seen.setdefault(step.name, step)
            self._steps = _in_order(list(seen.values()))
        return self._steps

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    # ------------------------------------------------------------ after a commit

    def commit_landed(
        self,
        session: Session,
        repo: Repo,
        branch: str,
        commit_oid: str,
        tree_oid: str,
        author: str,
        readme_changed: bool,
    ) -> None:
        landed = Landed(
            repo_pk=repo.id,
            branch=branch,
            commit_oid=commit_oid,
            tree_oid=tree_oid,
            author=author,
            readme_changed=readme_changed,
            default_branch=branch == repos.DEFAULT_BRANCH,
        )
        wanted = {s.name: s for s in self.steps if s.wants(landed)}
        now: set[str] = set()

        def pull(step: Step) -> None:
            if step.name not in now:
                now.add(step.name)
                for name in requires(step):
                    if name in wanted:
                        pull(wanted[name])

        for step in wanted.values():
            if step.synchronous or must_wait(step, self.hub, session, repo, landed):
                pull(step)
        context: dict[str, Any] = {IN_COMMIT: True}
        rows: list[dict[str, Any]] = []
        stamp = utcnow()
        for step in wanted.values():  # in order: requirements first
            if step.name not in now:
                rows.append(_row(repo.id, commit_oid, step.name, "queued", stamp))
                continue
            result = step.run(self.hub, session, repo, landed, context)
            if not step.synchronous:  # a background step run in the commit: record it
                rows.append(_row(repo.id, commit_oid, step.name, "done", stamp, result, attempts=1))
        if not rows:
            return
        insert_ignore(session, PipelineStep, rows)
        later = {name for name in wanted if name not in now}
        jobs = self.hub.jobs
        for name in later:
            if not later.intersection(requires(wanted[name])):
                jobs.after_commit(session, _enqueue(self.hub, landed, name))

    # ------------------------------------------------------------ in a job

    def run_step(self, landed: Landed, name: str) -> str:
        """Run one background step for one commit, unless done (or waiting for a step
        it requires); returns its status. A database or store outage propagates (the
        job is retried until it ends)."""
        ident = (landed.repo_pk, landed.commit_oid, name)
        try:
            status = self._run_step(landed, name, ident)
        except Exception as exc:
            if self.hub.outage(exc) is not None:
                self._cut.add(ident)
            raise
        self._cut.discard(ident)
        return status

    def _run_step(self, landed: Landed, name: str, ident: tuple[int, str, str]) -> str:
        step = self.step(name)
        key = _key(landed, name)
        claim = {
            "status": "running",
            "attempts": PipelineStep.attempts + 1,
            "started_at": utcnow(),
            "result": json.dumps({RUNNER: self.hub.jobs.runner}),
        }
        with self.hub.db.write() as session:
            if step is not None and self._waiting(session, landed, step):
                return "waiting"
            claimed = session.execute(
                update(PipelineStep)
                .where(*key, PipelineStep.status.in_(("queued", "error")))
                .values(**claim)
            ).rowcount  # type: ignore[attr-defined]
            if not claimed:
                row = session.execute(
                    select(PipelineStep.status, PipelineStep.result).where(*key)
                ).first()
                if (
                    row is None
                    or row.status != "running"
                    or (self._runner_alive(row.result) and ident not in self._cut)
                ):
                    return row.status if row is not None else "missing"
                # Its runner died mid-step: take it over (only one job wins the row).
                claimed = session.execute(
                    update(PipelineStep)
                    .where(*key, PipelineStep.status == "running")
                    .where(PipelineStep.result == row.result)
                    .values(**claim)
                ).rowcount  # type: ignore[attr-defined]
                if not claimed:
                    return "running"
                log.warning(
                    "pipeline step %s of %s: its runner died, running it again",
                    name,
                    landed.commit_oid,
                )
        try:
            if step is None:
                raise LookupError(f"no installed plugin provides the step {name!r}")
            if writes(step):
                # The step's writes and its "done" in one transaction.
                with self.hub.db.write() as session:
                    repo = session.get(Repo, landed.repo_pk)
                    result = step.run(self.hub, session, repo, landed, {}) if repo else None
                    _finish(session, key, result)
            else:
                with self.hub.db.read() as session:
                    repo = session.get(Repo, landed.repo_pk)
                    result = step.run(self.hub, session, repo, landed, {}) if repo else None
                with self.hub.db.write() as session:
                    _finish(session, key, result)
        except Exception as exc:
            log.exception("pipeline step %s failed for %s", name, landed.commit_oid)
            self._failed(landed, name, f"{type(exc).__name__}: {exc}"[:2000])
            raise
        self._release(landed, name)
        return "done"

    def _waiting(self, session: Session, landed: Landed, step: Step) -> bool:
        """Whether a step this one requires is recorded for the commit and not done."""
        needed = requires(step)
        if not needed:
            return False
        pending = session.scalar(
            select(PipelineStep.step)
            .where(
                PipelineStep.repo_id == landed.repo_pk,
                PipelineStep.commit_oid == landed.commit_oid,
                PipelineStep.step.in_(needed),
                PipelineStep.status != "done",
            )
            .limit(1)
        )
        return pending is not None

    def _dependents(self, landed: Landed, name: str) -> list[str]:
        """Queued steps of this commit that require ``name``."""
        after = [s.name for s in self.steps if name in requires(s)]
        if not after:
            return []
        with self.hub.db.read() as session:
            return list(
                session.scalars(
                    select(PipelineStep.step).where(
                        PipelineStep.repo_id == landed.repo_pk,
                        PipelineStep.commit_oid == landed.commit_oid,
                        PipelineStep.step.in_(after),
                        PipelineStep.status == "queued",
                    )
                )
            )

    def _release(self, landed: Landed, name: str) -> None:
        """Queue the steps that were waiting for ``name`` (a job whose other
        requirements are not done yet finds itself waiting and does nothing)."""
        for waiting in self._dependents(landed, name):
            self.hub.jobs.pipeline_step(landed, waiting)

    def _failed(self, landed: Landed, name: str, error: str) -> None:
        key = _key(landed, name)
        with self.hub.db.write() as session:
            session.execute(update(PipelineStep).where(*key).values(status="error", error=error))
            attempts = session.scalar(select(PipelineStep.attempts).where(*key)) or 0
        if attempts <= self.hub.jobs.STEP_RETRIES:
            return  # Huey runs it again
        blocked = self._dependents(landed, name)
        if blocked:
            with self.hub.db.write() as session:
                session.execute(
                    update(PipelineStep)
                    .where(
                        PipelineStep.repo_id == landed.repo_pk,
                        PipelineStep.commit_oid == landed.commit_oid,
                        PipelineStep.step.in_(blocked),
                        PipelineStep.status == "queued",
                    )
                    .values(status="error", error=f"requires the step {name!r}, which failed")
                )

    def _runner_alive(self, result: str) -> bool:
        try:
            runner = json.loads(result).get(RUNNER)
        except (ValueError, AttributeError):
            runner = None
        # A row claimed before runners were recorded names none: taken as dead, as
        # `resume` took every running row before.
        return isinstance(runner, str) and self.hub.jobs.alive(runner)

    def resume(self) -> int:
        """Queue again the steps a stopped process left queued, or running under a
        runner that is dead (the job claims the row again; a duplicate does nothing)."""
        with self.hub.db.read() as session:
            rows = [
                row
                for row in session.execute(
                    select(
                        PipelineStep.repo_id,
                        PipelineStep.commit_oid,
                        PipelineStep.step,
                        PipelineStep.status,
                        PipelineStep.result,
                        Commit.tree_oid,
                        Commit.author,
                    )
                    .join(
                        Commit,
                        (Commit.repo_id == PipelineStep.repo_id)
                        & (Commit.oid == PipelineStep.commit_oid),
                    )
                    .where(PipelineStep.status.in_(("queued", "running")))
                )
                if row.status == "queued" or not self._runner_alive(row.result)
            ]
        for row in rows:
            landed = Landed(row.repo_id, "", row.commit_oid, row.tree_oid, row.author, False, False)
            self.hub.jobs.pipeline_step(landed, row.step)
        return len(rows)


def _key(landed: Landed, name: str) -> tuple[Any, ...]:
    return (
        PipelineStep.repo_id == landed.repo_pk,
        PipelineStep.commit_oid == landed.commit_oid,
        PipelineStep.step == name,
    )


def _row(
    repo_pk: int,
    commit_oid: str,
    name: str,
    status: str,
    stamp: Any,
    result: dict[str, Any] | None = None,
    attempts: int = 0,
) -> dict[str, Any]:
    done = status == "done"
    return {
        "repo_id": repo_pk,
        "commit_oid": commit_oid,
        "step": name,
        "status": status,
        "attempts": attempts,
        "result": json.dumps(result or {}),
        "queued_at": stamp,
        "started_at": stamp if done else None,
        "finished_at": stamp if done else None,
    }


def _finish(session: Session, key: tuple[Any, ...], result: dict[str, Any] | None) -> None:
    session.execute(
        update(PipelineStep)
        .where(*key)
        .values(status="done", error=None, result=json.dumps(result or {}), finished_at=utcnow())
    )


def _enqueue(hub: Hub, landed: Landed, name: str) -> Callable[[], None]:
    def job() -> None:
        hub.jobs.pipeline_step(landed, name)

    return job
