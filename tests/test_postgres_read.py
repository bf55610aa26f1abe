"""transforms.postgres.read: ReadKeyRangesFn and ReadFromPostgres against the real PostgreSQL server (binary and
text COPY, NULL flags, arrays, dynamic splits), and the chunk tracker and chunk sizing on their own."""

import datetime
import decimal

import apache_beam as beam
import pyarrow as pa
import pytest
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from psycopg2 import sql

from transforms.postgres.plan import plan_read
from transforms.postgres.read import ChunkTracker, ReadFromPostgres, ReadKeyRangesFn, _next_chunk_keys, one_line

FIXED_WIDTH_DDL = ("id bigint PRIMARY KEY, b boolean, s smallint, i integer, f real, d double precision, "
                   "day date, ts timestamp, tz timestamptz, money numeric(12,3)")


def assert_reads(dsn, query, expected, **plan_args):
    """ReadFromPostgres reads exactly the expected rows (tuples) of the query; returns the plan."""
    plan = plan_read(dsn, query, "id", 3, chunk_rows=2, **plan_args)
    try:
        with TestPipeline() as p:
            rows = (p | ReadFromPostgres(dsn, plan, 3)
                    | beam.FlatMap(lambda b: [tuple(r.values()) for r in b.to_pylist()]))
            assert_that(rows, equal_to(expected))
    finally:
        plan.snapshot_conn.close()
    return plan


@pytest.mark.parametrize("with_nulls", [False, True])
def test_fixed_width_columns_use_binary_copy_and_read_the_same_values(pg_schema, with_nulls):
    """Binary COPY (decoded by numpy) gives exactly what PostgreSQL holds, and so does CSV."""
    dsn, schema, conn = pg_schema
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {schema}.fw ({FIXED_WIDTH_DDL})")
        cur.execute(f"""INSERT INTO {schema}.fw VALUES
            (1, true, -32768, 2147483647, 1.5, -2.25e300, '1970-01-01', '1999-12-31 23:59:59.999999',
             '2000-01-01 00:00:00.000001+00', -123456789.125),
            (2, false, 7, -1, -0.0, 5e-324, '2000-01-01', '1900-06-01 12:00', '2038-01-19 03:14:08+02', 0.001),
            (3, true, 0, 0, 3.25, 0, '2024-02-29', '2000-01-01', '1969-07-20 20:17:40+00', 999999999.999),
            (4, false, 1, 2, 4.0, 1e10, '0001-01-01', '2262-04-11 23:47:16', '1677-09-22 00:12:44+00', -0.5)""")
        if with_nulls:
            cur.execute(f"INSERT INTO {schema}.fw (id, i) VALUES (5, 42)")
        cur.execute(f"SELECT * FROM {schema}.fw")
        expected = cur.fetchall()  # aware datetimes compare by instant, whatever their zone
    query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, "fw"))
    assert assert_reads(dsn, query, expected).parts[0].binary_select_list is not None
    assert assert_reads(dsn, query, expected, binary_copy=False).parts[0].binary_select_list is None


def test_a_chunk_with_nulls_stays_binary(pg_schema):
    """NULLs in fixed-width columns: the chunk is read in binary (its fields found one by one, not from a fixed
    layout), and the nulls land where PostgreSQL has them."""
    dsn, schema, conn = pg_schema
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {schema}.fwn ({FIXED_WIDTH_DDL})")
        cur.execute(f"""INSERT INTO {schema}.fwn VALUES
            (1, true, 1, 2, 1.5, 2.5, '2024-02-29', '1999-12-31 23:59:59', '2000-01-01 00:00:01+00', -1.125)""")
        cur.execute(f"INSERT INTO {schema}.fwn (id, i) VALUES (2, 42)")
        cur.execute(f"SELECT * FROM {schema}.fwn ORDER BY id")
        expected = cur.fetchall()
    plan = plan_read(dsn, sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, "fwn")), "id", 1)
    try:
        fn = ReadKeyRangesFn(dsn, plan.columns, 1)
        fn.setup()
        part = plan.parts[0]
        table, retries = fn._read(part, part.start, part.stop)
        fn.teardown()
    finally:
        plan.snapshot_conn.close()
    assert fn._binary and retries == 0
    rows = sorted(tuple(r.values()) for r in table.to_pylist())
    assert rows == expected and rows[1].count(None) == len(rows[1]) - 2


EVERY_TYPE_DDL = ("id int PRIMARY KEY, t text, v varchar(5), ch char(4), j jsonb, js json, u uuid, nm name, "
                  "n numeric, n2 numeric(30,4), m numeric(8,2), d date, ts timestamptz, b bool, ia int[], ta text[], "
                  "na numeric[], da date[], fa float8[], ba bool[], tsa timestamp[]")


