"""The post-commit pipeline: what follows every commit, declared as plugins.

``hookspecs`` declares what a plugin provides (pluggy, as pytest and datasette use
it): steps. ``steps`` defines a step and what it is told about a commit.
``runner`` finds the plugins (entry point group ``modelcommons``: the built-in ones
in ``builtin`` are registered exactly as an outside package's are), runs the
synchronous steps in the commit's own transaction, and queues the others as Huey
jobs after it commits, idempotent per (repository, commit, step), retried, with
their status in ``pipeline_steps``.

May import: ``scanning``, ``governance``, ``storage``, ``accounts``, ``db`` and the
foundation modules; ``hub`` and ``search`` for type hints only.
"""

from .hookspecs import hookimpl
from .steps import Landed, Step

__all__ = ["Landed", "Step", "hookimpl"]
