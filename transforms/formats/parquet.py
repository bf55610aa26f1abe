"""Parquet: how its files are written (row groups, dictionary columns; Arrow is imported when a file is), its size
estimate and its reader (its sink is :class:`transforms.sinks.WriteParquet`). Registered in
:mod:`transforms.formats`.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from transforms.formats import Part, conform

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

BATCH_ROWS = 65_536  # rows per record batch when a file is read


def parquet_ready(batch, schema: pa.Schema):
    """``batch`` (a record batch or table) with ``schema``'s names and types, except that a dictionary-encoded
    column of the right value type with a small dictionary stays dictionary-encoded (Parquet stores the same
    strings)."""
    import pyarrow as pa

    columns, fields, changed = [], [], isinstance(batch, pa.Table) or batch.schema.names != schema.names
    for field, column in zip(schema, batch.columns):
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if pa.types.is_dictionary(column.type) and column.type.value_type == field.type:
            if len(column.dictionary) > _SMALL_DICTIONARY:  # written whole in every row group: decode it, and
                column, changed = column.cast(field.type), True  # Parquet keeps the values the rows use
        elif column.type != field.type:
            column, changed = column.cast(field.type), True
        columns.append(column)
        fields.append(pa.field(field.name, column.type, field.nullable))
    if not changed and all(a.nullable == f.nullable for a, f in zip(batch.schema, fields)):
        return batch
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields))


_SMALL_DICTIONARY = 4096


def parquet_writer(sink, schema: pa.Schema, codec: str, first=None, dictionary=None) -> pq.ParquetWriter:
    """How every Parquet file of the project is written (the size estimate of --target_size included).

    Dictionary encoding for the ``dictionary`` columns, when given (:func:`dictionary_columns` of a sample of
    the dataset: every file of the dataset is then written alike, whatever process writes it). Otherwise for
    strings, booleans, dates and dictionary columns, except text whose values mostly differ in ``first`` (the
    file's first record batch, when given: names, titles, addresses), and for the integer and float columns of
    ``first`` with few distinct values (scores, minutes, a class), decided once per schema and process: there it
    makes pages smaller and the writer faster. Not on other numbers: on floats and wide integers with many values
    it costs time and makes files larger. No min/max statistics for strings: the min and max of names or titles
    tell a reader nothing, and computing them is a large part of the write (benchmarks/HISTORY.md, the runs
    of 2026-11-28). The Arrow schema is not
    stored in the file, so that every reader sees the Parquet types (a dictionary-encoded column reads back as
    plain strings).
    """
    import pyarrow.parquet as pq

    if dictionary is not None:
        dictionary = [name for name in dictionary if name in schema.names]
    elif first is not None:
        dictionary = _CHOSEN.get(schema)
        if dictionary is None:
            dictionary = list(dictionary_columns(first))
            if first.num_rows >= 4 * _FEW_VALUES:  # a smaller batch says nothing about the data: not kept
                _CHOSEN[schema] = dictionary
    else:
        dictionary = [f.name for f in schema if _dictionary_worthy(f.type)]
    statistics = [f.name for f in schema if not _is_text(f.type)]
    return pq.ParquetWriter(sink, schema, compression=codec, use_dictionary=dictionary,
                            write_statistics=statistics, store_schema=False)


def dictionary_columns(sample) -> tuple[str, ...]:
    """The columns :func:`parquet_writer` dictionary-encodes in the files of the data ``sample`` (a record batch
    made :func:`parquet_ready`) stands for."""
    columns = dict(zip(sample.schema.names, sample.columns))
    chosen = [f.name for f in sample.schema
              if _dictionary_worthy(f.type) and not _mostly_distinct_text(columns[f.name])]
    chosen += [f.name for f, column in zip(sample.schema, sample.columns) if _few_numbers(column)]
    return tuple(chosen)


DICTIONARY_SAMPLE_ROWS = 1 << 17  # the first rows of a generated dataset that choose its dictionary columns


def generated_dictionary(gen, seed: int, rows: int, sample=None) -> tuple[str, ...]:
    """The dictionary columns of every Parquet file of a generated dataset: ``gen`` (its compiled generator,
    :func:`datagen.engine.compile_dataset`) under ``seed``, ``rows`` rows. Chosen on its first rows, [0,
    min(rows, DICTIONARY_SAMPLE_ROWS)): a function of the dataset alone, the same in every process and runner.
    ``sample``: those rows made :func:`parquet_ready` (or more, from row 0), when the caller has them.

    Kept per generator, seed and rows: the plan's size sample makes the choice (the rows it generates anyway),
    and the pipeline built in the same process takes it at no cost, for its sinks to carry to every worker.
    """
    end = min(rows, DICTIONARY_SAMPLE_ROWS)
    kept = _GENERATED.setdefault(gen, {})
    chosen = kept.get((seed, end))
    if chosen is None:
        if sample is None:
            sample = parquet_ready(gen.batch(seed, 0, end), gen.schema.arrow_schema)
        sample = sample.slice(0, end)
        chosen = kept[(seed, end)] = dictionary_columns(sample)
        if end >= 4 * _FEW_VALUES:  # a file this process writes without a given choice takes the dataset's
            _CHOSEN.setdefault(sample.schema, list(chosen))
    return chosen


_FEW_VALUES = 1 << 12  # distinct values of a number column in a file's first batch for a dictionary
# The columns chosen for a dictionary, by schema, in this process, for files written without a given choice
# (extraction): the choice counts distinct values (about as long as a block's write), so it is made once, on the
# first large batch of the first file, not again for every file. Each process makes its own, from the first
# batch it writes, so files written by several processes may differ in encoding (never in data).
_CHOSEN: dict = {}
_GENERATED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _mostly_distinct_text(column) -> bool:
    """Plain (not dictionary-encoded) text whose values mostly differ, such as names, titles or addresses: a
    dictionary would outgrow its page and be dropped, after hashing every value for nothing."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not _is_text(column.type) or pa.types.is_dictionary(column.type) or len(column) < 4 * _FEW_VALUES:
        return False
    # The first rows settle most columns at a fraction of the cost of counting the whole batch: a few values over
    # and over there (cities, languages) or nearly all different (names, titles). Only a column in between is
    # counted whole.
    head = column.slice(0, 4 * _FEW_VALUES)
    seen = pc.count_distinct(head).as_py()
    if seen <= len(head) // 4 or seen >= len(head) * 9 // 10:
        return seen > len(head) // 2
    return pc.count_distinct(column).as_py() > len(column) // 2


def _few_numbers(column) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t)) or len(column) < 4 * _FEW_VALUES:
        return False
    # The rows' first values decide most columns at a fraction of the cost (a wide table of measurements has
    # dozens of such columns): more distinct values there than allowed means more in all.
    if pc.count_distinct(column.slice(0, 4 * _FEW_VALUES)).as_py() > _FEW_VALUES:
        return False
    return pc.count_distinct(column).as_py() <= _FEW_VALUES


