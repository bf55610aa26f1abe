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
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Arrow is imported when an Arrow type is first asked for: reading a spec needs none
    import pyarrow as pa

MAX_NUMERIC_PRECISION = 18
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
        return _arrow_types()[self.name]

    @property
    def bigquery(self) -> str:
        if self.name == "numeric":
            return "NUMERIC" if self.scale <= 9 and self.precision - self.scale <= 29 else "BIGNUMERIC"
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


@functools.cache
def _arrow_types() -> dict[str, pa.DataType]:
    import pyarrow as pa

    return {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(),
            "date": pa.date32(), "timestamp": pa.timestamp("us", tz="UTC")}


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
