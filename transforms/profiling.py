"""A dataset's profile computed in Beam over Arrow record batches: per-column statistics that merge.

Every statistic is a partial result per record batch that combines with any other (so it scales out on
Dataflow and any bundle split gives the same answer):

- :class:`TableStats` (``CombineGlobally(TableStatsFn)``): per column the count, nulls, NaN and infinite values,
  min, max, mean and variance (Chan et al.'s pairwise update of count, mean and squared deviations), a
  HyperLogLog sketch of the distinct values, string lengths and empty strings; and, while a column of integers,
  strings or booleans has at most ``max_categories`` distinct values, its exact value counts with the count and
  sum of every numeric column per value (the per-category means). A column past the limit drops them, in every
  partial, so what survives the merge is exact.
- Top values of strings (and of the comma-separated items of list columns), exact: each batch's value counts
  are split into hash buckets (a value always lands in the same bucket), summed per bucket with Arrow's
  group-by, and the global top is the top of the buckets' tops. The buckets keep a column's distinct values
  spread over workers; their sizes add up to the exact distinct count.
- Quantiles: Beam's ``ApproximateQuantiles`` per column over batches of values (101 of them: every percent).
- Histograms: a second pass, with the merged min and max as a side input, counting fixed bins exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.transforms.stats import ApproximateQuantiles

from datagen.randomness import bits_at, stream_key
from functions.file_layout import SCHEMA_SUFFIX
from transforms.table_read import ReadTables

# HyperLogLog: 2**14 registers of the 64-bit hash's remaining 50 bits' leading-zero rank.
HLL_P = 14
HLL_M = 1 << HLL_P
HLL_Q = 64 - HLL_P
HLL_RSE = 1.04 / math.sqrt(HLL_M)  # relative standard error of the estimate, about 0.81%
NUM_QUANTILES = 101  # 0%, 1%, ..., 100%
QUANTILE_EPSILON = 1.0 / NUM_QUANTILES  # ApproximateQuantiles' default worst-case rank error, as a fraction of N
REPORTED_PERCENTS = (0, 1, 5, 25, 50, 75, 95, 99, 100)

NUMBER_KINDS = ("integer", "float", "decimal")
ORDERED_KINDS = NUMBER_KINDS + ("date", "timestamp")  # min, max, mean, quantiles and histograms
CATEGORY_KINDS = ("integer", "string", "bool")

_HASH_KEY = stream_key(0, "profile", "hash")
_WEIGHT_KEY = stream_key(0, "profile", "string-position")
_WEIGHTS = bits_at(_WEIGHT_KEY, np.arange(4096))
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def kind_of(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_decimal(t):
        return "decimal"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    return "other"


# BigQuery type (schema file) -> how a CSV column of it is read, and the kind of statistics it gets.
BIGQUERY_TYPES = {
    "STRING": (pa.string(), None), "INT64": (pa.int64(), None), "INTEGER": (pa.int64(), None),
    "FLOAT64": (pa.float64(), None), "FLOAT": (pa.float64(), None),
    "NUMERIC": (pa.float64(), "decimal"), "BIGNUMERIC": (pa.float64(), "decimal"),
    "DECIMAL": (pa.float64(), "decimal"), "BIGDECIMAL": (pa.float64(), "decimal"),
    "BOOL": (pa.bool_(), None), "BOOLEAN": (pa.bool_(), None), "DATE": (pa.date32(), None),
    "TIMESTAMP": (pa.timestamp("us", tz="UTC"), None), "DATETIME": (pa.timestamp("us"), None),
}


def inferred_type(t: pa.DataType) -> pa.DataType:
    """The type a CSV column is read as when Arrow inferred ``t`` from its first rows."""
    if pa.types.is_integer(t):
        return pa.int64()
    if pa.types.is_floating(t):
        return pa.float64()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz=t.tz)
    if pa.types.is_boolean(t) or pa.types.is_date32(t):
        return t
    return pa.string()  # null (no value seen), times, anything else: as text


def unify(types: list[pa.DataType]) -> pa.DataType:
    """One type for a column inferred as ``types`` in different files."""
    distinct = set(types)
    if len(distinct) == 1:
        return types[0]
    if distinct <= {pa.int64(), pa.float64()}:
        return pa.float64()
    return pa.string()


def normal_parquet_type(t: pa.DataType) -> pa.DataType:
    """The type a Parquet column is read as: dictionaries as their values, dates as date32, timestamps in µs."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_date(t):
        return pa.date32()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz=t.tz)
    return t


