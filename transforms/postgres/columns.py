"""PostgreSQL column types as Arrow and BigQuery types, and partition keys as integers.

:func:`describe` gives a query's columns (the query is planned, not run): each a :class:`Column` with its Arrow
type, its BigQuery type and, when it (or an array's element) has one, its fixed-width binary COPY field
(integers, floats, booleans, dates, timestamps, NUMERIC of up to 18 digits); :meth:`Column.binary_select_sql` is
how a binary COPY sends it. :func:`key_kind` maps a partition key onto integers
(:class:`KeyKind`: dates to days, timestamps to microseconds, NUMERIC(p,s) to multiples of 10^-s) and back into
SQL bounds on the raw column, so that an index on it is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from psycopg2 import sql

from datagen.types import EPOCH, bigquery_numeric, bigquery_of_arrow

# PostgreSQL type OID -> Arrow type (the BigQuery type is the Arrow type's, datagen.types). NUMERIC is decided by
# its precision and scale.
_TYPES = {
    16: pa.bool_(),
    20: pa.int64(), 23: pa.int32(), 21: pa.int16(), 26: pa.int64(),
    700: pa.float32(), 701: pa.float64(),
    25: pa.string(), 1043: pa.string(), 1042: pa.string(), 19: pa.string(), 2950: pa.string(),
    114: pa.string(), 3802: pa.string(),  # json, jsonb
    1082: pa.date32(),
    1114: pa.timestamp("us"), 1184: pa.timestamp("us", tz="UTC"),
}
# Array type OID -> element OID. Arrays become Arrow lists, BigQuery REPEATED (in CSV files: JSON text, to_json).
_ARRAYS = {1005: 21, 1007: 23, 1016: 20, 1021: 700, 1022: 701, 1009: 25, 1015: 1043, 1000: 16,
           1182: 1082, 1115: 1114, 1185: 1184, 1231: 1700}
# Type OID -> its binary COPY field as a numpy dtype (fixed width only). NUMERIC(p <= 18) is sent scaled to bigint;
# text types are sent as their UTF-8 bytes.
_SENT_AS_TEXT = {2950, 3802}  # uuid, jsonb
_WIRE = {16: "?", 21: ">i2", 23: ">i4", 20: ">i8", 700: ">f4", 701: ">f8", 1082: ">i4", 1114: ">i8", 1184: ">i8"}


class UnsupportedQuery(ValueError):
    """The query or its key cannot be read as asked; the message says why."""


@dataclass(frozen=True)
class Column:
    name: str
    arrow_type: pa.DataType
    bigquery_type: str
    wire: str | None = None  # numpy dtype of its (or its elements') fixed-width binary COPY field, if it has one
    sent_as_text: bool = False  # its binary form is not its text (jsonb, uuid): a binary COPY sends it cast to text

    @property
    def is_array(self) -> bool:
        return pa.types.is_list(self.arrow_type)

    @property
    def csv_type(self) -> pa.DataType:
        """The type COPY's CSV text is parsed as (arrays come as JSON text)."""
        return pa.string() if self.is_array else self.arrow_type

    @property
    def json_type(self) -> pa.DataType:
        """The list type Arrow's JSON reader gives an array column; elements it cannot type arrive as text."""
        value = self.arrow_type.value_type
        if pa.types.is_decimal(value) or pa.types.is_date(value) or pa.types.is_timestamp(value):
            return pa.list_(pa.string())
        return self.arrow_type

    def bigquery_field(self, arrays_as_lists: bool = True) -> dict:
        if self.is_array and not arrays_as_lists:  # JSON text in a CSV file
            return {"name": self.name, "type": "STRING", "mode": "NULLABLE"}
        return {"name": self.name, "type": self.bigquery_type, "mode": "REPEATED" if self.is_array else "NULLABLE"}

    def select_sql(self) -> sql.Composable:
        if self.is_array and pa.types.is_decimal(self.arrow_type.value_type):
            # NUMERIC elements as JSON strings: JSON numbers would pass through a float.
            return sql.SQL("to_json({c}::text[])::text AS {c}").format(c=sql.Identifier(self.name))
        if self.is_array:
            return sql.SQL("to_json({c})::text AS {c}").format(c=sql.Identifier(self.name))
        return sql.Identifier(self.name)

    def binary_select_sql(self, json_arrays: bool = False) -> sql.Composable:
        """The column in a binary COPY: as it is when numpy reads its binary form (fixed-width types, text, arrays
        of those), NUMERIC(p <= 18, s) scaled to a bigint (exact: it has at most s decimals), and as text what
        has a binary form of its own (other NUMERICs, jsonb, uuid); with ``json_arrays``, arrays as JSON text."""
        c = sql.Identifier(self.name)
        if self.is_array and json_arrays:
            return self.select_sql()
        if self.is_array and pa.types.is_decimal(self.arrow_type.value_type):
            return sql.SQL("{c}::text[] AS {c}").format(c=c)
        if pa.types.is_decimal(self.arrow_type) and self.wire:
            return sql.SQL("({c} * {f})::bigint AS {c}").format(c=c, f=sql.Literal(10 ** self.arrow_type.scale))
        if self.sent_as_text or pa.types.is_decimal(self.arrow_type):
            return sql.SQL("{c}::text AS {c}").format(c=c)
        return c


