"""transforms.postgres.columns: PostgreSQL types as Arrow and BigQuery types, and partition keys as integers."""

import datetime
import decimal

import pyarrow as pa
import pytest
from psycopg2 import sql

from transforms.postgres.columns import Column, UnsupportedQuery, describe, key_kind


def test_describe_gives_arrow_and_bigquery_types_and_the_binary_field(pg_schema):
    _, schema, conn = pg_schema
    with conn.cursor() as cur:
        cur.execute(f"""CREATE TABLE {schema}.ty (a bigint, b integer, c smallint, d real, e double precision,
            f boolean, g text, h varchar(5), i jsonb, j date, k timestamp, l timestamptz, m numeric(12,3),
            n numeric(30,12), o numeric, p int[], q numeric[], r timestamptz[], s numeric(32,2))""")
    got = {c.name: (c.arrow_type, c.bigquery_type, c.wire) + (("as text",) if c.sent_as_text else ())
           for c in describe(conn, sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, "ty")))}
    assert got == {
        "a": (pa.int64(), "INT64", ">i8"), "b": (pa.int32(), "INT64", ">i4"), "c": (pa.int16(), "INT64", ">i2"),
        "d": (pa.float32(), "FLOAT64", ">f4"), "e": (pa.float64(), "FLOAT64", ">f8"), "f": (pa.bool_(), "BOOL", "?"),
        "g": (pa.string(), "STRING", None), "h": (pa.string(), "STRING", None),
        "i": (pa.string(), "STRING", None, "as text"),
        "j": (pa.date32(), "DATE", ">i4"), "k": (pa.timestamp("us"), "DATETIME", ">i8"),
        "l": (pa.timestamp("us", tz="UTC"), "TIMESTAMP", ">i8"), "m": (pa.decimal128(12, 3), "NUMERIC", ">i8"),
        "n": (pa.decimal128(30, 12), "BIGNUMERIC", None), "o": (pa.decimal128(38, 9), "BIGNUMERIC", None),
        "p": (pa.list_(pa.int32()), "INT64", ">i4"), "q": (pa.list_(pa.decimal256(76, 38)), "BIGNUMERIC", None),
        "r": (pa.list_(pa.timestamp("us", tz="UTC")), "TIMESTAMP", ">i8"),
        "s": (pa.decimal128(32, 2), "BIGNUMERIC", None)}  # 30 digits before the point: NUMERIC holds 29
    with pytest.raises(UnsupportedQuery, match="column 'x' has type interval, which is not supported yet"):
        describe(conn, sql.SQL("SELECT interval '1 day' AS x"))


def test_array_columns_are_lists_in_parquet_and_json_text_in_csv():
    ints = Column("xs", pa.list_(pa.int32()), "INT64")
    dates = Column("ds", pa.list_(pa.date32()), "DATE")
    assert ints.is_array and ints.csv_type == pa.string() and ints.json_type == ints.arrow_type
    assert dates.json_type == pa.list_(pa.string())  # dates come as JSON strings and are cast
    assert ints.bigquery_field() == {"name": "xs", "type": "INT64", "mode": "REPEATED"}
    assert ints.bigquery_field(arrays_as_lists=False) == {"name": "xs", "type": "STRING", "mode": "NULLABLE"}
    plain = Column("n", pa.int64(), "INT64", ">i8")
    assert not plain.is_array and plain.csv_type == pa.int64()
    assert plain.bigquery_field(arrays_as_lists=False) == {"name": "n", "type": "INT64", "mode": "NULLABLE"}


def test_select_lists_send_arrays_as_json_text_and_binary_forms_numpy_reads(pg_schema):
    _, _, conn = pg_schema
    money = Column("m", pa.decimal128(12, 3), "NUMERIC", ">i8")
    assert money.select_sql().as_string(conn) == '"m"'
    assert money.binary_select_sql().as_string(conn) == '("m" * 1000)::bigint AS "m"'
    wide = Column("w", pa.decimal128(30, 3), "NUMERIC")  # past 18 digits: as text, then cast by Arrow
    assert wide.binary_select_sql().as_string(conn) == '"w"::text AS "w"'
    assert Column("j", pa.string(), "STRING", sent_as_text=True).binary_select_sql().as_string(conn) == (
        '"j"::text AS "j"')
    day = Column("d", pa.date32(), "DATE", ">i4")
    assert day.binary_select_sql().as_string(conn) == '"d"'
    assert Column("t", pa.string(), "STRING").binary_select_sql().as_string(conn) == '"t"'
    xs = Column("xs", pa.list_(pa.int32()), "INT64", ">i4")
    assert xs.binary_select_sql().as_string(conn) == '"xs"'  # PostgreSQL's binary array form
    assert xs.binary_select_sql(json_arrays=True).as_string(conn) == 'to_json("xs")::text AS "xs"'
    ns = Column("ns", pa.list_(pa.decimal256(76, 38)), "BIGNUMERIC")
    assert ns.binary_select_sql().as_string(conn) == '"ns"::text[] AS "ns"'
    assert Column("xs", pa.list_(pa.int32()), "INT64").select_sql().as_string(conn) == 'to_json("xs")::text AS "xs"'
    assert Column("ns", pa.list_(pa.decimal256(76, 38)), "BIGNUMERIC").select_sql().as_string(conn) == (
        'to_json("ns"::text[])::text AS "ns"')


@pytest.mark.parametrize("arrow_type,value,position", [
    (pa.int32(), -7, -7),
    (pa.date32(), datetime.date(1970, 1, 11), 10),
    (pa.timestamp("us"), datetime.datetime(1970, 1, 1, 0, 0, 1, 5), 1_000_005),
    (pa.timestamp("us", tz="UTC"), datetime.datetime(1970, 1, 1, 0, 0, 2, tzinfo=datetime.timezone.utc), 2_000_000),
    (pa.decimal128(10, 2), decimal.Decimal("-1.25"), -125),
])
def test_key_values_map_onto_integers_and_back(pg_schema, arrow_type, value, position):
    """A key's integer (for the ranges) and the SQL bound that integer stands for (an index can use it)."""
    _, _, conn = pg_schema
    kind = key_kind(Column("k", arrow_type, "X"))
    with conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        cur.execute(sql.SQL("SELECT " + kind.to_int).format(sql.Literal(value)))
        assert cur.fetchone()[0] == position
        cur.execute(sql.SQL("SELECT {}").format(kind.bound_sql(position)))
        assert cur.fetchone()[0] == value


def test_a_key_that_is_not_a_number_date_or_time_is_refused():
    with pytest.raises(UnsupportedQuery, match="partition column 'note' is string: expected an integer"):
        key_kind(Column("note", pa.string(), "STRING"))
