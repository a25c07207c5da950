"""Previews of file contents: highlighted text, and first rows of data files.

Every preview costs the server a bounded amount whatever the file holds (anyone
may open a public file's page): text and CSV/JSON Lines previews read at most
:data:`MAX_TEXT_BYTES` from the start of the file and at most :data:`MAX_ROWS`
rows, skipping JSON lines over :data:`MAX_LINE_BYTES`; Parquet previews decide
from the file's metadata and page headers what they can afford
(:mod:`.parquet`); the table they fill is :mod:`.tables`.
"""

from __future__ import annotations

import csv
import io
import itertools
from typing import IO, Any

from ...errors import HubError
from ...validation.inputs import loads_json
from ..markdown import highlight_file
from .tables import MAX_COLUMNS, MAX_ROWS, Column, Table, cell

MAX_TEXT_BYTES = 512 * 1024
#: JSON lines longer than this are left out of a preview.
MAX_LINE_BYTES = 64 * 1024


class NoPreview(Exception):
    """A data file too costly to preview; the message says why, for the page."""


def _infer(values: list[Any]) -> str:
    kinds = {type(v).__name__ for v in values if v not in (None, "")}
    if not kinds:
        return "null"
    if kinds <= {"int"}:
        return "int64"
    if kinds <= {"int", "float"}:
        return "float64"
    if kinds <= {"bool"}:
        return "bool"
    if kinds <= {"str"}:
        return "string"
    return "json" if kinds & {"dict", "list"} else "mixed"


def _number(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            continue
    return text


def csv_table(head: bytes) -> Table | None:
    text = head.decode("utf-8", "replace")
    if len(head) >= MAX_TEXT_BYTES:  # drop a partial last line
        text = text.rsplit("\n", 1)[0]
    rows = list(itertools.islice(csv.reader(io.StringIO(text)), MAX_ROWS + 1))
    if not rows:
        return None
    header, body = rows[0][:MAX_COLUMNS], rows[1 : MAX_ROWS + 1]
    typed = [[_number(c) for c in row[:MAX_COLUMNS]] for row in body]
    columns = [
        Column(name, _infer([r[i] for r in typed if i < len(r)])) for i, name in enumerate(header)
    ]
    return Table(columns, [[cell(c) for c in row] for row in typed], None)


def jsonl_table(head: bytes) -> Table | None:
    records: list[dict[str, Any]] = []
    for line in head.splitlines():
        if len(records) >= MAX_ROWS:
            break
        if len(line) > MAX_LINE_BYTES:
            continue
        try:
            value = loads_json(line.decode("utf-8", "replace"), "A line")
        except HubError:
            continue
        if isinstance(value, dict):
            records.append(value)
    if not records:
        return None
    names: dict[str, None] = {}
    for r in records:
        for key in r:
            names.setdefault(key, None)
    cols = list(names)[:MAX_COLUMNS]
    columns = [Column(c, _infer([r.get(c) for r in records])) for c in cols]
    return Table(columns, [[cell(r.get(c, "")) for c in cols] for r in records], None)


def table_for(path: str, f: IO[bytes]) -> Table | None:
    """The first rows of a data file, or None (not a data file, or a broken one).
    Raises :class:`NoPreview` when the file is readable but too costly to preview."""
    lower = path.lower()
    try:
        if lower.endswith((".csv", ".tsv")):
            return csv_table(f.read(MAX_TEXT_BYTES))
        if lower.endswith((".jsonl", ".ndjson")):
            return jsonl_table(f.read(MAX_TEXT_BYTES))
        if lower.endswith(".parquet"):
            from .parquet import Refused, parquet_table  # pyarrow: only when asked

            try:
                return parquet_table(f)
            except Refused as exc:
                raise NoPreview(str(exc)) from None
    except NoPreview:
        raise
    except Exception:  # a broken data file gets no preview, not an error page
        return None
    return None


def text_preview(path: str, data: bytes) -> str | None:
    if b"\0" in data[:8192]:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return highlight_file(path, text)
