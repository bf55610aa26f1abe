"""pipelines.generate end to end on the DirectRunner: files, counts, formats, sizes and determinism."""

import csv
import glob
import gzip
import hashlib
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from datagen import contract
from pipelines import cli, generate

DEFAULT_DATASETS = {name: contract.DATASETS[name] for name in ("films", "clients")}  # what a run makes by default
HEADERS = {name: ds.column_names for name, ds in DEFAULT_DATASETS.items()}


def run(tmp_path, *args, output="out"):
    out = str(tmp_path / output)
    assert generate.run(["--output", out, "--no_progress", *args]) == 0
    return out


def csv_rows(paths, opener=open):
    rows = []
    for path in paths:
        with opener(path, "rt", newline="") as f:
            records = list(csv.reader(f))
        assert records[0] == HEADERS[os.path.basename(path).split("-")[0]], path
        rows.extend(tuple(r) for r in records[1:])
    return rows


def digest(rows):
    return hashlib.sha256("\n".join(sorted(",".join(r) for r in rows)).encode()).hexdigest()


def test_csv_shards_with_headers_hold_exactly_the_rows(tmp_path):
    out = run(tmp_path, "--rows", "30000", "--num_shards", "3", "--block_rows", "4096")
    for name in ("films", "clients"):
        files = sorted(glob.glob(f"{out}/{name}/*-of-*"))
        assert [os.path.basename(f) for f in files] == [f"{name}-0000{i}-of-00003.csv" for i in range(3)]
        rows = csv_rows(files)
        assert len(rows) == 30000
        assert all(len(r) == len(HEADERS[name]) for r in rows)


def test_runner_decided_shards_and_gzip(tmp_path):
    out = run(tmp_path, "--datasets", "clients", "--rows", "20000", "--compression", "gzip", "--block_rows", "3000")
    files = sorted(glob.glob(f"{out}/clients/*-of-*"))
    assert files and all(f.endswith(".csv.gz") for f in files)
    assert not os.path.exists(f"{out}/films")
    assert len(csv_rows(files, gzip.open)) == 20000


def test_parquet_has_arrow_types(tmp_path):
    out = run(tmp_path, "--rows", "5000", "--format", "parquet", "--num_shards", "2")
    for name, ds in DEFAULT_DATASETS.items():
        files = sorted(glob.glob(f"{out}/{name}/*-of-*"))
        assert [os.path.basename(f) for f in files] == [f"{name}-0000{i}-of-00002.parquet" for i in range(2)]
        table = pa.concat_tables(pq.read_table(f) for f in files)
        assert table.num_rows == 5000
        assert table.schema.equals(ds.arrow_schema, check_metadata=False)
        assert table.schema.field(ds.column_names[-1]).type != pa.string() or name == "films"


def test_csv_and_parquet_hold_the_same_rows(tmp_path):
    out_csv = run(tmp_path, "--datasets", "films", "--rows", "3000", output="c")
    out_pq = run(tmp_path, "--datasets", "films", "--rows", "3000", "--format", "parquet", output="p")
    from_csv = csv_rows(sorted(glob.glob(f"{out_csv}/films/*-of-*")))
    table = pa.concat_tables(pq.read_table(f) for f in sorted(glob.glob(f"{out_pq}/films/*-of-*")))
    from_parquet = [tuple(f"{v:g}" if isinstance(v, float) else str(v) for v in row)
                    for row in zip(*(c.to_pylist() for c in table.columns))]
    rating = HEADERS["films"].index("rating_score")
    norm = [tuple(f"{float(v):g}" if i == rating else v for i, v in enumerate(r)) for r in from_csv]
    assert sorted(norm) == sorted(from_parquet)


def test_ndjson_holds_the_rows_of_the_csv_one_object_a_line_dates_iso_whatever_the_date_format(tmp_path):
    import json

    out_csv = run(tmp_path, "--rows", "3000", "--num_shards", "2", output="c")
    out_json = run(tmp_path, "--rows", "3000", "--num_shards", "2", "--format", "ndjson", "--compression", "gzip",
                   "--date_format", "%y/%m/%d", output="j")
    for name, ds in DEFAULT_DATASETS.items():
        files = sorted(glob.glob(f"{out_json}/{name}/*-of-*"))
        assert [os.path.basename(f) for f in files] == [f"{name}-0000{i}-of-00002.json.gz" for i in range(2)]
        objects = [json.loads(line) for f in files for line in gzip.open(f, "rt", encoding="utf-8")]
        assert all(list(o) == ds.column_names for o in objects)
        as_text = [tuple("true" if v is True else "false" if v is False else str(v) for v in o.values())
                   for o in objects]
        assert as_text == csv_rows(sorted(glob.glob(f"{out_csv}/{name}/*-of-*")))  # the same rows, in order
        assert json.loads(open(f"{out_json}/{name}/{name}.schema.json").read()) == ds.bigquery_schema()


