"""PostgreSQL's COPY output as Arrow tables.

Key ranges are copied in PostgreSQL's binary format (the server does about half the work of rendering text) and
:func:`decode_binary` decodes them with numpy and Arrow, no Python per row: fixed-width rows with no NULL as
records; otherwise each row's start comes from the driver's messages (one per row) and the fields are found a
column at a time for all rows at once; text is gathered out of the buffer by one Arrow ``take``, arrays by their
elements' positions. What numpy does not decode (+-infinity dates, nested arrays, NUMERIC NaN) is read as CSV,
as are the NULL-key rows and queries without a key: :func:`_parse` (a chunk in memory) and :func:`_parse_stream`
(a spooled file, a block at a time) read it with Arrow's CSV reader and the query's types, arrays as JSON text
that :func:`_lists_from_json` turns into lists.
"""
from __future__ import annotations

import contextlib
import datetime
import io
import re
import struct

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from datagen.types import EPOCH
from transforms.postgres.columns import Column
from transforms.text import concatenated_bytes

_PG_EPOCH_DAYS = (datetime.date(2000, 1, 1) - EPOCH).days  # PostgreSQL's binary dates and timestamps count from it
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400 * 1_000_000
_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def decode_binary(messages: list[bytes], rows: int, columns: list[Column], json_arrays: bool = False
                  ) -> pa.Table | None:
    """A binary COPY as a table, or None when it cannot be read that way (the caller reads the chunk as text).

    ``messages`` are the COPY's data messages as the driver hands them over, one row each (the file header comes
    with the first, the trailer alone), so every row's start is known without reading its fields one by one; the
    fields are then found a column at a time for all rows at once: a field is a 4-byte length (-1: NULL) and that
    many bytes. Rows of fixed-width fields with no NULL all have one size: they are read as records, and for them
    the messages may be joined already (one buffer). Array columns arrive in PostgreSQL's binary array form (one
    dimension), or with ``json_arrays`` as JSON text. None for: not a binary COPY of these columns, a row count
    other than ``rows``, +-infinity dates or timestamps, arrays of more than one dimension, text that is not UTF-8,
    a NUMERIC the Arrow type cannot hold (NaN)."""
    data = b"".join(messages)
    if not data.startswith(_BINARY_SIGNATURE) or len(data) < 21 or data[-2:] != b"\xff\xff":
        return None
    header = 19 + struct.unpack_from(">I", data, 15)[0]
    fixed = [np.dtype(c.wire) if c.wire and not c.is_array else None for c in columns]
    if all(fixed) and len(data) - header - 2 == rows * (2 + sum(4 + f.itemsize for f in fixed)):
        # Every field present (a NULL is shorter): fixed-size rows one after another, wherever messages end.
        values = _fixed_rows(data, header, rows, fixed)
        if values is None:
            return None
        arrays = [_to_arrow(v, None, c.arrow_type) for v, c in zip(values, columns)]
        return None if None in arrays else pa.Table.from_arrays(arrays, names=[c.name for c in columns])
    bounds = np.zeros(len(messages) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, messages), dtype=np.int64, count=len(messages)), out=bounds[1:])
    starts, ends = np.maximum(bounds[:-1], header), np.minimum(bounds[1:], len(data) - 2)
    keep = ends > starts  # the header's and the trailer's bytes are no row
    starts, ends = starts[keep], ends[keep]
    if len(starts) != rows or len(data) >= 2**31 or (_read(data, starts, ">i2", 2) != len(columns)).any():
        return None  # (a chunk of 2 GiB or more: text, whose parser takes any size)
    arrays = []
    position = starts + 2
    i = 0
    while i < len(columns):
        if fixed[i] is not None:  # a run of fixed-width columns: read together
            j = i
            while j < len(columns) and fixed[j] is not None:
                j += 1
            got = _fixed_fields(data, position, fixed[i:j])
            if got is None:
                return None
            for c, (values, mask) in zip(columns[i:j], got[0]):
                arrays.append(_to_arrow(values, mask, c.arrow_type))
            position = got[1]
            i = j
            continue
        c = columns[i]
        lengths = _read(data, position, ">i4", 4)
        value_at = position + 4
        try:
            if c.is_array and not json_arrays:
                arrays.append(_list_column(data, value_at, lengths, c))
            else:
                arrays.append(_scalar_column(data, value_at, lengths, None,
                                             pa.string() if c.is_array else c.arrow_type))
        except UnreadableValue as e:
            raise UnreadableValue(f"column {c.name!r}: {e}") from None
        position = value_at + np.maximum(lengths, 0)
        i += 1
    if None in arrays or (position != ends).any():
        return None
    return pa.Table.from_arrays(arrays, names=[c.name for c in columns])


