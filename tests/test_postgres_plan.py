"""transforms.postgres.plan: the launcher's plan of a read (columns, key bounds, snapshot, parts) and the COPY of
a part, against the real PostgreSQL server."""

import pytest
from psycopg2 import sql

from transforms.postgres.columns import UnsupportedQuery
from transforms.postgres.plan import _ranges_sql, plan_read


@pytest.fixture
def keyed(pg_schema):
    """A table with keys 10..109, one NULL key and a text column; yields (dsn, its query, connection)."""
    dsn, schema, conn = pg_schema
    with conn.cursor() as cur:
        cur.execute(f"""CREATE TABLE {schema}.p (id int, x double precision, note text);
                        INSERT INTO {schema}.p SELECT g, g / 2.0, 'n' || g FROM generate_series(10, 109) g
                        UNION ALL SELECT NULL, 0, 'null key';
                        ANALYZE {schema}.p""")
    return dsn, sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, "p")), conn


def test_a_key_range_part_a_null_key_part_and_a_snapshot_held_open(keyed):
    dsn, query, conn = keyed
    plan = plan_read(dsn, query, "id", 4, chunk_rows=25)
    try:
        assert [c.name for c in plan.columns] == ["id", "x", "note"] and plan.estimated_rows == 101
        keys, nulls = plan.parts
        assert (keys.key, keys.start, keys.stop, keys.nulls, keys.kind.name) == ('"id"', 10, 110, False, "integer")
        assert keys.chunk_keys == 100 * 25 // 101 and keys.chunk_rows == 25
        assert keys.binary_select_list == '"id", "x", "note"'  # text travels as its bytes in binary too
        assert (nulls.nulls, nulls.start, nulls.stop) == (True, 0, 1)
        assert keys.snapshot and keys.snapshot == nulls.snapshot and not plan.snapshot_conn.closed
        with conn.cursor() as cur:  # the snapshot can be imported while the plan's connection holds it
            cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            cur.execute("SET TRANSACTION SNAPSHOT %s", (keys.snapshot,))
            cur.execute("ROLLBACK")
        assert _ranges_sql(keys, 10, 35).as_string(conn) == (
            f'COPY (SELECT "id", "x", "note" FROM ({keys.query}) AS q WHERE "id" >= 10 AND "id" < 35) TO STDOUT '
            "WITH (FORMAT csv)")
        assert 'WHERE "id" IS NULL) TO STDOUT' in _ranges_sql(nulls, None, None).as_string(conn)
    finally:
        plan.snapshot_conn.close()


def test_binary_select_lists_send_arrays_natively_for_parquet_and_as_json_for_csv(keyed):
    dsn, query, conn = keyed
    typed = sql.SQL("SELECT id, x, (x * 100)::numeric(6, 2) AS m, ARRAY[id] AS ids FROM ({}) AS t").format(query)
    plan = plan_read(dsn, typed, "id", 2, share_snapshot=False)
    part = plan.parts[0]
    assert part.snapshot is None and plan.snapshot_conn.closed and plan.arrays_as_lists
    assert part.binary_select_list == '"id", "x", ("m" * 100)::bigint AS "m", "ids"'
    assert _ranges_sql(part, 10, 20, binary=True).as_string(conn) == (
        f'COPY (SELECT {part.binary_select_list} FROM ({part.query}) AS q WHERE "id" >= 10 AND "id" < 20) '
        "TO STDOUT WITH (FORMAT binary)")
    for_csv = plan_read(dsn, typed, "id", 2, share_snapshot=False, arrays_as_lists=False)
    assert not for_csv.arrays_as_lists
    assert for_csv.parts[0].binary_select_list.endswith('to_json("ids")::text AS "ids"')
    assert plan_read(dsn, typed, "id", 2, binary_copy=False, share_snapshot=False).parts[0].binary_select_list is None


def test_bounds_widen_to_lower_and_upper_but_never_narrow(keyed):
    dsn, query, _ = keyed
    wide = plan_read(dsn, query, "id", 2, lower="-5", upper="500", share_snapshot=False)
    assert (wide.parts[0].start, wide.parts[0].stop) == (-5, 501)
    narrow = plan_read(dsn, query, "id", 2, lower="50", upper="60", share_snapshot=False)
    assert (narrow.parts[0].start, narrow.parts[0].stop) == (10, 110)


def test_no_key_is_one_part_read_whole_and_an_unknown_key_is_refused(keyed):
    dsn, query, conn = keyed
    (whole,) = plan_read(dsn, query, None, 4, share_snapshot=False).parts
    assert (whole.key, whole.kind, whole.start, whole.stop, whole.nulls) == (None, None, 0, 1, False)
    assert "WHERE true) TO STDOUT WITH (FORMAT csv)" in _ranges_sql(whole, None, None).as_string(conn)
    with pytest.raises(UnsupportedQuery, match=r"'nope' is not a column of the query \(columns: id, x, note\)"):
        plan_read(dsn, query, "nope", 4, share_snapshot=False)
    with pytest.raises(UnsupportedQuery, match="partition column 'note' is string"):
        plan_read(dsn, query, "note", 4, share_snapshot=False)
