"""transforms.postgres.seed: a spec's columns as DDL, and the table created and loaded with COPY in the caller's
transaction (pipelines.seed_postgres, its command line, is tested in tests/test_extract_postgres.py)."""

import psycopg2
import pyarrow as pa
import pytest
from psycopg2 import sql

from datagen import spec as specs
from transforms.postgres.seed import create_and_load, ddl_columns, table_exists

SPEC = specs.from_dict({"dataset": "pairs", "primary_key": "n", "columns": [
    {"name": "n", "type": "int64", "generator": "sequence", "start": 1},
    {"name": "x", "type": "float64", "generator": "normal", "mean": 0, "sd": 1, "nulls": 0.5},
    {"name": "hidden", "type": "int64", "generator": "sequence", "start": 1, "hidden": True},
]})


def batch(first, rows):
    return pa.record_batch({"n": pa.array(range(first, first + rows), pa.int64()),
                            "x": pa.array([None if i % 2 else i / 4 for i in range(rows)], pa.float64())})


def test_ddl_declares_the_primary_key_and_not_null_for_written_columns():
    assert ddl_columns(SPEC) == [("n", "BIGINT PRIMARY KEY"), ("x", "DOUBLE PRECISION")]
    transactions = dict(ddl_columns(specs.builtin("transactions")))
    assert transactions["id"] == "BIGINT PRIMARY KEY" and transactions["amount"] == "NUMERIC(10,2) NOT NULL"


def test_a_table_is_created_loaded_and_replaced_in_the_callers_transaction(pg_schema):
    dsn, schema, watcher = pg_schema
    name = f"{schema}.pairs"
    table = sql.Identifier(schema, "pairs")
    conn = psycopg2.connect(dsn)
    try:
        assert not table_exists(conn, name)
        with conn:
            create_and_load(conn, table, SPEC, [batch(1, 3), batch(4, 2)])
        assert table_exists(conn, name)
        with watcher.cursor() as cur:
            cur.execute(f"SELECT n, x FROM {name} ORDER BY n")
            assert cur.fetchall() == [(1, 0.0), (2, None), (3, 0.5), (4, 0.0), (5, None)]
            cur.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (name,))
            assert cur.fetchone()[0] == 5  # analyzed

        def failing():
            yield batch(100, 2)
            raise RuntimeError("generation failed")

        with pytest.raises(RuntimeError), conn:  # a load that fails leaves the table as it was
            create_and_load(conn, table, SPEC, failing(), replace=True)
        with watcher.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {name}")
            assert cur.fetchone()[0] == 5
        with pytest.raises(psycopg2.errors.DuplicateTable), conn:
            create_and_load(conn, table, SPEC, [])
        with conn:
            create_and_load(conn, table, SPEC, [batch(7, 1)], replace=True)
    finally:
        conn.close()
    with watcher.cursor() as cur:
        cur.execute(f"SELECT n FROM {name}")
        assert cur.fetchall() == [(7,)]


def test_the_command_line_re_creates_a_table_with_overwrite_only(pg_schema):
    """--overwrite, as every job that replaces what is there says it (this one said --replace)."""
    from tests.helpers import run_cli

    dsn, schema, watcher = pg_schema
    table = f"{schema}.seeded"
    seed = ["pipelines.seed_postgres", "--dsn", dsn, "--table", table]
    assert run_cli(*seed, "--rows", "10").returncode == 0
    again = run_cli(*seed, "--rows", "20")
    assert (again.returncode, again.stderr) == (
        2, f"python -m pipelines.seed_postgres: error: --table: {table!r} already exists; add --overwrite to "
           "re-create it\n")
    old = run_cli(*seed, "--rows", "20", "--replace")
    assert (old.returncode, old.stderr) == (2, "python -m pipelines.seed_postgres: error: --replace: renamed "
                                               "--overwrite\n")
    replaced = run_cli(*seed, "--rows", "20", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    with watcher.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, "seeded")))
        assert cur.fetchone()[0] == 20


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGINT", "SIGKILL"])
def test_an_overwrite_stopped_midway_leaves_the_earlier_table_as_it_was(pg_schema, sig):
    """The table is dropped, created and loaded in one transaction: stopped before its commit, the earlier rows
    are all there, as they were."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.helpers import ROOT, run_cli

    dsn, schema, watcher = pg_schema
    table = f"{schema}.seeded"
    seed = ["pipelines.seed_postgres", "--dsn", dsn, "--table", table]
    assert run_cli(*seed, "--rows", "1000").returncode == 0

    def contents():
        with watcher.cursor() as cur:
            cur.execute(sql.SQL("SELECT count(*), md5(string_agg(t::text, '|' ORDER BY id)) FROM {} t").format(
                sql.Identifier(schema, "seeded")))
            return cur.fetchone()

    before = contents()
    proc = subprocess.Popen([sys.executable, "-m", *seed, "--rows", "5000000", "--overwrite"], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until it has begun loading: its transaction holds the table
        with watcher.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%%' AND pid <> pg_backend_pid()")
            if cur.fetchone()[0]:
                break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(getattr(signal, sig))
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "Traceback" not in stderr, stderr
    time.sleep(0.5)  # the server ends the backend once its client is gone
    assert contents() == before
