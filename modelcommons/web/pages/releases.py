"""The release plan editor: repository admins create, replace and end a staged
release plan from the settings, written as YAML. The rules are
:func:`releases.set_plan`'s, the same as the API's ``PUT …/release-plan``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml
from starlette.responses import Response

from ...api.common import load_repo
from ...errors import BadRequest, HubError
from ...governance import releases
from ...server.routing import Ctx
from ...validation.untrusted_yaml import load_yaml
from ..forms import field, read_form, require_user
from ..templating import redirect, render
from ..views import repo_path
from .repository import page_context

#: The longest plan the editor accepts, in characters (32 stages fit easily).
MAX_PLAN_CHARS = 64 * 1024
#: Plans nest four levels deep (stages, a stage, conditions, approvals); allow some slack.
MAX_PLAN_DEPTH = 8
MAX_RATIONALE = 2000

#: What a repository without a plan starts from: GPT-2's 2019 release, generalised.
STARTER = """\
# A staged release opens parts of this repository to widening audiences, one stage
# at a time, as GPT-2 was released in 2019. Until a stage is promoted, whatever it
# opens is closed to everyone but the repository's owners. Edit, then "Save plan".
#
# Each stage:
#   audience:   owners | gated (any signed-in user) | approved (accepted access
#               requests) | public, or {kind: members, orgs: [...], users: [...]}
#   opens:      files (globs; * also matches /), branches, tags
#   not_before: the earliest date it may be promoted (YYYY-MM-DD, UTC)
#   conditions: approvals {count, role, org}, card_sections (README headings), checks
#   auto:       true to let the scheduler promote it once every condition holds
stages:
  - name: Internal evaluation
    description: The team evaluates the full model; nobody else can download it.
    audience: owners
    opens:
      files: ["*.safetensors", "*.bin"]

  - name: Research partners
    description: Partners study misuse before a wider release.
    audience:
      kind: members
      orgs: [partner-org]  # organisations on this hub that get early access
    opens:
      files: ["*.safetensors", "*.bin"]
    not_before: 2019-08-20
    conditions:
      approvals: {count: 2, role: admin}  # two admins of this namespace approve

  - name: Gated public release
    description: Anyone signed in, with a record of who downloaded.
    audience: gated
    opens:
      files: ["*.safetensors", "*.bin"]
    not_before: 2019-11-05
    conditions:
      card_sections: ["## Risks"]  # the card must discuss risks first

  - name: Public release
    audience: public
    opens:
      files: ["*.safetensors", "*.bin"]
"""


def _compact(stage: dict[str, Any]) -> dict[str, Any]:
    """A normalised stage without its defaults; validating it gives the stage back."""
    out: dict[str, Any] = {"name": stage["name"]}
    if stage.get("description"):
        out["description"] = stage["description"]
    audience = stage["audience"]
    extra = {k: audience[k] for k in ("orgs", "users") if audience.get(k)}
    out["audience"] = {"kind": audience["kind"], **extra} if extra else audience["kind"]
    opens = {k: v for k, v in stage.get("opens", {}).items() if v}
    if opens:
        out["opens"] = opens
    not_before = stage.get("not_before")
    if not_before:
        out["not_before"] = not_before.removesuffix("T00:00:00")
    conditions = stage.get("conditions", {})
    kept: dict[str, Any] = {}
    if conditions.get("approvals"):
        kept["approvals"] = {k: v for k, v in conditions["approvals"].items() if v is not None}
    for key in ("card_sections", "checks"):
        if conditions.get(key):
            kept[key] = conditions[key]
    if kept:
        out["conditions"] = kept
    if stage.get("auto"):
        out["auto"] = True
    return out


class _PlanDumper(yaml.SafeDumper):
    """Block style like the starter: lists indented under their key, and lists of
    names and globs on one line."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(isinstance(item, str) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_PlanDumper.add_representer(list, _list)


