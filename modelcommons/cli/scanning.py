"""``commons plugins`` (what the post-commit pipeline runs) and ``commons scan``
(rescan stored blobs, a repository's pipeline status, the scan policy)."""

from __future__ import annotations

import json
import sys

import click
from sqlalchemy import select

from .. import accounts, audit
from ..db.pipeline_tables import PipelineStep
from ..governance import quarantine
from ..pipeline.runner import describe_plugins, plugin_manager
from ..scanning import rescan
from ..storage import repos
from ..validation.names import check_repo_id
from .common import clean_errors, data_dir_option, database_option, hub_for


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@data_dir_option
@database_option
def plugins(as_json: bool, data_dir: str | None, database_url: str | None) -> None:
    """List the installed pipeline plugins (entry point group ``modelcommons``) and
    their steps: synchronous steps run in the commit's transaction, background
    steps as jobs after it (or in the commit, where it must wait for them).
    (Plugins belong to the Python environment the hub runs in;
    ``--data-dir``/``--database-url`` are accepted like every command's.)"""
    described = describe_plugins(plugin_manager())
    if as_json:
        click.echo(json.dumps(described, indent=2))
        return
    for plugin in described:
        click.echo(f"{plugin['name']}  ({plugin['distribution']})")
        for step in plugin["steps"]:
            notes = [f"after {', '.join(step['requires'])}"] if step["requires"] else []
            if step["waitsWhen"]:
                notes.append(f"in the commit when {step['waitsWhen']}")
            extra = f"  ({'; '.join(notes)})" if notes else ""
            click.echo(f"  {step['name']:<12} {step['mode']:<12} version {step['version']}{extra}")


@click.group("scan", invoke_without_command=True)
@click.option("--all", "everything", is_flag=True, help="Rescan every stored blob once.")
@click.option("--force", is_flag=True, help="With --all: also blobs this version scanned.")
@data_dir_option
@database_option
@click.pass_context
def scan(
    ctx: click.Context,
    everything: bool,
    force: bool,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Scan stored files. ``commons scan --all`` scans every blob once (not once per
    repository) that has no result from this scanner version, with a progress bar."""
    if ctx.invoked_subcommand is not None:
        return
    if not everything:
        click.echo(ctx.get_help())
        return
    hub = hub_for(data_dir, database_url)
    work = rescan.targets(hub.db, everything=force)
    total = sum(size or 1 for _, _, size in work)
    with click.progressbar(length=total, label="Scanning blobs", file=sys.stderr) as bar:
        counts = rescan.rescan(hub.db, hub.blobs, work, progress=bar.update)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing"
    click.echo(f"Scanned {len(work)} blobs: {summary}.")


@scan.command("status")
@click.argument("repo_ref")
@click.option("--kind", type=click.Choice(["model", "dataset"]), default="model")
@click.option("--json", "as_json", is_flag=True)
@data_dir_option
@database_option
def status(
    repo_ref: str, kind: str, as_json: bool, data_dir: str | None, database_url: str | None
) -> None:
    """The pipeline's background steps for each commit of a repository."""
    hub = hub_for(data_dir, database_url)
    with clean_errors(), hub.db.read() as session:
        namespace, name = check_repo_id(repo_ref)
        repo = repos.get_repo(session, kind, namespace, name)
        rows = session.scalars(
            select(PipelineStep)
            .where(PipelineStep.repo_id == repo.id)
            .order_by(PipelineStep.queued_at, PipelineStep.step)
        )
        out = [
            {
                "commit": r.commit_oid,
                "step": r.step,
                "status": r.status,
                "attempts": r.attempts,
                "error": r.error,
                "result": json.loads(r.result or "{}"),
            }
            for r in rows
        ]
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    for r in out:
        click.echo(f"{r['commit'][:12]} {r['step']:<12} {r['status']:<8} {r['result']}")


@scan.command("policy")
@click.argument("namespace")
@click.argument("value", type=click.Choice(["warn", "quarantine", "default"]))
@data_dir_option
@database_option
def policy(namespace: str, value: str, data_dir: str | None, database_url: str | None) -> None:
    """Set a user's or organisation's scan policy (``default``: the hub's)."""
    hub = hub_for(data_dir, database_url)
    with clean_errors(), hub.db.write() as session:
        namespace = accounts.get_account(session, namespace).name  # as typed, any case
        quarantine.set_policy(session, namespace, None if value == "default" else value)
        hub.audit.record(session, audit.ScanPolicySet(None, namespace=namespace, policy=value))
    click.echo(f"Scan policy for {namespace}: {value}.")
