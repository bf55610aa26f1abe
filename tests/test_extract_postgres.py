"""pipelines.extract_postgres and pipelines.seed_postgres against the real PostgreSQL server."""

import datetime
import decimal
import glob
import json
import threading
import time

import apache_beam as beam
import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from psycopg2 import sql

from pipelines import extract_postgres, seed_postgres
from tests.helpers import run_cli
from transforms.postgres import connection
from transforms.postgres.plan import plan_read
from transforms.postgres.read import ReadFromPostgres


def seed(dsn, table, rows, *extra):
    assert seed_postgres.run(["--dsn", dsn, "--table", table, "--rows", str(rows), *extra]) == 0


def extract(dsn, output, *args):
    fmt = [] if "--format" in args else ["--format", "parquet"]
    assert extract_postgres.run(["--dsn", dsn, "--output", str(output), *fmt, *args]) == 0


def read_parquet(folder):
    return pa.concat_tables(pq.read_table(f) for f in sorted(glob.glob(f"{folder}/*.parquet")))


def summary(conn, query):
    with conn.cursor() as cur:
        cur.execute(f"SELECT class, count(*), sum(amount), sum(id), min(time), max(time) FROM ({query}) q "
                    "GROUP BY class ORDER BY class")
        return cur.fetchall()


def table_summary(t: pa.Table):
    out = {}
    for row in zip(*(t.column(c).to_pylist() for c in ("class", "amount", "id", "time"))):
        c, a, i, tm = row
        s = out.setdefault(c, [c, 0, decimal.Decimal(0), 0, tm, tm])
        s[1] += 1
        s[2] += a
        s[3] += i
        s[4] = min(s[4], tm)
        s[5] = max(s[5], tm)
    return [tuple(v) for _, v in sorted(out.items())]


def test_seed_then_extract_every_row_exactly_once(pg_schema, tmp_path):
    dsn, schema, conn = pg_schema
    table = f"{schema}.transactions"
    seed(dsn, table, 50_000)
    extract(dsn, tmp_path / "tx", "--table", table, "--partitions", "8")
    t = read_parquet(tmp_path / "tx")
    assert t.num_rows == 50_000 and len(set(t.column("id").to_pylist())) == 50_000
    assert table_summary(t) == summary(conn, f"SELECT * FROM {table}")
    assert t.schema.field("amount").type == pa.decimal128(10, 2)
    # The seeded table follows the transactions spec (class is int64, BIGINT); smallint: test_postgres_read.py.
    assert t.schema.field("class").type == pa.int64() and t.schema.field("v1").type == pa.float64()
    bq = json.loads((tmp_path / "tx" / "tx.schema.json").read_text())
    assert [f["name"] for f in bq] == t.schema.names
    assert {f["name"]: f["type"] for f in bq}["amount"] == "NUMERIC"
    fraud = sum(t.column("class").to_pylist()) / t.num_rows
    assert 0.0008 < fraud < 0.003


def test_cleaning_query_to_csv(pg_schema, tmp_path):
    dsn, schema, conn = pg_schema
    table = f"{schema}.transactions"
    seed(dsn, table, 20_000)
    query = f"SELECT id, time, amount, class FROM {table} WHERE amount > 10"
    extract(dsn, tmp_path / "clean", "--query", query, "--partition_column", "id", "--format", "csv")
    import csv
    rows = []
    for f in sorted(glob.glob(f"{tmp_path}/clean/*.csv")):
        records = list(csv.reader(open(f)))
        assert records[0] == ["id", "time", "amount", "class"]
        rows += records[1:]
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*), sum(id), sum(amount) FROM ({query}) q")
        n, ids, amount = cur.fetchone()
    assert len(rows) == n and sum(int(r[0]) for r in rows) == ids
    assert sum(decimal.Decimal(r[2]) for r in rows) == amount


