"""How the runner's lists name tests of the client's suite."""

from __future__ import annotations


def covers(name: str, nodeid: str) -> bool:
    """Whether ``name`` (a node id, a class ``...::Class::``, or a module ``...py::``)
    names the test ``nodeid``; a test's name covers all its parametrisations."""
    if name.endswith("::"):
        return nodeid.startswith(name)
    return nodeid == name or nodeid.startswith(name + "[")
