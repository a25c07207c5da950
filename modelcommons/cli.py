"""The ``commons`` command: serve the hub and manage users, organisations and tokens."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import accounts, auditlog, credentials, login_throttle, logs
from .database import MigrationRefused
from .errors import BadRequest, HubError
from .hub import Hub
from .settings import Settings
from .sizes import human_size

if TYPE_CHECKING:
    from starlette.types import ASGIApp


def _hub(data_dir: str | None, database_url: str | None) -> Hub:
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
    _migrate(hub.migrate)
    return hub


def _migrate(run: Callable[[], None]) -> None:
    """Upgrade the database, or say why a migration refused (nothing was changed)."""
    try:
        run()
    except MigrationRefused as exc:
        click.echo(f"Error: the database was not upgraded.\n{exc}", err=True)
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


@click.group()
def main() -> None:
    """Model Commons: a self-hostable hub for models and datasets."""


@main.command()
@click.option("--host", default=None, help="Interface to bind [default: 127.0.0.1].")
@click.option("--port", default=None, type=int, help="Port [default: 8000].")
@data_dir_option
@database_option
@click.option("--public-url", default=None, help="Base URL clients use to reach the hub.")
def serve(
    host: str | None,
    port: int | None,
    data_dir: str | None,
    database_url: str | None,
    public_url: str | None,
) -> None:
    """Start the hub (runs migrations first)."""
    import uvicorn

    from .app import HubApp
    from .http_limits import protocol_for

    try:
        settings = Settings.from_env(
            host=host,
            port=port,
            data_dir=data_dir,
            database_url=database_url,
            public_url=public_url,
        )
        proxies = settings.trusted_proxy_list
        prefix = settings.url_prefix
        logs.configure(settings.log_format)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    hub = Hub(settings)
    _migrate(hub.startup)
    hub.jobs.start()
    logging.getLogger("modelcommons").info(
        "Model Commons on http://%s:%s%s (data in %s)",
        settings.host,
        settings.port,
        "" if settings.proxy_strips_prefix else prefix,
        Path(settings.data_dir).resolve(),
    )
    app: ASGIApp = HubApp(hub)
    if settings.log_requests:
        app = logs.RequestLog(app, prefix=prefix)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        # Our log lines, in our format (logs.configure); uvicorn's access log is off
        # because the request log says more (principal, bytes, duration, redaction).
        log_config=None,
        access_log=False,
        loop="uvloop",
        # uvicorn's httptools protocol, with caps on request heads (http_limits.py).
        http=protocol_for(settings),
        lifespan="on",
        timeout_keep_alive=30,
        # Forwarding headers only from the proxies the settings name: uvicorn on its own
        # believes any from 127.0.0.1 (or $FORWARDED_ALLOW_IPS), so behind a local proxy
        # that passes a client's X-Forwarded-For through, clients could pick their address.
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies,
        # Behind a proxy that strips the URL prefix, uvicorn puts it back in front of
        # each request's path, so the app always routes on the full public path.
        root_path=prefix if settings.proxy_strips_prefix else "",
    )


@main.group()
def user() -> None:
    """Manage users."""


@user.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Site administrator.")
@click.option("--email", default=None)
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
    token_role: str | None,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Create a user. A password is read from stdin (first line) or prompted for;
    without one the user has tokens only, until `commons user set-password`."""
    hub = _hub(data_dir, database_url)  # first: no password prompt for a missing hub
    password = cli_credentials.read_password("Password (empty for token-only access): ")
    with _errors(), hub.db.write() as session:
        made = accounts.create_user(
            session, name, email=email, password=password or None, admin=admin
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
    hub = _hub(data_dir, database_url)
    with hub.db.write() as session:
        cleared = hub.login_throttle.clear(session, login_throttle.ACCOUNT, name)
    click.echo(f"Cleared {name}'s failed sign-ins." if cleared else f"{name} had none.")


@main.group()
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
@data_dir_option
@database_option
def org_create(
    name: str, members: tuple[str, ...], data_dir: str | None, database_url: str | None
) -> None:
    """Create an organisation."""
    roles = dict(([*m.split(":", 1), "admin"])[:2] for m in members)
    hub = _hub(data_dir, database_url)
    with _errors(), hub.db.write() as session:
        accounts.create_org(session, name, members=roles)
        for member, role in roles.items():
            hub.audit.record(
                session, auditlog.RoleSet(None, namespace=name, user=member, role=role)
            )
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
    hub = _hub(data_dir, database_url)
    with _errors(), hub.db.write() as session:
        accounts.add_member(session, org_name, user_name, role)
        hub.audit.record(
            session, auditlog.RoleSet(None, namespace=org_name, user=user_name, role=role)
        )
    click.echo(f"{user_name} is now {role} in {org_name}.")


@main.group()
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
    hub = _hub(data_dir, database_url)
    with _errors():
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
    hub = _hub(data_dir, database_url)
    with _errors(), hub.db.write() as session:
        count = accounts.revoke_token(session, user_name, name)
        hub.audit.record(session, auditlog.TokenRevoked(None, namespace=user_name, name=name))
    click.echo(f"Revoked {count} token(s).")


@token.command("list")
@click.argument("user_name", metavar="USER")
@data_dir_option
@database_option
def token_list(user_name: str, data_dir: str | None, database_url: str | None) -> None:
    """List a user's tokens (never their values)."""
    hub = _hub(data_dir, database_url)
    now = hub.clock.now()
    with _errors(), hub.db.read() as session:
        for t in accounts.list_tokens(session, user_name):
            state = accounts.token_state(t, now)
            used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never"
            line = f"{t.name}\t{t.role}\t{state}\tlast used {used}"
            if t.expires_at:
                line += f"\texpires {t.expires_at.isoformat(timespec='seconds')}Z"
            click.echo(line)


class _errors:
    """Turn HubErrors into a clean message and exit status 1."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, HubError):
            click.echo(f"Error: {exc.message}", err=True)
            sys.exit(1)


def _size(n: int) -> str:
    return f"{n} bytes" if n < 1000 else f"{n} bytes ({human_size(n)})"


def _count(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


@main.command()
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
    from . import garbage

    hub = _hub(data_dir, database_url)
    last = time.monotonic()

    def progress(report: garbage.Report) -> None:
        nonlocal last
        if time.monotonic() - last >= 5:
            last = time.monotonic()
            click.echo(f"... {_count(report.scanned, 'blob')} checked", err=True)

    report = garbage.collect(
        hub.db, hub.blobs, grace_seconds=grace_hours * 3600, dry_run=dry_run, progress=progress
    )
    blobs, rows = _count(report.removed, "unreferenced blob"), _count(report.rows, "row")
    detail = (
        f"{report.git_objects} git objects, {report.file_blobs} file entries, "
        f"{report.lfs_objects} LFS objects"
    )
    if dry_run:
        click.echo("Dry run: nothing was removed.")
        click.echo(f"Would remove {blobs}: {_size(report.removed_bytes)}.")
        click.echo(f"Would drop {rows} no repository needs ({detail}).")
    else:
        click.echo(f"Removed {blobs}: {_size(report.removed_bytes)} freed.")
        click.echo(f"Dropped {rows} no repository needs ({detail}).")
    if report.young:
        click.echo(
            f"Kept {_count(report.young, 'unreferenced blob')} younger than "
            f"{grace_hours:g} hours: {_size(report.young_bytes)}."
        )
    click.echo(f"Checked {_count(report.scanned, 'blob')} in the store.")


@main.command()
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
    from . import fsck as integrity

    hub = _hub(data_dir, database_url)
    count, size = integrity.total_size(hub.blobs)
    label = f"Checking {_count(count, 'blob')} ({human_size(size)})"
    with click.progressbar(length=size, label=label, file=sys.stderr) as bar:
        report = integrity.check(hub.db, hub.blobs, repair=repair, progress=bar.update)
    for sha256 in report.missing:
        click.echo(f"MISSING {sha256}: the database references it, the store lacks it")
    for bad in report.corrupt:
        where = f"; moved to {bad.quarantined}" if bad.quarantined else ""
        click.echo(f"CORRUPT {bad.sha256} ({_size(bad.size)}): hashes to {bad.actual}{where}")
    click.echo(
        f"Checked {_count(report.objects, 'blob')} ({_size(report.bytes)}): "
        f"{len(report.corrupt)} corrupt, {len(report.missing)} missing."
    )
    moved = [bad for bad in report.corrupt if bad.quarantined]
    if moved:
        click.echo(
            f"Quarantined {_count(len(moved), 'blob')}: the hub no longer serves them; "
            "uploading the same files again restores them."
        )
    elif report.corrupt:
        click.echo("Run `commons fsck --repair` to quarantine the corrupt blobs.")
    if not report.clean:
        sys.exit(1)


@main.group("search")
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
    from . import repos

    hub = _hub(data_dir, database_url)
    with _errors():
        if repo_ref is None:

            def progress(done: int, total: int) -> None:
                click.echo(f"Indexed {done}/{total} repositories", err=True)

            count = hub.rebuild_search(batch=batch_size, progress=progress)
            click.echo(f"Rebuilt the search index: {_count(count, 'repository', 'repositories')}.")
            return
        kind, sep, repo_id = repo_ref.partition(":")
        namespace, _, name = repo_id.partition("/")
        if not sep or kind not in ("model", "dataset") or not namespace or not name:
            raise BadRequest(f"--repo takes model:NS/NAME or dataset:NS/NAME, not {repo_ref!r}.")
        with hub.db.read() as session:
            pk = repos.get_repo(session, kind, namespace, name).id
        hub.rebuild_search(pk)
    click.echo(f"Reindexed {kind} {repo_id}.")


@main.group()
def policy() -> None:
    """Licence policies: what a licence violation in a card's ancestry does."""


@policy.command("set")
@click.argument("namespace")
@click.argument("value", type=click.Choice(["warn", "reject"]))
@data_dir_option
@database_option
def policy_set(namespace: str, value: str, data_dir: str | None, database_url: str | None) -> None:
    """Set a user's or organisation's licence policy (overrides the hub's)."""
    from . import licence_checks

    hub = _hub(data_dir, database_url)
    with _errors(), hub.db.write() as session:
        namespace = accounts.get_account(session, namespace).name  # as typed, any case
        licence_checks.set_policy(session, namespace, value)
        hub.audit.record(
            session, auditlog.LicencePolicySet(None, namespace=namespace, policy=value)
        )
    click.echo(f"Licence policy of {namespace} is now {value}.")


@policy.command("show")
@click.argument("namespace")
@data_dir_option
@database_option
def policy_show(namespace: str, data_dir: str | None, database_url: str | None) -> None:
    """Print the licence policy that applies to a namespace."""
    from . import licence_checks

    hub = _hub(data_dir, database_url)
    with hub.db.read() as session:
        click.echo(licence_checks.policy_for(hub, session, namespace))


@main.group()
def release() -> None:
    """Staged release plans (see also /api/{type}/{repo}/release-plan)."""


def _release_action(action: str) -> None:
    @release.command(action, help=f"{action.capitalize()} the release plan of NS/NAME.")
    @click.argument("repo_id", metavar="NS/NAME")
    @click.option("--type", "kind", type=click.Choice(["model", "dataset"]), default="model")
    @click.option("--rationale", default="", help="Why; kept in the public timeline.")
    @click.option("--actor", default="cli", help="Who decided, for the record.")
    @click.option("--force", is_flag=True, help="Promote even if conditions do not hold.")
    @data_dir_option
    @database_option
    def command(
        repo_id: str,
        kind: str,
        rationale: str,
        actor: str,
        force: bool,
        data_dir: str | None,
        database_url: str | None,
    ) -> None:
        from . import releases, repos

        hub = _hub(data_dir, database_url)
        ns, _, name = repo_id.partition("/")
        with _errors(), hub.db.write() as session:
            repo = repos.get_repo(session, kind, ns, name)
            if action == "promote":
                releases.promote(session, hub, repo, actor, rationale, force=force)
            elif action == "pause":
                releases.pause(session, hub, repo, actor, rationale)
            elif action == "resume":
                releases.resume(session, hub, repo, actor, rationale)
            else:
                releases.rollback(session, hub, repo, actor, rationale)
            plan = releases.plan_of(session, repo)
            assert plan is not None
            stages = releases.stages_of(plan)
            upto = releases.effective_stage(plan)
            current = stages[upto]["name"] if upto >= 0 else "none"
        click.echo(f"{repo_id}: {action} done; plan {plan.status}, current stage: {current}.")


for _action in ("promote", "pause", "resume", "rollback"):
    _release_action(_action)


@release.command("tick")
@data_dir_option
@database_option
def release_tick(data_dir: str | None, database_url: str | None) -> None:
    """Run due automatic promotions now (what the scheduler in `serve` does)."""
    from . import releases

    hub = _hub(data_dir, database_url)
    due = 0
    with hub.db.read() as session:
        pairs = releases.due_plans(session, hub)
    for repo_pk, stage in pairs:
        due += releases.run_promotion(hub, repo_pk, stage)
    click.echo(f"{due} promotion(s) done.")


# The audit-log commands live in their own module, which uses the helpers above.
from . import audit_commands  # noqa: E402

main.add_command(audit_commands.audit_log)

# `commons user set-password` lives in its own module, registered on the group above.
from . import cli_credentials  # noqa: E402