@pytest.mark.parametrize("ddl,values", [
    ("k integer", [None, 1, 2, 3, 1000000]),
    ("k numeric(12,3)", [None, decimal.Decimal("-1.5"), decimal.Decimal("0.001"), decimal.Decimal("99.999")]),
    ("k date", [None, datetime.date(1999, 1, 1), datetime.date(2024, 2, 29)]),
    ("k timestamp", [None, datetime.datetime(2001, 1, 1, 0, 0, 0, 1), datetime.datetime(2030, 5, 5)]),
    ("k timestamptz", [None, datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)]),
])
def test_key_types_null_keys_and_skew(pg_schema, tmp_path, ddl, values):
    dsn, schema, conn = pg_schema
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {schema}.k ({ddl}, n serial, note text, flag boolean, doc jsonb)")
        # Skew: most rows share the smallest key.
        rows = [(v,) for v in values] + [(values[1],)] * 3000
        cur.executemany(f"INSERT INTO {schema}.k (k, note, flag, doc) VALUES (%s, 'a,\"b\"', true, "
                        "'{\"x\": 1}')", rows)
    extract(dsn, tmp_path / "k", "--table", f"{schema}.k", "--partition_column", "k", "--partitions", "5")
    t = read_parquet(tmp_path / "k")
    assert sorted(t.column("n").to_pylist()) == list(range(1, len(rows) + 1))
    assert t.column("k").null_count == 1
    assert set(t.column("note").to_pylist()) == {'a,"b"'} and set(t.column("flag").to_pylist()) == {True}
    assert json.loads(t.column("doc")[0].as_py()) == {"x": 1}
    got = sorted((v for v in t.column("k").to_pylist() if v is not None), key=str)
    want = sorted((v for v, in rows if v is not None), key=str)
    if ddl.endswith("timestamptz"):
        got = [v.replace(tzinfo=datetime.timezone.utc) if v.tzinfo is None else v for v in got]
    assert got == want


@pytest.mark.parametrize("rows", [0, 1])
def test_empty_and_one_row_tables(pg_schema, tmp_path, rows):
    dsn, schema, conn = pg_schema
    seed(dsn, f"{schema}.tiny", 1)
    if rows == 0:
        with conn.cursor() as cur:
            cur.execute(f"DELETE FROM {schema}.tiny")
    extract(dsn, tmp_path / "tiny", "--table", f"{schema}.tiny", "--format", "csv")
    lines = [line for f in glob.glob(f"{tmp_path}/tiny/*.csv") for line in open(f).read().splitlines()[1:]]
    assert len(lines) == rows


def test_all_parts_read_one_snapshot(pg_schema, tmp_path):
    """Rows changed after the launcher exported its snapshot are not seen by any reader."""
    dsn, schema, conn = pg_schema
    table = f"{schema}.snap"
    seed(dsn, table, 30_000)
    before = summary(conn, f"SELECT * FROM {table}")
    with conn.cursor() as cur:
        cur.execute(f"SELECT id, amount, class FROM {table}")
        expected = cur.fetchall()
    query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, "snap"))
    plan = plan_read(dsn, query, "id", 4, chunk_rows=2_000)
    with conn.cursor() as cur:  # a writer commits while the extraction has not read anything yet
        cur.execute(f"DELETE FROM {table} WHERE id % 3 = 0")
        cur.execute(f"UPDATE {table} SET amount = amount + 1 WHERE id % 3 = 1")
        cur.execute(f"INSERT INTO {table} SELECT id + 100000, time, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, "
                    f"v12, v13, v14, v15, v16, v17, v18, v19, v20, v21, v22, v23, v24, v25, v26, v27, v28, amount, "
                    f"class FROM {table} WHERE id < 500")
    try:
        with TestPipeline() as p:
            rows = (p | ReadFromPostgres(dsn, plan, 4)
                    | beam.FlatMap(lambda b: zip(*(b.column(c).to_pylist() for c in ("id", "amount", "class")))))
            assert_that(rows, equal_to(expected))
    finally:
        plan.snapshot_conn.close()
    assert summary(conn, f"SELECT * FROM {table}") != before


def test_per_chunk_consistency_needs_no_launcher_snapshot_and_a_lost_snapshot_is_a_clear_error(pg_schema, tmp_path):
    dsn, schema, conn = pg_schema
    table = f"{schema}.chunked"
    seed(dsn, table, 5_000)
    extract(dsn, tmp_path / "chunked", "--table", table, "--consistency", "chunk")
    t = read_parquet(tmp_path / "chunked")
    assert t.num_rows == 5_000 and table_summary(t) == summary(conn, f"SELECT * FROM {table}")
    # A launcher that ends before its readers (a template launcher that exits) takes the snapshot with it.
    plan = plan_read(dsn, sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, "chunked")), "id", 2)
    plan.snapshot_conn.close()
    with pytest.raises(Exception, match="snapshot .* no longer exists.*--consistency chunk"):
        with TestPipeline() as p:
            _ = p | ReadFromPostgres(dsn, plan, 2)


