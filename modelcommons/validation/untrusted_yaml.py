"""YAML written by users (card front matter, release plans), loaded within bounds.

YAML anchors and aliases let a few hundred bytes stand for millions of nodes
(``a: &a [x, x]`` ``b: &b [*a, *a]`` ... doubles at every line), and deep nesting
makes every later walk of the data recursive. Neither has a use in metadata a
person writes by hand, so both are refused before anything is built: the text is
first scanned as a stream of parser events (libyaml's C parser when PyYAML has
it, which is fast and builds no objects), then loaded with the safe loader.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..errors import BadRequest

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str, *, what: str, max_depth: int) -> Any:
    """The data in ``text``, refusing aliases, anchors and nesting past ``max_depth``.

    Every refusal is a :class:`BadRequest` whose message starts with ``what``
    (``"Invalid metadata in README.md"``, ``"The plan"``)."""
    try:
        depth = 0
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise BadRequest(
                    f"{what}: YAML anchors and aliases (&name, *name) are not allowed; "
                    "write the values out."
                )
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > max_depth:
                    raise BadRequest(
                        f"{what}: the YAML is nested too deeply (more than {max_depth} levels)."
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        raise BadRequest(f"{what}: not valid YAML ({exc}).") from exc
    except ValueError as exc:
        # A scalar the safe constructor cannot build: an integer of more than 4300
        # digits, a timestamp such as 2020-13-45.
        raise BadRequest(f"{what}: a value cannot be read ({exc}).") from exc
