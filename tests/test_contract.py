import json
import re
from pathlib import Path

import pyarrow as pa
import pytest

from datagen import contract, engine, spec

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "docs" / "data-contract.md"
SPEC_DOC = ROOT / "docs" / "spec.md"
BIGQUERY_TYPES = {"STRING", "INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC", "BOOL", "DATE", "TIMESTAMP"}


def test_the_built_in_datasets_are_the_specs():
    assert sorted(contract.DATASETS) == spec.builtin_names()
    assert {"films", "clients", "transactions"} <= set(contract.DATASETS)
    for name, ds in contract.DATASETS.items():
        written = spec.builtin(name).output_columns
        assert ds.column_names == [c.name for c in written]
        assert [f.type for f in ds.fields] == [c.type.bigquery for c in written]
        assert [f.description for f in ds.fields] == [c.description for c in written]


def test_bigquery_schema_has_every_column_with_snake_case_names():
    for name, ds in contract.DATASETS.items():
        columns = {c.name: c for c in spec.builtin(name).output_columns}
        bq = ds.bigquery_schema()
        assert [f["name"] for f in bq] == ds.column_names
        for f in bq:
            assert re.fullmatch(r"[a-z][a-z0-9_]*", f["name"])
            assert f["type"] in BIGQUERY_TYPES
            assert f["description"]
            # NULLABLE exactly where the spec lets the column hold nulls (a null fraction, per, an expression).
            assert f["mode"] == ("NULLABLE" if columns[f["name"]].nullable else "REQUIRED"), f["name"]
    # films and clients never hold nulls: every column is REQUIRED.
    for ds in (contract.FILMS, contract.CLIENTS):
        assert {f["mode"] for f in ds.bigquery_schema()} == {"REQUIRED"}


def test_a_per_column_and_an_expression_reading_it_are_required_where_the_entity_is_never_null(tmp_path):
    """docs/spec.md said a per column (and so an expression reading it) is NULLABLE; it is NULLABLE only where its
    entity can be null, through the command that prints the schema and the generated schema file alike."""
    from tests.helpers import run_cli

    path = tmp_path / "visits.yaml"
    path.write_text("""dataset: visits
columns:
  - {name: visitor, type: int64, generator: uniform, min: 1, max: 500}
  - {name: age, type: int64, generator: normal, mean: 40, sd: 12, truncate: [18, 90], per: visitor}
  - {name: age_next_year, type: int64, generator: expression, expression: "age + 1"}
  - {name: guest, type: int64, generator: zipf, n: 100, nulls: 0.2}
  - {name: guest_age, type: int64, generator: normal, mean: 40, sd: 12, per: guest}
  - {name: guest_age_next_year, type: int64, generator: expression, expression: "guest_age + 1"}
  - {name: host, hidden: true, type: int64, generator: expression, expression: "row % 7 + 1"}
  - {name: host_score, generator: uniform, min: 0, max: 1, per: host}
  - {name: risky_host, type: int64, hidden: true, generator: expression, expression: "100 / (row % 7)"}
  - {name: risky_score, generator: uniform, min: 0, max: 1, per: risky_host}
""")
    printed = run_cli("pipelines.contract", "--spec", str(path))
    assert printed.returncode == 0, printed.stderr
    modes = {f["name"]: f["mode"] for f in json.loads(printed.stdout)}
    assert modes == {"visitor": "REQUIRED", "age": "REQUIRED", "age_next_year": "REQUIRED",
                     "guest": "NULLABLE", "guest_age": "NULLABLE", "guest_age_next_year": "NULLABLE",
                     "host_score": "REQUIRED", "risky_score": "NULLABLE"}
    out = tmp_path / "out"
    result = run_cli("pipelines.generate", "--spec", str(path), "--rows", "2000", "--output", str(out),
                     "--no_progress")
    assert result.returncode == 0, result.stderr
    schema = json.loads((out / "visits" / "visits.schema.json").read_text())
    assert {f["name"]: f["mode"] for f in schema} == modes
    import csv

    rows = [r for f in sorted(out.glob("visits/*.csv")) for r in csv.DictReader(open(f, newline=""))]
    empty = {name for name in modes if any(r[name] == "" for r in rows)}
    assert empty == {"guest", "guest_age", "guest_age_next_year", "risky_score"}  # the schema says what happens


