"""Compiles a dataset spec into one maker per column, each from the column's generator (datagen/generators/):
``compile_dataset(spec, run).batch(seed, a, b)`` returns rows [a, b) as one Arrow record batch. This module holds
what belongs to the dataset rather than to one generator: the order the columns are made in, their nulls, values
drawn per entity (``per``; a pool's per-entity columns made once for every entity), and a column's numbers as
its type holds them.

Every random value of a column comes from its own counter-based stream, keyed by (seed, dataset, column name)
at the row's index (or, with ``per``, at the entity number the row belongs to), so row ``i`` is a pure function
of (seed, dataset, column, i): batches cut anywhere give the same rows, and adding, removing or reordering a
column leaves the other columns' values as they were. Columns are made in dependency order, whole arrays at a
time: lookup tables for choices, an inverse CDF for normals, one gather to compose strings. No Python runs per
row.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa

from datagen.columns import Batch, Col, to_arrow
from datagen.memory import reuse_freed_memory
from datagen.randomness import stream_key
from datagen.spec import ColumnSpec, DatasetSpec, SpecError

__all__ = ["Batch", "Col", "DatasetGenerator", "builtin_generator", "compile_dataset", "finish", "run_context",
           "to_arrow"]


# --- a column's numbers as its type holds them -------------------------------------------------------------

def finish(col: Col, spec: ColumnSpec, source: str = "<spec>") -> Col:
    """Clip, round and convert a column's numbers to its type; a generated number its type cannot hold is a
    SpecError naming the column (it would be written as another number, or as an invalid decimal)."""
    t = spec.type
    if col.dictionary is not None or isinstance(col.data, pa.Array):
        return col
    data = np.asarray(col.data)
    if t.is_number or t.name in ("bool", "date"):
        if spec.clip is not None and t.is_number:
            data = np.clip(data, spec.clip[0], spec.clip[1])
        if t.name == "int64" and data.dtype != np.int64:
            _check_fits(data, col.valid, float(1 << 63), t, spec, source)
            data = np.rint(data).astype(np.int64)
        elif t.name in ("float64", "numeric"):
            data = data.astype(np.float64)
            if spec.decimals is not None:
                data = np.round(data, spec.decimals)
            if t.name == "numeric":  # written as whole multiples of 10**-scale in 64 bits (to_arrow)
                _check_fits(np.round(data, t.scale), col.valid,
                            min(10.0 ** (t.precision - t.scale), float(1 << 63) / 10.0 ** t.scale), t, spec, source)
        elif t.name == "bool" and data.dtype != np.bool_:
            data = data != 0
        elif t.name == "date" and data.dtype != np.int32:
            data = np.floor(data).astype(np.int32)
    col.data = data
    return col


def _check_fits(data: np.ndarray, valid, limit: float, t, spec: ColumnSpec, source: str):
    """Every valid value of ``data`` is finite and below ``limit`` in size, or a SpecError naming one that is not."""
    size = np.abs(data if valid is None else data[valid])
    if size.size and not size.max() < limit:  # NaN fails too
        bad = float((data if valid is None else data[valid])[~(size < limit)][0])
        shown = f"{bad:.{t.scale}f}" if t.name == "numeric" else f"{bad:.15g}"
        raise SpecError(f"{source}: column {spec.name!r}: generated {shown}, which does not fit {t}: bound the "
                        "column with clip: [min, max] (or truncate) or change its generator")


# --- the dataset -------------------------------------------------------------------------------------------

class DatasetGenerator:
    """A compiled spec: ``batch(seed, start, stop)`` gives rows [start, stop) as an Arrow record batch of the
    written columns, in the spec's order; ``schema`` is the dataset's contract (:mod:`datagen.contract`)."""

    def __init__(self, spec: DatasetSpec, run: dict):
        from datagen.contract import from_spec

        reuse_freed_memory()
        self.spec = spec
        self.run = run
        self.schema = from_spec(spec)
        self.column_types = {c.name: c.type for c in spec.columns}
        self.makers = {c.name: c.generator_class(c, self) for c in spec.columns}
        self.order = [spec.column(name) for name in spec.order]
        self.cache: dict = {}
        self._keys: dict = {}
        self._entity_of_template = {c.name: e for c in spec.columns if (e := self._template_entity(c))}

    def key(self, seed: int, stream: str) -> int:
        k = self._keys.get((seed, stream))
        if k is None:
            k = self._keys[(seed, stream)] = stream_key(seed, self.spec.name, stream)
        return k

    def batch(self, seed: int, start: int, stop: int) -> pa.RecordBatch:
        b = Batch(self, seed, start, stop)
        for c in self.order:
            self.make_column(b, c)
        return self.to_record_batch(b)

    def make_column(self, b: Batch, c: ColumnSpec) -> None:
        """Column ``c`` of the rows of ``b``, into ``b.cols`` (the columns it reads are made already)."""
        positions, per_valid = None, None
        entity = self._entity_of_template.get(c.name)
        if entity is not None:
            pool = self._entity_template(c, entity, b.seed)
            if pool is not None:  # composed once per process for every entity, then looked up
                b.cols[c.name] = _gather(pool, np.asarray(b.cols[entity].data) - 1)
                return
        if c.per:
            per = b.cols[c.per]
            positions, per_valid = np.asarray(per.data), per.valid
            pool = self._entity_values(c, b.seed)
            if pool is not None:  # made once per process for every entity, then looked up
                col = _gather(pool, positions - 1)
                if per_valid is not None:
                    col.valid = per_valid if col.valid is None else col.valid & per_valid
                b.cols[c.name] = col
                return
        b.cols[c.name] = self._make(b, c, positions, per_valid)

    def to_record_batch(self, b: Batch) -> pa.RecordBatch:
        """The written columns of ``b``, in the spec's order."""
        out = self.spec.output_columns
        arrays = [to_arrow(b.cols[c.name], c.type) for c in out]
        return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(
            [pa.field(c.name, a.type, nullable=c.nullable) for c, a in zip(out, arrays)]))

    def _make(self, b: Batch, c: ColumnSpec, positions, per_valid) -> Col:
        col = finish(self.makers[c.name].make(b, positions), c, self.spec.source)
        valid = col.valid
        if c.nulls:
            keep = b.uniform(f"{c.name}#nulls", positions) >= c.nulls
            valid = keep if valid is None else valid & keep
        if per_valid is not None:
            valid = per_valid if valid is None else valid & per_valid
        col.valid = valid
        return col

    POOL_LIMIT = 1 << 20

    def _pool_size(self, entity: ColumnSpec) -> int | None:
        """n where ``entity`` numbers a pool of entities 1..n small enough to make its per-entity columns whole."""
        n = entity.generator_class.pool(entity.params)
        return n if n is not None and n <= self.POOL_LIMIT else None

    def _entity_values(self, c: ColumnSpec, seed: int) -> Col | None:
        """A column drawn per entity of a ``zipf`` pool, reading nothing but the entity: its values for the
        whole pool, made once (entity k at position k, as a row-by-row draw would)."""
        key = (c.name, seed)
        if key in self.cache:
            return self.cache[key]
        n = self._pool_size(self.spec.column(c.per))
        pool = None
        if n is not None and c.depends_on == (c.per,):
            whole = Batch(self, seed, 0, n)
            pool = self._make(whole, c, np.arange(1, n + 1, dtype=np.int64), None)
        self.cache[key] = pool
        return pool


    def _template_entity(self, c: ColumnSpec) -> str | None:
        """The entity whose per-entity columns are all that template ``c`` reads (e.g. an author's name from the
        author's first and last names), where it can be composed once per entity: the entity column is a
        ``zipf`` pool that is never null and ``c`` draws no nulls of its own."""
        if not c.generator_class.composes_reads or c.nulls or not c.depends_on:
            return None
        entities = {self.spec.column(d).per for d in c.depends_on}
        if len(entities) != 1 or None in entities:
            return None
        entity = self.spec.column(entities.pop())
        if self._pool_size(entity) is None or entity.nullable:
            return None
        return entity.name

    def _entity_template(self, c: ColumnSpec, entity: str, seed: int) -> Col | None:
        """Template ``c`` for every entity (entity k at code k - 1), as codes into the composed texts."""
        key = (c.name, seed)
        if key not in self.cache:
            n = self._pool_size(self.spec.column(entity))
            whole = Batch(self, seed, 0, n)
            for d in c.depends_on:
                whole.cols[d] = self._entity_values(self.spec.column(d), seed)
            if any(col is None for col in whole.cols.values()):
                self.cache[key] = None
            else:
                text = self._make(whole, c, None, None).data
                self.cache[key] = Col(np.arange(n, dtype=np.int64), text, text.to_pylist())
        return self.cache[key]


