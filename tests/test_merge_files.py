"""pipelines.merge_files: shards with shared rows and headers become one dataset, locally and on gs://."""

from __future__ import annotations

import csv
import glob
import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from datagen.contract import CLIENTS, FILMS
from pipelines import merge_files
from tests.helpers import run_cli
from transforms.csv_lines import DistinctRows


def generate(out, dataset: str, rows: int, *extra: str, env=None):
    result = run_cli("pipelines.generate", "--datasets", dataset, "--rows", str(rows), "--num_shards", "3",
                     "--output", str(out), *extra, env=env)
    assert result.returncode == 0, result.stderr


def csv_records(paths) -> list[list[str]]:
    out = []
    for p in paths:
        opener = gzip.open if str(p).endswith(".gz") else open
        with opener(p, "rt", newline="") as f:
            out.append(list(csv.reader(f)))
    return out


@pytest.mark.slow
def test_shards_sharing_rows_merge_into_distinct_rows_with_one_header_per_shard(tmp_path):
    # The same seed: rows 0..999 of b are a's rows; b adds 1000..1499. So 1,500 distinct rows in 6 files.
    generate(tmp_path / "a", "clients", 1000)
    generate(tmp_path / "b", "clients", 1500)
    result = run_cli("pipelines.merge_files", "--input", str(tmp_path / "*" / "clients" / "*.csv"),
                     "--output", str(tmp_path / "merged" / "clients"), "--num_shards", "2")
    assert result.returncode == 0, result.stderr
    assert "6 files -> 1,500 distinct rows in 2 files" in result.stdout
    shards = sorted(glob.glob(f"{tmp_path}/merged/clients/clients-*-of-00002.csv"))
    assert len(shards) == 2
    records = csv_records(shards)
    assert all(r[0] == CLIENTS.column_names for r in records)
    merged = [tuple(row) for r in records for row in r[1:]]
    source = {tuple(row) for r in csv_records(glob.glob(f"{tmp_path}/b/clients/*.csv")) for row in r[1:]}
    assert len(merged) == len(set(merged)) == 1500 and set(merged) == source
    schema = json.loads((tmp_path / "merged" / "clients" / "clients.schema.json").read_text())
    assert schema == CLIENTS.bigquery_schema()


@pytest.mark.slow
def test_parquet_output_and_gzip_inputs(tmp_path):
    generate(tmp_path / "a", "films", 800, "--compression", "gzip")
    generate(tmp_path / "b", "films", 500, "--compression", "gzip")
    result = run_cli("pipelines.merge_files", "--input", str(tmp_path), "--output", str(tmp_path / "m" / "films"),
                     "--format", "parquet")
    assert result.returncode == 0, result.stderr
    table = pa.concat_tables(pq.read_table(f) for f in glob.glob(f"{tmp_path}/m/films/*.parquet"))
    assert table.schema.equals(FILMS.arrow_schema, check_metadata=False)
    assert table.num_rows == 800
    assert len({tuple(r.values()) for r in table.to_pylist()}) == 800


@pytest.mark.slow
def test_ndjson_output_holds_the_distinct_rows_typed(tmp_path):
    generate(tmp_path / "a", "films", 800)
    generate(tmp_path / "b", "films", 500)
    result = run_cli("pipelines.merge_files", "--input", str(tmp_path), "--output", str(tmp_path / "m" / "films"),
                     "--format", "ndjson", "--compression", "gzip", "--num_shards", "2")
    assert result.returncode == 0, result.stderr
    files = sorted(glob.glob(f"{tmp_path}/m/films/films-*-of-00002.json.gz"))
    objects = [json.loads(line) for f in files for line in gzip.open(f, "rt", encoding="utf-8")]
    assert len(objects) == 800 and all(list(o) == FILMS.column_names for o in objects)
    rows = {tuple(str(v) for v in o.values()) for o in objects}
    source = {tuple(row) for r in csv_records(glob.glob(f"{tmp_path}/a/films/*.csv")) for row in r[1:]}
    assert rows == source
    assert isinstance(objects[0]["runtime"], int) and isinstance(objects[0]["rating_score"], float)
    schema = json.loads((tmp_path / "m" / "films" / "films.schema.json").read_text())
    assert schema == FILMS.bigquery_schema()


def test_gcs_inputs_and_output(gcs_emulator, tmp_path, monkeypatch):
    for key, value in gcs_emulator.items():
        monkeypatch.setenv(key, value)
    generate("gs://test-bucket/merge-in/x", "films", 300, env=gcs_emulator)
    generate("gs://test-bucket/merge-in/y", "films", 400, env=gcs_emulator)
    result = run_cli("pipelines.merge_files", "--input", "gs://test-bucket/merge-in", "--output",
                     "gs://test-bucket/merge-out/films", "--num_shards", "1", env=gcs_emulator)
    assert result.returncode == 0, result.stderr
    assert "6 files -> 400 distinct rows in 1 file in" in result.stdout
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    bucket = storage.Client(project="local-project", credentials=AnonymousCredentials()).bucket("test-bucket")
    rows = list(csv.reader(io.StringIO(bucket.blob("merge-out/films/films-00000-of-00001.csv").download_as_text())))
    assert rows[0] == FILMS.column_names and len(rows) == 401