def bigquery_name(t: pa.DataType) -> str:
    kind = kind_of(t)
    if kind == "timestamp":
        return "TIMESTAMP" if t.tz else "DATETIME"
    return {"integer": "INT64", "float": "FLOAT64", "decimal": "NUMERIC", "bool": "BOOL", "date": "DATE",
            "string": "STRING"}.get(kind, str(t))


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    type: str = ""  # the BigQuery type (from the schema file) or the Arrow type's name
    description: str = ""


@dataclass(frozen=True)
class ProfilePlan:
    """What one profile reads and how: everything the workers need, and what the report says about the input."""

    name: str  # the dataset's name, for titles
    input: str
    output: str
    file_format: str  # csv or parquet
    schema: pa.Schema  # the types every batch is read as
    columns: tuple[Column, ...]
    files: tuple[str, ...]
    parts: tuple = ()
    total_bytes: int = 0
    schema_source: str = ""
    bins: int = 20
    top_values: int = 20
    max_categories: int = 50
    buckets: int = 16
    extra: dict = field(default_factory=dict)

    @property
    def types_from(self) -> str:
        if self.file_format == "parquet":
            return "of the Parquet files' schemas"
        if self.schema_source.endswith(SCHEMA_SUFFIX):
            return f"of {self.schema_source}"
        return "inferred from the first rows of the files; a schema file beside them fixes them"

    @property
    def measures(self) -> list[str]:
        """Columns whose mean per category is reported."""
        return [c.name for c in self.columns if c.kind in NUMBER_KINDS]


# --- hashing and HyperLogLog ---------------------------------------------------------------------------------

def hash_numbers(values: np.ndarray) -> np.ndarray:
    """64 well-mixed bits per value (SplitMix64 of its bit pattern; -0.0 as 0.0, one NaN)."""
    if values.dtype.kind == "f":
        v = values.astype(np.float64) + 0.0
        v[np.isnan(v)] = np.nan
        bits = v.view(np.uint64)
    else:
        bits = values.astype(np.int64).view(np.uint64)
    return bits_at(_HASH_KEY, bits)


