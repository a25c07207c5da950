"""`commons gc` and `commons search reindex`: maintenance that is safe while the hub serves."""

from __future__ import annotations

import time

import click

from ..errors import BadRequest
from .common import (
    clean_errors,
    count_text,
    data_dir_option,
    database_option,
    hub_for,
    size_text,
)


@click.command()
@click.option("--dry-run", is_flag=True, help="Only report what would be removed.")
@click.option(
    "--grace-hours",
    type=click.FloatRange(min=0),
    default=24.0,
    show_default=True,
    help="Keep unreferenced blobs younger than this: uploads store bytes before "
    "the commit that references them.",
)
@data_dir_option
@database_option
def gc(dry_run: bool, grace_hours: float, data_dir: str | None, database_url: str | None) -> None:
    """Remove blobs and database rows that no repository references any more.

    Every commit of every repository stays complete (history remains downloadable),
    as do LFS objects uploaded to a repository and not yet committed. Safe to run
    while the hub serves.
    """
    from ..storage import garbage

    hub = hub_for(data_dir, database_url)
    last = time.monotonic()

    def progress(report: garbage.Report) -> None:
        nonlocal last
        if time.monotonic() - last >= 5:
            last = time.monotonic()
            click.echo(f"... {count_text(report.scanned, 'blob')} checked", err=True)

    report = garbage.collect(
        hub.db, hub.blobs, grace_seconds=grace_hours * 3600, dry_run=dry_run, progress=progress
    )
    blobs, rows = count_text(report.removed, "unreferenced blob"), count_text(report.rows, "row")
    detail = (
        f"{report.git_objects} git objects, {report.file_blobs} file entries, "
        f"{report.lfs_objects} LFS objects"
    )
    if dry_run:
        click.echo("Dry run: nothing was removed.")
        click.echo(f"Would remove {blobs}: {size_text(report.removed_bytes)}.")
        click.echo(f"Would drop {rows} no repository needs ({detail}).")
    else:
        click.echo(f"Removed {blobs}: {size_text(report.removed_bytes)} freed.")
        click.echo(f"Dropped {rows} no repository needs ({detail}).")
    if report.young:
        click.echo(
            f"Kept {count_text(report.young, 'unreferenced blob')} younger than "
            f"{grace_hours:g} hours: {size_text(report.young_bytes)}."
        )
    click.echo(f"Checked {count_text(report.scanned, 'blob')} in the store.")


@click.group("search")
def search_group() -> None:
    """The search index behind /api/models?search= and the web search."""


@search_group.command("reindex")
@click.option(
    "--repo",
    "repo_ref",
    default=None,
    metavar="TYPE:NS/NAME",
    help="Only this repository: model:NS/NAME or dataset:NS/NAME [default: all].",
)
@click.option(
    "--batch-size",
    default=200,
    show_default=True,
    type=click.IntRange(min=1),
    help="Repositories per transaction.",
)
@data_dir_option
@database_option
def search_reindex(
    repo_ref: str | None, batch_size: int, data_dir: str | None, database_url: str | None
) -> None:
    """Rebuild the search index from each repository's card and README.md.

    For use after an upgrade or a database restore. Without --repo every document
    is dropped and rebuilt, so until it finishes searches miss the repositories not
    reached yet.
    """
    from ..storage import repos

    hub = hub_for(data_dir, database_url)
    with clean_errors():
        if repo_ref is None:

            def progress(done: int, total: int) -> None:
                click.echo(f"Indexed {done}/{total} repositories", err=True)

            count = hub.rebuild_search(batch=batch_size, progress=progress)
            click.echo(
                f"Rebuilt the search index: {count_text(count, 'repository', 'repositories')}."
            )
            return
        kind, sep, repo_id = repo_ref.partition(":")
        namespace, _, name = repo_id.partition("/")
        if not sep or kind not in ("model", "dataset") or not namespace or not name:
            raise BadRequest(f"--repo takes model:NS/NAME or dataset:NS/NAME, not {repo_ref!r}.")
        with hub.db.read() as session:
            pk = repos.get_repo(session, kind, namespace, name).id
        hub.rebuild_search(pk)
    click.echo(f"Reindexed {kind} {repo_id}.")