@pytest.mark.slow
def test_fixed_shards_are_balanced_in_row_order_and_the_same_bytes_whatever_the_runner(tmp_path):
    # Once, blocks of 131,072 rows went to random shards: --rows 20000 --num_shards 2 gave one shard every row
    # and the other its header only, and Parquet sizes changed from run to run.
    one = run(tmp_path, "--rows", "20000", "--num_shards", "2", output="one")
    other = run(tmp_path, "--rows", "20000", "--num_shards", "2", "--block_rows", "3000",
                "--direct_running_mode", "multi_processing", "--direct_num_workers", "2", output="other")
    for name in HEADERS:
        files = sorted(glob.glob(f"{one}/{name}/*-of-*"))
        assert [len(csv_rows([f])) for f in files] == [10000, 10000]
        for f in files:
            with open(f, "rb") as a, open(f.replace(one, other), "rb") as b:
                assert a.read() == b.read(), f
    uneven = run(tmp_path, "--datasets", "films", "--rows", "10", "--num_shards", "3", output="uneven")
    films = [csv_rows([f]) for f in sorted(glob.glob(f"{uneven}/films/*-of-*"))]
    assert [len(r) for r in films] == [3, 3, 4]
    ids = [int(r[0]) for shard in films for r in shard]  # film_id follows the row number: rows stay in order
    assert ids == sorted(ids)


