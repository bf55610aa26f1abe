"""`--output gs://...` writes the same shards to Cloud Storage (a real gcp-storage-emulator process)."""

from __future__ import annotations

import csv
import io

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from tests.helpers import run_cli


def test_generate_writes_csv_and_parquet_shards_to_gcs(gcs_emulator, monkeypatch):
    for key, value in gcs_emulator.items():
        monkeypatch.setenv(key, value)
    for fmt in ("csv", "parquet"):
        result = run_cli("pipelines.generate", "--datasets", "films,clients", "--rows", "3000",
                         "--output", f"gs://test-bucket/run-{fmt}", "--format", fmt, "--num_shards", "2",
                         "--block_rows", "1000", env=gcs_emulator)
        assert result.returncode == 0, result.stderr

    client = storage.Client(project="local-project", credentials=AnonymousCredentials())
    names = sorted(b.name for b in client.list_blobs("test-bucket"))
    for dataset in ("films", "clients"):
        assert [n for n in names if n.startswith(f"run-csv/{dataset}/")] == [
            f"run-csv/{dataset}/{dataset}-0000{i}-of-00002.csv" for i in range(2)] + [
            f"run-csv/{dataset}/{dataset}.schema.json"]
        assert [n for n in names if n.startswith(f"run-parquet/{dataset}/")] == [
            f"run-parquet/{dataset}/{dataset}-0000{i}-of-00002.parquet" for i in range(2)] + [
            f"run-parquet/{dataset}/{dataset}.schema.json"]
    assert not [n for n in names if "beam-temp" in n], names

    rows = 0
    for i in range(2):
        text = client.bucket("test-bucket").blob(f"run-csv/films/films-0000{i}-of-00002.csv").download_as_text()
        records = list(csv.reader(io.StringIO(text)))
        assert records[0] == ["film_id", "title", "genre", "premiere", "runtime", "rating_score", "language", "author"]
        rows += len(records) - 1
    assert rows == 3000

    import pyarrow.parquet as pq
    total = 0
    for i in range(2):
        data = client.bucket("test-bucket").blob(f"run-parquet/clients/clients-0000{i}-of-00002.parquet"
                                                 ).download_as_bytes()
        total += pq.read_table(io.BytesIO(data)).num_rows
    assert total == 3000


def test_an_interrupted_runs_temporary_objects_are_named_then_removed_with_overwrite(gcs_emulator, monkeypatch):
    for key, value in gcs_emulator.items():
        monkeypatch.setenv(key, value)
    client = storage.Client(project="local-project", credentials=AnonymousCredentials())
    bucket = client.bucket("test-bucket")
    for part in ("a", "b"):  # what a killed run leaves: objects below a beam-temp "folder"
        bucket.blob(f"stale/films/beam-temp-films-1234/{part}.csv").upload_from_string("x" * 1000)
    first = run_cli("pipelines.generate", "--datasets", "films", "--rows", "500", "--output", "gs://test-bucket/stale",
                    env=gcs_emulator)
    assert first.returncode == 0, first.stderr
    assert "gcloud storage rm -r 'gs://test-bucket/stale/films/beam-temp-films-1234'" in first.stderr, first.stderr
    assert len(list(client.list_blobs("test-bucket", prefix="stale/films/beam-temp-"))) == 2
    second = run_cli("pipelines.generate", "--datasets", "films", "--rows", "500", "--output",
                     "gs://test-bucket/stale", "--overwrite", env=gcs_emulator)
    assert second.returncode == 0 and "removed 1 temporary folder" in second.stderr, second.stderr
    assert not list(client.list_blobs("test-bucket", prefix="stale/films/beam-temp-"))
