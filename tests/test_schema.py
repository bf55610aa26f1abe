import json
import re
from pathlib import Path

import pyarrow as pa
import pytest

from transforms import schema

README = Path(__file__).resolve().parents[1] / "README.md"


def test_bigquery_schema_has_every_column_with_snake_case_names():
    for ds in schema.DATASETS.values():
        bq = ds.bigquery_schema()
        assert [f["name"] for f in bq] == ds.column_names
        for f in bq:
            assert re.fullmatch(r"[a-z][a-z0-9_]*", f["name"])
            assert f["type"] in {"STRING", "DATE", "INT64", "FLOAT64"}
            assert f["mode"] == "REQUIRED" and f["description"]


def test_arrow_types_are_real_types_not_strings():
    assert schema.FILMS.arrow_schema.field("premiere").type == pa.date32()
    assert schema.FILMS.arrow_schema.field("runtime").type == pa.int64()
    assert schema.FILMS.arrow_schema.field("rating_score").type == pa.float64()
    assert schema.CLIENTS.arrow_schema.field("credit_score").type == pa.int64()


def test_csv_header_is_the_column_names():
    assert schema.FILMS.csv_header() == b"title,genre,premiere,runtime,rating_score,language,author\n"


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown dataset 'movies'"):
        schema.get("movies")


def test_schema_command_prints_bigquery_json(capsys):
    assert schema.main(["clients"]) == 0
    assert json.loads(capsys.readouterr().out) == schema.CLIENTS.bigquery_schema()


def test_readme_documents_every_column_with_its_type():
    text = README.read_text()
    for ds in schema.DATASETS.values():
        for f in ds.fields:
            assert re.search(rf"\|\s*`{f.name}`\s*\|\s*{f.type}\s*\|", text), f"README lacks {ds.name}.{f.name}"