def plan_yaml(stages: list[dict[str, Any]]) -> str:
    """A plan's stages as the YAML the editor shows."""
    return yaml.dump(
        {"stages": [_compact(s) for s in stages]},
        Dumper=_PlanDumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )


def parse_plan(text: str) -> object:
    """The stages written in ``text`` (``stages: [...]``), for releases.set_plan to
    validate. Refuses oversized or deeply nested text and YAML anchors and aliases,
    which could make a short text expand into a huge plan."""
    if len(text) > MAX_PLAN_CHARS:
        raise BadRequest(f"The plan is longer than {MAX_PLAN_CHARS} characters.")
    data = load_yaml(text, what="The plan", max_depth=MAX_PLAN_DEPTH)
    if isinstance(data, dict):
        unknown = sorted(str(k) for k in data if k != "stages")
        if unknown:
            raise BadRequest(
                f"Unknown top-level key {', '.join(unknown)}: a plan is "
                '"stages:" followed by a list of stages.'
            )
        data = data.get("stages")
    if isinstance(data, list):
        for item in data:
            # An unquoted YAML date is a date object; the plan wants ISO 8601 text.
            if isinstance(item, dict) and isinstance(item.get("not_before"), dt.date):
                item["not_before"] = item["not_before"].isoformat()
    return data


def plan_page(
    ctx: Ctx,
    *,
    text: str | None = None,
    rationale: str = "",
    restart: bool = False,
    error: str | None = None,
    status: int = 200,
) -> Response:
    """The editor: the current plan as YAML, or the starter when there is none."""
    require_user(ctx)
    with ctx.hub.db.read() as session:
        repo = load_repo(session, ctx, mode="admin")
        plan = releases.plan_of(session, repo)
        state: dict[str, Any] | None = None
        if plan is not None and plan.status != "ended":
            stages = releases.shown_stages(session, plan)
            state = {
                "status": plan.status,
                "current": plan.current,
                "current_name": stages[plan.current]["name"] if plan.current >= 0 else "",
                "count": len(stages),
            }
            if text is None:
                text = plan_yaml(stages)
        return render(
            ctx,
            "repo/release_plan.html",
            status=status,
            **page_context(session, ctx, repo, "settings", "main"),
            plan=state,
            ended=plan is not None and plan.status == "ended",
            text=STARTER if text is None else text,
            rationale=rationale,
            restart=restart,
            error=error,
            max_chars=MAX_PLAN_CHARS,
        )


async def save_plan(ctx: Ctx) -> Response:
    """The editor's buttons: "Save plan" (releases.set_plan) or "End plan"."""
    me = require_user(ctx)
    form = await read_form(ctx)
    action = field(form, "action", "save")
    raw = form.get("plan", "")
    text = raw.replace("\r\n", "\n") if isinstance(raw, str) else ""
    rationale = field(form, "rationale")
    restart = field(form, "restart") == "1"

    def work() -> Response:
        with ctx.hub.db.write() as session:
            repo = load_repo(session, ctx, mode="admin")
            if len(rationale) > MAX_RATIONALE:
                raise BadRequest(f"The rationale is longer than {MAX_RATIONALE} characters.")
            if action == "end":
                releases.end_plan(session, ctx.hub, repo, me.name, rationale)
            elif action == "save":
                stages = parse_plan(text)
                releases.set_plan(
                    session, ctx.hub, repo, stages, me.name, rationale, restart=restart
                )
                ctx.hub.jobs.after_commit(session, ctx.hub.jobs.check)
            else:
                raise BadRequest(f"Unknown release plan action {action!r}.")
            url = repo_path(repo)
        return redirect(ctx, url)

    try:
        return await ctx.run(work)
    except HubError as exc:
        if exc.status >= 500:
            raise
        # The page checks access again: a caller who is not an admin gets that error.
        message, status = exc.message, exc.status
    return await ctx.run(
        lambda: plan_page(
            ctx, text=text, rationale=rationale, restart=restart, error=message, status=status
        )
    )