@pytest.mark.parametrize("arrays_as_lists", [True, False])
def test_every_mapped_type_reads_the_same_in_binary_and_as_csv(pg_schema, arrays_as_lists):
    """Text, JSON, uuid, NUMERICs of any precision and arrays (with NULL elements, empty, NULL) travel in binary
    and decode to exactly what the CSV path gives; for CSV files, arrays are JSON text either way."""
    dsn, schema, conn = pg_schema
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {schema}.every ({EVERY_TYPE_DDL})")
        cur.execute(f"""INSERT INTO {schema}.every VALUES
            (1, 'héllo, "wörld"' || chr(10), 'ab', 'x', '{{"a": [1, 2]}}', '{{"b":1}}',
             'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'nm', 1.5, 12345678901234567890.1234, -3.25, '2024-02-29',
             '2001-02-03 04:05:06+02', true, '{{1,NULL,3}}', '{{a,"b,c",NULL,""}}', '{{1.5,NULL}}', '{{2024-01-01}}',
             '{{1.5,-2}}', '{{t,f}}', '{{"1999-12-31 23:59:59.999999"}}'),
            (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
             NULL, NULL, NULL),
            (3, '', '', '', '[]', 'null', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', '', 0, 0, 0, '1970-01-01',
             '1970-01-01', false, '{{}}', '{{}}', '{{}}', '{{}}', '{{}}', '{{}}', '{{}}')""")
        cur.execute(f"INSERT INTO {schema}.every (id, t, ia) SELECT g, repeat('x', g), array_fill(g, ARRAY[g % 50]) "
                    "FROM generate_series(4, 300) g")
    query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, "every"))
    tables = {}
    for binary in (True, False):
        plan = plan_read(dsn, query, "id", 1, binary_copy=binary, share_snapshot=False,
                         arrays_as_lists=arrays_as_lists)
        fn = ReadKeyRangesFn(dsn, plan.columns, 1, arrays_as_lists=arrays_as_lists)
        fn.setup()
        part = plan.parts[0]
        tables[binary], _ = fn._read(part, part.start, part.stop)
        fn.teardown()
        assert fn._binary  # nothing made the binary read fall back to text
    assert tables[True].num_rows == 300 and tables[True].equals(tables[False])
    assert tables[True].column("ia").type == (pa.list_(pa.int32()) if arrays_as_lists else pa.string())


def test_numeric_date_and_timestamp_arrays(pg_schema):
    dsn, schema, conn = pg_schema
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {schema}.arr2 (id int PRIMARY KEY, ns numeric[], ds date[], ts timestamp[], "
                    "tzs timestamptz[])")
        cur.execute(f"""INSERT INTO {schema}.arr2 VALUES
            (1, '{{1.50,-0.000000001,12345678901234567890.5,0.12345678912345}}', '{{2024-02-29,NULL}}',
             '{{"2001-02-03 04:05:06.789"}}', '{{"2001-02-03 04:05:06+02"}}'),
            (2, NULL, '{{}}', NULL, '{{}}')""")
    d, utc = decimal.Decimal, datetime.timezone.utc
    expected = [
        (1, [d("1.5"), d("-0.000000001"), d("12345678901234567890.5"), d("0.12345678912345")],
         [datetime.date(2024, 2, 29), None],
         [datetime.datetime(2001, 2, 3, 4, 5, 6, 789000)], [datetime.datetime(2001, 2, 3, 2, 5, 6, tzinfo=utc)]),
        (2, None, [], None, [])]
    plan = assert_reads(dsn, sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, "arr2")), expected)
    assert [c.arrow_type for c in plan.columns][1:] == [
        pa.list_(pa.decimal256(76, 38)), pa.list_(pa.date32()), pa.list_(pa.timestamp("us")),
        pa.list_(pa.timestamp("us", tz="UTC"))]
    assert [(f["type"], f["mode"]) for f in (c.bigquery_field() for c in plan.columns)][1:] == [
        ("BIGNUMERIC", "REPEATED"), ("DATE", "REPEATED"), ("DATETIME", "REPEATED"), ("TIMESTAMP", "REPEATED")]


