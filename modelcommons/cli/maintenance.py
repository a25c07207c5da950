"""`commons gc`, `commons fsck` and `commons search reindex`: maintenance that is safe
while the hub serves."""

from __future__ import annotations

import sys
import time

import click

from ..errors import BadRequest
from ..sizes import human_size
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
        f"{report.lfs_objects} LFS objects, {report.xet_files} Xet files, "
        f"{report.xet_xorbs} xorbs, {report.blob_scans} scan results"
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


@click.command()
@click.option(
    "--repair",
    is_flag=True,
    help="Move corrupt blobs into the blob folder's quarantine/ (never deleted): the hub "
    "stops serving them and the next upload of the same file stores good bytes.",
)
@data_dir_option
@database_option
def fsck(repair: bool, data_dir: str | None, database_url: str | None) -> None:
    """Re-hash every stored blob; find blobs the database needs and the store lacks.

    Exits 1 when a blob does not hash to its name or is missing. Safe while the hub
    serves; reads every byte of the store once.
    """
    from ..storage import fsck as integrity

    hub = hub_for(data_dir, database_url)
    count, size = integrity.total_size(hub.blobs)
    label = f"Checking {count_text(count, 'blob')} ({human_size(size)})"
    with click.progressbar(length=size, label=label, file=sys.stderr) as bar:
        report = integrity.check(hub.db, hub.blobs, repair=repair, progress=bar.update)
    for sha256 in report.missing:
        click.echo(f"MISSING {sha256}: the database references it, the store lacks it")
    for bad in report.corrupt:
        where = f"; moved to {bad.quarantined}" if bad.quarantined else ""
        click.echo(f"CORRUPT {bad.sha256} ({size_text(bad.size)}): hashes to {bad.actual}{where}")
    click.echo(
        f"Checked {count_text(report.objects, 'blob')} ({size_text(report.bytes)}): "
        f"{len(report.corrupt)} corrupt, {len(report.missing)} missing."
    )
    moved = [bad for bad in report.corrupt if bad.quarantined]
    if moved:
        click.echo(
            f"Quarantined {count_text(len(moved), 'blob')}: the hub no longer serves them; "
            "uploading the same files again restores them."
        )
    elif report.corrupt:
        click.echo("Run `commons fsck --repair` to quarantine the corrupt blobs.")
    if not report.clean:
        sys.exit(1)


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