def test_arrow_types_are_real_types_not_strings():
    assert contract.FILMS.arrow_schema.field("film_id").type == pa.int64()
    assert contract.FILMS.arrow_schema.field("premiere").type == pa.date32()
    assert contract.FILMS.arrow_schema.field("runtime").type == pa.int64()
    assert contract.FILMS.arrow_schema.field("rating_score").type == pa.float64()
    assert contract.CLIENTS.arrow_schema.field("client_id").type == pa.int64()
    assert contract.CLIENTS.arrow_schema.field("credit_score").type == pa.int64()
    transactions = contract.get("transactions")
    assert transactions.arrow_schema.field("amount").type == pa.decimal128(10, 2)
    assert [f["type"] for f in transactions.bigquery_schema() if f["name"] == "amount"] == ["NUMERIC"]


def test_one_map_between_arrow_and_bigquery_types():
    """datagen.types: a spec type's Arrow and BigQuery types are one pair of the map that extraction and profiling
    read too, whichever spelling of a BigQuery type a schema file gives."""
    from datagen import types

    for name in ("string", "int64", "float64", "bool", "date", "timestamp", "numeric(10, 2)", "numeric(18, 0)",
                 "numeric(12, 10)"):
        t = types.parse(name)
        assert types.bigquery_of_arrow(t.arrow) == t.bigquery, name
        assert types.arrow_of_bigquery(t.bigquery) == (None if t.name == "numeric" else t.arrow), name
    assert types.bigquery_of_arrow(pa.timestamp("us")) == "DATETIME" == types.bigquery_standard("datetime")
    assert types.arrow_of_bigquery("DATETIME") == pa.timestamp("us")
    assert [types.bigquery_of_arrow(t) for t in (pa.int16(), pa.float32(), pa.large_string(), pa.date64())] == [
        "INT64", "FLOAT64", "STRING", "DATE"]
    assert [types.bigquery_numeric(p, s) for p, s in ((38, 9), (30, 0), (10, 10), (76, 38))] == [
        "NUMERIC", "BIGNUMERIC", "BIGNUMERIC", "BIGNUMERIC"]  # NUMERIC: 29 digits before the point, 9 after
    aliases = {"INTEGER": "INT64", "float": "FLOAT64", "BOOLEAN": "BOOL", "DECIMAL": "NUMERIC",
               "BIGDECIMAL": "BIGNUMERIC"}
    assert {a: types.bigquery_standard(a) for a in aliases} == aliases
    assert types.arrow_of_bigquery("integer") == pa.int64() and types.arrow_of_bigquery("GEOGRAPHY") is None
    assert types.EPOCH.isoformat() == "1970-01-01" and types.EPOCH_DATETIME.isoformat() == "1970-01-01T00:00:00"


def test_the_epoch_is_written_once():
    """Dates and timestamps count from datagen.types.EPOCH everywhere: no other module spells out 1970-01-01."""
    import ast

    found = set()
    for folder in ("datagen", "transforms", "pipelines", "mldp", "functions", "sql", "templates"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                        "date", "datetime") and node.args and getattr(node.args[0], "value", None) == 1970):
                    found.add(str(path.relative_to(ROOT)))
    assert found == {"datagen/types.py"}, "take the epoch from datagen.types"


def test_csv_header_is_the_column_names():
    assert contract.FILMS.csv_header() == b"film_id,title,genre,premiere,runtime,rating_score,language,author\n"
    assert contract.CLIENTS.csv_header() == (b"client_id,name,sex,mail,client_movie_genres,client_language_spoken,"
                                             b"client_car,credit_score\n")


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown dataset 'movies'"):
        contract.get("movies")


