"""What a plugin may provide. A plugin is a module or object with ``@hookimpl``
functions, named in an entry point of the group ``modelcommons``::

    [project.entry-points.modelcommons]
    my_scanner = "my_package.plugin"

and ``my_package/plugin.py``::

    from modelcommons.pipeline import Landed, Step, hookimpl

    class Audit:
        name, version, synchronous = "my-audit", "1", False
        def wants(self, landed: Landed) -> bool: return True
        def run(self, hub, session, landed, context): return {"ok": True}

    @hookimpl
    def modelcommons_pipeline_steps():
        return [Audit()]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .steps import Step

PROJECT = "modelcommons"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def modelcommons_pipeline_steps() -> list[Step]:  # type: ignore[empty-body]
    """The steps this plugin adds to the post-commit pipeline."""
