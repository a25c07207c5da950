"""The first rows of a Parquet file, read within a fixed memory budget.

Anyone may open a public file's page, so a preview must cost the server a bounded
amount whatever the file holds. Parquet makes that hard: a few hundred bytes of
zstd or RLE can unpack into gigabytes, and one dictionary entry of 10 MB repeated
in fifty rows becomes 500 MB of strings when decoded. So, before pyarrow decodes
anything:

- the footer must be at most :data:`MAX_FOOTER_BYTES` (Thrift limits too);
- the pages that reading the first rows of each shown column will touch are
  found from their own headers (:mod:`.parquet_pages`), and columns are shown,
  in order, only while the bytes those pages hold stay within
  :data:`BUDGET_BYTES`; a file whose first column does not fit gets no preview;

and while decoding:

- text and binary columns stay dictionary-encoded (``read_dictionary``), so a
  repeated value is held once; each is cut to the cell width in Arrow, before
  any Python string is made; lists are cut to :data:`MAX_ITEMS` items a level;
- cells become Python values one at a time, so at most one cell is whole.

pyarrow is the well-kept Parquet reader; it has no memory cap of its own (its
footer-driven sizes are not checked against the pages), hence these checks.
"""

from __future__ import annotations

from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .parquet_pages import chunk_cost
from .tables import MAX_CELL, MAX_COLUMNS, MAX_ROWS, Column, Table, cell

#: The largest Parquet footer (file metadata) read for a preview.
MAX_FOOTER_BYTES = 16 * 1024 * 1024
#: What reading the first rows may hold at once: compressed and decompressed pages
#: of every shown column, and what their values decode to.
BUDGET_BYTES = 64 * 1024 * 1024
#: Leaf columns read at most (a struct column has one per field).
MAX_LEAVES = 200
#: Items of a list shown in a cell, per level; lists nested deeper than
#: :data:`MAX_LIST_DEPTH` are shown by their type only.
MAX_ITEMS = 10
MAX_LIST_DEPTH = 3
_READ_BUFFER = 1024 * 1024


class Refused(Exception):
    """The file is readable but too costly to preview; the message says why."""


def parquet_table(f: IO[bytes]) -> Table | None:
    """The schema and first rows, or None when ``f`` is not Parquet. Raises
    :class:`Refused` when even the first column is over the budget."""
    size = f.seek(0, 2)
    if size < 12:
        return None
    f.seek(size - 8)
    tail = f.read(8)
    if tail[4:] != b"PAR1":
        return None
    if int.from_bytes(tail[:4], "little") > MAX_FOOTER_BYTES:
        raise Refused("This Parquet file's metadata is too large to preview.")
    options: dict[str, Any] = {
        "pre_buffer": False,  # else whole column chunks are read up front
        "buffer_size": _READ_BUFFER,  # and else each column chunk is read at once
        "thrift_string_size_limit": MAX_FOOTER_BYTES,
        "thrift_container_size_limit": 1_000_000,
    }
    described = pq.ParquetFile(f, **options)
    meta, schema = described.metadata, described.schema_arrow
    names = schema.names[:MAX_COLUMNS]
    columns = [Column(n, str(schema.field(i).type)) for i, n in enumerate(names)]
    if meta.num_row_groups == 0:
        return Table(columns, [], meta.num_rows)
    shown, leaves = _affordable(f, size, meta, schema, names)
    if not shown:
        raise Refused(
            "This Parquet file's first rows are too large to preview "
            f"(more than {BUDGET_BYTES // (1024 * 1024)} MiB to decode); download it instead."
        )
    text_leaves = [
        meta.schema.column(i).path
        for i in leaves
        if meta.schema.column(i).physical_type == "BYTE_ARRAY"
    ]
    reader = pq.ParquetFile(f, metadata=meta, read_dictionary=text_leaves, **options)
    batch = next(
        reader.iter_batches(batch_size=MAX_ROWS, row_groups=[0], columns=shown, use_threads=False),
        None,
    )
    rows: list[list[str]] = []
    if batch is not None:
        cells = [_cells(batch.column(i)) for i in range(batch.num_columns)]
        rows = [list(r) for r in zip(*cells, strict=True)]
    note = f"{len(names) - len(shown)} more columns not shown" if len(shown) < len(names) else ""
    return Table(columns[: len(shown)], rows, meta.num_rows, note)


