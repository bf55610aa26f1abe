"""The BigQuery merge procedures (sql/), installed by `python -m sql.install` into a real bqemulator and called."""

from __future__ import annotations

import pytest

from datagen.contract import CLIENTS, DATASETS, FILMS
from datagen.engine import builtin_generator as generator
from local_cloud.processes import throwaway_credentials
from local_cloud.stack import bigquery_client, start_bigquery
from sql.merge import FOLDER, procedure_name, procedure_sql
from tests.helpers import run_cli

PROJECT, DATASET = "local-project", "merge_test"


@pytest.fixture(scope="module")
def bq(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bq")
    server = start_bigquery(folder, PROJECT)
    try:
        url = f"http://127.0.0.1:{server.port}"
        client = bigquery_client(PROJECT, url)
        client.create_dataset(DATASET)
        result = run_cli("sql.install", "--project", PROJECT, "--bq_dataset", DATASET, "--bigquery_url", url,
                         env=throwaway_credentials(folder / "auth"))
        assert result.returncode == 0, result.stderr
        assert "merge_clients" in result.stdout and "merge_films" in result.stdout
        yield client
    finally:
        server.stop()


def rows_of(schema, start: int, stop: int) -> list[dict]:
    """Generated rows [start, stop) of a dataset."""
    return generator(schema.name).batch(seed=7, start=start, stop=stop).to_pylist()


def make_table(client, name: str, schema, rows: list[dict]):
    from google.cloud import bigquery

    fields = [bigquery.SchemaField(f["name"], f["type"], mode="NULLABLE") for f in schema.bigquery_schema()]
    table = client.create_table(bigquery.Table(f"{PROJECT}.{DATASET}.{name}", schema=fields))
    errors = client.insert_rows_json(table, [{k: (v.isoformat() if hasattr(v, "isoformat") else v)
                                              for k, v in row.items()} for row in rows])
    assert not errors, errors


def query(client, sql: str) -> list[dict]:
    return [dict(r) for r in client.query(sql).result()]


def literal(value) -> str:
    """A GoogleSQL literal for a CALL argument (strings escaped, so what arrives is exactly the value)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def call(client, schema, prefix, is_new_table, target, env):
    """CALL the procedure. (Query parameters would be the way, but bqemulator 1.4 does not pass them into a
    procedure's body; literals are escaped instead.)"""
    args = ", ".join(literal(v) for v in (prefix, is_new_table, target, env))
    return query(client, f"CALL `{PROJECT}.{DATASET}.{procedure_name(schema)}`({args})")


def merged(client, table: str, schema) -> list[tuple]:
    """The target's rows in the documented order (descending merge column; tables themselves have no order).
    The emulator leaves tables made by EXECUTE IMMEDIATE out of list_tables, so the table is queried instead."""
    cols = ", ".join(schema.column_names)
    return [tuple(r[c] for c in schema.column_names) for r in query(
        client, f"SELECT {cols} FROM `{PROJECT}.{DATASET}.{table}` ORDER BY {schema.merge_order} DESC, {cols}")]


def expected(rows: list[dict], schema) -> list[tuple]:
    distinct = {tuple(r[c] for c in schema.column_names) for r in rows}
    i = schema.column_names.index(schema.merge_order)
    return sorted(distinct, key=lambda t: (-t[i], *t))


def test_the_sql_files_are_what_the_generator_writes():
    for schema in DATASETS.values():
        assert (FOLDER / f"{procedure_name(schema)}.sql").read_text() == procedure_sql(schema) + ";\n"


def test_clients_merge_new_then_append_keeps_each_distinct_row_once(bq):
    a, b, c = rows_of(CLIENTS, 0, 60), rows_of(CLIENTS, 40, 100), rows_of(CLIENTS, 90, 130)
    make_table(bq, "clients_2024_01", CLIENTS, a + a[:5])  # duplicates inside a table too
    make_table(bq, "clients_2024_02", CLIENTS, b)
    make_table(bq, "clients_2024_03", CLIENTS, c)
    call(bq, CLIENTS, "clients_2024", True, "all_clients", "DEV")
    want = expected(a + b + c, CLIENTS)
    assert len(want) == 130
    assert merged(bq, "all_clients_DEV", CLIENTS) == want
    first_load = query(bq, f"SELECT DISTINCT loaded_at FROM {DATASET}.all_clients_DEV")
    assert len(first_load) == 1 and first_load[0]["loaded_at"] is not None
    for _ in range(2):  # appending what is already there changes nothing
        call(bq, CLIENTS, "clients_2024", False, "all_clients", "dev")
        assert merged(bq, "all_clients_DEV", CLIENTS) == want
    d = rows_of(CLIENTS, 120, 150)  # a new month: only its new rows are appended
    make_table(bq, "clients_2024_04", CLIENTS, d)
    call(bq, CLIENTS, "clients_2024", False, "all_clients", "DEV")
    assert merged(bq, "all_clients_DEV", CLIENTS) == expected(a + b + c + d, CLIENTS)
    # PROD has no suffix; another environment its own table.
    call(bq, CLIENTS, "clients_2024", True, "all_clients", "PROD")
    call(bq, CLIENTS, "clients_2024_0", True, "all_clients", "Test")
    assert merged(bq, "all_clients", CLIENTS) == merged(bq, "all_clients_TEST", CLIENTS) == expected(
        a + b + c + d, CLIENTS)


def test_films_have_the_same_procedure_deduplicating_every_column(bq):
    a, b = rows_of(FILMS, 0, 30), rows_of(FILMS, 20, 50)
    make_table(bq, "films_x", FILMS, a)
    make_table(bq, "films_y", FILMS, b + b[:3])
    call(bq, FILMS, "films_", True, "film_catalogue", "PROD")
    assert merged(bq, "film_catalogue", FILMS) == expected(a + b, FILMS)


DROP = "DROP TABLE merge_test.clients_2024_01"


@pytest.mark.parametrize("args,named", [
    ([f"clients_2024*` WHERE TRUE; {DROP}; --", True, "x", "DEV"], "prefix must be"),
    (["clients_2024", True, f"x` AS SELECT 1; {DROP}; --", "DEV"], "target must be"),
    (["clients_2024", True, "x", f"DEV'); {DROP}; --"], "env must be"),
    (["clients_2024", True, "x", None], "env must be"),
    (["clients_2024", None, "x", "DEV"], "is_new_table must be"),
    (["clients_", True, "clients_merged", "DEV"], "would merge into itself"),
])
def test_bad_arguments_are_refused_before_any_dynamic_sql(bq, args, named):
    if not query(bq, f"SELECT count(*) AS n FROM `{PROJECT}.{DATASET}.INFORMATION_SCHEMA.TABLES` "
                     "WHERE table_name = 'clients_2024_01'")[0]["n"]:
        make_table(bq, "clients_2024_01", CLIENTS, rows_of(CLIENTS, 0, 10))
    before = query(bq, f"SELECT count(*) AS n FROM {DATASET}.clients_2024_01")
    with pytest.raises(Exception, match=named):
        call(bq, CLIENTS, *args)
    assert query(bq, f"SELECT count(*) AS n FROM {DATASET}.clients_2024_01") == before


def test_install_refuses_bad_names_in_one_line():
    for args, named in [(["--project", "Bad Project", "--bq_dataset", "d"], "'Bad Project'"),
                        (["--project", "local-project", "--bq_dataset", "d; drop"], "'d; drop'")]:
        result = run_cli("sql.install", *args, "--bigquery_url", "http://127.0.0.1:9")
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and named in result.stderr
