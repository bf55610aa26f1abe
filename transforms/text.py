"""CSV text of Arrow record batches, without a Python loop per row: each column becomes a few slots of pieces
drawn from small vocabularies (its values rendered once per distinct value where they are few), and one gather
of every slot of every row (``datagen/text.py``) is the text of the batch (:func:`record_batch_to_csv`, a view of
that buffer: the file gets it without a copy). The slots' assembly (:func:`encode_slots`) and the pieces that are
the same in any text format are shared with newline-delimited JSON (``transforms/formats/ndjson.py``).
"""

from __future__ import annotations

import functools
import threading

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datagen.text import SMALL_RANGE, Slot, concatenated_bytes, gather_bytes, merge_small_slots, split_integer_slots


def csv_field(value: str) -> str:
    """One CSV field as RFC 4180 writes it: quoted only when it holds a quote, a comma or a line break."""
    if any(c in value for c in '",\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


_QUOTE_CHARS = (b'"', b",", b"\n", b"\r")


def constant_slot(text: str, n: int) -> Slot:
    return pa.array([text], pa.string()), np.zeros(n, dtype=np.int64)


def _string_slots(column: pa.Array, separator: str) -> list:
    """A plain string column: the values themselves, quoted as a whole column if any value needs it.

    Quoting every value of such a column is valid RFC 4180 and costs two constant pieces instead of a pass
    over each value; whether it is needed is one scan of the column's bytes.
    """
    n = len(column)
    data = bytes(concatenated_bytes(column)) if len(column) else b""
    rows = np.arange(n, dtype=np.int64)
    if b'"' in data:
        column = pc.replace_substring(column, '"', '""')
    if any(ch in data for ch in _QUOTE_CHARS):
        return [constant_slot('"', n), (column, rows), constant_slot('"' + separator, n)]
    return [(column, rows), constant_slot(separator, n)]


def _small_domain_slots(raw: np.ndarray, typ: pa.DataType, separator: str, date_format: str | None):
    """Integers or dates of a small range: render each value of the range once, then draw it."""
    lo, hi = int(raw.min()), int(raw.max())
    return [(_rendered_domain(lo, hi, pa.types.is_date32(typ), separator, date_format), raw.astype(np.int64) - lo)]


@functools.lru_cache(maxsize=64)
def _rendered_domain(lo: int, hi: int, dates: bool, separator: str, date_format: str | None) -> pa.Array:
    """lo..hi (days since 1970 if ``dates``) as CSV fields, each followed by ``separator``; blocks of one column
    mostly share their range, so it is rendered once per process."""
    domain = pa.array(np.arange(lo, hi + 1, dtype=np.int64))
    if dates:
        domain = domain.cast(pa.int32()).cast(pa.date32())
    rendered = _render(domain, date_format)
    data = bytes(concatenated_bytes(rendered))
    if b'"' in data:
        rendered = pc.replace_substring(rendered, '"', '""')
    if any(ch in data for ch in _QUOTE_CHARS):
        return pc.binary_join_element_wise('"', rendered, '"' + separator, "")
    return pc.binary_join_element_wise(rendered, separator, "")


def decimal_float_slots(column: pa.Array, separator: str) -> list | None:
    """Floats that are whole multiples of 10**-d (d up to 4) over a small range, such as scores with two
    decimals: each multiple rendered once, exactly as Arrow renders the value (the doubles are the same)."""
    x = column.to_numpy(zero_copy_only=False)
    if not np.isfinite(x).all():
        return None
    for d in range(5):
        scale = 10.0 ** d
        k = np.rint(x * scale)
        lo, hi = k.min(), k.max()
        if hi - lo >= min(SMALL_RANGE, 2 * len(x)):
            return None
        if np.array_equal(k / scale, x):
            return [(_rendered_decimals(int(lo), int(hi), d, separator), k.astype(np.int64) - int(lo))]
    return None


@functools.lru_cache(maxsize=64)
def _rendered_decimals(lo: int, hi: int, d: int, separator: str) -> pa.Array:
    """lo..hi times 10**-d, as Arrow renders those doubles, each followed by ``separator``."""
    rendered = pa.array(np.arange(lo, hi + 1) / 10.0 ** d, pa.float64()).cast(pa.string())
    return pc.binary_join_element_wise(rendered, separator, "")


def _csv_slots(column: pa.Array, separator: str, date_format: str | None) -> list:
    n = len(column)
    if column.null_count:  # nulls become empty fields
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        column = pc.fill_null(_render(column, date_format), "")
    typ = column.type
    if pa.types.is_dictionary(typ):
        indices = column.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        return [(_dictionary_fields(column.dictionary, separator, date_format), indices)]
    if n and (pa.types.is_integer(typ) or pa.types.is_date32(typ)):
        raw = column.cast(pa.int32() if pa.types.is_date32(typ) else pa.int64()).to_numpy(zero_copy_only=False)
        if int(raw.max()) - int(raw.min()) < min(SMALL_RANGE, 2 * n):
            return _small_domain_slots(raw, typ, separator, date_format)
        if pa.types.is_integer(typ):
            slots = split_integer_slots(raw, separator)
            if slots is not None:
                return slots
    if n and pa.types.is_floating(typ):
        slots = decimal_float_slots(column, separator)
        if slots is not None:
            return slots
    text = _render(column, date_format)
    if pa.types.is_large_string(text.type):
        text = text.cast(pa.string())
    return _string_slots(text, separator)


_DICTIONARY_FIELDS: dict = {}
_DICTIONARY_FIELDS_LOCK = threading.Lock()


def _dictionary_fields(dictionary: pa.Array, separator: str, date_format: str | None) -> pa.Array:
    """A dictionary's values as CSV fields followed by ``separator``, rendered once per dictionary."""
    return kept_per_dictionary(dictionary, (separator, date_format),
                               lambda: _field_pieces(_render(dictionary, date_format), separator))


def kept_per_dictionary(dictionary: pa.Array, how: tuple, make):
    """``make()``, the pieces a dictionary's values are written as (``how``: what else they depend on), made once
    per dictionary: the blocks of a dataset share their dictionaries (a large one costs milliseconds a block).
    The key is where the dictionary's buffers are; the entry holds the dictionary itself, so no other array can be
    at those addresses while the entry lives."""
    key = (tuple(0 if b is None else b.address for b in dictionary.buffers()), dictionary.offset,
           len(dictionary), str(dictionary.type), how)
    hit = _DICTIONARY_FIELDS.get(key)
    if hit is not None:
        return hit[1]
    fields = make()
    with _DICTIONARY_FIELDS_LOCK:  # the local runner's threads share it
        if len(_DICTIONARY_FIELDS) >= 64:
            del _DICTIONARY_FIELDS[next(iter(_DICTIONARY_FIELDS))]
        _DICTIONARY_FIELDS[key] = (dictionary, fields)
    return fields


def _field_pieces(values: pa.Array, separator: str) -> pa.Array:
    """Each of ``values`` as a CSV field followed by ``separator``."""
    if any(ch in bytes(concatenated_bytes(values)) for ch in _QUOTE_CHARS):
        return pa.array([csv_field(v) + separator for v in values.to_pylist()], pa.string())
    return pc.binary_join_element_wise(values, separator, "")




def render_dates(dates, date_format: str) -> list[str]:
    """Dates as the CSV encoder writes them with ``date_format`` (Arrow's strftime)."""
    return _render(pa.array(dates, pa.date32()), date_format).to_pylist()


def _render(column: pa.Array, date_format: str | None) -> pa.Array:
    typ = column.type
    if pa.types.is_date32(typ) and date_format and date_format != "%Y-%m-%d":
        return pc.strftime(column.cast(pa.timestamp("s")), format=date_format)
    if pa.types.is_string(typ):
        return column
    if pa.types.is_boolean(typ):
        return pc.if_else(column, "true", "false")
    return column.cast(pa.string())


def record_batch_to_csv(batch: pa.RecordBatch, date_format: str | None = None) -> memoryview:
    """The CSV text (no header, ``\\n`` line ends, RFC 4180 quoting) of every row of ``batch``, as a view of
    the Arrow buffer that holds it (bytes-like: write it, or ``bytes()`` it to keep a copy).

    Dates are ISO ``yyyy-mm-dd`` unless ``date_format`` (strftime) says otherwise; nulls are empty fields.
    """
    n = batch.num_rows
    if n == 0:
        return memoryview(b"")
    ncols = batch.num_columns
    slots = []
    for i, column in enumerate(batch.columns):
        slots.extend(_csv_slots(column, "\n" if i == ncols - 1 else ",", date_format))
    return encode_slots(slots, n)


def encode_slots(slots: list, n: int) -> memoryview:
    """The text of ``n`` rows, each the pieces its ``slots`` draw, in order (bytes-like, a view of the buffer)."""
    slots = merge_small_slots(slots)
    sizes = [len(values) for values, _ in slots]
    if sum(sizes) >= 1 << 31:
        raise ValueError("batch too large to encode at once; use smaller batches")
    bases = np.cumsum([0] + sizes[:-1], dtype=np.int64)
    # The row-major matrix of piece numbers, filled a band of rows at a time so the band stays in the cache
    # (column by column over the whole matrix costs more than the gather itself).
    index = np.empty((n, len(slots)), dtype=np.int32)
    for a in range(0, n, _BAND):
        band = index[a:a + _BAND]
        for j, (_, rows) in enumerate(slots):
            np.add(rows[a:a + _BAND], bases[j], out=band[:, j], casting="unsafe")
    vocabulary = pa.concat_arrays([values for values, _ in slots])
    return gather_bytes(vocabulary, index)


_BAND = 8192