def test_distinct_rows_keeps_each_line_once_and_no_blank_line():
    import apache_beam as beam

    with TestPipeline() as p:
        lines = p | beam.Create(["a,1", "b,2", "", "a,1", "c,3", "  ", "b,2", ""])
        assert_that(lines | DistinctRows(), equal_to(["a,1", "b,2", "c,3"]))


@pytest.mark.slow
def test_blank_lines_in_the_inputs_are_not_rows(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("k,v\r\n1,x\r\n\r\n2,y\r\n")
    (tmp_path / "in" / "b.csv").write_text("k,v\n2,y\n3,z\n\n\n")
    result = run_cli("pipelines.merge_files", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "m"),
                     "--num_shards", "1")
    assert result.returncode == 0, result.stderr
    assert "2 files -> 3 distinct rows in 1 file in" in result.stdout
    (merged,) = csv_records(glob.glob(f"{tmp_path}/m/m-*-of-00001.csv"))
    assert merged[0] == ["k", "v"] and sorted(merged[1:]) == [["1", "x"], ["2", "y"], ["3", "z"]]


@pytest.mark.slow
def test_bad_inputs_are_one_line_exit_2_and_write_nothing(tmp_path):
    generate(tmp_path / "a", "films", 50)
    generate(tmp_path / "j", "films", 50, "--format", "ndjson")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.csv").write_text("id,amount\n1,2\n")
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "x.csv").write_text("id,amount\n1,2\n")
    (tmp_path / "mixed" / "y.json").write_text('{"id": 2, "amount": 3}\n')
    out = tmp_path / "o"
    cases = [
        (["--input", str(tmp_path / "nothing" / "*.csv")], "no .csv or .csv.gz file matches"),
        (["--input", str(tmp_path / "**" / "*.csv")], "headers differ"),
        (["--input", str(tmp_path / "a"), "--dataset", "movies"], "unknown dataset 'movies'"),
        (["--input", str(tmp_path / "a"), "--dataset", "clients"], "is not the clients columns"),
        (["--input", str(tmp_path / "other"), "--format", "parquet"], "--format parquet"),
        (["--input", str(tmp_path / "other"), "--format", "ndjson"], "--format ndjson: the header 'id,amount'"),
        (["--input", str(tmp_path / "j")], "is newline-delimited JSON: merge_files merges CSV files only"),
        (["--input", str(tmp_path / "mixed")], "y.json' is newline-delimited JSON"),
        (["--output", str(out)], "--input"),
    ]
    for args, named in cases:
        full = [*args, "--output", str(out)] if "--output" not in args else args
        result = run_cli("pipelines.merge_files", *full)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert named in result.stderr, (args, result.stderr)
        assert not out.exists()
    assert merge_files.dataset_of(",".join(FILMS.column_names), None) is FILMS


@pytest.mark.slow
def test_every_distinct_row_of_200_000_comes_out(tmp_path):
    """200,000 rows: on the local runner's threads, half the runs used to lose 2-6% of them in the grouping step
    (see pipelines.cli.with_local_defaults); a run must give every row."""
    made = run_cli("pipelines.generate", "--datasets", "clients", "--rows", "200000", "--num_shards", "2",
                   "--output", str(tmp_path / "gen"))
    assert made.returncode == 0, made.stderr
    expected = sorted(line for f in sorted((tmp_path / "gen" / "clients").glob("*.csv"))
                      for line in f.read_text().splitlines()[1:])
    out = tmp_path / "merged"
    result = run_cli("pipelines.merge_files", "--input", str(tmp_path / "gen" / "clients"), "--output", str(out))
    assert result.returncode == 0 and "200,000 distinct rows" in result.stdout + result.stderr, result.stderr
    merged = sorted(line for f in out.glob("*.csv") for line in f.read_text().splitlines()[1:])
    assert merged == expected


@pytest.mark.slow
def test_gzip_output_is_one_standard_gzip_stream_written_by_the_projects_compressor(tmp_path):
    # merge_files once gzipped through Beam's WriteToText (zlib, at its default level), unlike every other job.
    import zlib

    from transforms.formats import gzip_compressor

    generate(tmp_path / "a", "clients", 2000)
    result = run_cli("pipelines.merge_files", "--input", str(tmp_path / "a" / "clients"), "--output",
                     str(tmp_path / "m" / "clients"), "--compression", "gzip", "--num_shards", "1")
    assert result.returncode == 0, result.stderr
    raw = (tmp_path / "m" / "clients" / "clients-00000-of-00001.csv.gz").read_bytes()
    one = zlib.decompressobj(16 + zlib.MAX_WBITS)  # zlib, not the library that wrote it
    text = one.decompress(raw)
    assert one.eof and one.unused_data == b""  # one stream, whole
    lines = text.decode().splitlines()
    assert lines[0] == ",".join(CLIENTS.column_names) and len(lines) == 2001 and len(set(lines)) == 2001
    compressor = gzip_compressor()  # a shard smaller than a piece of lines is compressed in one call
    assert raw == compressor.compress(text) + compressor.flush()