def test_schema_command_prints_bigquery_json(capsys):
    from pipelines import contract as command

    assert command.main(["clients"]) == 0
    assert json.loads(capsys.readouterr().out) == contract.CLIENTS.bigquery_schema()
    assert command.main(["--spec", str(ROOT / "datagen" / "datasets" / "transactions.yaml")]) == 0
    assert json.loads(capsys.readouterr().out) == contract.get("transactions").bigquery_schema()


# --- the data contract (docs/data-contract.md): one table per built-in dataset, generated from its spec ---

def contract_table(ds: contract.DatasetSchema) -> str:
    """The data contract's table of a dataset: each written column, its BigQuery type and its spec's description."""
    rows = [f"| `{f.name}` | {f.type} | {f.description.replace('|', '&#124;')} |" for f in ds.fields]
    return "\n".join(["| column | type | description |", "|---|---|---|", *rows]) + "\n"


def nullable_line(ds: contract.DatasetSchema) -> str:
    """The line under a table naming the columns that may hold nulls ('' when every column is REQUIRED)."""
    nullable = [f"`{f.name}`" for f in ds.fields if f.nullable]
    return f"NULLABLE: {', '.join(nullable)}." if nullable else ""


def readme_section(name: str) -> str:
    document = CONTRACT.read_text()
    assert f"\n## {name}\n" in document, f"docs/data-contract.md has no section for {name}"
    return document.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]


def test_readme_data_contract_tables_are_generated_from_the_specs():
    for name, ds in contract.DATASETS.items():
        section = readme_section(name)
        assert contract_table(ds) in section, f"the contract's {name} table is not the one its spec gives:\n" + \
            contract_table(ds)
        assert len(re.findall(r"^\| `", section, re.M)) == len(ds.fields), f"the contract's {name} table has extra rows"
        line = nullable_line(ds)
        if line:
            assert line in section, f"the contract's {name} section lacks: {line}"
        else:
            assert "NULLABLE" not in section, f"the contract says {name} has NULLABLE columns; it has none"


def test_readme_documents_every_column_with_its_type():
    text = CONTRACT.read_text()
    for ds in contract.DATASETS.values():
        for f in ds.fields:
            assert re.search(rf"\|\s*`{f.name}`\s*\|\s*{f.type}\s*\|", text), f"the contract lacks {ds.name}.{f.name}"


def test_readme_sample_headers_are_the_csv_headers():
    for name in ("films", "clients"):
        header = contract.get(name).csv_header().decode()
        assert f"```\n{header}" in readme_section(name), f"the contract's {name} sample does not start with {header}"


# --- the spec language's documentation: every example is a valid spec that generates -----------------------

def test_every_yaml_example_of_the_spec_reference_generates():
    blocks = re.findall(r"```yaml\n(.*?)```", SPEC_DOC.read_text(), re.S)
    assert len(blocks) >= 13  # the opening example and one per generator
    clients = spec.builtin("clients")
    for i, text in enumerate(blocks):
        s = spec.parse(text, f"docs/spec.md, YAML example {i + 1}")
        run = engine.run_context([clients], {"clients": 100}) if s.references else None
        batch = engine.compile_dataset(s, run).batch(42, 0, 5)
        assert batch.num_rows == 5 and batch.schema.names == [c.name for c in s.output_columns]


def test_the_example_user_spec_references_clients_and_generates():
    s = spec.load(str(ROOT / "docs" / "examples" / "orders.yaml"))
    assert s.references == {"clients"}
    run = engine.run_context([spec.builtin("clients")], {"clients": 1000})
    rows = engine.compile_dataset(s, run).batch(42, 0, 2000).to_pydict()
    assert set(rows["client_id"]) <= set(range(1, 1001))
    assert any(c is None for c in rows["coupon_code"]) and any(c is not None for c in rows["coupon_code"])