@pytest.mark.slow
def test_fixed_parquet_shards_are_the_same_bytes_in_every_running_mode(tmp_path):
    # Each worker process once chose the dictionary columns from the first block it wrote (films' author was
    # dictionary-encoded in some files only under multi_processing): the choice is now the dataset's.
    from tests.helpers import run_cli

    digests = {}
    for mode, workers in (("in_memory", "1"), ("multi_threading", "2"), ("multi_processing", "2")):
        out = tmp_path / mode
        done = run_cli("pipelines.generate", "--datasets", "films,clients", "--rows", "60000", "--format", "parquet",
                       "--num_shards", "3", "--direct_running_mode", mode, "--direct_num_workers", workers,
                       "--output", str(out), "--no_progress")
        assert done.returncode == 0, done.stderr
        files = sorted(out.glob("*/*.parquet"))
        assert len(files) == 6
        digests[mode] = {str(f.relative_to(out)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    assert digests["multi_threading"] == digests["in_memory"]
    assert digests["multi_processing"] == digests["in_memory"]


@pytest.mark.slow
def test_same_seed_same_rows_whatever_the_runner_mode_workers_shards_and_blocks(tmp_path):
    rows = "70000"
    variants = [
        ["--direct_running_mode", "in_memory", "--direct_num_workers", "1"],
        ["--direct_running_mode", "multi_threading", "--direct_num_workers", "2", "--block_rows", "5000"],
        ["--direct_running_mode", "multi_processing", "--direct_num_workers", "2", "--num_shards", "3"],
        ["--block_rows", "65536", "--num_shards", "1"],
    ]
    digests = {name: set() for name in HEADERS}
    for i, extra in enumerate(variants):
        out = run(tmp_path, "--rows", rows, *extra, output=f"v{i}")
        for name in HEADERS:
            got = csv_rows(sorted(glob.glob(f"{out}/{name}/*.csv")))
            assert len(got) == int(rows)
            digests[name].add(digest(got))
    assert all(len(d) == 1 for d in digests.values()), digests
    other = run(tmp_path, "--rows", rows, "--seed", "7", output="seed7")
    assert digest(csv_rows(sorted(glob.glob(f"{other}/films/*.csv")))) not in digests["films"]


@pytest.mark.slow
@pytest.mark.parametrize("fmt,compression,target,extra", [
    ("csv", "none", "6MB", []), ("csv", "gzip", "2MB", ["--num_shards", "5", "--block_rows", "1000"]),
    ("parquet", "snappy", "films=3MB,clients=4MB", []),
    ("parquet", "snappy", "films=3MB,clients=4MB", ["--block_rows", "2000"]),
    ("parquet", "zstd", "films=3MB,clients=4MB", ["--num_shards", "20"]),
    ("ndjson", "none", "6MB", []), ("ndjson", "gzip", "2MB", ["--num_shards", "5", "--block_rows", "1000"])])
def test_target_size_lands_within_five_percent(tmp_path, fmt, compression, target, extra):
    out = run(tmp_path, "--target_size", target, "--format", fmt, "--compression", compression, *extra)
    wanted = {"films": 6e6, "clients": 6e6} if target == "6MB" else (
        {"films": 2e6, "clients": 2e6} if target == "2MB" else {"films": 3e6, "clients": 4e6})
    for name, size in wanted.items():
        written = sum(os.path.getsize(f) for f in glob.glob(f"{out}/{name}/*-of-*"))
        assert abs(written - size) / size < 0.05, (name, written, size)


def test_date_format_reproduces_the_original_yy_mm_dd(tmp_path):
    out = run(tmp_path, "--datasets", "films", "--rows", "500", "--date_format", "%y/%m/%d")
    rows = csv_rows(glob.glob(f"{out}/films/*-of-*"))
    d = HEADERS["films"].index("premiere")
    assert all(len(r[d]) == 8 and r[d][2] == "/" and r[d][5] == "/" for r in rows)


def test_existing_shards_are_kept_unless_overwrite(tmp_path):
    out = run(tmp_path, "--datasets", "films", "--rows", "100", "--num_shards", "2")
    with pytest.raises(cli.UsageError, match="already holds 2 shard"):
        generate.run(["--output", out, "--datasets", "films", "--rows", "100", "--no_progress"])
    assert sorted(os.listdir(f"{out}/films")) == [
        "films-00000-of-00002.csv", "films-00001-of-00002.csv", "films.schema.json"]
    run(tmp_path, "--datasets", "films", "--rows", "100", "--num_shards", "1", "--overwrite")
    assert sorted(os.listdir(f"{out}/films")) == ["films-00000-of-00001.csv", "films.schema.json"]


@pytest.mark.parametrize("args,steps", [
    (["--rows", "200000"], {"Generate_films", "Generate_clients", "Write_films", "Write_clients"}),
    # fixed shards, or datasets of one block: all their shards are one collection of work
    (["--rows", "200000", "--num_shards", "4"], {"Write_films_clients"}),
    (["--rows", "10"], {"Write_films_clients"})])
def test_pipeline_builds_unrun_with_steps_named_by_dataset(tmp_path, args, steps):
    config, _ = generate.parse_config([*args, "--output", str(tmp_path / "o")])
    p = generate.build_pipeline(config)
    labels = {t.unique_name.split("/")[0] for t in p.to_runner_api().components.transforms.values()}
    assert steps <= labels
    assert not (tmp_path / "o").exists()


def test_dataflow_graph_builds_and_its_options_validate_without_an_account(gcs_emulator, monkeypatch):
    # Beam's validator looks at the temp bucket: the GCS emulator answers instead of Google.
    for key, value in gcs_emulator.items():
        monkeypatch.setenv(key, value)
    argv = ["--rows", "1000000", "--output", "gs://test-bucket/data", "--runner", "DataflowRunner",
            "--project", "my-project", "--region", "europe-west1", "--temp_location", "gs://test-bucket/tmp",
            "--setup_file", "./setup.py"]
    config, _ = generate.parse_config(argv)
    options = PipelineOptions(argv)
    generate._check_dataflow(options, config)
    from apache_beam.options.pipeline_options import GoogleCloudOptions, SetupOptions
    assert options.view_as(GoogleCloudOptions).project == "my-project"
    assert options.view_as(SetupOptions).setup_file == "./setup.py"
    assert options.view_as(cli.beam_view(generate.GenerateOptions)).rows == "1000000"
    from apache_beam.options.pipeline_options_validator import PipelineOptionsValidator
    from apache_beam.runners.dataflow.dataflow_runner import DataflowRunner
    assert PipelineOptionsValidator(options, DataflowRunner()).validate() == []
    proto = generate.build_pipeline(config, options).to_runner_api()
    assert any("Generate_films" in t.unique_name for t in proto.components.transforms.values())
    for missing in ("--project", "--region", "--temp_location"):
        i = argv.index(missing)
        partial = argv[:i] + argv[i + 2:]
        with pytest.raises(cli.UsageError, match=missing):
            generate._check_dataflow(PipelineOptions(partial), generate.parse_config(partial)[0])
    local = argv[:]
    local[local.index("gs://test-bucket/data")] = "./out"
    with pytest.raises(cli.UsageError, match="gs://"):
        generate._check_dataflow(PipelineOptions(local), generate.parse_config(local)[0])


def test_metrics_count_rows_per_dataset(tmp_path, capsys):
    run(tmp_path, "--rows", "2000")
    summary = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in summary.splitlines() if line.strip()}
    assert lines["films"][1] == "2,000" and lines["clients"][1] == "2,000"


def test_the_bigquery_schema_is_written_beside_each_datasets_shards(tmp_path):
    import json
    from pathlib import Path

    out = Path(run(tmp_path, "--rows", "100", "--datasets", "films,clients"))
    for name, ds in DEFAULT_DATASETS.items():
        assert json.loads((out / name / f"{name}.schema.json").read_text()) == ds.bigquery_schema()
    # Dates BigQuery cannot read as DATE from CSV are loaded as text.
    out = Path(run(tmp_path, "--rows", "100", "--datasets", "films", "--date_format", "%y/%m/%d", output="other"))
    types = {f["name"]: f["type"] for f in json.loads((out / "films" / "films.schema.json").read_text())}
    assert types["premiere"] == "STRING" and types["runtime"] == "INT64"


def test_the_command_line_is_checked_first_and_planned_in_a_step_of_its_own(tmp_path):
    request, beam_args = generate.parse_request(["--datasets", "films", "--target_size", "3MB", "--output",
                                                 str(tmp_path / "o"), "--runner", "DirectRunner"])
    assert request.targets == {"films": 3_000_000} and request.rows is None and beam_args == ["--runner",
                                                                                               "DirectRunner"]
    config = generate.plan(request)  # the row count comes from a sample of the real encoding
    (films,) = config.datasets
    assert abs(films.rows * films.bytes_per_row - 3_000_000) < 60_000 and config.output == request.output
    assert generate.parse_config(["--datasets", "films", "--target_size", "3MB", "--output",
                                  str(tmp_path / "o")])[0] == config
