"""PostgreSQL's COPY output as Arrow tables.

When every column has a fixed-width binary form (:attr:`Column.wire <transforms.postgres.columns.Column.wire>`),
a chunk is copied in PostgreSQL's binary format and :func:`_decode_binary` decodes it with numpy in one pass over
fixed-size rows (about half the server's work of the text format). A NULL field is shorter, so a chunk holding one
does not have the fixed layout; it is read again in binary with a NULL flag after each column, and as CSV when
that does not serve either (+-infinity dates or timestamps), as are queries with other types: :func:`_parse` (a
chunk in memory) and :func:`_parse_stream` (a spooled file, a block at a time) read it with Arrow's CSV reader
and the query's types. Array columns arrive as JSON text and :func:`_lists_from_json` turns them into lists.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from transforms.postgres.columns import Column
from transforms.text import concatenated_bytes

_PG_EPOCH_DAYS = 10_957  # 2000-01-01, PostgreSQL's binary epoch, in days since 1970-01-01
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400 * 1_000_000
_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def _decode_binary(data: bytes, rows: int, columns: list[Column], flagged: bool = False) -> pa.Table | None:
    """A binary COPY of fixed-width columns as a table; None when a row does not have the fixed layout (a NULL
    field is shorter, so the size cannot be rows x row size) or holds +-infinity dates or timestamps. With
    ``flagged``, each column's field is followed by a boolean one, true where the value is NULL."""
    fields = [("n", ">i2")]
    for i, c in enumerate(columns):
        fields += [(f"l{i}", ">i4"), (f"v{i}", c.wire)]
        if flagged:
            fields += [(f"fl{i}", ">i4"), (f"f{i}", "?")]
    layout = np.dtype(fields)
    if not data.startswith(_BINARY_SIGNATURE) or len(data) < 21 or data[-2:] != b"\xff\xff":
        return None
    start = 19 + struct.unpack_from(">I", data, 15)[0]
    if len(data) - 2 - start != rows * layout.itemsize:
        return None
    records = np.frombuffer(data, dtype=layout, count=rows, offset=start)
    wires = [np.dtype(c.wire) for c in columns]
    values = [np.empty(rows, dtype=w.newbyteorder("=")) for w in wires]
    nulls = [np.empty(rows, dtype=bool) for _ in wires] if flagged else None
    # A band of rows at a time, so that the band's records stay in the cache while every column is taken from
    # them (column by column over a whole chunk read each row's memory once per column).
    band = max(1, _DECODE_BAND_BYTES // layout.itemsize)
    for a in range(0, rows, band):
        part = records[a:a + band]
        if (part["n"] != len(columns) * (2 if flagged else 1)).any():
            return None
        for i, w in enumerate(wires):
            if (part[f"l{i}"] != w.itemsize).any() or (flagged and (part[f"fl{i}"] != 1).any()):
                return None
            values[i][a:a + band] = part[f"v{i}"]
            if flagged:
                nulls[i][a:a + band] = part[f"f{i}"]
    arrays = []
    for i, (c, v) in enumerate(zip(columns, values)):
        t = c.arrow_type
        mask = nulls[i] if flagged and nulls[i].any() else None
        if pa.types.is_date(t) or pa.types.is_timestamp(t):
            info = np.iinfo(v.dtype)
            epoch = _PG_EPOCH_DAYS if pa.types.is_date(t) else _PG_EPOCH_US
            # +-infinity, or beyond what the Arrow type holds: the text path gives its error (or reads it)
            if rows and (v.max() > info.max - epoch or v.min() == info.min):
                return None
            v += epoch
            arrays.append(pa.array(v, type=t, mask=mask))
        elif pa.types.is_decimal(t):  # unscaled 64-bit integers -> 128-bit two's complement, little-endian
            wide = np.empty((rows, 2), dtype="<i8")
            wide[:, 0] = v
            wide[:, 1] = v >> 63
            validity = None if mask is None else pa.array(~mask).buffers()[1]
            arrays.append(pa.Array.from_buffers(t, rows, [validity, pa.py_buffer(wide)],
                                                null_count=-1 if mask is not None else 0))
        else:
            arrays.append(pa.array(v, type=t, mask=mask))
    return pa.Table.from_arrays(arrays, names=[c.name for c in columns])


_DECODE_BAND_BYTES = 1 << 20


def _lists_from_json(table: pa.Table, arrays: dict[str, Column]) -> pa.Table:
    """Array columns arrive as JSON text ('[1,2,null]'); Arrow's JSON reader turns them into lists at once
    (NUMERIC, date and timestamp elements come as JSON strings and are then cast)."""
    for name, column in arrays.items():
        i = table.schema.get_field_index(name)
        text = pc.fill_null(table.column(name).combine_chunks(), "null")
        lines = pc.binary_join_element_wise('{"v":', text, "}\n", "")
        if len(lines):
            data = concatenated_bytes(lines.cast(pa.string()))
            values = pajson.read_json(io.BytesIO(data), parse_options=pajson.ParseOptions(
                explicit_schema=pa.schema([("v", column.json_type)]))).column("v")
            if column.json_type != column.arrow_type:
                values = values.cast(column.arrow_type)
        else:
            values = pa.chunked_array([], column.arrow_type)
        table = table.set_column(i, pa.field(name, column.arrow_type), values)
    return table


def _csv_options(names: list[str], types: dict) -> dict:
    """How PostgreSQL's CSV COPY output reads back with the query's types (NULL is an empty unquoted field)."""
    return dict(
        read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=types, null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False,
            true_values=["t"], false_values=["f"]))


def _parse(data: bytes, names: list[str], types: dict) -> pa.Table:
    if not data:
        return pa.schema([(n, types[n]) for n in names]).empty_table()
    return pacsv.read_csv(io.BytesIO(data), **_csv_options(names, types))


def _parse_stream(f, names: list[str], types: dict):
    """Record batches of the CSV in the file ``f``, read a block (16 MiB) at a time."""
    if f.read(1) == b"":
        return
    f.seek(0)
    yield from pacsv.open_csv(f, **_csv_options(names, types))
