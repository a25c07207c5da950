"""``commons audit-log``: verify, export, sign and show the key of the audit log."""

from __future__ import annotations

import json
import sys
from typing import TextIO

import click

from .. import audit
from ..audit import signing
from ..settings import Settings
from .common import data_dir_option, database_option, hub_for

audit_log: click.Group = click.Group("audit-log", help="The tamper-evident audit log.")


@audit_log.command("verify")
@click.option(
    "--public-key",
    default=None,
    help="The key `commons audit-log key` printed (or a file of it): checks the signed "
    "checkpoints with it rather than with the key file, which an intruder could replace.",
)
@click.option(
    "--export",
    "export_file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="Check a file made by `export --signed` instead of the database (needs "
    "--public-key; reads nothing else).",
)
@click.option(
    "--previous",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="With --export: an earlier export, whose signed entries must be unchanged.",
)
@data_dir_option
@database_option
def audit_verify(
    public_key: str | None,
    export_file: TextIO | None,
    previous: TextIO | None,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Check the whole hash chain and its signed checkpoints; exits 1 and lists
    problems if anything was altered."""
    try:
        key = signing.parse_public_key(public_key) if public_key else None
    except ValueError as exc:
        raise click.UsageError(f"--public-key: {exc}") from None
    if export_file is not None:
        if key is None:
            raise click.UsageError("--export needs --public-key.")
        problems, count = signing.verify_export(export_file, key, previous)
        what = "signed checkpoints verify"
    else:
        hub = hub_for(data_dir, database_url)
        with hub.db.read() as session:
            problems = hub.audit.verify(session, key)
            count = sum(1 for _ in hub.audit.entries(session))
        what = "chain intact"
    if problems:
        for problem in problems:
            click.echo(f"TAMPERED: {problem}", err=True)
        sys.exit(1)
    click.echo(f"OK: {count} entries, {what}.")


@audit_log.command("export")
@click.option("--repo-pk", type=int, default=None, help="Only one repository (its id).")
@click.option("--namespace", default=None, help="Only one user or organisation.")
@click.option(
    "--signed",
    is_flag=True,
    help="The whole log with its signed checkpoints, ending with one made now: what "
    "`verify --export` (or the README's procedure) checks with the public key alone.",
)
@data_dir_option
@database_option
def audit_export(
    repo_pk: int | None,
    namespace: str | None,
    signed: bool,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Print entries as JSON lines, oldest first (the head is signed first)."""
    if signed and (repo_pk is not None or namespace is not None):
        raise click.UsageError("A signed export is of the whole log: drop --repo-pk/--namespace.")
    hub = hub_for(data_dir, database_url)
    with hub.db.write() as session:
        hub.audit.checkpoint(session)
    with hub.db.read() as session:
        if signed:
            header = {
                "format": signing.EXPORT_FORMAT,
                "version": 1,
                "public_key": signing.public_key_text(hub.audit.public_key()),
            }
            click.echo(json.dumps(header))
        checkpoints = {cp.seq: cp for cp in hub.audit.checkpoints(session)} if signed else {}
        for row in hub.audit.entries(session, repo=repo_pk, namespace=namespace):
            click.echo(json.dumps(audit.as_json(row), sort_keys=True))
            if row.seq in checkpoints:
                click.echo(json.dumps(checkpoints[row.seq].as_json(), sort_keys=True))


@audit_log.command("key")
@click.option("--pem", is_flag=True, help="As a PEM public key (for openssl) instead.")
@data_dir_option
@database_option
def audit_key(pem: bool, data_dir: str | None, database_url: str | None) -> None:
    """Print the public key of the checkpoint signing key (made if there is none)."""
    from cryptography.hazmat.primitives import serialization

    settings = Settings.from_env(None, data_dir=data_dir, database_url=database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = signing.load_or_create_key(settings.audit_key_path).public_key()
    if pem:
        text = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        click.echo(text.decode().strip())
    else:
        click.echo(signing.public_key_text(key))


@audit_log.command("checkpoint")
@data_dir_option
@database_option
def audit_checkpoint(data_dir: str | None, database_url: str | None) -> None:
    """Sign the newest entry now (after upgrading, the log's existing entries)."""
    hub = hub_for(data_dir, database_url)
    with hub.db.write() as session:
        cp = hub.audit.checkpoint(session)
    click.echo(f"Signed entry {cp.seq}." if cp else "The log is empty: nothing to sign.")
