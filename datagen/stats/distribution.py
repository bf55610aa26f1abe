"""Where a column's values lie: quantiles (the inputs of a quantile sketch, and the percentiles of its answer)
and histograms of fixed bins between the column's min and max, whose counts add up exactly.

The sketch itself is Beam's ``ApproximateQuantiles`` (:mod:`transforms.profiling`), with its default error.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from datagen.stats.columns import Column, finite, ordered_values
from datagen.stats.table import TableStats

NUM_QUANTILES = 101  # 0%, 1%, ..., 100%
QUANTILE_EPSILON = 1.0 / NUM_QUANTILES  # ApproximateQuantiles' default worst-case rank error, as a fraction of N
REPORTED_PERCENTS = (0, 1, 5, 25, 50, 75, 95, 99, 100)


def quantile_inputs(batch: pa.RecordBatch, columns: list[Column]):
    """(column, the batch's finite values as a list): the batched input of ApproximateQuantiles, sorted (its
    buffers sort their values one by one in Python: a sorted run costs a fraction of the time)."""
    for c in columns:
        values = finite(ordered_values(batch.column(c.name), c.kind))
        if len(values):
            yield c.name, np.sort(values).tolist()


def percentiles(values: list) -> list:
    """101 values for 0%..100%: ApproximateQuantiles' own, or with fewer values than that (it then returns them
    all, sorted) the nearest rank."""
    if len(values) == NUM_QUANTILES:
        return list(values)
    n = len(values)
    return [values[round(p / 100 * (n - 1))] for p in range(NUM_QUANTILES)]


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


def add_counts(acc: dict, counts: dict) -> dict:
    """Histogram counts of another part ({column: counts per bin}) added to ``acc``'s."""
    for name, c in counts.items():
        acc[name] = acc[name] + c if name in acc else c.copy()
    return acc
