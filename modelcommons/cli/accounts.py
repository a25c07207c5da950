"""`commons user`, `commons org` and `commons token`: accounts from the command line."""

from __future__ import annotations

import getpass
import sys

import click

from .. import accounts, audit
from ..accounts import credentials, login_throttle
from .common import clean_errors, count_text, data_dir_option, database_option, hub_for


def read_password(prompt: str) -> str:
    """A password from stdin (its first line), or prompted for on a terminal."""
    if sys.stdin is None or sys.stdin.closed:
        return ""
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().rstrip("\r\n")


@click.group()
def user() -> None:
    """Manage users."""


@user.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Site administrator.")
@click.option("--email", default=None)
@click.option("--fullname", default="", help="The name shown for the user (default: NAME).")
@click.option(
    "--token",
    "token_role",
    type=click.Choice(["read", "write"]),
    default=None,
    help="Also create a token 'cli' with this role, printed alone on the last line.",
)
@data_dir_option
@database_option
def user_create(
    name: str,
    admin: bool,
    email: str | None,
    fullname: str,
    token_role: str | None,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Create a user. A password is read from stdin (first line) or prompted for;
    without one the user has tokens only, until `commons user set-password`."""
    hub = hub_for(data_dir, database_url)  # first: no password prompt for a missing hub
    password = read_password("Password (empty for token-only access): ")
    with clean_errors(), hub.db.write() as session:
        made = accounts.create_user(
            session, name, email=email, password=password or None, admin=admin, fullname=fullname
        )
        if token_role is not None:
            value = credentials.issue_token(
                hub,
                session,
                made,
                name="cli",
                write=token_role == "write",
                scope=None,
                expires_at=None,
                actor=None,
            )
    click.echo(f"Created user {name}{' (admin)' if admin else ''}.", err=token_role is not None)
    if token_role is not None:
        click.echo(f"Token 'cli' for {name} ({token_role}); it is shown only once:", err=True)
        click.echo(value)


@user.command("unlock")
@click.argument("name")
@data_dir_option
@database_option
def user_unlock(name: str, data_dir: str | None, database_url: str | None) -> None:
    """Forget a user's failed sign-ins, lifting a lock before its window ends."""
    hub = hub_for(data_dir, database_url)
    with hub.db.write() as session:
        cleared = hub.login_throttle.clear(session, login_throttle.ACCOUNT, name)
    click.echo(f"Cleared {name}'s failed sign-ins." if cleared else f"{name} had none.")


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
    hub = hub_for(data_dir, database_url)
    with clean_errors(), hub.db.write() as session:
        account = accounts.get_account(session, name)
        ended = credentials.set_password(hub, session, account, password, actor=None, method="cli")
        shown = account.name
    signed_out = f"; {count_text(ended, 'browser session')} ended" if ended else ""
    click.echo(f"Password of {shown} set{signed_out}.")


@click.group()
def org() -> None:
    """Manage organisations."""


@org.command("create")
@click.argument("name")
@click.option(
    "--member",
    "members",
    multiple=True,
    metavar="USER[:ROLE]",
    help="Add a member (role read, contributor, write or admin; default admin).",
)
@click.option("--fullname", default="", help="The name shown for it (default: NAME).")
@data_dir_option
@database_option
def org_create(
    name: str,
    members: tuple[str, ...],
    fullname: str,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Create an organisation."""
    roles = dict(([*m.split(":", 1), "admin"])[:2] for m in members)
    hub = hub_for(data_dir, database_url)
    with clean_errors(), hub.db.write() as session:
        accounts.create_org(session, name, members=roles, fullname=fullname)
        for member, role in roles.items():
            hub.audit.record(session, audit.RoleSet(None, namespace=name, user=member, role=role))
    click.echo(f"Created organisation {name}.")


@org.command("add-member")
@click.argument("org_name", metavar="ORG")
@click.argument("user_name", metavar="USER")
@click.option("--role", default="write", type=click.Choice(accounts.ORG_ROLES))
@data_dir_option
@database_option
def org_add_member(
    org_name: str, user_name: str, role: str, data_dir: str | None, database_url: str | None
) -> None:
    """Add a user to an organisation, or change their role."""
    hub = hub_for(data_dir, database_url)
    with clean_errors(), hub.db.write() as session:
        accounts.add_member(session, org_name, user_name, role)
        hub.audit.record(
            session, audit.RoleSet(None, namespace=org_name, user=user_name, role=role)
        )
    click.echo(f"{user_name} is now {role} in {org_name}.")


def _set_fullname(name: str, fullname: str, data_dir: str | None, database_url: str | None) -> None:
    hub = hub_for(data_dir, database_url)
    with clean_errors(), hub.db.write() as session:
        shown = accounts.set_fullname(session, name, fullname).fullname
    click.echo(f"{name}'s full name is now {shown!r}.")


@user.command("set-fullname")
@click.argument("name")
@click.argument("fullname")
@data_dir_option
@database_option
def user_set_fullname(
    name: str, fullname: str, data_dir: str | None, database_url: str | None
) -> None:
    """Set the name shown for a user (empty: the user name)."""
    _set_fullname(name, fullname, data_dir, database_url)


@org.command("set-fullname")
@click.argument("name")
@click.argument("fullname")
@data_dir_option
@database_option
def org_set_fullname(
    name: str, fullname: str, data_dir: str | None, database_url: str | None
) -> None:
    """Set the name shown for an organisation (empty: its name)."""
    _set_fullname(name, fullname, data_dir, database_url)


@org.command("default-visibility")
@click.argument("name")
@click.argument("visibility", type=click.Choice(["public", "private"]))
@data_dir_option
@database_option
def org_default_visibility(
    name: str, visibility: str, data_dir: str | None, database_url: str | None
) -> None:
    """Make an organisation's new repositories private (or public) unless their
    creator asks otherwise."""
    hub = hub_for(data_dir, database_url)
    with clean_errors(), hub.db.write() as session:
        accounts.set_default_visibility(session, name, visibility)
        hub.audit.record(
            session, audit.DefaultVisibilitySet(None, namespace=name, visibility=visibility)
        )
    click.echo(f"New repositories in {name} are now {visibility} unless asked otherwise.")


@click.group()
def token() -> None:
    """Manage access tokens."""


@token.command("create")
@click.argument("user_name", metavar="USER")
@click.option("--write", is_flag=True, help="Allow writes (default: read only).")
@click.option("--name", default="cli", help="A label for the token.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    metavar="ENTITY",
    help="Fine-grained: only model:NS/NAME, dataset:NS/NAME or ns:NAMESPACE (repeatable).",
)
@click.option(
    "--permission",
    "permissions",
    multiple=True,
    type=click.Choice(accounts.PERMISSIONS),
    help="Fine-grained: what the token may do there (repeatable; default read).",
)
@click.option(
    "--expires-in-days",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="The token stops working this many days from now.",
)
@click.option(
    "--expires",
    default=None,
    metavar="DATE",
    help="The token works through this day, UTC (YYYY-MM-DD), or until a date and time.",
)
@data_dir_option
@database_option
def token_create(
    user_name: str,
    write: bool,
    name: str,
    scopes: tuple[str, ...],
    permissions: tuple[str, ...],
    expires_in_days: float | None,
    expires: str | None,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Create a token; it is printed once, alone on the last line."""
    hub = hub_for(data_dir, database_url)
    with clean_errors():
        scope = (
            accounts.TokenScope.parse(list(scopes), list(permissions) or ["read"])
            if scopes
            else None
        )
        role = "fineGrained" if scope else "write" if write else "read"
        until = accounts.token_expiry(hub.clock.now(), days=expires_in_days, until=expires)
        with hub.db.write() as session:
            owner = accounts.get_account(session, user_name)
            value = credentials.issue_token(
                hub,
                session,
                owner,
                name=name,
                write=write,
                scope=scope,
                expires_at=until,
                actor=None,
            )
    detail = f"{role}: {', '.join(sorted(scope.entities))}" if scope else role
    if until is not None:
        detail += f", expires {until.isoformat(timespec='seconds')}Z"
    click.echo(f"Token {name!r} for {owner.name} ({detail}); it is shown only once:", err=True)
    click.echo(value)


@token.command("revoke")
@click.argument("user_name", metavar="USER")
@click.argument("name")
@data_dir_option
@database_option
def token_revoke(user_name: str, name: str, data_dir: str | None, database_url: str | None) -> None:
    """Revoke a user's tokens with this name."""
    hub = hub_for(data_dir, database_url)
    with clean_errors(), hub.db.write() as session:
        count = accounts.revoke_token(session, user_name, name)
        hub.audit.record(session, audit.TokenRevoked(None, namespace=user_name, name=name))
    click.echo(f"Revoked {count} token(s).")


@token.command("list")
@click.argument("user_name", metavar="USER")
@data_dir_option
@database_option
def token_list(user_name: str, data_dir: str | None, database_url: str | None) -> None:
    """List a user's tokens (never their values)."""
    hub = hub_for(data_dir, database_url)
    now = hub.clock.now()
    with clean_errors(), hub.db.read() as session:
        for t in accounts.list_tokens(session, user_name):
            state = accounts.token_state(t, now)
            used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never"
            line = f"{t.name}\t{t.role}\t{state}\tlast used {used}"
            if t.expires_at:
                line += f"\texpires {t.expires_at.isoformat(timespec='seconds')}Z"
            click.echo(line)
