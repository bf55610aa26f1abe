"""Newline-delimited JSON (BigQuery's NEWLINE_DELIMITED_JSON): one object a line, its keys the columns in order.
Its encoder, size estimate and reader (its sink is :class:`transforms.sinks.WriteNdjson`); registered in
:mod:`transforms.formats`.

The text is made as the CSV encoder makes it (:mod:`transforms.text`), never a Python step per row: each column
becomes a few slots of pieces (its values rendered column-wise, once per distinct value where they are few, each
followed by the next key), and one gather of every slot of every row is the batch's text. Values as a BigQuery load
reads them: strings escaped column-wise (quote, backslash and the control characters U+0000-U+001F; other
characters as UTF-8), NULL as ``null``, dates ``"yyyy-mm-dd"``, timestamps ``"yyyy-mm-dd hh:mm:ss[.ffffff]"``
(``Z`` after a TIMESTAMP's, in UTC), NUMERIC and BIGNUMERIC as strings (exact; a JSON number may pass through a
float), integers as numbers except beyond +-(2**53 - 1), which are strings (BigQuery's advice: a JSON reader may
hold a number as a double), floats as numbers and ``"NaN"``, ``"Infinity"``, ``"-Infinity"``, lists (extraction's
arrays) as JSON arrays.
"""

from __future__ import annotations

import functools
import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from datagen.text import SMALL_RANGE, concatenated_bytes, split_integer_slots
from transforms.formats import (
    TEXT_BLOCK_BYTES,
    Part,
    conform,
    line_parts,
    lines_in,
    written_bytes,
)
from transforms.text import constant_slot, decimal_float_slots, encode_slots, kept_per_dictionary

EXACT_INTEGERS = (1 << 53) - 1  # beyond, an integer is written as a string

# The bytes a JSON string cannot hold as they are, and what each becomes.
_ESCAPES = {c: f"\\u{c:04x}" for c in range(0x20)} | {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f",
                                                        0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}
_ESCAPED = np.zeros(256, dtype=bool)
_ESCAPED[list(_ESCAPES)] = True


def record_batch_to_ndjson(batch: pa.RecordBatch) -> memoryview:
    """The NDJSON text of every row of ``batch`` (``\\n`` line ends), as a view of the Arrow buffer that holds it
    (bytes-like: write it, or ``bytes()`` it to keep a copy)."""
    n = batch.num_rows
    if n == 0:
        return memoryview(b"")
    keys = [json.dumps(name, ensure_ascii=False) + ":" for name in batch.schema.names]
    slots = [constant_slot("{" + (keys[0] if keys else ""), n)]
    for i, column in enumerate(batch.columns):
        slots.extend(_slots(column, "," + keys[i + 1] if i + 1 < len(keys) else "}\n"))
    if not keys:
        slots.append(constant_slot("}\n", n))
    return encode_slots(slots, n)