def hash_strings(arr) -> np.ndarray:
    """64 well-mixed bits per string (no nulls), vectorised over the Arrow buffers: the sum of each byte (plus one)
    times a random 64-bit weight of its position in the string, mixed with the length by SplitMix64."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n = len(arr)
    if n == 0:
        return np.empty(0, np.uint64)
    wide = pa.types.is_large_string(arr.type)
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64 if wide else np.int32)[arr.offset:arr.offset + n + 1]
    offsets = offsets.astype(np.int64)
    lengths = np.diff(offsets)
    first, total = int(offsets[0]), int(offsets[-1] - offsets[0])
    sums = np.zeros(n, np.uint64)
    if total:
        data = np.frombuffer(buffers[2], dtype=np.uint8)[first:first + total].astype(np.uint64)
        starts = offsets[:-1] - first
        pos = np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)
        weights = _WEIGHTS[pos] if int(lengths.max()) <= len(_WEIGHTS) else bits_at(_WEIGHT_KEY, pos)
        terms = (data + np.uint64(1)) * weights
        nonempty = lengths > 0
        sums[nonempty] = np.add.reduceat(terms, starts[nonempty])
    return bits_at(_HASH_KEY, sums ^ (lengths.astype(np.uint64) * _GOLDEN))


class HyperLogLog:
    """A HyperLogLog sketch of 2**14 one-byte registers; merging is the registers' maximum. The estimate is Ertl's
    improved estimator ("New cardinality estimation algorithms for HyperLogLog sketches", 2017), unbiased from
    one distinct value to billions without empirical corrections: relative standard error about 1.04/sqrt(m),
    0.81%, and nearly exact for small counts (where it behaves as linear counting)."""

    __slots__ = ("registers",)

    def __init__(self, registers: np.ndarray | None = None):
        self.registers = np.zeros(HLL_M, np.uint8) if registers is None else registers

    def add_hashes(self, hashes: np.ndarray):
        if len(hashes) == 0:
            return
        index = (hashes >> np.uint64(HLL_Q)).astype(np.intp)
        rest = hashes & np.uint64((1 << HLL_Q) - 1)
        _, exponent = np.frexp(rest.astype(np.float64))  # rest < 2**50: exact in a double
        rank = np.where(rest == 0, HLL_Q + 1, HLL_Q + 1 - exponent).astype(np.uint8)
        np.maximum.at(self.registers, index, rank)

    def merge(self, other: HyperLogLog):
        np.maximum(self.registers, other.registers, out=self.registers)

    def estimate(self) -> float:
        m, q = HLL_M, HLL_Q
        counts = np.bincount(self.registers, minlength=q + 2).astype(np.float64)
        if counts[0] == m:
            return 0.0
        z = m * _tau(1.0 - counts[q + 1] / m)
        for k in range(q, 0, -1):
            z = 0.5 * (z + counts[k])
        z += m * _sigma(counts[0] / m)
        return m * m / (2.0 * math.log(2.0)) / z

    def __reduce__(self):
        return (HyperLogLog, (self.registers,))


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        z_old = z
        z += x * y
        y += y
        if z == z_old:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        z_old = z
        y *= 0.5
        z -= (1.0 - x) ** 2 * y
        if z == z_old:
            return z / 3.0


# --- values of a column ----------------------------------------------------------------------------------------

def ordered_values(col, kind: str) -> np.ndarray:
    """The non-null values of an ordered column as numbers: int64 for integers, days since 1970 for dates,
    microseconds since 1970 for timestamps (batches are read as timestamp[us]), float64 otherwise."""
    col = col.drop_null()
    if kind == "date":
        return col.cast(pa.date32()).cast(pa.int32()).to_numpy().astype(np.int64)
    if kind == "timestamp":
        return col.cast(pa.int64()).to_numpy()
    if kind == "integer":
        return col.cast(pa.int64()).to_numpy()
    return col.cast(pa.float64()).to_numpy()


def finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)] if values.dtype.kind == "f" else values


def measure_array(col) -> pa.Array:
    """A numeric column as float64 with NULL for NaN and infinities (what the per-category sums add up)."""
    x = col.cast(pa.float64())
    return pc.if_else(pc.is_finite(x), x, pa.scalar(None, pa.float64()))


def _python(value):
    return value.item() if hasattr(value, "item") else value


class Moments:
    """Count, mean, sum of squared deviations, min and max of finite values; merged by Chan et al.'s update."""

    __slots__ = ("n", "mean", "m2", "min", "max")

    def __init__(self):
        self.n, self.mean, self.m2, self.min, self.max = 0, 0.0, 0.0, None, None

    def add(self, values: np.ndarray):
        if len(values) == 0:
            return
        other = Moments()
        other.n = len(values)
        other.mean = float(values.mean(dtype=np.float64))
        other.m2 = float(np.square(values - other.mean, dtype=np.float64).sum())
        other.min, other.max = _python(values.min()), _python(values.max())
        self.merge(other)

    def merge(self, other: Moments):
        if other.n == 0:
            return
        if self.n == 0:
            self.n, self.mean, self.m2, self.min, self.max = other.n, other.mean, other.m2, other.min, other.max
            return
        n = self.n + other.n
        delta = other.mean - self.mean
        self.mean += delta * other.n / n
        self.m2 += other.m2 + delta * delta * self.n * other.n / n
        self.n = n
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    @property
    def std(self) -> float | None:
        """Population standard deviation (ddof 0)."""
        return math.sqrt(max(self.m2, 0.0) / self.n) if self.n else None

    def __getstate__(self):
        return (self.n, self.mean, self.m2, self.min, self.max)

    def __setstate__(self, state):
        self.n, self.mean, self.m2, self.min, self.max = state