def test_killed_connection_mid_partition_is_read_again_whole(pg_schema, tmp_path, capsys):
    dsn, schema, conn = pg_schema
    table = f"{schema}.killed"
    seed(dsn, table, 150_000)
    killed = []

    def killer():
        watcher = psycopg2.connect(dsn)
        watcher.autocommit = True
        deadline = time.monotonic() + 60
        with watcher.cursor() as cur:
            while time.monotonic() < deadline and not killed:
                cur.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'ml-dataset-pipeline' "
                            "AND query LIKE 'COPY%%' AND state = 'active' AND pid <> pg_backend_pid()")
                pids = [r[0] for r in cur.fetchall()]
                if pids:
                    cur.execute("SELECT pg_terminate_backend(%s)", (pids[0],))
                    killed.append(pids[0])
                time.sleep(0.005)
        watcher.close()

    thread = threading.Thread(target=killer)
    thread.start()
    extract(dsn, tmp_path / "killed", "--table", table, "--partitions", "2")
    thread.join()
    assert killed, "the test did not manage to kill a reading connection"
    # Counted although the chunks are read on a helper thread (Beam's metrics count in the DoFn's thread only).
    assert "chunk read(s) started again after a lost connection" in capsys.readouterr().out
    t = read_parquet(tmp_path / "killed")
    assert t.num_rows == 150_000 and len(set(t.column("id").to_pylist())) == 150_000
    assert table_summary(t) == summary(conn, f"SELECT * FROM {table}")


