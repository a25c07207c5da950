"""Data previews: first rows with column names and types, from CSV, JSON Lines, Parquet."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from modelcommons.web.previews import table_for, text_preview


def test_csv_preview_infers_types() -> None:
    table = table_for("data/train.csv", io.BytesIO(b"text,label,score\nhi,1,0.5\nyo,0,1.5\n"))
    assert table is not None
    assert [(c.name, c.type) for c in table.columns] == [
        ("text", "string"),
        ("label", "int64"),
        ("score", "float64"),
    ]
    assert table.rows == [["hi", "1", "0.5"], ["yo", "0", "1.5"]]


def test_jsonl_preview_unions_columns() -> None:
    data = b'{"a": 1, "b": "x"}\n{"a": 2, "c": [1, 2]}\nnot json\n'
    table = table_for("rows.jsonl", io.BytesIO(data))
    assert table is not None
    assert [(c.name, c.type) for c in table.columns] == [
        ("a", "int64"),
        ("b", "string"),
        ("c", "json"),
    ]
    assert table.rows[1] == ["2", "", "[1, 2]"]


def test_parquet_preview_reads_schema_and_first_rows() -> None:
    buffer = io.BytesIO()
    pq.write_table(
        pa.table({"id": list(range(500)), "name": [f"n{i}" for i in range(500)]}),
        buffer,
        row_group_size=100,
    )
    buffer.seek(0)
    table = table_for("x.parquet", buffer)
    assert table is not None and table.total == 500
    assert [(c.name, c.type) for c in table.columns] == [("id", "int64"), ("name", "string")]
    assert len(table.rows) == 50 and table.rows[0] == ["0", "n0"]


def test_broken_and_binary_files_get_no_preview() -> None:
    assert table_for("x.parquet", io.BytesIO(b"not parquet")) is None
    assert text_preview("w.bin", b"\x00\x01\x02") is None
    assert text_preview("bad.txt", b"\xff\xfe\xfa") is None
    html = text_preview("x.py", b"print('<script>')\n")
    assert html is not None and "<script>" not in html and "&lt;script&gt;" in html
