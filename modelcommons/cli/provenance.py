"""`commons sign` and `commons key`: signed revisions and the keys that verify them."""

from __future__ import annotations

import json
import pathlib

import click

from ..provenance import checks as _checks  # noqa: F401  (registers the "signed" check)
from .common import clean_errors, data_dir_option, database_option, hub_for


@click.command("sign")
@click.argument("repo_id", metavar="NS/NAME")
@click.option("--type", "kind", type=click.Choice(["model", "dataset"]), default="model")
@click.option("--revision", default="main", help="Branch, tag or commit to sign [main].")
@click.option(
    "--branch",
    default=None,
    help="Branch to commit the signature to [the revision, if it is a branch]; it must "
    "point at the signed commit.",
)
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
    help="PEM private key (elliptic curve P-256, P-384 or P-521). Read, never stored.",
)
@click.option("--password", default=None, help="The private key's password, if encrypted.")
@click.option("--author", default=None, help="Commit author [the key's registered owner].")
@data_dir_option
@database_option
def sign(
    repo_id: str,
    kind: str,
    revision: str,
    branch: str | None,
    key_path: pathlib.Path,
    password: str | None,
    author: str | None,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Sign a revision's files as `model_signing sign key` does, and commit the
    signature as model.sig, so `model_signing verify key` checks a download."""
    from sqlalchemy import select

    from ..db.schema import Commit
    from ..provenance import keys, signatures
    from ..provenance.tables import SigningKey
    from ..storage import repos

    hub = hub_for(data_dir, database_url)
    ns, _, name = repo_id.partition("/")
    with clean_errors():
        with hub.db.read() as session:
            repo = repos.get_repo(session, kind, ns, name)
            rev = repos.canonical(session, repo, revision)
            target = branch or (rev.name if rev.kind == "branch" else None)
            if target is None:
                raise click.ClickException(
                    f"{revision} is a {rev.kind}; say which branch (--branch) to commit "
                    "the signature to (it must point at that commit)."
                )
            commit = session.get(Commit, (repo.id, rev.commit))
            assert commit is not None
            files = signatures.revision_files(session, hub, commit)
            digests = signatures.signed_set(
                files, (signatures.SIGNATURE_PATH, signatures.CLIENT_CACHE)
            )
            bundle = signatures.sign_files(digests, key_path, model_name=name, password=password)
            hint = json.loads(bundle)["verificationMaterial"]["publicKey"]["hint"]
            row = session.scalar(select(SigningKey).where(SigningKey.fingerprint == hint))
            owner = keys.describe(session, row)["owner"] if row is not None else None
        who = author or (str(owner) if owner else ns)
        oid = signatures.commit_signature(
            hub,
            repo,
            target,
            rev.commit,
            bundle,
            who,
            summary=f"Sign {rev.commit[:12]} ({len(digests)} files)",
        )
    click.echo(f"Signed {len(digests)} files of {repo_id}@{rev.commit[:12]}; committed {oid}.")
    if owner is None:
        click.echo(
            f"Note: key {keys.short(hint)} is not registered here, so the hub shows the "
            "signature as unverified (commons key add ACCOUNT PUBLIC.pem).",
            err=True,
        )


@click.group("key")
def key() -> None:
    """Public keys of users and organisations, for verifying signed revisions."""


@key.command("add")
@click.argument("account")
@click.argument("pem_file", type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path))
@click.option("--title", default="", help="A name for the key.")
@data_dir_option
@database_option
def key_add(
    account: str,
    pem_file: pathlib.Path,
    title: str,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Register a PEM public key to a user or organisation."""
    from ..provenance import keys

    hub = hub_for(data_dir, database_url)
    with clean_errors(), hub.db.write() as session:
        row = keys.add_key(hub, session, account, pem_file.read_text(), title, "cli")
        fp = row.fingerprint
    click.echo(f"Added key {keys.short(fp)} ({fp}) to {account}.")


@key.command("list")
@click.argument("account")
@data_dir_option
@database_option
def key_list(account: str, data_dir: str | None, database_url: str | None) -> None:
    """List an account's signing keys."""
    from ..accounts.users import get_account
    from ..provenance import keys

    hub = hub_for(data_dir, database_url)
    with clean_errors(), hub.db.read() as session:
        for row in keys.list_keys(session, get_account(session, account)):
            click.echo(f"{row.fingerprint}  {row.title}")


@key.command("remove")
@click.argument("fingerprint")
@data_dir_option
@database_option
def key_remove(fingerprint: str, data_dir: str | None, database_url: str | None) -> None:
    """Remove a key (its fingerprint, or 16+ leading hex digits of it)."""
    from ..provenance import keys

    hub = hub_for(data_dir, database_url)
    with clean_errors(), hub.db.write() as session:
        row = keys.remove_key(hub, session, None, fingerprint, "cli")
        fp = row.fingerprint
    click.echo(f"Removed key {keys.short(fp)}.")