def _fixed_fields(data: bytes, position: np.ndarray, wires: list[np.dtype]
                  ) -> tuple[list[tuple[np.ndarray, np.ndarray | None]], np.ndarray] | None:
    """Consecutive fixed-width fields starting at ``position`` of each row: (values, NULL mask or None) per field,
    and the position after them. Rows whose fields are all present are read as one record each, by one gather;
    the others (a NULL is shorter) field by field. None if a field has another length than its type's."""
    record = np.dtype([part for k, w in enumerate(wires) for part in ((f"l{k}", ">i4"), (f"v{k}", w))])
    fits = position <= len(data) - record.itemsize  # (a row with NULLs near the end: no whole record there)
    records = _read(data, np.where(fits, position, 0), record, record.itemsize) if fits.any() else \
        np.zeros(len(position), dtype=record)
    whole = fits.copy()
    for k, w in enumerate(wires):
        whole &= records[f"l{k}"] == w.itemsize
    fields = [(records[f"v{k}"].astype(w.newbyteorder("=")), None) for k, w in enumerate(wires)]
    after = position + record.itemsize
    if not whole.all():
        rows = np.flatnonzero(~whole)
        at = position[rows]
        for k, w in enumerate(wires):
            lengths = _read(data, at, ">i4", 4)
            nulls = lengths < 0
            if not ((lengths == w.itemsize) | nulls).all():
                return None
            values, _ = fields[k]
            values[rows] = _read(data, np.where(nulls, 0, at + 4), w.str, w.itemsize)
            mask = np.zeros(len(position), dtype=bool)
            mask[rows] = nulls
            fields[k] = (values, mask if mask.any() else None)
            at = at + 4 + np.maximum(lengths, 0)
        after[rows] = at
    return fields, after


def _read(data: bytes, positions: np.ndarray, dtype: str | np.dtype, width: int) -> np.ndarray:
    """The values of a fixed-width big-endian type (or record) at any byte positions of ``data``, in native
    order: a view of the buffer as raw items of ``width`` bytes with a stride of one byte, so one gather (a copy
    of bytes, the cheapest kind) reads them all."""
    dtype = np.dtype(dtype)
    room = max(0, len(data) - width + 1)
    view = np.ndarray((room,), dtype=f"V{width}", buffer=data, strides=(1,))
    got = view[positions].view(dtype)
    return got if dtype.names else got.astype(dtype.newbyteorder("="))


def _scalar_column(data: bytes, at: np.ndarray, lengths: np.ndarray, wire: np.dtype | None,
                   arrow_type: pa.DataType) -> pa.Array | None:
    """The fields at ``at`` of ``lengths`` bytes (-1: NULL) as an Arrow array of ``arrow_type``: a fixed-width
    ``wire`` type read by numpy, anything else as UTF-8 text (cast when the type is a NUMERIC)."""
    nulls = lengths < 0
    mask = nulls if nulls.any() else None
    if wire is None:
        text = _strings(data, at, lengths)
        if text is None:
            return None
        return text if pa.types.is_string(arrow_type) else _decimals(text, arrow_type)
    if not ((lengths == wire.itemsize) | nulls).all():
        return None
    return _to_arrow(_read(data, np.where(nulls, 0, at), wire.str, wire.itemsize), mask, arrow_type)


