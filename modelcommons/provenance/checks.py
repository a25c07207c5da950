"""The release-plan check ``signed``: a stage may require a verified signature.

``"conditions": {"checks": ["signed"]}`` holds when every branch and tag the stage
opens (or ``main``, when it opens none) points at a revision whose ``model.sig`` a
registered key made over exactly its files (:mod:`.signatures`). Importing this
module registers the check; the API and the ``commons`` command import it.
"""

from __future__ import annotations

from ..errors import NotFound
from ..governance.releases import CheckContext, register_check
from ..storage import repos
from .signatures import verify_revision


@register_check("signed")
def signed(ctx: CheckContext) -> tuple[bool, str]:
    opens = ctx.stage.get("opens") or {}
    names = [*opens.get("branches", []), *opens.get("tags", [])] or [repos.DEFAULT_BRANCH]
    problems: list[str] = []
    good: list[str] = []
    for name in names:
        try:
            commit = repos.resolve(ctx.session, ctx.repo, str(name))
        except NotFound:
            problems.append(f"{name}: no such revision")
            continue
        state = verify_revision(ctx.session, ctx.hub, ctx.repo, commit)
        (good if state.verified else problems).append(f"{name}: {state.summary}")
    if problems:
        return False, "; ".join(problems)
    return True, "; ".join(good)
