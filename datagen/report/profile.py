"""A dataset's profile as data: what one profile reads (:class:`ProfilePlan`), and the JSON-ready profile built
from its merged statistics (:mod:`datagen.stats`), which ``profile.json`` holds and the page shows."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field

import pyarrow as pa

from datagen.stats.columns import NUMBER_KINDS, ORDERED_KINDS, Column
from datagen.stats.distribution import (
    NUM_QUANTILES,
    QUANTILE_EPSILON,
    REPORTED_PERCENTS,
    histogram_edges,
    percentiles,
)
from datagen.stats.sketches import HLL_M, HLL_RSE
from datagen.types import EPOCH, EPOCH_DATETIME
from functions.file_layout import SCHEMA_SUFFIX

UNITS = {"date": f"days since {EPOCH}", "timestamp": f"microseconds since {EPOCH}"}


@dataclass(frozen=True)
class ProfilePlan:
    """What one profile reads and how: everything the workers need, and what the report says about the input."""

    name: str  # the dataset's name, for titles
    input: str
    output: str
    file_format: str  # a registered format's name (transforms.formats)
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
    typed_files: str = ""  # the format's title where its files carry their column types ("Parquet")

    @property
    def types_from(self) -> str:
        if self.typed_files:
            return f"of the {self.typed_files} files' schemas"
        if self.schema_source.endswith(SCHEMA_SUFFIX):
            return f"of {self.schema_source}"
        return "inferred from the first rows of the files; a schema file beside them fixes them"

    @property
    def measures(self) -> list[str]:
        """Columns whose mean per category is reported."""
        return [c.name for c in self.columns if c.kind in NUMBER_KINDS]


def build_profile(plan: ProfilePlan, stats, quantiles: dict, top: dict, histograms: dict,
                  now: datetime.datetime | None = None) -> dict:
    """The profile (JSON-ready) of one dataset from the pipeline's merged results."""
    rows = stats.rows
    columns = [_column(plan, c, stats.columns[c.name], quantiles, top, histograms, rows) for c in plan.columns]
    keys = {c["name"] for c in columns if c.get("looks_like_key")}
    categorical = [c for c in plan.columns if stats.columns[c.name].categories is not None]
    by_category = []
    for c in categorical:
        s = stats.columns[c.name]
        for measure in plan.measures:
            if measure == c.name:
                continue
            groups = s.groups.get(measure, {})
            by_category.append({
                "category": c.name, "measure": measure, "measure_looks_like_key": measure in keys,
                "groups": [{"value": v, "rows": s.categories[v], "count": groups.get(v, (0, 0.0))[0],
                            "mean": (groups[v][1] / groups[v][0]) if groups.get(v, (0,))[0] else None}
                           for v in sorted(s.categories, key=_value_order)]})
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return {
        "dataset": plan.name,
        "summary": {
            "rows": rows, "columns": len(plan.columns), "files": len(plan.files), "bytes": plan.total_bytes,
            "format": plan.file_format, "input": plan.input, "schema": plan.schema_source,
            "profiled_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "approximations": {
            "approx_distinct": f"HyperLogLog with {HLL_M:,} registers (Ertl's estimator): relative standard error "
                               f"{100 * HLL_RSE:.2f}%. 'distinct' is exact where it is given (strings, and columns "
                               f"of at most {plan.max_categories} values).",
            "quantiles": f"Beam's ApproximateQuantiles with {NUM_QUANTILES} quantiles: the rank of each reported value "
                         f"is within {QUANTILE_EPSILON:.4f} x count of the exact quantile's (worst case).",
            "std": "population standard deviation (ddof 0) of the finite values",
            "everything else": "exact",
        },
        "settings": {"bins": plan.bins, "top_values": plan.top_values, "max_categories": plan.max_categories},
        "columns": columns,
        "category_columns": [c.name for c in categorical],
        "by_category": by_category,
    }


def _value_order(v):
    return (v is None, str(type(v)), v if v is not None else 0)


def _column(plan, c, s, quantiles, top, histograms, rows) -> dict:
    out = {"name": c.name, "type": c.type, "kind": c.kind}
    if c.description:
        out["description"] = c.description
    out.update(count=s.count, nulls=s.nulls, null_fraction=(s.nulls / rows) if rows else 0.0)
    exact = None
    if s.categories is not None:
        exact = len(s.categories) - (None in s.categories)
    elif c.kind == "string":
        exact = top[c.name]["values"]["distinct"] if c.name in top else 0
    out["distinct"] = exact
    out["approx_distinct"] = round(s.hll.estimate()) if s.hll is not None else None
    out["categorical"] = s.categories is not None
    if c.kind in ORDERED_KINDS:
        m = s.moments
        if c.kind in ("float", "decimal"):
            out.update(nan=s.nan, infinite=s.infinite)
        if c.kind in UNITS:
            out["unit"] = UNITS[c.kind]
        out.update(min=m.min, max=m.max, mean=m.mean if m.n else None, std=m.std)
        if c.kind == "integer":
            out["looks_like_key"] = bool(s.count > plan.max_categories and out["approx_distinct"] >= 0.97 * s.count)
        if c.name in quantiles:
            pct = percentiles(quantiles[c.name])
            out["quantiles"] = {str(p): pct[p] for p in REPORTED_PERCENTS}
            out["percentiles"] = pct
        edges = histogram_edges(c.kind, m.min, m.max, plan.bins)
        if edges:
            out["histogram"] = {"edges": edges, "counts": histograms.get(c.name, [0] * (len(edges) - 1))}
        if c.kind in UNITS and m.n:
            show = _date_text if c.kind == "date" else _timestamp_text
            out["display"] = {"min": show(m.min), "max": show(m.max), "mean": show(m.mean),
                              "quantiles": {k: show(v) for k, v in out.get("quantiles", {}).items()}}
    if c.kind == "string":
        out["empty"] = s.empty
        ln = s.length
        out["length"] = {"min": ln.min, "max": ln.max, "mean": ln.mean if ln.n else None}
        values = top[c.name]["values"] if c.name in top else {"top": []}
        out["top_values"] = [{"value": v, "count": n} for v, n in values["top"]]
        out["values_with_comma"] = s.with_comma
        if s.with_comma:
            items = top[c.name]["items"] if c.name in top else {"distinct": 0, "total": 0, "top": []}
            out["items"] = {"separator": ",", "count": items["total"], "distinct": items["distinct"],
                            "per_row": items["total"] / s.count if s.count else None,
                            "top_values": [{"value": v, "count": n} for v, n in items["top"]]}
    elif s.categories is not None:  # integers and booleans of few values: their counts, exact
        pairs = sorted(((v, n) for v, n in s.categories.items() if v is not None), key=lambda vn: (-vn[1], vn[0]))
        out["top_values"] = [{"value": v, "count": n} for v, n in pairs[:plan.top_values]]
    return out


def _date_text(days) -> str:
    return (EPOCH + datetime.timedelta(days=round(days))).isoformat()


def _timestamp_text(micros) -> str:
    return (EPOCH_DATETIME + datetime.timedelta(microseconds=round(micros))).isoformat(sep=" ")


def profile_json(profile: dict) -> bytes:
    """``profile.json``'s bytes."""
    return json.dumps(profile, indent=2, allow_nan=False, ensure_ascii=False).encode() + b"\n"