def _slots(column: pa.Array, after: str) -> list:
    """A column as slots of pieces, the last of each row followed by ``after`` (the next key, or the line end)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    typ, n = column.type, len(column)
    if pa.types.is_dictionary(typ):  # its values rendered once per dictionary; a NULL draws the last piece
        indices = column.indices.fill_null(len(column.dictionary)) if column.null_count else column.indices
        return [(_dictionary_pieces(column.dictionary, after), indices.to_numpy(zero_copy_only=False))]
    if column.null_count or not n:
        return [(_values(column), np.arange(n)), constant_slot(after, n)]
    if pa.types.is_boolean(typ):
        return [(pa.array(["false" + after, "true" + after]), column.to_numpy(zero_copy_only=False).view(np.uint8))]
    if pa.types.is_integer(typ) or pa.types.is_date32(typ):
        raw = column.cast(pa.int32() if pa.types.is_date32(typ) else pa.int64()).to_numpy(zero_copy_only=False)
        lo, hi = int(raw.min()), int(raw.max())
        if -EXACT_INTEGERS <= lo and hi <= EXACT_INTEGERS:
            if hi - lo < min(SMALL_RANGE, 2 * n):
                return [(_domain(lo, hi, pa.types.is_date32(typ), after), raw.astype(np.int64) - lo)]
            slots = split_integer_slots(raw, after) if pa.types.is_integer(typ) else None
            if slots is not None:
                return slots
    if pa.types.is_floating(typ):
        slots = decimal_float_slots(column, after)
        if slots is not None:
            return slots
    if _is_text(typ):
        return _quoted(_escaped(column.cast(pa.string())), after)
    if pa.types.is_decimal(typ) or pa.types.is_timestamp(typ) or pa.types.is_date(typ):
        return _quoted(_plain_text(column), after)
    return [(_values(column), np.arange(n)), constant_slot(after, n)]


def _quoted(text: pa.StringArray, after: str) -> list:
    """Strings that need no escaping as JSON strings: the quotes are pieces of their own (no pass over the text)."""
    n = len(text)
    return [constant_slot('"', n), (text, np.arange(n)), constant_slot('"' + after, n)]


@functools.lru_cache(maxsize=64)
def _domain(lo: int, hi: int, dates: bool, after: str) -> pa.Array:
    """lo..hi (days since 1970 if ``dates``) as JSON values, each followed by ``after``; blocks of one column mostly
    share their range, so it is rendered once per process."""
    domain = pa.array(np.arange(lo, hi + 1, dtype=np.int64))
    if dates:
        domain = domain.cast(pa.int32()).cast(pa.date32())
    return pc.binary_join_element_wise(_values(domain), after, "")


def _dictionary_pieces(dictionary: pa.Array, after: str) -> pa.Array:
    """A dictionary's values as JSON values followed by ``after``, then ``null`` (for a NULL index)."""
    def make():
        values = pc.binary_join_element_wise(_values(dictionary), after, "")
        return pa.concat_arrays([values.cast(pa.string()), pa.array(["null" + after])])

    return kept_per_dictionary(dictionary, ("ndjson", after), make)


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _escaped(text: pa.StringArray) -> pa.StringArray:
    """Strings as the inside of JSON strings: a scan of their bytes (a search for each of quote and backslash, the
    smallest byte for the control characters), then one replacement a special byte found."""
    data = concatenated_bytes(text)
    if data.nbytes == 0:
        return text
    codes = np.frombuffer(data, dtype=np.uint8)
    whole = bytes(data)
    if codes.min() >= 0x20 and b'"' not in whole and b"\\" not in whole:
        return text
    found = set(np.unique(codes[_ESCAPED[codes]]).tolist())
    if 0x5C in found:  # first: the escapes put in below are backslashes
        text = pc.replace_substring(text, "\\", "\\\\")
    for byte in sorted(found - {0x5C}):
        text = pc.replace_substring(text, chr(byte), _ESCAPES[byte])
    return text


def _plain_text(column: pa.Array) -> pa.StringArray:
    """Arrow's text of decimals, dates and timestamps, which BigQuery reads: a zoned timestamp in UTC, with Z."""
    typ = column.type
    if pa.types.is_timestamp(typ) and typ.tz is not None and typ.tz.upper() not in ("UTC", "Z", "+00:00"):
        column = column.cast(pa.timestamp(typ.unit, "UTC"))
    if pa.types.is_date64(typ):
        column = column.cast(pa.date32())
    return column.cast(pa.string())


def _values(array: pa.Array) -> pa.StringArray:
    """Each value as JSON text, NULL as ``null``: column-wise, whatever the type (lists through their items)."""
    typ = array.type
    if pa.types.is_dictionary(typ):
        text = _values(array.dictionary).take(array.indices)
    elif _is_text(typ):
        text = pc.binary_join_element_wise('"', _escaped(array.cast(pa.string())), '"', "")
    elif pa.types.is_boolean(typ):
        text = pc.if_else(array, "true", "false")
    elif pa.types.is_integer(typ):
        text = array.cast(pa.string())
        beyond = pc.or_(pc.greater(array, EXACT_INTEGERS), pc.less(array, -EXACT_INTEGERS))
        if pc.any(beyond).as_py():
            text = pc.if_else(beyond, pc.binary_join_element_wise('"', text, '"', ""), text)
    elif pa.types.is_floating(typ):
        text = array.cast(pa.float64()).cast(pa.string()) if pa.types.is_float16(typ) else array.cast(pa.string())
        if not pc.all(pc.is_finite(array)).as_py():  # JSON has no NaN nor infinities: BigQuery reads these
            for arrow, json_text in (("nan", '"NaN"'), ("inf", '"Infinity"'), ("-inf", '"-Infinity"')):
                text = pc.if_else(pc.equal(text, arrow), json_text, text)
    elif pa.types.is_decimal(typ) or pa.types.is_date(typ) or pa.types.is_timestamp(typ) or pa.types.is_time(typ):
        text = pc.binary_join_element_wise('"', _plain_text(array), '"', "")
    elif pa.types.is_list(typ) or pa.types.is_large_list(typ):
        offsets = array.offsets.to_numpy()
        items = _values(array.values.slice(offsets[0], offsets[-1] - offsets[0]))
        lists = pa.ListArray.from_arrays(pa.array(offsets - offsets[0], pa.int32()), items, mask=array.is_null())
        text = pc.binary_join_element_wise("[", pc.binary_join(lists, ","), "]", "")
    elif pa.types.is_null(typ):
        text = pa.nulls(len(array), pa.string())
    else:
        raise TypeError(f"newline-delimited JSON: no encoding for a column of type {typ}")
    if text.type != pa.string():
        text = text.cast(pa.string())
    return text.fill_null("null") if text.null_count else text


