"""`commons policy` and `commons release`: licence policies and staged release decisions."""

from __future__ import annotations

import click

from .. import accounts, audit
from .common import (
    clean_errors,
    data_dir_option,
    database_option,
    hub_for,
)


@click.group()
def policy() -> None:
    """Licence policies: what a licence violation in a card's ancestry does."""


@policy.command("set")
@click.argument("namespace")
@click.argument("value", type=click.Choice(["warn", "reject"]))
@data_dir_option
@database_option
def policy_set(namespace: str, value: str, data_dir: str | None, database_url: str | None) -> None:
    """Set a user's or organisation's licence policy (overrides the hub's)."""
    from ..governance import licence_checks

    hub = hub_for(data_dir, database_url)
    with clean_errors(), hub.db.write() as session:
        namespace = accounts.get_account(session, namespace).name  # as typed, any case
        licence_checks.set_policy(session, namespace, value)
        hub.audit.record(session, audit.LicencePolicySet(None, namespace=namespace, policy=value))
    click.echo(f"Licence policy of {namespace} is now {value}.")


@policy.command("show")
@click.argument("namespace")
@data_dir_option
@database_option
def policy_show(namespace: str, data_dir: str | None, database_url: str | None) -> None:
    """Print the licence policy that applies to a namespace."""
    from ..governance import licence_checks

    hub = hub_for(data_dir, database_url)
    with hub.db.read() as session:
        click.echo(licence_checks.policy_for(hub, session, namespace))


@click.group()
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
        from ..governance import releases
        from ..storage import repos

        hub = hub_for(data_dir, database_url)
        ns, _, name = repo_id.partition("/")
        with clean_errors(), hub.db.write() as session:
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
    from ..governance import releases

    hub = hub_for(data_dir, database_url)
    due = 0
    with hub.db.read() as session:
        pairs = releases.due_plans(session, hub)
    for repo_pk, stage in pairs:
        due += releases.run_promotion(hub, repo_pk, stage)
    click.echo(f"{due} promotion(s) done.")
