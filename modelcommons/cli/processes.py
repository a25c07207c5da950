"""`commons migrate` and `commons worker`: the processes of a hub that has outgrown one
(README "Scaling out")."""

from __future__ import annotations

import logging

import click

from ..hub import Hub
from ..jobs import chunking_cas_url
from ..scaleout import check_secrets, require_migrated
from ..settings import Settings
from .common import data_dir_option, database_option, migrate_or_exit


@click.command()
@data_dir_option
@database_option
@click.option(
    "--adopt-secrets",
    is_flag=True,
    help="Record this process's URL signing secret and audit key as the hub's, after "
    "changing them on purpose (every replica must then have the new ones).",
)
def migrate(data_dir: str | None, database_url: str | None, adopt_secrets: bool) -> None:
    """Upgrade the database to this version, once, before (re)starting replicas that
    run with auto_migrate = false."""
    hub = Hub(Settings.from_env(None, data_dir=data_dir, database_url=database_url))
    click.get_current_context().call_on_close(hub.close)
    before, head = hub.db.pending_migrations()
    migrate_or_exit(hub.migrate)
    if adopt_secrets:
        migrate_or_exit(lambda: check_secrets(hub, adopt=True))
    if before == head:
        click.echo(f"The database is already at {head}.")
    else:
        click.echo(f"Upgraded the database from {before or '(empty)'} to {head}.")


@click.command()
@data_dir_option
@database_option
@click.option("--threads", default=2, show_default=True, help="Jobs run at once.")
def worker(data_dir: str | None, database_url: str | None, threads: int) -> None:
    """Run background jobs (release promotions, and what else is queued) from the
    task queue, until stopped. With task_queue = redis, run one or more of these:
    `commons serve` then only enqueues."""
    from ..server import request_log

    settings = Settings.from_env(None, data_dir=data_dir, database_url=database_url)
    request_log.configure(settings.log_format)
    hub = Hub(settings)
    click.get_current_context().call_on_close(hub.close)
    if settings.auto_migrate:
        migrate_or_exit(hub.migrate)
    else:
        migrate_or_exit(lambda: require_migrated(hub))
    migrate_or_exit(lambda: check_secrets(hub))
    logger = logging.getLogger("modelcommons")
    logger.info(
        "Model Commons worker on the %s queue %r", settings.task_queue, settings.task_queue_name
    )
    if settings.xet_chunk_uploads and chunking_cas_url(settings) is None:
        logger.warning(
            "xet_chunk_uploads is on but this worker has no CAS to reach (set "
            "COMMONS_XET_CAS_URL or COMMONS_PUBLIC_URL): uploads stay whole until then."
        )
    hub.jobs.run_worker(threads)
