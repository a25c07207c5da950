"""Previews of file contents: highlighted text, and first rows of data files."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from typing import IO, Any

from .markdown import highlight_file

MAX_TEXT_BYTES = 512 * 1024
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


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


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
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return None
    header, body = rows[0][:MAX_COLUMNS], rows[1 : MAX_ROWS + 1]
    typed = [[_number(c) for c in row[:MAX_COLUMNS]] for row in body]
    columns = [
        Column(name, _infer([r[i] for r in typed if i < len(r)])) for i, name in enumerate(header)
    ]
    return Table(columns, [[_cell(c) for c in row] for row in typed], None)


def jsonl_table(head: bytes) -> Table | None:
    records: list[dict[str, Any]] = []
    for line in head.decode("utf-8", "replace").splitlines():
        if len(records) >= MAX_ROWS:
            break
        try:
            value = json.loads(line)
        except ValueError:
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
    return Table(columns, [[_cell(r.get(c, "")) for c in cols] for r in records], None)


def parquet_table(f: IO[bytes]) -> Table | None:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(f)
    names = pf.schema_arrow.names[:MAX_COLUMNS]
    columns = [Column(n, str(pf.schema_arrow.field(n).type)) for n in names]
    rows: list[list[str]] = []
    for batch in pf.iter_batches(batch_size=MAX_ROWS, columns=names):
        data = batch.to_pylist()
        rows = [[_cell(rec.get(n)) for n in names] for rec in data[:MAX_ROWS]]
        break
    return Table(columns, rows, pf.metadata.num_rows)


def table_for(path: str, f: IO[bytes]) -> Table | None:
    lower = path.lower()
    try:
        if lower.endswith((".csv", ".tsv")):
            return csv_table(f.read(MAX_TEXT_BYTES))
        if lower.endswith((".jsonl", ".ndjson")):
            return jsonl_table(f.read(MAX_TEXT_BYTES))
        if lower.endswith(".parquet"):
            return parquet_table(f)
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
