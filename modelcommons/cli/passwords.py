"""`commons user set-password`: passwords from the command line.

A user created without a password (token-only) cannot sign in to the browser; this
is how they get their first password, and how an administrator replaces a forgotten
one. Registered on the ``user`` group of :mod:`modelcommons.cli`.
"""

from __future__ import annotations

import getpass
import sys

import click

from .. import accounts
from ..accounts import credentials
from . import _count, _errors, _hub, data_dir_option, database_option, user


def read_password(prompt: str) -> str:
    """A password from stdin (its first line), or prompted for on a terminal."""
    if sys.stdin is None or sys.stdin.closed:
        return ""
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().rstrip("\r\n")


@user.command("set-password")
@click.argument("name")
@data_dir_option
@database_option
def user_set_password(name: str, data_dir: str | None, database_url: str | None) -> None:
    """Set a user's password (stdin's first line, or prompted for): a token-only
    user's first one, or a forgotten one replaced. The user is signed out of every
    browser; their tokens keep working."""
    password = read_password("New password: ")
    if not password:
        click.echo("Error: the password is empty; nothing was changed.", err=True)
        sys.exit(1)
    hub = _hub(data_dir, database_url)
    with _errors(), hub.db.write() as session:
        account = accounts.get_account(session, name)
        ended = credentials.set_password(hub, session, account, password, actor=None, method="cli")
        shown = account.name
    signed_out = f"; {_count(ended, 'browser session')} ended" if ended else ""
    click.echo(f"Password of {shown} set{signed_out}.")
