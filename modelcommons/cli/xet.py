"""``commons xet``: the chunk store's maintenance."""

from __future__ import annotations

import sys

import click

from ..xet import migrate as xet_migrate
from .common import clean_errors, data_dir_option, database_option, hub_for


@click.group("xet")
def xet_group() -> None:
    """The Xet chunk store."""


@xet_group.command("migrate")
@click.option(
    "--cas-url",
    required=True,
    help="The running hub's CAS (http://HOST:PORT/cas): the conversion uploads through it, "
    "so that it verifies every file as it verifies a client's.",
)
@data_dir_option
@database_option
def migrate(cas_url: str, data_dir: str | None, database_url: str | None) -> None:
    """Move files stored whole as LFS objects (uploaded by Git LFS, or inline and of the
    LFS threshold or more) into the chunk store, deduplicated against everything else.
    Resumable."""
    hub = hub_for(data_dir, database_url)
    done = skipped = dropped = 0
    with clean_errors():
        batches = list(xet_migrate.candidates(hub.db, 1))
        held = [c for batch in batches for c in batch if c.held]
        items = [c for batch in batches for c in batch if not c.held]
        for item in held:  # left by a conversion stopped before it removed the blob
            dropped += xet_migrate.drop_whole_copy(hub.blobs, item.sha256)
        with click.progressbar(length=len(items), label="Chunking", file=sys.stderr) as bar:
            for item in items:
                if xet_migrate.convert(hub.db, hub.blobs, hub.xet_signer, cas_url, item):
                    done += 1
                else:
                    skipped += 1
                bar.update(1)
    click.echo(f"Moved {done} file(s) into the chunk store; {skipped} skipped.")
    if dropped:
        click.echo(f"Removed {dropped} whole-file cop(ies) of files already held as chunks.")
