"""The column types a spec may use, and what each becomes in Arrow/Parquet, BigQuery and PostgreSQL.

| spec type          | Arrow (Parquet)            | BigQuery   | PostgreSQL        | held while generating   |
|--------------------|----------------------------|------------|-------------------|-------------------------|
| string             | string                     | STRING     | TEXT              | Arrow strings or codes  |
| int64              | int64                      | INT64      | BIGINT            | int64                   |
| float64            | float64                    | FLOAT64    | DOUBLE PRECISION  | float64                 |
| bool               | bool                       | BOOL       | BOOLEAN           | bool                    |
| date               | date32                     | DATE       | DATE              | int32 days since 1970   |
| timestamp          | timestamp[us, UTC]         | TIMESTAMP  | TIMESTAMPTZ       | int64 µs since 1970 UTC |
| numeric(p, s)      | decimal128(p, s)           | NUMERIC*   | NUMERIC(p, s)     | float64, rounded to s   |

(*) BIGNUMERIC where BigQuery's NUMERIC cannot hold it (more than 9 decimals or 29 integer digits). Numerics are
made as scaled 64-bit integers, so p is at most 18.

The one map between Arrow's types and BigQuery's is here too (:func:`bigquery_of_arrow`, :func:`arrow_of_bigquery`):
the spec types above, the PostgreSQL columns an extraction reads and the files a profile reads are all named by it.
Dates and timestamps are days and microseconds since :data:`EPOCH`, everywhere.
"""

from __future__ import annotations

import datetime
import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Arrow is imported when an Arrow type is first asked for: reading a spec needs none
    import pyarrow as pa

MAX_NUMERIC_PRECISION = 18
EPOCH = datetime.date(1970, 1, 1)  # day 0 of a date, and (at midnight UTC) microsecond 0 of a timestamp
EPOCH_DATETIME = datetime.datetime.combine(EPOCH, datetime.time())  # naive: timestamps are held in UTC
_NUMERIC = re.compile(r"^numeric\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
NAMES = ("string", "int64", "float64", "bool", "date", "timestamp", "numeric(p, s)")


@dataclass(frozen=True)
class ColumnType:
    name: str  # string, int64, float64, bool, date, timestamp, numeric
    precision: int = 0
    scale: int = 0

    def __str__(self):
        return f"numeric({self.precision}, {self.scale})" if self.name == "numeric" else self.name

    @property
    def is_number(self) -> bool:
        return self.name in ("int64", "float64", "numeric")

    @property
    def arrow(self) -> pa.DataType:
        if self.name == "numeric":
            import pyarrow as pa

            return pa.decimal128(self.precision, self.scale)
        return _arrow_of_bigquery()[_BIGQUERY[self.name]]

    @property
    def bigquery(self) -> str:
        if self.name == "numeric":
            return bigquery_numeric(self.precision, self.scale)
        return _BIGQUERY[self.name]

    @property
    def postgres(self) -> str:
        if self.name == "numeric":
            return f"NUMERIC({self.precision},{self.scale})"
        return _POSTGRES[self.name]


_BIGQUERY = {"string": "STRING", "int64": "INT64", "float64": "FLOAT64", "bool": "BOOL", "date": "DATE",
             "timestamp": "TIMESTAMP"}
_POSTGRES = {"string": "TEXT", "int64": "BIGINT", "float64": "DOUBLE PRECISION", "bool": "BOOLEAN",
             "date": "DATE", "timestamp": "TIMESTAMPTZ"}


# BigQuery's legacy names of its types: a schema file may use either
BIGQUERY_ALIASES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "DECIMAL": "NUMERIC",
                    "BIGDECIMAL": "BIGNUMERIC"}
BIGQUERY_DECIMALS = ("NUMERIC", "BIGNUMERIC")


def bigquery_numeric(precision: int, scale: int) -> str:
    """BigQuery's type for decimals of ``precision`` digits, ``scale`` of them after the point: NUMERIC holds 29
    digits before the point and 9 after, BIGNUMERIC more."""
    return "NUMERIC" if scale <= 9 and precision - scale <= 29 else "BIGNUMERIC"


@functools.cache
def _arrow_of_bigquery() -> dict[str, pa.DataType]:
    import pyarrow as pa

    return {"STRING": pa.string(), "INT64": pa.int64(), "FLOAT64": pa.float64(), "BOOL": pa.bool_(),
            "DATE": pa.date32(), "TIMESTAMP": pa.timestamp("us", tz="UTC"), "DATETIME": pa.timestamp("us")}


def bigquery_standard(name: str) -> str:
    """A BigQuery type's standard SQL name, whichever spelling (``integer``, ``INT64``) a schema gives."""
    name = str(name).upper()
    return BIGQUERY_ALIASES.get(name, name)


def arrow_of_bigquery(name: str) -> pa.DataType | None:
    """The Arrow type a BigQuery type's values are read as; None for the decimals (their precision is not in the
    name) and for types without one here."""
    return _arrow_of_bigquery().get(bigquery_standard(name))


def kind_of(t: pa.DataType) -> str:
    """An Arrow type's kind: integer, float, decimal, bool, date, timestamp, string or other (what its BigQuery
    type, and the statistics of its values, go by)."""
    import pyarrow as pa

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


_BIGQUERY_OF_KIND = {"integer": "INT64", "float": "FLOAT64", "bool": "BOOL", "date": "DATE", "string": "STRING"}


def bigquery_of_arrow(t: pa.DataType) -> str:
    """The BigQuery type that holds an Arrow type's values (Arrow's own name for a type BigQuery has not)."""
    kind = kind_of(t)
    if kind == "decimal":
        return bigquery_numeric(t.precision, t.scale)
    if kind == "timestamp":
        return "TIMESTAMP" if t.tz else "DATETIME"
    return _BIGQUERY_OF_KIND.get(kind, str(t))


def parse(text) -> ColumnType:
    """``'numeric(10, 2)'`` -> ColumnType('numeric', 10, 2); a ValueError saying what is expected otherwise."""
    t = str(text).strip().lower()
    if t in _BIGQUERY:  # a type without parameters
        return ColumnType(t)
    m = _NUMERIC.match(t)
    if m:
        p, s = int(m.group(1)), int(m.group(2))
        if 1 <= p <= MAX_NUMERIC_PRECISION and s <= p:
            return ColumnType("numeric", p, s)
        raise ValueError(f"numeric({p}, {s}): expected a precision from 1 to {MAX_NUMERIC_PRECISION} and a scale "
                         "from 0 to the precision")
    raise ValueError(f"unknown type {text!r}: expected one of {', '.join(NAMES)}")
