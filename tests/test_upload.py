"""pipelines.upload against a real gcp-storage-emulator: parallel, CRC32C-verified, skips what is already there."""

from __future__ import annotations

import base64

import google_crc32c
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from pipelines import upload
from tests.helpers import run_cli
from transforms.gcs_upload import crc32c_of


def crc(data: bytes) -> str:
    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


def objects(prefix: str) -> dict[str, str]:
    client = storage.Client(project="local-project", credentials=AnonymousCredentials())
    return {b.name: b.crc32c for b in client.list_blobs("test-bucket", prefix=prefix)}


def test_upload_verifies_and_skips_files_already_there(gcs_emulator, tmp_path, monkeypatch):
    for key, value in gcs_emulator.items():
        monkeypatch.setenv(key, value)
    result = run_cli("pipelines.generate", "--datasets", "films,clients", "--rows", "2000", "--num_shards", "2",
                     "--output", str(tmp_path / "out"), env=gcs_emulator)
    assert result.returncode == 0, result.stderr
    local = {p.relative_to(tmp_path / "out").as_posix(): p for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert len(local) == 6  # 2 shards and a schema file per dataset

    result = run_cli("pipelines.upload", "--input", str(tmp_path / "out"), "--output", "gs://test-bucket/up",
                     env=gcs_emulator)
    assert result.returncode == 0, result.stderr
    assert "6 files: 6 uploaded, 0 already there" in result.stdout
    assert objects("up/") == {f"up/{rel}": crc(p.read_bytes()) for rel, p in local.items()}

    # Again: nothing to do. Then one file changes: only it is written.
    result = run_cli("pipelines.upload", "--input", str(tmp_path / "out"), "--output", "gs://test-bucket/up/",
                     env=gcs_emulator)
    assert "6 files: 0 uploaded, 6 already there" in result.stdout, result.stdout + result.stderr
    changed = local["films/films-00001-of-00002.csv"]
    changed.write_bytes(changed.read_bytes() + b"Extra Title,Drama,2000-01-01,90,5.00,English,A B\n")
    result = run_cli("pipelines.upload", "--input", str(tmp_path / "out"), "--output", "gs://test-bucket/up",
                     env=gcs_emulator)
    assert "6 files: 1 uploaded, 5 already there" in result.stdout, result.stdout + result.stderr
    assert objects("up/films/films-00001")["up/films/films-00001-of-00002.csv"] == crc(changed.read_bytes())

    # A pattern keeps the paths below its fixed part.
    result = run_cli("pipelines.upload", "--input", str(tmp_path / "out" / "**" / "*.csv"), "--output",
                     "gs://test-bucket/pattern", env=gcs_emulator)
    assert result.returncode == 0, result.stderr
    assert sorted(objects("pattern/")) == sorted(f"pattern/{rel}" for rel in local if rel.endswith(".csv"))


def test_schema_files_go_first():
    pairs = [("o/films/films-00000-of-00001.csv", "a"), ("o/films/films.schema.json", "b")]
    assert upload.schema_files_first(pairs) == ([pairs[1]], [pairs[0]])


def test_crc32c_of_is_what_cloud_storage_reports(tmp_path):
    data = b"films,clients\n" * 1000
    (tmp_path / "f.csv").write_bytes(data)
    assert crc32c_of(str(tmp_path / "f.csv")) == (crc(data), len(data))


def test_bad_inputs_are_one_line_exit_2(gcs_emulator, tmp_path):
    (tmp_path / "f.csv").write_text("a\n1\n")
    cases = [
        (["--input", str(tmp_path / "nothing-*.csv"), "--output", "gs://test-bucket/x"], "no file matches"),
        (["--input", str(tmp_path / "f.csv"), "--output", str(tmp_path / "local")], "expected gs://"),
        (["--input", str(tmp_path / "f.csv"), "--output", "gs://Bad_Bucket/x"], "gs://Bad_Bucket/x"),
        (["--output", "gs://test-bucket/x"], "--input"),
    ]
    for args, named in cases:
        result = run_cli("pipelines.upload", *args, env=gcs_emulator)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert named in result.stderr, (args, result.stderr)


@pytest.mark.slow
def test_uploading_a_dataset_beside_its_merge_warns_that_its_table_would_load_both(gcs_emulator, tmp_path):
    """The README's examples once merged clients into out/merged/clients, then uploaded ./out: clients twice."""
    out = tmp_path / "out"
    made = run_cli("pipelines.generate", "--datasets", "films,clients", "--rows", "500", "--output", str(out))
    assert made.returncode == 0, made.stderr
    merged = run_cli("pipelines.merge_files", "--input", str(out / "clients"), "--output", str(out / "merged" /
                                                                                             "clients"))
    assert merged.returncode == 0, merged.stderr
    both = run_cli("pipelines.upload", "--input", str(out), "--output", "gs://test-bucket/twice", env=gcs_emulator)
    assert both.returncode == 0, both.stderr
    warnings = [line for line in both.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "table 'clients'" in warnings[0] and str(out / "clients") in warnings[0] \
        and str(out / "merged" / "clients") in warnings[0], both.stderr

    (out / "merged").rename(tmp_path / "merged")  # as the README has it now: the merge in a folder of its own
    once = run_cli("pipelines.upload", "--input", str(out), "--output", "gs://test-bucket/once", env=gcs_emulator)
    assert once.returncode == 0 and "warning" not in once.stderr, once.stderr
