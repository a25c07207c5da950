"""Helpers every `commons` command shares: finding and migrating the hub, the
``--data-dir``/``--database-url`` options, clean error messages, and counts and sizes
in words."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import click

from ..db.database import MigrationRefused
from ..db.identity import IdentityMismatch
from ..errors import HubError
from ..hub import Hub
from ..scaleout import NotMigrated, migrate_if_allowed
from ..settings import Settings
from ..sizes import human_size


def hub_for(data_dir: str | None, database_url: str | None) -> Hub:
    """The hub a management command works on, migrated.

    Where the hub is must be known: a data dir or database given by flag or
    ``COMMONS_*`` setting is used (created and migrated if new), but the default,
    ``./commons-data`` of the current folder, only if a hub is already there. Run
    from another folder, a command would otherwise make an empty hub there and
    report success on it, while the served hub never sees the change.
    """
    settings = Settings.from_env(None, data_dir=data_dir, database_url=database_url)
    given = data_dir is not None or database_url is not None
    given = given or any(f"COMMONS_{n}" in os.environ for n in ("DATA_DIR", "DATABASE_URL"))
    database = settings.sqlite_path
    if not given and not database.exists():
        raise click.ClickException(
            f"No hub at {settings.data_dir.resolve()} (no {database.name} there). Unless "
            "told, commands look for the hub in ./commons-data of the current folder: run "
            "this where `commons serve` runs, or pass --data-dir DIR or --database-url URL "
            "(or set COMMONS_DATA_DIR or COMMONS_DATABASE_URL)."
        )
    hub = Hub(settings)
    # Released when the command ends: its engine's connections, its worker threads.
    click.get_current_context().call_on_close(hub.close)
    migrate_or_exit(lambda: migrate_if_allowed(hub))
    return hub


def migrate_or_exit(run: Callable[[], None]) -> None:
    """Upgrade the database, or say why a migration refused (nothing was changed)."""
    try:
        run()
    except MigrationRefused as exc:
        click.echo(f"Error: the database was not upgraded.\n{exc}", err=True)
        sys.exit(1)
    except (NotMigrated, IdentityMismatch) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


data_dir_option = click.option(
    "--data-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Folder for the SQLite database and blobs [default: ./commons-data; commands "
    "other than serve need a hub already there].",
)


database_option = click.option(
    "--database-url", default=None, help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db."
)


class clean_errors:
    """Turn HubErrors into a clean message and exit status 1."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, HubError):
            click.echo(f"Error: {exc.message}", err=True)
            sys.exit(1)


def size_text(n: int) -> str:
    return f"{n} bytes" if n < 1000 else f"{n} bytes ({human_size(n)})"


def count_text(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"
