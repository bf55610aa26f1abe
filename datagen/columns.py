"""A column while a batch of rows is made (:class:`Col`), what a generator's maker sees of the batch
(:class:`Batch`), and the forms a column's values take: the numpy form of values a spec gives, the Arrow array a
column is written as."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np

from datagen.arrow import pa, pc
from datagen.randomness import bits_at, row_bits, unit_interval
from datagen.types import EPOCH, EPOCH_DATETIME


@dataclass
class Col:
    """A column while a batch is made. ``data``: numpy values (int64, float64, bool, int32 days, int64 µs), an
    Arrow string array, or, for choices of strings, numpy codes into ``dictionary`` (``labels``: the spec's
    values behind those codes, before any filter). ``valid``: None, or False where the value is null."""

    data: object
    dictionary: pa.Array | None = None
    labels: list | None = None
    valid: np.ndarray | None = None


class Batch:
    """What one column's maker sees: the rows being made and the columns made so far; ``gen``, the dataset's
    generator (datagen/engine.py), keys its streams and keeps what is made once per process."""

    def __init__(self, gen, seed: int, start: int, stop: int):
        self.gen, self.seed, self.start, self.stop, self.n = gen, seed, start, stop, stop - start
        self.cols: dict[str, Col] = {}
        self.memo: dict = {}  # functions of columns computed once for every expression of these rows

    def bits(self, stream: str, positions: np.ndarray | None) -> np.ndarray:
        key = self.gen.key(self.seed, stream)
        return row_bits(key, self.start, self.stop) if positions is None else bits_at(key, positions)

    def uniform(self, stream: str, positions) -> np.ndarray:
        return unit_interval(self.bits(stream, positions))


def native(values: list, ctype) -> np.ndarray:
    """Spec values (already checked against the type) as the numpy form a column is held in."""
    if ctype.name == "string":
        return values
    if ctype.name == "date":
        return np.array([(datetime.date.fromisoformat(v) - EPOCH).days for v in values], dtype=np.int32)
    if ctype.name == "timestamp":
        us = datetime.timedelta(microseconds=1)
        return np.array([(datetime.datetime.fromisoformat(v) - EPOCH_DATETIME) // us for v in values], dtype=np.int64)
    dtype = {"int64": np.int64, "float64": np.float64, "numeric": np.float64, "bool": np.bool_}[ctype.name]
    return np.array(values, dtype=dtype)


def to_arrow(col: Col, ctype) -> pa.Array:
    mask = None if col.valid is None else ~col.valid
    if col.dictionary is not None:
        codes = np.asarray(col.data)
        small = len(col.dictionary) < (1 << 15)
        itype, dtype = (pa.int16(), np.int16) if small else (pa.int32(), np.int32)
        return pa.DictionaryArray.from_arrays(pa.array(codes.astype(dtype, copy=False), itype, mask=mask),
                                              col.dictionary)
    if isinstance(col.data, pa.Array):
        if mask is not None:
            return pc.if_else(pa.array(col.valid), col.data, pa.scalar(None, col.data.type))
        return col.data
    data = np.asarray(col.data)
    name = ctype.name
    if name == "date":
        return pa.array(data.astype(np.int32), pa.int32(), mask=mask).cast(pa.date32())
    if name == "timestamp":
        return pa.array(data.astype(np.int64), pa.int64(), mask=mask).cast(ctype.arrow)
    if name == "numeric":
        scaled = np.rint(data * 10.0 ** ctype.scale).astype(np.int64)
        if mask is not None:
            scaled[mask] = 0
        words = np.empty((len(scaled), 2), dtype=np.int64)
        words[:, 0] = scaled
        words[:, 1] = scaled >> 63
        validity = None if mask is None else pa.array(~mask).buffers()[1]
        return pa.Array.from_buffers(ctype.arrow, len(scaled), [validity, pa.py_buffer(words)],
                                     null_count=-1 if mask is not None else 0)
    return pa.array(data, ctype.arrow, mask=mask)