def test_password_is_never_printed_nor_recorded(pg_dsn, tmp_path):
    parts = connection.check_dsn(pg_dsn)
    bad = psycopg2.extensions.make_dsn(**{**parts, "user": "no_such_role_x", "password": "s3cretPW"})
    result = run_cli("pipelines.extract_postgres", "--dsn", bad, "--table", "t", "--output", str(tmp_path / "o"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "s3cretPW" not in result.stderr + result.stdout and "no_such_role_x" in result.stderr
    assert not (tmp_path / "o").exists()
    assert extract_postgres._without_connection_args(["--dsn", bad, "--dsn=x", "--table", "t"]) == ["--table", "t"]
    assert "s3cretPW" not in connection.redact("postgresql://u:s3cretPW@h/db")


def test_bad_inputs_are_one_line_exit_2_and_write_nothing(pg_schema, tmp_path):
    dsn, schema, conn = pg_schema
    seed(dsn, f"{schema}.good", 10)
    cases = [
        (["--table", f"{schema}.missing"], "missing"),
        (["--table", f"{schema}.good", "--partition_column", "nope"], "'nope'"),
        (["--table", "good; DROP TABLE x"], "'good; DROP TABLE x'"),
        (["--table", 'go"od'], "'go\"od'"),
        (["--table", f"{schema}.good", "--partition_column", "id; x"], "'id; x'"),
        (["--query", f"DELETE FROM {schema}.good"], "DELETE"),
        (["--query", f"SELECT 1; DROP TABLE {schema}.good"], "DROP"),
        (["--table", f"{schema}.good", "--partition_column", "v1"], "'v1'"),
        (["--table", f"{schema}.good", "--format", "xml"], "'xml'"),
        (["--table", f"{schema}.good", "--partitions", "0"], "'0'"),
        (["--table", f"{schema}.good", "--consistency", "strong"], "'strong'"),
        ([], "--table or --query"),
    ]
    for args, named in cases:
        result = run_cli("pipelines.extract_postgres", "--dsn", dsn, "--output", str(tmp_path / "o"), *args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and named in result.stderr, (args, result.stderr)
        assert not (tmp_path / "o").exists()
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {schema}.good")
        assert cur.fetchone()[0] == 10


def test_a_value_parquet_cannot_hold_is_one_line_naming_column_and_value_and_writes_nothing(pg_schema, tmp_path):
    """A NUMERIC without a precision is read as NUMERIC(38, 9): 1/3 has more decimals; a NULL-key row's date is
    'infinity' (read as CSV, whose error names a column by its number)."""
    dsn, schema, conn = pg_schema
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {schema}.thirds (id int, score numeric, day date)")
        cur.execute(f"INSERT INTO {schema}.thirds SELECT g, g / 3.0, '2024-01-01' FROM generate_series(1, 50) g")
        cur.execute(f"INSERT INTO {schema}.thirds VALUES (NULL, 1, 'infinity')")
    for query, named in ((f"SELECT * FROM {schema}.thirds WHERE id IS NOT NULL",
                          "column 'score': '0.33333333333333333333' does not fit NUMERIC(38, 9)"),
                         (f"SELECT id, round(score, 9) AS score, day FROM {schema}.thirds",
                          "column 'day': invalid value 'infinity'")):
        result = run_cli("pipelines.extract_postgres", "--dsn", dsn, "--output", str(tmp_path / "o"),
                         "--query", query, "--partition_column", "id")
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and named in lines[-1] and "Traceback" not in result.stderr, result.stderr
        assert not (tmp_path / "o").exists() or not any(p.is_file() for p in (tmp_path / "o").rglob("*"))


@pytest.mark.slow
def test_unreachable_server_is_a_clear_error_after_retries(tmp_path):
    started = time.monotonic()
    result = run_cli("pipelines.extract_postgres", "--dsn", "postgresql://postgres:pw@127.0.0.1:1/postgres",
                     "--table", "t", "--output", str(tmp_path / "o"))
    assert result.returncode == 2 and "cannot connect" in result.stderr and "pw@" not in result.stderr
    assert time.monotonic() - started < 60


def test_dsn_from_the_pg_environment_and_from_a_file_and_gcs_output(pg_schema, tmp_path, gcs_emulator):
    dsn, schema, conn = pg_schema
    table = f"{schema}.env"
    seed(dsn, table, 3000)
    parts = connection.check_dsn(dsn)
    env = {"PGHOST": parts.get("host", "127.0.0.1"), "PGPORT": parts.get("port", "5432"),
           "PGUSER": parts.get("user", "postgres"), "PGDATABASE": parts.get("dbname", "postgres"), **gcs_emulator}
    result = run_cli("pipelines.extract_postgres", "--table", table, "--output", "gs://test-bucket/env",
                     "--format", "csv", env=env)
    assert result.returncode == 0, result.stderr
    assert "3,000 rows" in result.stdout
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    client = storage.Client(project="local-project", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": gcs_emulator["STORAGE_EMULATOR_HOST"]})
    names = sorted(b.name for b in client.list_blobs("test-bucket", prefix="env/"))
    assert "env/env.schema.json" in names and any(n.endswith(".csv") for n in names)
    lines = sum(len(client.bucket("test-bucket").blob(n).download_as_text().splitlines()) - 1
                for n in names if n.endswith(".csv"))
    assert lines == 3000
    dsn_file = tmp_path / "dsn.txt"
    dsn_file.write_text(dsn + "\n")
    dsn_file.chmod(0o600)
    result = run_cli("pipelines.extract_postgres", "--dsn_file", str(dsn_file), "--table", table,
                     "--output", str(tmp_path / "f"))
    assert result.returncode == 0, result.stderr
    result = run_cli("pipelines.extract_postgres", "--dsn_file", str(tmp_path / "missing.txt"), "--table", table,
                     "--output", str(tmp_path / "g"))
    assert result.returncode == 2 and "missing.txt" in result.stderr


def test_arrays_become_lists_and_repeated_fields(pg_schema, tmp_path):
    dsn, schema, conn = pg_schema
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {schema}.arr (id int PRIMARY KEY, ints int[], words text[], xs float8[])")
        cur.execute(f"""INSERT INTO {schema}.arr VALUES
            (1, '{{1,2,NULL}}', '{{"a,b","say \\"hi\\"",c}}', '{{1.5}}'),
            (2, NULL, '{{}}', NULL),
            (3, '{{}}', NULL, '{{-0.25,2e10}}')""")
    extract(dsn, tmp_path / "arr", "--table", f"{schema}.arr")
    t = read_parquet(tmp_path / "arr").sort_by("id")
    assert t.schema.field("ints").type == pa.list_(pa.int32())
    assert t.column("ints").to_pylist() == [[1, 2, None], None, []]
    assert t.column("words").to_pylist() == [["a,b", 'say "hi"', "c"], [], None]
    assert t.column("xs").to_pylist() == [[1.5], None, [-0.25, 2e10]]
    bq = {f["name"]: f for f in json.loads((tmp_path / "arr" / "arr.schema.json").read_text())}
    assert bq["ints"] == {"name": "ints", "type": "INT64", "mode": "REPEATED"}
    assert bq["words"]["type"] == "STRING" and bq["id"]["mode"] == "NULLABLE"
    # In CSV, arrays are JSON text (BigQuery loads no REPEATED field from CSV).
    extract(dsn, tmp_path / "arrcsv", "--table", f"{schema}.arr", "--format", "csv")
    import csv
    rows = sorted(r for f in glob.glob(f"{tmp_path}/arrcsv/*.csv") for r in list(csv.reader(open(f)))[1:])
    assert rows[0] == ["1", "[1,2,null]", '["a,b","say \\"hi\\"","c"]', "[1.5]"]
    bq = {f["name"]: f for f in json.loads((tmp_path / "arrcsv" / "arrcsv.schema.json").read_text())}
    assert bq["ints"] == {"name": "ints", "type": "STRING", "mode": "NULLABLE"}


def test_a_query_without_a_partition_column_is_read_whole_as_one_partition(pg_schema, tmp_path, capsys):
    # As JDBC readers do; it was refused. Text, arrays and NULLs included; several parse blocks (16 MiB each).
    dsn, schema, conn = pg_schema
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {schema}.nokey (n int, note text, words text[])")
        cur.execute(f"""INSERT INTO {schema}.nokey SELECT i, CASE WHEN i % 7 = 0 THEN NULL
                        ELSE repeat('x,"y"' || E'\n', 40) || i END, ARRAY['a', i::text]
                        FROM generate_series(1, 120000) i""")
    conn.commit()
    query = f"SELECT n, note, words FROM {schema}.nokey WHERE n % 3 <> 0"
    extract(dsn, tmp_path / "whole", "--query", query)
    assert "reading it whole, as one partition" in capsys.readouterr().err
    t = read_parquet(tmp_path / "whole").sort_by("n")
    expected = [i for i in range(1, 120001) if i % 3]
    assert t.column("n").to_pylist() == expected
    notes = t.column("note").to_pylist()
    assert [i for i, note in zip(expected, notes) if note is None] == [i for i in expected if i % 7 == 0]
    assert notes[0] == 'x,"y"\n' * 40 + "1"
    assert t.column("words").to_pylist()[:2] == [["a", "1"], ["a", "2"]]


def test_a_bad_beam_option_never_deletes_earlier_shards(pg_schema, tmp_path):
    dsn, schema, conn = pg_schema
    seed(dsn, f"{schema}.keep", 10)
    extract(dsn, tmp_path / "keep", "--table", f"{schema}.keep")
    before = sorted(p.name for p in (tmp_path / "keep").iterdir())
    result = run_cli("pipelines.extract_postgres", "--dsn", dsn, "--table", f"{schema}.keep", "--format", "parquet",
                     "--output", str(tmp_path / "keep"), "--overwrite", "--runner", "DirectRuner")
    assert result.returncode == 2 and "'DirectRuner'" in result.stderr, result.stderr
    assert sorted(p.name for p in (tmp_path / "keep").iterdir()) == before


def test_a_usage_error_answers_without_importing_beam_or_arrow():
    """Checked before the pipeline is made: no second of Beam's and Arrow's start-up for a mistyped command."""
    import subprocess
    import sys

    code = ("import sys\nfrom pipelines import extract_postgres\nstatus = extract_postgres.main(['--table', 't'])\n"
            "print(status, [m for m in ('apache_beam', 'pyarrow') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2 []" and "--output: give a local folder" in out.stderr, out


def test_every_mapped_type_to_ndjson_equals_the_parquet_extraction_and_profiles_typed_by_its_schema(pg_schema,
                                                                                                   tmp_path):
    """Newline-delimited JSON of every type the extraction maps (arrays as JSON arrays, BigQuery REPEATED): each
    line, read by Python's json, is the row the Parquet extraction of the same table holds, as BigQuery reads JSON
    (tests/test_ndjson.py); the schema file beside it types its profile."""
    from tests.test_ndjson import same
    from tests.test_postgres_read import EVERY_TYPE_DDL

    dsn, schema, conn = pg_schema
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {schema}.every ({EVERY_TYPE_DDL}, big bigint, small smallint, r real, "
                    "dp double precision, ts2 timestamp)")
        cur.execute(f"""INSERT INTO {schema}.every VALUES
            (1, 'héllo, "wörld"' || chr(10) || chr(1) || '\\', 'ab', 'x', '{{"a": [1, 2]}}', '{{"b":1}}',
             'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'nm', 1.5, 12345678901234567890.1234, -3.25, '2024-02-29',
             '2001-02-03 04:05:06+02', true, '{{1,NULL,3}}', '{{a,"b,c",NULL,""}}', '{{1.5,NULL}}', '{{2024-01-01}}',
             '{{1.5,-2}}', '{{t,f}}', '{{"1999-12-31 23:59:59.999999"}}', 9223372036854775807, -32768, 1.5,
             -2.25e300, '1900-06-01 12:00'),
            (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
             NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
            (3, '', '', '', '[]', 'null', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', '', 0, 0, 0, '1970-01-01',
             '1970-01-01', false, '{{}}', '{{}}', '{{}}', '{{}}', '{{}}', '{{}}', '{{}}', -5, 7, -0.5, 5e-324,
             '2262-04-11 23:47:16')""")
        cur.execute(f"INSERT INTO {schema}.every (id, t, ia, big) SELECT g, repeat('x', g), "
                    "array_fill(g, ARRAY[g % 5]), g::bigint * 1000000007 FROM generate_series(4, 3000) g")
    extract(dsn, tmp_path / "pq", "--table", f"{schema}.every", "--partitions", "3")
    extract(dsn, tmp_path / "nd", "--table", f"{schema}.every", "--partitions", "3", "--format", "ndjson")
    table = read_parquet(tmp_path / "pq").sort_by("id")
    files = sorted(glob.glob(f"{tmp_path}/nd/nd-*-of-*.json"))
    assert files
    objects = sorted((json.loads(line, parse_float=decimal.Decimal) for f in files for line in open(f)),
                     key=lambda o: o["id"])
    assert len(objects) == table.num_rows == 3000
    for field in table.schema:
        for o, value in zip(objects, table.column(field.name).to_pylist()):
            assert same(o[field.name], value, field.type), (field, o["id"], o[field.name], value)
    bq = json.loads((tmp_path / "nd" / "nd.schema.json").read_text())
    assert bq == json.loads((tmp_path / "pq" / "pq.schema.json").read_text())  # REPEATED, as for Parquet
    assert {f["name"]: f["mode"] for f in bq}["ia"] == "REPEATED"
    # Without row 1: the profile's means per category take integers as doubles, and refuse one past 2**53.
    extract(dsn, tmp_path / "nd2", "--query", f"SELECT * FROM {schema}.every WHERE id <> 1", "--partition_column",
            "id", "--format", "ndjson")
    result = run_cli("pipelines.profile", "--input", str(tmp_path / "nd2"), "--output", str(tmp_path / "profile"))
    assert result.returncode == 0, result.stderr
    profile = json.loads((tmp_path / "profile" / "profile.json").read_text())
    assert profile["summary"]["rows"] == 2999 and profile["summary"]["schema"].endswith("nd2.schema.json")
    columns = {c["name"]: c for c in profile["columns"]}
    assert columns["big"]["max"] == 3000 * 1000000007 and columns["m"]["kind"] == "decimal"
    assert columns["d"]["kind"] == "date" and columns["ts"]["kind"] == "timestamp" and columns["b"]["kind"] == "bool"
    assert columns["ia"]["type"] == "ARRAY<INT64>" and columns["t"]["count"] == 2998