# --- per-column statistics ------------------------------------------------------------------------------------

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


class TableStatsFn(beam.CombineFn):
    """Record batches -> their :class:`TableStats`."""

    def __init__(self, columns: tuple[Column, ...], max_categories: int):
        self._columns = columns
        self._max_categories = max_categories

    def create_accumulator(self):
        return TableStats(self._columns, self._max_categories)

    def add_input(self, acc, batch):
        acc.add_batch(batch)
        return acc

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        first = next(accumulators)
        for acc in accumulators:
            first.merge(acc)
        return first

    def extract_output(self, acc):
        return acc


# --- exact top values in hash buckets -------------------------------------------------------------------------

def value_count_pieces(batch: pa.RecordBatch, columns: list[str], buckets: int):
    """((column, bucket), (part, values, counts)) for each string column of a batch, in hash buckets of the value:
    its value counts as part 'plain' when no value holds a comma (they count as items too), else its value counts
    as part 'values' and the counts of its comma-separated items (trimmed) as part 'items'."""
    for name in columns:
        col = batch.column(name).drop_null()
        if len(col) == 0:
            continue
        counted = pc.value_counts(col)
        values, counts = counted.field("values"), counted.field("counts")
        if not pc.any(pc.match_substring(values, ",")).as_py():
            yield from _buckets(name, "plain", values, counts, buckets)
            continue
        yield from _buckets(name, "values", values, counts, buckets)
        items = pc.split_pattern(values, ",")
        flat = pc.utf8_trim_whitespace(pc.list_flatten(items))
        repeated = np.repeat(counts.to_numpy(), pc.list_value_length(items).to_numpy())
        summed = pa.table({"v": flat, "c": repeated}).group_by("v").aggregate([("c", "sum")])
        yield from _buckets(name, "items", summed.column("v").combine_chunks(),
                            summed.column("c_sum").combine_chunks(), buckets)


def _buckets(name: str, part: str, values: pa.Array, counts: pa.Array, buckets: int):
    bucket = (hash_strings(values) >> np.uint64(40)) % np.uint64(buckets)
    order = np.argsort(bucket, kind="stable")
    bounds = np.searchsorted(bucket[order], np.arange(buckets + 1, dtype=np.uint64))
    for b in range(buckets):
        lo, hi = bounds[b], bounds[b + 1]
        if hi > lo:
            idx = pa.array(order[lo:hi])
            yield (name, b), (part, values.take(idx), counts.take(idx))


def _top(values: list, counts: list, k: int) -> list[tuple]:
    """The k most frequent (value, count), most frequent first, ties by value."""
    pairs = sorted(zip(values, counts), key=lambda vc: (-vc[1], vc[0]))
    return [(v, int(c)) for v, c in pairs[:k]]


def _sum_by_value(pieces: list) -> list:
    """(values, counts) pieces -> one piece, the counts of equal values added up (Arrow's group-by)."""
    if len(pieces) <= 1:
        return pieces
    table = pa.table({"v": pa.chunked_array([v for v, _ in pieces]),
                      "c": pa.chunked_array([c.cast(pa.int64()) for _, c in pieces])})
    summed = table.group_by("v").aggregate([("c", "sum")])
    return [(summed.column("v").combine_chunks(), summed.column("c_sum").combine_chunks())]