def _is_text(t: pa.DataType) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _dictionary_worthy(t: pa.DataType) -> bool:
    import pyarrow as pa

    return _is_text(t) or pa.types.is_boolean(t) or pa.types.is_dictionary(t) or pa.types.is_date32(t)


# --- the format's code (transforms.formats) -------------------------------------------------------------------

def sample_bytes(gen, batch, compression: str, seed: int, date_format: str | None, block_rows: int) -> int:
    """The bytes the rows of ``batch`` (rows [0, n) of ``gen`` under ``seed``) take in a file, less the file's own
    (:func:`overhead_bytes`): one row group per generated block (``block_rows``), as the sink writes, with the
    dictionary columns of a dataset of n rows (:func:`generated_dictionary`, chosen here on the sample's rows: a
    plan's sample from row 0 makes the choice its pipeline's files then take)."""
    import io

    sink = io.BytesIO()
    writer = None
    batch = parquet_ready(batch, gen.schema.arrow_schema)
    dictionary = generated_dictionary(gen, seed, batch.num_rows, sample=batch)
    for start in range(0, batch.num_rows, block_rows):
        part = batch.slice(start, block_rows)
        writer = writer or parquet_writer(sink, part.schema, compression, dictionary=dictionary)
        writer.write_batch(part)
    writer.close()
    return sink.tell() - overhead_bytes(gen.schema.arrow_schema, compression)


def overhead_bytes(schema: pa.Schema, compression: str) -> int:
    """Parquet's magic numbers and footer."""
    import io

    sink = io.BytesIO()
    with parquet_writer(sink, schema, compression):
        pass
    return sink.tell()


def file_schema(raw) -> tuple[pa.Schema, list[int]]:
    """A file's own schema and the bytes of each of its row groups (``raw``: the file, opened)."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(raw)
    return pf.schema_arrow, [pf.metadata.row_group(i).total_byte_size for i in range(pf.metadata.num_row_groups)]


def parts(path: str, size: int, row_group_bytes: list[int], split_bytes: int | None = None) -> list[Part]:
    """Consecutive row groups of about ``split_bytes`` together (a file of one group is one part)."""
    from transforms.formats import SPLIT_BYTES

    split_bytes = split_bytes or SPLIT_BYTES
    if len(row_group_bytes) <= 1:
        return [Part(path)]
    found, group, total = [], [], 0
    for i, b in enumerate(row_group_bytes):
        if group and total + b > split_bytes:
            found.append(Part(path, row_groups=tuple(group)))
            group, total = [], 0
        group.append(i)
        total += b
    found.append(Part(path, row_groups=tuple(group)))
    return found


def read(raw, part: Part, schema: pa.Schema):
    """The record batches of ``part``'s row groups, of ``schema`` exactly."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(raw)
    for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=part.row_groups, columns=schema.names):
        if batch.num_rows:
            yield conform(batch, schema)