def _fixed_rows(data: bytes, start: int, rows: int, wires: list[np.dtype]) -> list[np.ndarray] | None:
    """Each column of ``rows`` fixed-size rows from ``start``, in native order (None if a field has another
    length than its type's): numpy reads them as records, a band of rows at a time, so that the band stays in
    the cache while every column is taken from it."""
    fields = [("n", ">i2")]  # the field count
    for i, w in enumerate(wires):
        fields += [(f"l{i}", ">i4"), (f"v{i}", w)]
    records = np.frombuffer(data, dtype=np.dtype(fields), count=rows, offset=start)
    values = [np.empty(rows, dtype=w.newbyteorder("=")) for w in wires]
    band = max(1, _DECODE_BAND_BYTES // records.itemsize)
    for a in range(0, rows, band):
        part = records[a:a + band]
        if (part["n"] != len(wires)).any():
            return None
        for i, w in enumerate(wires):
            if (part[f"l{i}"] != w.itemsize).any():
                return None
            values[i][a:a + band] = part[f"v{i}"]
    return values


_DECODE_BAND_BYTES = 1 << 20


def _to_arrow(values: np.ndarray, mask: np.ndarray | None, t: pa.DataType) -> pa.Array | None:
    """Values of a fixed-width binary field (native order; ``mask`` true where NULL) as an Arrow array of ``t``;
    None for +-infinity dates and timestamps, or ones beyond what the Arrow type holds."""
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        info = np.iinfo(values.dtype)
        epoch = _PG_EPOCH_DAYS if pa.types.is_date(t) else _PG_EPOCH_US
        present = values if mask is None else values[~mask]
        if len(present) and (present.max() > info.max - epoch or present.min() == info.min):
            return None
        values += epoch
        return pa.array(values, type=t, mask=mask)
    if pa.types.is_decimal(t):  # NUMERIC(p <= 18, s) sent as bigint scaled by 10^s -> 128-bit two's complement
        wide = np.empty((len(values), 2), dtype="<i8")
        wide[:, 0] = values
        wide[:, 1] = values >> 63
        validity = None if mask is None else pa.array(~mask).buffers()[1]
        return pa.Array.from_buffers(t, len(values), [validity, pa.py_buffer(wide)],
                                     null_count=-1 if mask is not None else 0)
    return pa.array(values, type=t, mask=mask)


class UnreadableValue(ValueError):
    """A value its column's Arrow type cannot hold (a NUMERIC NaN or infinity, or more digits than the precision
    and scale it is read as); the message names the column and the value."""


def _decimals(text: pa.Array, t: pa.DataType) -> pa.Array:
    """NUMERIC values sent as text, as decimals of ``t``; :class:`UnreadableValue` naming the first that does not
    fit (a NUMERIC without a precision is read as NUMERIC(38, 9): more decimals, or NaN, cannot be kept)."""
    try:
        return text.cast(t)
    except pa.ArrowInvalid:
        pattern = rf"^-?[0-9]{{0,{t.precision - t.scale}}}(\.[0-9]{{0,{t.scale}}}0*)?$"  # trailing zeros fit
        fits = pc.fill_null(pc.match_substring_regex(text, pattern), True)
        bad = pc.index(fits, False).as_py()
        value = text[bad].as_py() if bad >= 0 else "a value"
        raise UnreadableValue(f"{value!r} does not fit NUMERIC({t.precision}, {t.scale}); round or cast it in "
                              f"--query (for example round(column, {t.scale})), or leave NaN out") from None


def _strings(data: bytes, at: np.ndarray, lengths: np.ndarray) -> pa.Array | None:
    """The fields as a string array, without a loop: an array over the whole buffer whose even elements are the
    fields and odd ones the bytes between them (offsets start, end, next start, ...), of which Arrow's ``take``
    keeps the even ones. None if they are not UTF-8."""
    n = len(at)
    nulls = lengths < 0
    offsets = np.empty(2 * n + 1, dtype=np.int32)  # the buffer is under 2 GiB (decode_binary checks)
    offsets[0:2 * n:2] = at
    offsets[1:2 * n:2] = at + np.maximum(lengths, 0)
    offsets[2 * n] = offsets[2 * n - 1] if n else 0
    interleaved = pa.Array.from_buffers(pa.binary(), 2 * n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    picks = pa.array(np.arange(0, 2 * n, 2, dtype=np.int64), mask=nulls if nulls.any() else None)
    try:
        return interleaved.take(picks).cast(pa.string())
    except pa.ArrowInvalid:  # not UTF-8: the text path gives Arrow's message
        return None


def _list_column(data: bytes, at: np.ndarray, lengths: np.ndarray, column: Column) -> pa.Array | None:
    """Fields in PostgreSQL's binary array form as an Arrow list array: a header (dimensions, a has-NULL flag, the
    element type; per dimension its length and lower bound), then each element as a field of its own. Elements
    of a fixed width, none NULL, are where their index puts them; others are found one position at a time for
    all rows at once (a loop over the longest array, not over rows)."""
    nulls = lengths < 0
    valid = np.flatnonzero(~nulls)
    dims = np.zeros(len(at), dtype=np.int64)
    dims[valid] = _read(data, at[valid], ">i4", 4)
    if (dims > 1).any():
        return None  # nested lists: the text path (JSON) reads them, or says why not
    one = np.flatnonzero(dims == 1)
    header = _read(data, at[one], _ARRAY_HEADER, _ARRAY_HEADER.itemsize)
    counts = np.zeros(len(at), dtype=np.int64)
    counts[one] = header["n"]
    offsets = np.zeros(len(at) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    ends = at + 12  # an empty array is its header's first three fields
    value_type = column.arrow_type.value_type
    wire = np.dtype(column.wire) if column.wire else None
    values = None
    if wire is not None and not header["flags"].any():  # fixed-width elements, none NULL: each at its place
        step = 4 + wire.itemsize
        index = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[one], counts[one])
        element_at = np.repeat(at[one] + _ARRAY_HEADER.itemsize, counts[one]) + index * step
        element = np.dtype([("l", ">i4"), ("v", wire)])
        got = _read(data, element_at, element, step)
        if (got["l"] == wire.itemsize).all():
            values = _to_arrow(got["v"].astype(wire.newbyteorder("=")), None, value_type)
            ends[one] = at[one] + _ARRAY_HEADER.itemsize + counts[one] * step
    if values is None:  # elements of any width, or NULL ones: found one position at a time for all rows
        element_at = np.empty(offsets[-1], dtype=np.int64)
        element_lengths = np.empty(offsets[-1], dtype=np.int64)
        cursor = at + _ARRAY_HEADER.itemsize
        rows = one
        for k in range(int(counts.max(initial=0))):
            rows = rows[counts[rows] > k]
            here = cursor[rows]
            got = _read(data, here, ">i4", 4)
            element_at[offsets[rows] + k] = here + 4
            element_lengths[offsets[rows] + k] = got
            cursor[rows] = here + 4 + np.maximum(got, 0)
        ends[one] = cursor[one]
        values = _scalar_column(data, element_at, element_lengths, wire, value_type)
    if values is None or (ends[valid] != at[valid] + lengths[valid]).any():
        return None
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values,
                                    type=column.arrow_type, mask=pa.array(nulls) if nulls.any() else None)


# A one-dimensional array's header in PostgreSQL's binary form: dimensions, has-NULL flag, element type OID,
# length and lower bound of its one dimension.
_ARRAY_HEADER = np.dtype([("ndim", ">i4"), ("flags", ">i4"), ("oid", ">u4"), ("n", ">i4"), ("lower", ">i4")])


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
    with _naming_columns(names):
        return pacsv.read_csv(io.BytesIO(data), **_csv_options(names, types))


def _parse_stream(f, names: list[str], types: dict):
    """Record batches of the CSV in the file ``f``, read a block (16 MiB) at a time."""
    if f.read(1) == b"":
        return
    f.seek(0)
    with _naming_columns(names):
        yield from pacsv.open_csv(f, **_csv_options(names, types))


@contextlib.contextmanager
def _naming_columns(names: list[str]):
    """Arrow's CSV errors name a column by its number ("In CSV column #4: ..."): :class:`UnreadableValue` with
    its name instead."""
    try:
        yield
    except pa.ArrowInvalid as e:
        found = re.match(r"In CSV column #(\d+): (?:CSV conversion error to [^:]*: )?(.*)", str(e), re.S)
        if not found or int(found.group(1)) >= len(names):
            raise
        raise UnreadableValue(f"column {names[int(found.group(1))]!r}: {found.group(2).strip()}") from None
