"""The ``commons`` command: serve the hub, and manage it from the shell.

One module per group of commands: ``serve``, ``accounts`` (``user``, ``org``,
``token``), ``maintenance`` (``gc``, ``fsck``, ``search``), ``releases`` (``policy``,
``release``), ``audit_log`` (``audit-log``), ``scanning`` (``plugins``, ``scan``),
``provenance`` (``sign``, ``key``) and ``processes`` (``migrate``, ``worker``), over the
helpers in ``common``.

May import: everything; nothing imports it.
"""

from __future__ import annotations

import click

from . import accounts, audit_log, maintenance, processes, provenance, releases, scanning, serve


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
    scanning.plugins,
    scanning.scan,
    provenance.sign,
    provenance.key,
    processes.migrate,
    processes.worker,
):
    main.add_command(command)
