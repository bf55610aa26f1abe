"""Exact top values of string columns (and of the comma-separated items of list columns), in hash buckets.

Each batch's value counts are split into buckets of the value's hash (a value always lands in the same bucket),
summed per bucket with Arrow's group-by (:class:`BucketCounts`), and a column's top is the top of its buckets'
tops (:func:`merge_tops`). The buckets keep a column's distinct values spread over workers; their sizes add up to
the exact distinct count. A summary is ``{'distinct', 'total', 'top'}``, ``top`` a list of (value, count), most
frequent first, ties by value.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datagen.stats.sketches import hash_strings


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


def top_of(values: list, counts: list, k: int) -> list[tuple]:
    """The k most frequent (value, count), most frequent first, ties by value."""
    pairs = sorted(zip(values, counts), key=lambda vc: (-vc[1], vc[0]))
    return [(v, int(c)) for v, c in pairs[:k]]


def sum_by_value(pieces: list) -> list:
    """(values, counts) pieces -> one piece, the counts of equal values added up (Arrow's group-by)."""
    if len(pieces) <= 1:
        return pieces
    table = pa.table({"v": pa.chunked_array([v for v, _ in pieces]),
                      "c": pa.chunked_array([c.cast(pa.int64()) for _, c in pieces])})
    summed = table.group_by("v").aggregate([("c", "sum")])
    return [(summed.column("v").combine_chunks(), summed.column("c_sum").combine_chunks())]


class BucketCounts:
    """The pieces of one bucket of a column, added up into {'values': summary, 'items': summary}: values sum the
    'values' and 'plain' pieces, items the 'items' and 'plain' ones, so a column without commas costs one sum,
    shared by both."""

    COMPACT_ROWS = 1 << 18
    PARTS = ("plain", "values", "items")

    def __init__(self):
        self.pieces = {part: [] for part in self.PARTS}

    def add(self, piece):
        part, values, counts = piece
        self.pieces[part].append((values, counts))
        if sum(len(v) for v, _ in self.pieces[part]) > self.COMPACT_ROWS:
            self.pieces[part] = sum_by_value(self.pieces[part])
        return self

    @classmethod
    def merged(cls, accumulators) -> BucketCounts:
        merged = cls()
        for acc in accumulators:
            for part in cls.PARTS:
                merged.pieces[part].extend(acc.pieces[part])
        for part in cls.PARTS:
            if sum(len(v) for v, _ in merged.pieces[part]) > cls.COMPACT_ROWS:
                merged.pieces[part] = sum_by_value(merged.pieces[part])
        return merged

    def summaries(self, top: int) -> dict:
        acc = self.pieces
        plain = sum_by_value(acc["plain"])
        values = sum_by_value(acc["values"] + plain) if acc["values"] else plain
        out = {"values": _summary(values, top)}
        out["items"] = _summary(sum_by_value(acc["items"] + plain), top) if acc["items"] else \
            out["values"] if not acc["values"] else _summary(plain, top)
        return out


def _summary(pieces: list, k: int) -> dict:
    if not pieces:
        return empty_summary()
    values, counts = pieces[0]
    table = pa.table({"v": values, "c": counts.cast(pa.int64())})
    c = table.column("c").to_numpy()
    if len(c) > k:  # only counts as large as the k-th largest can be in the top
        threshold = np.partition(c, len(c) - k)[len(c) - k]
        table = table.filter(pa.array(c >= threshold))
    # most frequent first, ties by value (Arrow compares UTF-8 bytes: the order of Python's str)
    top = table.sort_by([("c", "descending"), ("v", "ascending")]).slice(0, k)
    return {"distinct": len(values), "total": int(c.sum()),
            "top": list(zip(top.column("v").to_pylist(), top.column("c").to_pylist()))}


def empty_summary() -> dict:
    return {"distinct": 0, "total": 0, "top": []}


def empty_tops() -> dict:
    return {"values": empty_summary(), "items": empty_summary()}


def merge_tops(results, k: int) -> dict:
    """The buckets' results of one column -> the column's: distinct values and totals add up; the top values are
    the top of the buckets' tops (a value lives in one bucket only)."""
    out = empty_tops()
    for acc in results:
        for part, mine in out.items():
            pairs = mine["top"] + acc[part]["top"]
            mine["distinct"] += acc[part]["distinct"]
            mine["total"] += acc[part]["total"]
            mine["top"] = top_of([v for v, _ in pairs], [c for _, c in pairs], k)
    return out
