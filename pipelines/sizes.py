"""Sizes: parsing ``1.7GB``-style values and turning a target file size into a row count."""

from __future__ import annotations

import io
import re

from datagen.blocks import DEFAULT_BLOCK_ROWS
from transforms.formats import generated_dictionary, gzip_compressor, parquet_ready, parquet_writer
from transforms.text import record_batch_to_csv

_UNITS = {
    "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]+)\s*$")
SAMPLE_ROWS = 1 << 17


def parse_size(text: str) -> int:
    """``'1.7GB'`` -> 1700000000. Units B, KB, MB, GB, TB (powers of 1000) and KiB, MiB, GiB, TiB."""
    m = _SIZE.match(text)
    if not m or m.group(2).upper() not in _UNITS:
        raise ValueError(f"expected a size such as 1.7GB, 500MB or 2GiB, got {text!r}")
    size = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if size <= 0:
        raise ValueError(f"expected a size above zero, got {text!r}")
    return size


def encoded_bytes_per_row(gen, file_format: str, compression: str, seed: int,
                          date_format: str | None = None, sample_rows: int = SAMPLE_ROWS,
                          block_rows: int = DEFAULT_BLOCK_ROWS) -> float:
    """Bytes per row of a dataset (its compiled generator ``gen``) as written in ``file_format``, measured on a
    sample of generated rows.

    Parquet gets one row group per generated block (``block_rows``), as in the real files, and the dictionary
    columns of a dataset of ``sample_rows`` rows (:func:`generated_dictionary`, chosen here on the sample's rows:
    a plan's sample from row 0 makes the choice its pipeline's files then take).
    """
    batch = gen.batch(seed, 0, sample_rows)
    if file_format == "csv":
        text = record_batch_to_csv(batch, date_format)
        if compression == "gzip":
            c = gzip_compressor()
            return (len(c.compress(text)) + len(c.flush())) / sample_rows
        return len(text) / sample_rows
    sink = io.BytesIO()
    writer = None
    batch = parquet_ready(batch, gen.schema.arrow_schema)
    dictionary = generated_dictionary(gen, seed, sample_rows, sample=batch)
    for start in range(0, batch.num_rows, block_rows):  # one row group per generated block, as the sink writes
        part = batch.slice(start, block_rows)
        writer = writer or parquet_writer(sink, part.schema, compression, dictionary=dictionary)
        writer.write_batch(part)
    writer.close()
    return (sink.tell() - shard_overhead_bytes(gen.schema, file_format, compression)) / sample_rows


def shard_overhead_bytes(schema, file_format: str, compression: str) -> int:
    """Bytes every file costs whatever its rows (``schema``: the dataset's contract, :mod:`datagen.contract`):
    the CSV header, or Parquet's magic numbers and footer."""
    if file_format == "csv":
        header = schema.csv_header()
        if compression == "gzip":
            c = gzip_compressor()
            return len(c.compress(header)) + len(c.flush())
        return len(header)
    sink = io.BytesIO()
    with parquet_writer(sink, schema.arrow_schema, compression):
        pass
    return sink.tell()


def rows_for_size(target_bytes: int, bytes_per_row: float) -> int:
    return max(1, round(target_bytes / bytes_per_row))