class BucketCountsFn(beam.CombineFn):
    """The pieces of one bucket of a column -> {'values': summary, 'items': summary}, a summary being
    {'distinct', 'total', 'top'}: values sum the 'values' and 'plain' pieces, items the 'items' and 'plain' ones,
    so a column without commas costs one sum, shared by both."""

    COMPACT_ROWS = 1 << 18
    PARTS = ("plain", "values", "items")

    def __init__(self, top: int):
        self._top = top

    def create_accumulator(self):
        return {part: [] for part in self.PARTS}

    def add_input(self, acc, piece):
        part, values, counts = piece
        acc[part].append((values, counts))
        if sum(len(v) for v, _ in acc[part]) > self.COMPACT_ROWS:
            acc[part] = _sum_by_value(acc[part])
        return acc

    def merge_accumulators(self, accumulators):
        merged = self.create_accumulator()
        for acc in accumulators:
            for part in self.PARTS:
                merged[part].extend(acc[part])
        for part in self.PARTS:
            if sum(len(v) for v, _ in merged[part]) > self.COMPACT_ROWS:
                merged[part] = _sum_by_value(merged[part])
        return merged

    def extract_output(self, acc):
        plain = _sum_by_value(acc["plain"])
        values = _sum_by_value(acc["values"] + plain) if acc["values"] else plain
        out = {"values": self._summary(values)}
        out["items"] = self._summary(_sum_by_value(acc["items"] + plain)) if acc["items"] else \
            out["values"] if not acc["values"] else self._summary(plain)
        return out

    def _summary(self, pieces: list) -> dict:
        if not pieces:
            return {"distinct": 0, "total": 0, "top": []}
        values, counts = pieces[0]
        table = pa.table({"v": values, "c": counts.cast(pa.int64())})
        c = table.column("c").to_numpy()
        if len(c) > self._top:  # only counts as large as the k-th largest can be in the top
            threshold = np.partition(c, len(c) - self._top)[len(c) - self._top]
            table = table.filter(pa.array(c >= threshold))
        # most frequent first, ties by value (Arrow compares UTF-8 bytes: the order of Python's str)
        top = table.sort_by([("c", "descending"), ("v", "ascending")]).slice(0, self._top)
        return {"distinct": len(values), "total": int(c.sum()),
                "top": list(zip(top.column("v").to_pylist(), top.column("c").to_pylist()))}


class MergeTopsFn(beam.CombineFn):
    """The buckets' results of one column -> the column's: distinct values and totals add up; the top values are
    the top of the buckets' tops (a value lives in one bucket only)."""

    def __init__(self, top: int):
        self._top = top

    def create_accumulator(self):
        return {"values": {"distinct": 0, "total": 0, "top": []}, "items": {"distinct": 0, "total": 0, "top": []}}

    def add_input(self, acc, result):
        return self.merge_accumulators([acc, result])

    def merge_accumulators(self, accumulators):
        out = self.create_accumulator()
        for acc in accumulators:
            for part, mine in out.items():
                pairs = mine["top"] + acc[part]["top"]
                mine["distinct"] += acc[part]["distinct"]
                mine["total"] += acc[part]["total"]
                mine["top"] = _top([v for v, _ in pairs], [c for _, c in pairs], self._top)
        return out

    def extract_output(self, acc):
        return acc


class TopValues(beam.PTransform):
    """Record batches -> (column, {'values': summary, 'items': summary}) for each string column, each summary
    {'distinct', 'total', 'top'} (items: of the comma-separated items; the values themselves in a column without
    commas)."""

    def __init__(self, columns: list[str], top: int, buckets: int):
        super().__init__()
        self._columns = columns
        self._top = top
        self._buckets = buckets

    def expand(self, batches):
        return (batches
                | "ValueCounts" >> beam.FlatMap(value_count_pieces, self._columns, self._buckets)
                | "SumPerBucket" >> beam.CombinePerKey(BucketCountsFn(self._top))
                | "ByColumn" >> beam.Map(lambda kv: (kv[0][0], kv[1]))
                | "MergeBuckets" >> beam.CombinePerKey(MergeTopsFn(self._top)))


# --- quantiles and histograms ---------------------------------------------------------------------------------

def quantile_inputs(batch: pa.RecordBatch, columns: list[Column]):
    """(column, the batch's finite values as a list): the batched input of ApproximateQuantiles, sorted (its
    buffers sort their values one by one in Python: a sorted run costs a fraction of the time)."""
    for c in columns:
        values = finite(ordered_values(batch.column(c.name), c.kind))
        if len(values):
            yield c.name, np.sort(values).tolist()