def _gather(pool: Col, index: np.ndarray) -> Col:
    data = pool.data[index] if isinstance(pool.data, np.ndarray) else pool.data.take(pa.array(index))
    return Col(data, pool.dictionary, pool.labels, None if pool.valid is None else pool.valid[index])


def run_context(specs: list[DatasetSpec], rows: dict[str, int]) -> dict:
    """What a dataset's references may see: every dataset of the run with its row count."""
    return {s.name: (s, rows[s.name]) for s in specs}


_COMPILED: dict = {}


def compile_dataset(spec: DatasetSpec, run: dict | None = None) -> DatasetGenerator:
    """The generator of ``spec``, built once per process for the same spec and referenced datasets. ``run``:
    dataset name -> (spec, rows) of the datasets this one may reference (:func:`run_context`)."""
    run = run or {}
    refs = {name: run[name] for name in sorted(spec.references) if name in run}
    key = (repr(spec), repr(sorted((name, rows, repr(parent)) for name, (parent, rows) in refs.items())))
    gen = _COMPILED.get(key)
    if gen is None:
        gen = _COMPILED[key] = DatasetGenerator(spec, refs)
    return gen


@functools.cache
def builtin_generator(name: str) -> DatasetGenerator:
    """A built-in dataset that references no other."""
    from datagen.spec import builtin

    return compile_dataset(builtin(name))