def test_a_skewed_range_splits_dynamically_without_losing_or_repeating_rows(pg_schema):
    """What a runner does to rebalance (Dataflow's dynamic work rebalancing): split a running restriction.
    The split falls after the chunk being read; primary and residual together read every row once."""
    dsn, schema, conn = pg_schema
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {schema}.skew (id bigint PRIMARY KEY, x int)")
        # Half the rows are dense at the start of the key range, half spread thinly over the rest of it.
        cur.execute(f"INSERT INTO {schema}.skew SELECT g, g % 7 FROM generate_series(1, 5000) g")
        cur.execute(f"INSERT INTO {schema}.skew SELECT 1000000 + g * 1000, g % 7 FROM generate_series(0, 4999) g")
        cur.execute(f"ANALYZE {schema}.skew")
    plan = plan_read(dsn, sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, "skew")), "id", 1,
                     chunk_rows=500)
    (part,) = plan.parts
    fn = ReadKeyRangesFn(dsn, plan.columns, 1)
    fn.setup()
    try:
        tracker = OffsetRestrictionTracker(fn.initial_restriction(part))
        reading = fn.process(part, tracker=tracker)
        first = next(reading)  # the first chunk is claimed and being emitted
        claimed = tracker._last_claim_attempt  # the first chunk's last key
        assert first.num_rows > 0 and claimed < part.stop - 1
        primary, residual = tracker.try_split(0.5)
        assert primary.stop == residual.start and residual.stop == part.stop
        assert primary.start == part.start and claimed < primary.stop < part.stop
        ids = first.column("id").to_pylist() + [i for b in reading for i in b.column("id").to_pylist()]
        tracker.check_done()
        assert max(ids) < residual.start
        rest = OffsetRestrictionTracker(residual)
        rest_ids = [i for b in fn.process(part, tracker=rest) for i in b.column("id").to_pylist()]
        rest.check_done()
    finally:
        fn.teardown()
        plan.snapshot_conn.close()
    assert rest_ids and min(rest_ids) >= residual.start
    with conn.cursor() as cur:
        cur.execute(f"SELECT id FROM {schema}.skew")
        assert sorted(ids + rest_ids) == sorted(r[0] for r in cur.fetchall())


def test_chunks_adapt_to_the_density_of_the_keys():
    # 10x the target rows in the last chunk: the next spans a quarter of the keys (at most 4x change per chunk).
    assert _next_chunk_keys(1000, 1000, 10_000, 1000) == 250
    assert _next_chunk_keys(1000, 1000, 2000, 1000) == 500
    assert _next_chunk_keys(1000, 1000, 100, 1000) == 4000  # sparse: wider chunks, fewer queries
    assert _next_chunk_keys(1000, 1000, 0, 1000) == 4000
    assert _next_chunk_keys(1000, 10, 10_000, 1000) == 1000  # a clipped last chunk says little
    assert _next_chunk_keys(1, 1, 10**9, 1000) == 1


def test_a_claim_past_a_stop_moved_by_a_split_claims_up_to_the_new_stop():
    """The reader reads the stop, a runner splits, then the reader claims its chunk's last key beyond the new stop:
    it gets the keys up to the new stop (none is orphaned), and nothing after it."""
    tracker = ChunkTracker(OffsetRange(0, 10_000))
    assert tracker.try_claim(999)  # first chunk [0, 1000)
    primary, residual = tracker.try_split(0.1)  # the runner splits after the claimed chunk
    assert primary.stop == residual.start and 1000 < primary.stop < 1999
    assert tracker.try_claim(1999)  # the reader's next chunk was planned as [1000, 2000)
    assert tracker.current_restriction().stop == primary.stop
    tracker.check_done()  # every key of the primary is claimed
    assert not tracker.try_claim(primary.stop + 5)
    assert tracker.try_split(0.5) is None  # nothing left to give away


def test_a_column_dropped_after_planning_fails_the_read_in_one_line_naming_it(pg_schema):
    from transforms.postgres.read import QueryChanged

    dsn, schema, conn = pg_schema
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {schema}.alt (id int PRIMARY KEY, a int, b text)")
        cur.execute(f"INSERT INTO {schema}.alt SELECT i, i, 'x' FROM generate_series(1, 100) i")
    plan = plan_read(dsn, sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, "alt")), "id", 2,
                     share_snapshot=False)
    with conn.cursor() as cur:
        cur.execute(f"ALTER TABLE {schema}.alt DROP COLUMN a")
    try:
        with pytest.raises(Exception) as e:
            with TestPipeline() as p:
                _ = p | ReadFromPostgres(dsn, plan, 2)
    finally:
        plan.snapshot_conn.close()
    message = str(e.value)
    assert isinstance(e.value, QueryChanged) or QueryChanged.__name__ in message  # raised as is, or wrapped by Beam
    assert 'column "a" does not exist' in message and message.count("\n") == 0, message
    assert "changed during the extraction" in message and "LINE 1" not in message


def test_a_lost_connection_is_described_on_one_line():
    # libpq's own words, as psycopg2 raised them when the server went away in the middle of a COPY
    error = ConnectionError("server closed the connection unexpectedly\n\tThis probably means the server "
                            "terminated abnormally\n\tbefore or while processing the request.\n")
    assert one_line(error) == ("server closed the connection unexpectedly This probably means the server "
                               "terminated abnormally before or while processing the request.")
    assert one_line(ConnectionError("x" * 300)) == "x" * 200
    assert one_line(ConnectionError()) == "ConnectionError"
