"""The statistics of a table's columns, from any number of Arrow record batches, merged from any parts in any
order: per column the count, nulls, NaN and infinite values, moments, a HyperLogLog of the distinct values,
string lengths and empty strings; and, while a column of integers, strings or booleans has at most
``max_categories`` distinct values, its exact value counts with the count and sum of every numeric column per
value (the per-category means). A column past the limit drops them, in every part, so what survives a merge is
exact.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datagen.stats.columns import (
    CATEGORY_KINDS,
    NUMBER_KINDS,
    ORDERED_KINDS,
    Column,
    finite,
    measure_array,
    ordered_values,
)
from datagen.stats.sketches import HyperLogLog, Moments, hash_numbers, hash_strings


class ColumnStats:
    """Mergeable statistics of one column."""

    def __init__(self, kind: str, categorical: bool):
        self.kind = kind
        self.count = 0
        self.nulls = 0
        self.nan = 0
        self.infinite = 0
        self.moments = Moments() if kind in ORDERED_KINDS else None
        self.hll = HyperLogLog() if kind != "other" else None
        self.empty = 0
        self.with_comma = 0
        self.length = Moments() if kind == "string" else None
        # value -> rows, while there are at most max_categories distinct (non-null) values; None past that
        self.categories: dict | None = {} if categorical else None
        # measure -> value -> [count, sum] of the measure's finite values in rows of that value
        self.groups: dict[str, dict] | None = {} if categorical else None

    def merge(self, other: ColumnStats, max_categories: int):
        self.count += other.count
        self.nulls += other.nulls
        self.nan += other.nan
        self.infinite += other.infinite
        if self.moments is not None:
            self.moments.merge(other.moments)
        if self.hll is not None:
            self.hll.merge(other.hll)
        self.empty += other.empty
        self.with_comma += other.with_comma
        if self.length is not None:
            self.length.merge(other.length)
        if self.categories is None or other.categories is None:
            self.categories = self.groups = None
            return
        for value, rows in other.categories.items():
            self.categories[value] = self.categories.get(value, 0) + rows
        if _distinct_non_null(self.categories) > max_categories:
            self.categories = self.groups = None
            return
        for measure, by_value in other.groups.items():
            mine = self.groups.setdefault(measure, {})
            for value, (n, s) in by_value.items():
                acc = mine.setdefault(value, [0, 0.0])
                acc[0] += n
                acc[1] += s


def _distinct_non_null(categories: dict) -> int:
    return len(categories) - (None in categories)


class TableStats:
    """The statistics of every column of a dataset, from any number of record batches."""

    def __init__(self, columns: tuple[Column, ...], max_categories: int):
        self.max_categories = max_categories
        self.rows = 0
        self.batches = 0
        self.columns = {c.name: ColumnStats(c.kind, c.kind in CATEGORY_KINDS) for c in columns}
        self._kinds = {c.name: c.kind for c in columns}

    def add_batch(self, batch: pa.RecordBatch):
        self.rows += batch.num_rows
        self.batches += 1
        measures = {}  # computed once per batch, for every categorical column
        for name, stats in self.columns.items():
            col = batch.column(name)
            kind = stats.kind
            nulls = col.null_count
            stats.nulls += nulls
            stats.count += len(col) - nulls
            if kind in ORDERED_KINDS:
                values = ordered_values(col, kind)
                if values.dtype.kind == "f":
                    nan = np.isnan(values)
                    stats.nan += int(nan.sum())
                    stats.infinite += int(np.isinf(values).sum())
                stats.moments.add(finite(values))
                stats.hll.add_hashes(hash_numbers(values))
            elif kind == "string":
                present = col.drop_null()
                stats.hll.add_hashes(hash_strings(pc.unique(present)))
                if len(present):
                    lengths = pc.utf8_length(present).to_numpy()
                    stats.length.add(lengths)
                    stats.empty += int((lengths == 0).sum())
                    stats.with_comma += int(pc.sum(pc.match_substring(present, ",")).as_py() or 0)
            elif kind == "bool":
                stats.hll.add_hashes(hash_numbers(col.drop_null().to_numpy(zero_copy_only=False)))
            if stats.categories is not None:
                self._add_categories(name, col, stats, batch, measures)

    def _add_categories(self, name, col, stats: ColumnStats, batch, measures: dict):
        counted = pc.value_counts(col)
        values = counted.field("values").to_pylist()
        rows = counted.field("counts").to_pylist()
        known = set(stats.categories)
        if len(known.union(values) - {None}) > self.max_categories:
            stats.categories = stats.groups = None
            return
        for value, n in zip(values, rows):
            stats.categories[value] = stats.categories.get(value, 0) + n
        others = [m for m, k in self._kinds.items() if k in NUMBER_KINDS and m != name]
        if not others:
            return
        for m in others:
            if m not in measures:
                measures[m] = measure_array(batch.column(m))
        table = pa.table({"_key": col, **{f"_{i}": measures[m] for i, m in enumerate(others)}})
        aggregates = [(f"_{i}", op) for i in range(len(others)) for op in ("count", "sum")]
        grouped = table.group_by("_key").aggregate(aggregates)
        keys = grouped.column("_key").to_pylist()
        for i, m in enumerate(others):
            counts = grouped.column(f"_{i}_count").to_pylist()
            sums = grouped.column(f"_{i}_sum").to_pylist()
            by_value = stats.groups.setdefault(m, {})
            for key, n, s in zip(keys, counts, sums):
                acc = by_value.setdefault(key, [0, 0.0])
                acc[0] += n
                acc[1] += s or 0.0

    def merge(self, other: TableStats):
        self.rows += other.rows
        self.batches += other.batches
        for name, stats in self.columns.items():
            stats.merge(other.columns[name], self.max_categories)
