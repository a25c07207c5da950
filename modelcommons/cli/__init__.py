"""The ``commons`` command: serve the hub, and manage it from the shell.

One module per group of commands: ``serve``, ``accounts`` (``user``, ``org``,
``token``), ``maintenance`` (``gc``, ``fsck``, ``search``), ``releases`` (``policy``,
``release``), ``audit_log`` (``audit-log``) and ``xet`` (``xet migrate``), over the
helpers in ``common``.

May import: everything; nothing imports it.
"""

from __future__ import annotations

import click

from . import accounts, audit_log, maintenance, releases, serve, xet


@click.group()
def main() -> None:
    """Model Commons: a self-hostable hub for models and datasets."""


for command in (
    serve.serve,
    accounts.user,
    accounts.org,
    accounts.token,
    maintenance.gc,
    maintenance.fsck,
    maintenance.search_group,
    releases.policy,
    releases.release,
    audit_log.audit_log,
    xet.xet_group,
):
    main.add_command(command)
