"""A column as statistics see it: its kind (what is computed of it), and its values as numbers.

Kinds are an Arrow type's (:func:`datagen.types.kind_of`): integer, float, decimal (numbers: min, max, mean,
quantiles, histograms, and the per-category means), date and timestamp (ordered like numbers, as days and
microseconds since the epoch), string, bool, other. A column of integers, strings or booleans may be a category
(few distinct values: exact counts of each).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datagen.types import BIGQUERY_DECIMALS, arrow_of_bigquery, bigquery_standard

NUMBER_KINDS = ("integer", "float", "decimal")
ORDERED_KINDS = NUMBER_KINDS + ("date", "timestamp")  # min, max, mean, quantiles and histograms
CATEGORY_KINDS = ("integer", "string", "bool")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    type: str = ""  # the BigQuery type (from the schema file) or the Arrow type's
    description: str = ""


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
    return col.cast(pa.float64(), safe=False).to_numpy()


def finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)] if values.dtype.kind == "f" else values


def measure_array(col) -> pa.Array:
    """A numeric column as float64 with NULL for NaN and infinities (what the per-category sums add up)."""
    x = col.cast(pa.float64(), safe=False)  # integers past 2**53 to their nearest double: a mean needs no more
    return pc.if_else(pc.is_finite(x), x, pa.scalar(None, pa.float64()))


# --- the types a profile reads files as ------------------------------------------------------------------------

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


def schema_file_type(bigquery: str) -> tuple[pa.DataType, str | None]:
    """The type a text column of a BigQuery type (a schema file's, any spelling) is read as, and the kind of
    its values when the type read does not tell it: decimals are read as float64, of kind decimal (None: the
    kind of the type read); a type of no Arrow type here is read as text."""
    name = bigquery_standard(bigquery)
    if name in BIGQUERY_DECIMALS:
        return pa.float64(), "decimal"
    return arrow_of_bigquery(name) or pa.string(), None