def histogram_edges(kind: str, low, high, bins: int) -> list[float]:
    """Fixed bins between min and max: one per value for integers and dates of at most ``bins`` values."""
    if low is None:
        return []
    if kind in ("integer", "date") and high - low + 1 <= bins:
        return [low - 0.5 + i for i in range(int(high - low) + 2)]
    if low == high:
        return [low - 0.5, high + 0.5]
    return np.linspace(float(low), float(high), bins + 1).tolist()


def histogram_counts(batch: pa.RecordBatch, stats: TableStats, columns: list[Column], bins: int):
    """{column: counts per bin} of one batch, with the bins fixed by the merged min and max."""
    out = {}
    for c in columns:
        m = stats.columns[c.name].moments
        edges = histogram_edges(c.kind, m.min, m.max, bins)
        if not edges:
            continue
        values = finite(ordered_values(batch.column(c.name), c.kind))
        out[c.name] = np.histogram(values, bins=np.asarray(edges, dtype=np.float64))[0].astype(np.int64)
    yield out


class SumCountsFn(beam.CombineFn):
    def create_accumulator(self):
        return {}

    def add_input(self, acc, counts):
        for name, c in counts.items():
            acc[name] = acc[name] + c if name in acc else c.copy()
        return acc

    def merge_accumulators(self, accumulators):
        out = {}
        for acc in accumulators:
            self.add_input(out, acc)
        return out

    def extract_output(self, acc):
        return {name: c.tolist() for name, c in acc.items()}


# --- the whole profile ----------------------------------------------------------------------------------------

class ProfileStatistics(beam.PTransform):
    """Record batches -> a dict of PCollections: 'stats' (one TableStats), 'quantiles' ((column, values)),
    'top' ((column, {'values', 'items'})) and 'histograms' (one {column: counts})."""

    def __init__(self, plan: ProfilePlan):
        super().__init__()
        self._plan = plan

    def expand(self, batches):
        plan = self._plan
        ordered = [c for c in plan.columns if c.kind in ORDERED_KINDS]
        strings = [c.name for c in plan.columns if c.kind == "string"]
        stats = batches | "ColumnStats" >> beam.CombineGlobally(TableStatsFn(plan.columns, plan.max_categories))
        quantiles = (batches
                     | "QuantileInputs" >> beam.FlatMap(quantile_inputs, ordered)
                     | "Quantiles" >> ApproximateQuantiles.PerKey(NUM_QUANTILES, input_batched=True))
        top = batches | "TopValues" >> TopValues(strings, plan.top_values, plan.buckets)
        histograms = (batches
                      | "HistogramCounts" >> beam.FlatMap(histogram_counts, beam.pvalue.AsSingleton(stats), ordered,
                                                          plan.bins)
                      | "SumHistograms" >> beam.CombineGlobally(SumCountsFn()))
        return {"stats": stats, "quantiles": quantiles, "top": top, "histograms": histograms}


class WriteProfile(beam.DoFn):
    """The last step: builds the profile from the merged statistics and writes profile.json and profile.html,
    each to a temporary name first, then renamed, so no half-written file is ever at a final path."""

    def __init__(self, plan: ProfilePlan):
        self._plan = plan

    def process(self, _, stats, quantiles, top, histograms):
        from transforms import profile_report

        profile = profile_report.build_profile(self._plan, stats, quantiles, top, histograms)
        yield from profile_report.write_files(self._plan.output, profile)


class ProfileDataset(beam.PTransform):
    """Parts of files -> profile.json and profile.html in the plan's output folder (their paths)."""

    def __init__(self, plan: ProfilePlan):
        super().__init__()
        self._plan = plan

    def expand(self, pbegin):
        plan = self._plan
        batches = (pbegin
                   | "Parts" >> beam.Create(list(plan.parts))
                   | "ReadFiles" >> ReadTables(plan.file_format, plan.schema, plan.types_from))
        results = batches | "Statistics" >> ProfileStatistics(plan)
        side = beam.pvalue
        return (pbegin
                | "Once" >> beam.Create([None])
                | "WriteProfile" >> beam.ParDo(
                    WriteProfile(plan), side.AsSingleton(results["stats"]), side.AsDict(results["quantiles"]),
                    side.AsDict(results["top"]), side.AsSingleton(results["histograms"])))
