"""mldp, the Python API: specs from a file, text or dict; explain(); rows as pyarrow Tables, the same the pipeline
writes; references resolved; the same one-line SpecErrors as the commands; the Beam transforms in a TestPipeline;
and docs/python.md's code, run as a user would run it."""

from __future__ import annotations

import glob
import re
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import mldp
from tests.helpers import ROOT, run_cli

ORDERS = ROOT / "docs" / "examples" / "orders.yaml"


def pipeline_rows(tmp_path, *args) -> dict[str, pa.Table]:
    """What `pipelines.generate` writes, read back as one table per dataset (shards in order)."""
    out = tmp_path / "out"
    done = run_cli("pipelines.generate", *args, "--format", "parquet", "--num_shards", "2", "--output", str(out))
    assert done.returncode == 0, done.stderr
    return {d.name: pa.concat_tables(pq.read_table(f) for f in sorted(glob.glob(f"{d}/*.parquet")))
            for d in out.iterdir() if d.is_dir()}


def test_a_spec_loads_from_a_file_its_text_or_a_dict_alike():
    text = ORDERS.read_text()
    from_file, from_text, from_dict = mldp.load(str(ORDERS)), mldp.load(text), mldp.load(yaml.safe_load(text))
    assert from_file.columns == from_text.columns == from_dict.columns
    assert mldp.load(ORDERS).columns == from_file.columns  # a Path too
    assert mldp.load(from_file) is from_file


def test_rows_are_the_pipelines_rows_for_the_same_seed_and_range(tmp_path):
    written = pipeline_rows(tmp_path, "--datasets", "films", "--rows", "20000", "--seed", "7")["films"]
    films = mldp.builtin("films")
    assert mldp.generate(films, rows=20000, seed=7).equals(written)
    assert mldp.generate(films, rows=1000, seed=7, start=12345).equals(written.slice(12345, 1000))
    assert mldp.generate(films, rows=1000, seed=7).schema == mldp.arrow_schema(films)


@pytest.mark.slow
def test_several_datasets_with_their_references_are_the_pipelines_rows(tmp_path):
    written = pipeline_rows(tmp_path, "--spec", str(ORDERS), "--datasets", "clients", "--rows",
                            "clients=300,orders=5000")
    made = mldp.generate_all([ORDERS, mldp.builtin("clients")], rows={"clients": 300, "orders": 5000})
    assert list(made) == ["clients", "orders"]  # parents first
    assert made["clients"].equals(written["clients"]) and made["orders"].equals(written["orders"])
    ids = set(made["orders"].column("client_id").to_pylist())
    assert ids <= set(made["clients"].column("client_id").to_pylist()) and len(ids) > 50


def test_explain_lists_the_columns_in_the_order_they_are_made():
    e = mldp.explain(ORDERS)
    table = e.table
    order = table.column("column").to_pylist()
    spec = mldp.load(ORDERS)
    assert sorted(order) == sorted(c.name for c in spec.columns)
    for c in spec.columns:  # each after what it reads
        assert all(order.index(d) < order.index(c.name) for d in c.depends_on)
    row = {r["column"]: r for r in table.to_pylist()}
    assert row["total"]["generator"] == "expression" and "quantity" in row["total"]["depends on"]
    assert row["client_id"]["depends on"] == "clients.client_id"
    assert row["coupon_word"]["hidden"] and not row["total"]["hidden"]
    assert row["coupon_code"]["nullable"] and not row["order_id"]["nullable"]
    text = str(e)
    assert text.splitlines()[0] == f"dataset 'orders': {len(spec.columns)} columns ({len(spec.output_columns)} written)"
    assert "unit_price" in text and "<td>unit_price</td>" in e._repr_html_()


