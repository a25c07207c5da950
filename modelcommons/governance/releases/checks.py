"""The registry of named conditions that plugins extend with :func:`register_check`
(``"checks": [name]`` in a stage)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from ...db.schema import (
    ReleasePlan,
    Repo,
)

if TYPE_CHECKING:
    from ...hub import Hub


@dataclasses.dataclass(frozen=True)
class CheckContext:
    session: Session
    hub: Hub
    repo: Repo
    plan: ReleasePlan
    stage_index: int
    stage: dict[str, Any]


#: A named condition checker: returns (holds, explanation).
Checker = Callable[[CheckContext], tuple[bool, str]]


CHECKERS: dict[str, Checker] = {}


def register_check(name: str) -> Callable[[Checker], Checker]:
    """Register a named condition (``"checks": [name]`` in a stage); plugins call this."""

    def add(fn: Checker) -> Checker:
        CHECKERS[name] = fn
        return fn

    return add
