"""What a data file's preview shows: a table of typed columns and the first rows,
each cell cut to :data:`MAX_CELL` characters."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

MAX_ROWS = 50
MAX_COLUMNS = 40
MAX_CELL = 200


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclasses.dataclass(frozen=True)
class Table:
    columns: list[Column]
    rows: list[list[str]]
    total: int | None
    #: What the preview leaves out, if anything ("3 more columns not shown").
    note: str = ""


def cell(value: Any) -> str:
    """A value as the text of a table cell, cut to :data:`MAX_CELL` characters."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"