def describe(conn, query: sql.Composable) -> list[Column]:
    """The query's columns and their Arrow and BigQuery types (the query is planned, not run)."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM ({}) AS q LIMIT 0").format(query))
        columns = []
        for d in cur.description:
            if d.type_code == 1700:  # numeric
                p, s = d.precision, d.scale
                if p is None or p > 38 or p <= 0 or s is None or s < 0:
                    # no precision: its values may have any number of digits, which BIGNUMERIC holds
                    columns.append(Column(d.name, pa.decimal128(38, 9), "BIGNUMERIC"))
                else:
                    columns.append(Column(d.name, pa.decimal128(p, s), bigquery_numeric(p, s),
                                          ">i8" if p <= 18 else None))
            elif d.type_code in _TYPES:
                a = _TYPES[d.type_code]
                columns.append(Column(d.name, a, bigquery_of_arrow(a), _WIRE.get(d.type_code),
                                      d.type_code in _SENT_AS_TEXT))
            elif d.type_code == 1231:  # numeric[]: its elements' precision is not described; BIGNUMERIC's range
                columns.append(Column(d.name, pa.list_(pa.decimal256(76, 38)), "BIGNUMERIC"))
            elif d.type_code in _ARRAYS:
                a = _TYPES[_ARRAYS[d.type_code]]
                columns.append(Column(d.name, pa.list_(a), bigquery_of_arrow(a), _WIRE.get(_ARRAYS[d.type_code])))
            else:
                cur.execute("SELECT format_type(%s, NULL)", (d.type_code,))
                raise UnsupportedQuery(f"column {d.name!r} has type {cur.fetchone()[0]}, which is not supported yet")
        return columns


@dataclass(frozen=True)
class KeyKind:
    """How key values map onto integers (for ranges) and back into SQL bounds that an index can use."""

    name: str
    to_int: str  # SQL with {} for the key: an integer (bigint) for min/max
    bound: str  # SQL with {} for an integer literal: the key value where that integer range starts

    def bound_sql(self, position: int) -> sql.Composable:
        return sql.SQL(self.bound).format(sql.Literal(position))


_KEY_KINDS = {
    "integer": KeyKind("integer", "({})::bigint", "{}"),
    "date": KeyKind("date", f"({{}} - DATE '{EPOCH}')::bigint", f"(DATE '{EPOCH}' + {{}}::integer)"),
    "timestamp": KeyKind("timestamp", "floor(extract(epoch FROM {}) * 1000000)::bigint",
                         "(TIMESTAMP 'epoch' + {} * INTERVAL '1 microsecond')"),
    "timestamptz": KeyKind("timestamptz", "floor(extract(epoch FROM {}) * 1000000)::bigint",
                           "(TIMESTAMPTZ 'epoch' + {} * INTERVAL '1 microsecond')"),
}


def key_kind(column: Column) -> KeyKind:
    t = column.arrow_type
    if pa.types.is_integer(t):
        return _KEY_KINDS["integer"]
    if pa.types.is_date32(t):
        return _KEY_KINDS["date"]
    if pa.types.is_timestamp(t):
        return _KEY_KINDS["timestamptz" if t.tz else "timestamp"]
    if pa.types.is_decimal(t):
        scale = 10 ** t.scale
        return KeyKind(f"numeric({t.scale})", f"floor(({{}}) * {scale})::bigint", f"({{}}::numeric / {scale})")
    raise UnsupportedQuery(f"partition column {column.name!r} is {t}: expected an integer, numeric, date or "
                           "timestamp column")