def test_a_spec_error_is_the_line_the_command_prints(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: bad\ncolumns:\n  - name: x\n    generater: sequence\n")
    with pytest.raises(mldp.SpecError) as raised:
        mldp.load(str(bad))
    cli = run_cli("pipelines.generate", "--spec", str(bad), "--rows", "5", "--output", str(tmp_path / "o"))
    assert cli.returncode == 2 and cli.stderr == f"python -m pipelines.generate: error: {raised.value}\n"
    with pytest.raises(mldp.SpecError, match="references 'clients'.*parents="):
        mldp.generate(ORDERS, rows=5)
    with pytest.raises(ValueError, match="rows: expected a whole number from 0 up, got -1"):
        mldp.generate(mldp.builtin("clients"), rows=-1)
    with pytest.raises(ValueError, match="no row count for dataset 'clients'"):
        mldp.generate_all([ORDERS, mldp.builtin("clients")], rows={"orders": 5})


def test_the_library_imports_no_beam():
    code = ("import sys, mldp\nmldp.explain(mldp.builtin('clients'))\nmldp.generate(mldp.builtin('clients'), 10)\n"
            "print(sorted(m for m in ('apache_beam', 'pandas') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


def test_the_beam_transform_gives_the_same_rows_in_a_pipeline():
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to
    from apache_beam.transforms.display import DisplayData

    from mldp.beam import GenerateDataset

    clients = mldp.builtin("clients")
    expected = mldp.generate(clients, rows=2500, seed=3).to_pylist()
    transform = GenerateDataset(clients, rows=2500, seed=3, block_rows=1000)
    with TestPipeline() as p:
        rows = p | transform | "Rows" >> beam.FlatMap(
            lambda b: pa.Table.from_batches([b]).cast(mldp.arrow_schema(clients)).to_pylist())
        assert_that(rows, equal_to(expected))
    shown = {item.key: item.value for item in DisplayData.create_from(transform).items}
    assert shown["dataset"] == "clients" and shown["rows"] == 2500 and shown["seed"] == "3"
    assert shown["block_rows"] == 1000 and shown["references"] == "none"
    with pytest.raises(mldp.SpecError, match="parents="):
        GenerateDataset(ORDERS, rows=10)


def test_the_sinks_write_whole_shards_in_a_pipeline_and_show_their_files(tmp_path):
    import json

    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.transforms.display import DisplayData

    from mldp.beam import GenerateDataset, WriteCsv, WriteNdjson, WriteParquet

    films = mldp.builtin("films")
    schema = mldp.arrow_schema(films)
    sinks = {"parquet": WriteParquet(str(tmp_path / "p" / "films"), schema, "zstd", num_shards=2),
             "csv": WriteCsv(str(tmp_path / "c" / "films"), b",".join(n.encode() for n in schema.names) + b"\n",
                             "gzip", num_shards=3),
             "ndjson": WriteNdjson(str(tmp_path / "j" / "films"), num_shards=1)}
    with TestPipeline() as p:
        batches = p | GenerateDataset(films, rows=3000, seed=5, block_rows=1000)
        for name, sink in sinks.items():
            _ = batches | f"Write_{name}" >> sink
    expected = mldp.generate(films, rows=3000, seed=5)
    parquet = sorted(glob.glob(str(tmp_path / "p" / "films-*-of-00002.parquet")))
    assert len(parquet) == 2
    assert pa.concat_tables(pq.read_table(f) for f in parquet).sort_by("film_id").equals(expected)
    assert len(glob.glob(str(tmp_path / "c" / "films-*-of-00003.csv.gz"))) == 3
    lines = open(tmp_path / "j" / "films-00000-of-00001.json").read().splitlines()
    assert sorted(json.loads(line)["film_id"] for line in lines) == list(range(1, 3001))

    def shown(transform):
        return {item.key: item.value for item in DisplayData.create_from(transform).items}

    assert shown(sinks["parquet"])["compression"] == "zstd" and shown(sinks["parquet"])["shards"] == 2
    assert shown(sinks["parquet"])["file_pattern"].endswith("films-%(shard_num)05d-of-%(num_shards)05d.parquet")
    assert shown(sinks["csv"])["compression"] == "gzip" and shown(sinks["csv"])["file_pattern"].endswith(".csv.gz")
    assert shown(sinks["ndjson"])["file_pattern"].endswith(".json")


def python_blocks(path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


@pytest.mark.slow
def test_the_python_guide_runs_as_written(tmp_path, monkeypatch):
    """Every ```python block of docs/python.md, in order, in one namespace, from a scratch folder."""
    blocks = python_blocks(ROOT / "docs" / "python.md")
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs" / "examples").mkdir(parents=True)
    (tmp_path / "docs" / "examples" / "orders.yaml").write_text(ORDERS.read_text())
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/python.md", "exec"), namespace)  # noqa: S102 (the guide's own code)
