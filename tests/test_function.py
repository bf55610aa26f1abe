"""functions/: which objects load into which table, job ids, configuration at cold start, shipped schemas."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from datagen.contract import DATASETS, schema_json
from functions.ingest_naming import decide, load_job_id, table_id
from tests.helpers import ROOT

VALID_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$")


@pytest.mark.parametrize("name,table", [
    ("films/films-00003-of-00010.csv", "films"),
    ("films-00000-of-00001.parquet", "films"),
    ("films/films-00000-of-00002.json", "films"),
    ("run/films/films-00001-of-00002.json.gz", "films"),
    ("run/2026/clients/clients-00001-of-00004.csv.gz", "clients"),
    ("CLIENTS-00001-of-00002.PARQUET", "CLIENTS"),
    ("transactions.csv", "transactions"),
    ("out/tx/tx-00000-of-00002.Csv", "tx"),
])
def test_shards_of_one_dataset_share_its_table(name, table):
    assert table_id(name) == table


@pytest.mark.parametrize("name", [
    "sales.2024.csv", "a/b/c d e.csv", "ventes-été.csv", "2024 report.csv", "日本語.parquet", "---.csv",
    "x" * 2000 + ".csv", "name with 'quotes'; DROP TABLE x.csv", "ümlaut/ünïcödé-00000-of-00001.csv",
    # path tricks, control characters, and Cloud Storage's longest name (1,024 bytes of UTF-8)
    "../../other_dataset.films.csv", "a/../b/..csv", "tab\there.csv", "new\nline.csv", "bell\x07.csv",
    "é" * 508 + ".csv", "other_project:other_dataset.table.csv",
])
def test_any_other_name_becomes_a_valid_distinct_deterministic_table_id(name):
    t = table_id(name)
    assert VALID_TABLE.match(t), t
    assert table_id(name) == t  # deterministic
    assert len(t) <= 1024
    # a plain id: no dot, colon or slash, so the load can only address a table of the configured dataset
    assert not set(t) & set(".:/`\\")


def test_names_that_fold_alike_still_get_different_tables():
    assert table_id("sales report.csv") != table_id("sales_report.csv") != table_id("sales-report.csv")
    assert table_id("sales_report.csv") == "sales_report"
    assert table_id("2024.csv").startswith("t_2024_")


@pytest.mark.parametrize("data,reason", [
    ({"name": "out/beam-temp-films-9f8e/1234.csv", "size": "10"}, "temporary"),
    ({"name": "out/.temp-beam-3c1d/films-00000-of-00001.parquet", "size": "10"}, "temporary"),
    ({"name": "out/films/_SUCCESS", "size": "0"}, "marker"),
    ({"name": "out/films/films-00000-of-00001.csv", "size": "0"}, "empty"),
    ({"name": "out/films/films.schema.json", "size": "100"}, "a schema file"),  # .json, but no rows
    ({"name": "out/films/FILMS.SCHEMA.JSON", "size": "100"}, "a schema file"),
    ({"name": "out/films/_profile/profile.json", "size": "100"}, "a profile"),
    ({"name": "_profile/profile.json", "size": "100"}, "a profile"),
    ({"name": "out/notes.txt", "size": "5"}, "not .csv, .csv.gz, .json, .json.gz or .parquet"),
    ({"name": "out/folder/", "size": "0"}, "folder"),
])
def test_what_is_not_a_data_file_is_ignored_with_a_reason(data, reason):
    decision = decide(data)
    assert not decision.load and reason in decision.reason


@pytest.mark.parametrize("name,fmt", [("a.csv", "CSV"), ("a.CSV.GZ", "CSV"), ("a.csv.gz", "CSV"),
                                      ("a.Parquet", "PARQUET"), ("a.json", "NEWLINE_DELIMITED_JSON"),
                                      ("a.JSON.gz", "NEWLINE_DELIMITED_JSON")])
def test_data_files_load_in_their_format(name, fmt):
    decision = decide({"name": name, "size": "10"})
    assert decision.load and decision.source_format == fmt and decision.table == "a"


def test_load_job_ids_are_fixed_by_bucket_object_and_generation():
    a = load_job_id("b", "films/films-00000-of-00001.csv", "17", "films")
    assert a == load_job_id("b", "films/films-00000-of-00001.csv", 17, "films")
    assert a != load_job_id("b", "films/films-00000-of-00001.csv", "18", "films")
    assert a != load_job_id("other", "films/films-00000-of-00001.csv", "17", "films")
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,1024}", a)


def test_shipped_schemas_are_the_schema_modules():
    """functions/schemas is what `python -m pipelines.contract --write functions/schemas` writes."""
    for name, schema in DATASETS.items():
        assert (ROOT / "functions" / "schemas" / f"{name}.json").read_text() == schema_json(schema)
    assert sorted(p.stem for p in (ROOT / "functions" / "schemas").glob("*.json")) == sorted(DATASETS)


GOOD_ENV = {"PROJECT_ID": "my-project", "WORKFLOW_LOCATION": "europe-west1", "WORKFLOW_NAME": "load-to-bigquery",
            "BUCKET": "my-bucket", "BQ_DATASET": "ml_datasets"}


def cold_start(env: dict) -> subprocess.CompletedProcess:
    """Import the function as the platform does at cold start (from its own folder, with only these variables)."""
    return subprocess.run([sys.executable, "-c", "import main"], cwd=ROOT / "functions", capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", **env}, timeout=120)


def test_a_good_configuration_starts():
    result = cold_start(GOOD_ENV)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("change,named", [
    ({"PROJECT_ID": None}, "PROJECT_ID is not set"),
    ({"BUCKET": None}, "BUCKET is not set"),
    ({"BUCKET": "gs://my-bucket"}, "BUCKET='gs://my-bucket'"),
    ({"BQ_DATASET": "my-dataset"}, "BQ_DATASET='my-dataset' is malformed"),
    ({"WORKFLOW_LOCATION": "Europe West"}, "WORKFLOW_LOCATION='Europe West'"),
    ({"WORKFLOW_NAME": ""}, "WORKFLOW_NAME is not set"),
    ({"BIGQUERY_URL": "bigquery.local"}, "BIGQUERY_URL='bigquery.local'"),
    ({"WORKFLOWS_ENDPOINT": "example.com:443"}, "WORKFLOWS_ENDPOINT='example.com:443'"),
])
def test_a_missing_or_malformed_variable_is_one_clear_line_at_cold_start(change, named):
    env = {k: v for k, v in {**GOOD_ENV, **change}.items() if v is not None}
    result = cold_start(env)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("ingest function misconfigured")]
    assert len(lines) == 1 and named in lines[0], result.stderr
    logged = json.loads(result.stdout.strip().splitlines()[-1])
    assert logged["severity"] == "ERROR" and named in logged["message"]


def test_the_readme_lists_every_variable_of_the_function():
    from functions.ingest_config import VARIABLES

    readme = (ROOT / "docs" / "ingest.md").read_text()
    table = readme.split("Its environment variables", 1)[1].split("\n\n", 2)[1]
    listed = set(re.findall(r"`([A-Z_]+)`", "\n".join(line.split("|")[1] for line in table.splitlines()[2:])))
    assert listed == set(VARIABLES)
    for line in table.splitlines()[2:]:
        required = line.split("|")[2].strip() == "yes"
        for name in re.findall(r"`([A-Z_]+)`", line.split("|")[1]):
            assert VARIABLES[name][0] == required, name


def test_the_function_reads_the_bucket_in_one_place_only():
    """Its account starts executions and reads one thing: a CSV's first bytes, by one ranged request
    (ingest_schema.read_head), when its name is not in our layout and its table has a shipped schema
    (tests/test_ingest_e2e.py records what it reads). No storage client in its code or its requirements."""
    for module in sorted((ROOT / "functions").glob("*.py")):
        source = re.sub(r"(#.*|\"\"\".*?\"\"\"|storage_url|STORAGE_URL)", "", module.read_text(), flags=re.S)
        if module.name != "ingest_schema.py":
            assert "storage" not in source, module.name
        assert "google.cloud import storage" not in source and "google.cloud.storage" not in source, module.name
    reads = (ROOT / "functions" / "ingest_schema.py").read_text()
    assert reads.count("session.get(") == 1 and '"Range": f"bytes=0-{HEAD_BYTES - 1}"' in reads
    assert "storage" not in (ROOT / "functions" / "requirements.txt").read_text()


@pytest.mark.parametrize("name,ours", [
    ("demo/films/films-00003-of-00010.csv", True),
    ("films/films-00000-of-00001.csv.gz", True),
    ("run/2026/clients/clients-00001-of-00004.parquet", True),
    ("run/clients/clients-00001-of-00004.json", True),
    ("run/clients/clients-00001-of-00004.json.gz", True),
    ("run/clients/clients.schema.json", False),
    ("x/transactions/transactions-100000-of-100001.csv", True),  # Beam pads to five digits, at least
    ("films-00000-of-00001.csv", False),  # not in its dataset's folder
    ("other/films-00000-of-00001.csv", False),
    ("x/myfilms/films-00000-of-00001.csv", False),
    ("x/films/films-0-of-1.csv", False),
    ("x/films/films-00000-of-00001.CSV", False),  # our jobs write lower-case suffixes
    ("incoming/transactions.csv", False),
])
def test_our_shards_are_told_by_their_layout(name, ours):
    from functions.ingest_naming import is_our_shard

    assert is_our_shard(name) is ours


def header_of(table: str) -> bytes:
    from functions.ingest_schema import shipped_schema

    return ",".join(f["name"] for f in shipped_schema(table)).encode()


@pytest.mark.parametrize("head,whole,header", [
    (b"id,amount\n1,2\n", False, ["id", "amount"]),
    (b"\xef\xbb\xbfid,amount\r\n1,2\r\n", False, ["id", "amount"]),  # a BOM, CRLF
    (b'"id","a,b"\n', False, ["id", "a,b"]),
    (b"id,amount", True, ["id", "amount"]),  # the whole object: a header without a newline
    (b"id,amount", False, None),  # a first line longer than what was read
    (b"\xff\xfe,x\n", False, None),  # not UTF-8
    (b"\x1f\x8b not gzip", False, None),
])
def test_a_csv_header_is_read_from_its_first_bytes(head, whole, header):
    from functions.ingest_schema import csv_header

    assert csv_header(head, whole) == header


def test_a_gzip_csv_header_is_read_from_a_prefix_of_the_stream():
    import gzip
    import random

    from functions.ingest_schema import HEAD_BYTES, csv_header

    rows = "".join(f"{i},{random.Random(i).random()}\n" for i in range(200_000)).encode()
    data = gzip.compress(b"id,amount\n" + rows)
    assert len(data) > 4 * HEAD_BYTES
    assert csv_header(data[:HEAD_BYTES], whole=False) == ["id", "amount"]
    assert csv_header(gzip.compress(b"id,amount"), whole=True) == ["id", "amount"]


@pytest.mark.parametrize("name,fmt,head,shipped", [
    ("out/transactions/transactions-00000-of-00004.csv", "CSV", None, True),  # ours by name: nothing read
    ("out/clients/clients-00000-of-00001.parquet", "PARQUET", None, True),
    ("out/clients/clients-00000-of-00001.json.gz", "NEWLINE_DELIMITED_JSON", None, True),
    ("incoming/clients.json", "NEWLINE_DELIMITED_JSON", None, False),  # outside our layout: as Parquet's
    ("incoming/transactions.csv", "CSV", b"id,amount\n1,2\n", False),  # issue 26
    ("incoming/transactions.csv", "CSV", header_of("transactions") + b"\n1,2\n", True),
    ("incoming/transactions.csv", "CSV", b"", False),  # the generation is gone: the workflow skips it
    ("incoming/films.parquet", "PARQUET", None, False),  # Parquet outside our layout: left to the layout rule
    ("incoming/sales.csv", "CSV", None, False),  # no shipped schema: nothing read
])
def test_a_shipped_schema_applies_to_our_shards_and_to_files_with_its_header(name, fmt, head, shipped):
    from functions.ingest_naming import table_id
    from functions.ingest_schema import schema_for, shipped_schema

    def read():
        assert head is not None, f"{name}: nothing should be read"
        return head or None

    schema, why = schema_for(name, table_id(name), fmt, 100, read)
    assert (schema is not None) is shipped, why
    if shipped:
        assert schema == shipped_schema(table_id(name))