def _affordable(
    f: IO[bytes], size: int, meta: Any, schema: pa.Schema, names: list[str]
) -> tuple[list[str], list[int]]:
    """The leading columns whose first rows fit the budget, and their leaf indexes."""
    group = meta.row_group(0)
    first_leaf = spent = 0
    shown: list[str] = []
    leaves: list[int] = []
    for index, name in enumerate(names):
        mine = list(range(first_leaf, first_leaf + _leaf_count(schema.field(index).type)))
        first_leaf += len(mine)
        if len(leaves) + len(mine) > MAX_LEAVES or first_leaf > meta.num_columns:
            break
        cost = 0
        for i in mine:
            chunk, column = group.column(i), meta.schema.column(i)
            start = chunk.data_page_offset
            if chunk.has_dictionary_page and 0 < chunk.dictionary_page_offset < start:
                start = chunk.dictionary_page_offset
            fixed = column.length if column.physical_type == "FIXED_LEN_BYTE_ARRAY" else 0
            found = chunk_cost(
                f,
                start=start,
                length=chunk.total_compressed_size,
                file_size=size,
                rows=MAX_ROWS,
                repeated=column.max_repetition_level > 0,
                value_bytes=fixed,
                budget=BUDGET_BYTES - spent - cost,
            )
            if found is None:
                return shown, leaves
            cost += found.bytes
        spent += cost
        shown.append(name)
        leaves += mine
    return shown, leaves


def _leaf_count(t: pa.DataType) -> int:
    """How many Parquet leaf columns an Arrow type is stored as."""
    if pa.types.is_struct(t):
        return sum(_leaf_count(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_map(t):
        return _leaf_count(t.key_type) + _leaf_count(t.item_type)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _leaf_count(t.value_type)
    return 1


def _list_depth(t: pa.DataType) -> int:
    if pa.types.is_struct(t):
        return max((_list_depth(t.field(i).type) for i in range(t.num_fields)), default=0)
    if pa.types.is_map(t):
        return 1 + max(_list_depth(t.key_type), _list_depth(t.item_type))
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return 1 + _list_depth(t.value_type)
    return 0


def _cells(array: pa.Array | pa.ChunkedArray) -> list[str]:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if _list_depth(array.type) > MAX_LIST_DEPTH:
        return [cell(f"<{array.type}>")] * len(array)
    small = _shrink(array)
    return [cell(small[i].as_py()) for i in range(len(small))]


def _shrink(a: pa.Array) -> pa.Array:
    """``a`` with text and binary cut to the cell width and lists to MAX_ITEMS items,
    dictionary-encoded values cut in their dictionary (each held once)."""
    t = a.type
    if pa.types.is_dictionary(t):
        return pa.DictionaryArray.from_arrays(a.indices, _shrink(a.dictionary))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pc.utf8_slice_codeunits(a, 0, MAX_CELL)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return pc.binary_slice(a, 0, MAX_CELL)
    if pa.types.is_struct(t):
        children = [_shrink(child) for child in a.flatten()]
        return pa.StructArray.from_arrays(
            children, fields=[t.field(i) for i in range(t.num_fields)], mask=a.is_null()
        )
    if pa.types.is_map(t):  # as a list of key/value structs
        entries = pa.StructArray.from_arrays([a.keys, a.items], names=["key", "value"])
        return _shrink(pa.ListArray.from_arrays(a.offsets, entries, mask=a.is_null()))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        cut = pc.list_slice(a, 0, MAX_ITEMS)
        return type(cut).from_arrays(cut.offsets, _shrink(cut.values), mask=cut.is_null())
    if pa.types.is_fixed_size_list(t):
        size = t.list_size
        values = _shrink(a.values.slice(a.offset * size, len(a) * size))
        return pa.FixedSizeListArray.from_arrays(values, size, mask=a.is_null())
    return a