# --- the format's code (transforms.formats) -------------------------------------------------------------------

def sample_bytes(gen, batch, compression: str, seed: int, date_format: str | None, block_rows: int) -> int:
    return written_bytes(record_batch_to_ndjson(batch), compression)


def overhead_bytes(schema: pa.Schema, compression: str) -> int:
    """No header: a gzip stream's own header and trailer only."""
    return written_bytes(b"", compression)


# --- reading --------------------------------------------------------------------------------------------------

NAMED_BY = "first objects' keys"
# How a BigQuery type of the schema file is read from these files where CSV's way does not do (profile): NUMERIC
# is a JSON string here, which Arrow reads as a decimal but not as a float.
PROFILE_TYPES = {"NUMERIC": pa.decimal128(38, 9), "DECIMAL": pa.decimal128(38, 9),
                 "BIGNUMERIC": pa.decimal256(76, 38), "BIGDECIMAL": pa.decimal256(76, 38)}


def _read_type(t: pa.DataType) -> pa.DataType:
    """What Arrow's JSON reader reads a column of type ``t`` as, before the cast to ``t``: integers as decimals
    (beyond 2**53 they are strings), dates as timestamps (it has no date parser)."""
    if pa.types.is_integer(t):
        return pa.decimal128(20, 0)
    if pa.types.is_date(t):
        return pa.timestamp("s")
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(_read_type(t.value_type))
    return t


def _options(schema: pa.Schema | None):
    explicit = None if schema is None else pa.schema([pa.field(f.name, _read_type(f.type)) for f in schema])
    return (pajson.ReadOptions(block_size=TEXT_BLOCK_BYTES),
            pajson.ParseOptions(explicit_schema=explicit,
                                unexpected_field_behavior="infer" if schema is None else "error"))


def parse(data: bytes, names: list[str], schema: pa.Schema | None, skip_header: bool = False) -> pa.Table:
    """Whole lines -> a table of ``schema``'s types (inferred by Arrow when ``schema`` is None), its columns
    ``names``."""
    read_options, parse_options = _options(schema)
    table = pajson.read_json(io.BytesIO(data), read_options=read_options, parse_options=parse_options)
    if schema is None:
        return table.select([n for n in names if n in table.column_names])
    return pa.Table.from_batches([conform(b, schema) for b in table.to_batches()], schema=schema)


def names(head: bytes, sampled: int) -> list[str]:
    """The columns: the keys of a file's first object, from its first bytes (``sampled`` of them were asked for);
    a ValueError says what is wrong (after the file's name)."""
    line, newline, _ = head.partition(b"\n")
    expected = "expected newline-delimited JSON, an object a line"
    if not head.strip():
        raise ValueError(f"is empty: {expected}")
    if not newline and len(head) >= sampled:
        raise ValueError(f"has no line end in its first {len(head):,} bytes: {expected}")
    try:
        first = json.loads(line)
    except ValueError:
        first = None
    if not isinstance(first, dict) or not first:
        raise ValueError(f"starts with {line[:120].decode('utf-8', 'replace')!r}: {expected}")
    return list(first)


def parts(path: str, size: int, row_group_bytes=None) -> list[Part]:
    return line_parts(path, size)  # a line never holds a line break: the encoder escapes it


def read(raw, part: Part, schema: pa.Schema):
    """The record batches of ``part`` (of a file opened undecompressed as ``raw``), of ``schema`` exactly."""
    read_options, parse_options = _options(schema)
    if part.end is None:
        f = pa.input_stream(raw, compression="gzip") if part.path.lower().endswith(".gz") else raw
        batches = pajson.open_json(f, read_options=read_options, parse_options=parse_options)
    else:
        data = lines_in(raw, part, header=False)
        batches = pajson.read_json(io.BytesIO(data), read_options=read_options,
                                   parse_options=parse_options).to_batches() if data.strip() else ()
    for batch in batches:
        if batch.num_rows:
            yield conform(batch, schema)
