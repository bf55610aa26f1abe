"""Sizes: parsing ``1.7GB``-style values and turning a target file size into a row count."""

from __future__ import annotations

import re

from datagen.blocks import DEFAULT_BLOCK_ROWS
from transforms import formats

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
    sample of generated rows by the format's own writer (its ``sample_bytes``: Parquet gets one row group per
    generated block, ``block_rows``, as in the real files)."""
    batch = gen.batch(seed, 0, sample_rows)
    return formats.get(file_format).code().sample_bytes(gen, batch, compression, seed, date_format,
                                                        block_rows) / sample_rows


def shard_overhead_bytes(schema, file_format: str, compression: str) -> int:
    """Bytes every file costs whatever its rows (``schema``: the dataset's contract, :mod:`datagen.contract`): the
    CSV header, or Parquet's magic numbers and footer."""
    return formats.get(file_format).code().overhead_bytes(schema.arrow_schema, compression)
