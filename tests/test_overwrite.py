"""--overwrite replaces a job's earlier output only once the new output is whole: a run stopped before that (Ctrl-C,
SIGTERM, SIGKILL, a failure) leaves the earlier files exactly as they were, locally and on gs://; a run stopped
while it was moving its whole new files in is finished by the next run that looks at the same output."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.helpers import ROOT, Place, run_cli

pytestmark = pytest.mark.slow


def digest(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def final(files: dict[str, bytes]) -> dict[str, bytes]:
    """The files at final paths (no temporary folder or staged file)."""
    return {n: b for n, b in files.items() if "beam-temp" not in n and not n.endswith(".pending")
            and ".tmp-" not in n}


def start(args: list[str], env: dict) -> subprocess.Popen:
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_until_writing(place: Place, prefix: str, proc: subprocess.Popen, timeout: float = 60):
    """Until the run has begun writing its new shards, while the earlier ones are still in place: locally, until
    a temporary folder holds data; on gs://, where an object shows only once written whole, for 6 s (of the
    half a minute or more the run needs)."""
    deadline = time.monotonic() + (timeout if place.kind == "local" else 6)
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if place.kind == "local" and any("beam-temp" in name and data for name, data in place.files(prefix).items()):
            return
        time.sleep(0.2)
    if place.kind == "local":
        raise AssertionError("the run wrote nothing in time")


GENERATE = ["pipelines.generate", "--datasets", "films,clients", "--no_progress"]


@pytest.mark.parametrize("kind", ["local", "gs"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_overwrite_stopped_before_its_output_is_whole_leaves_the_earlier_output_as_it_was(
        kind, sig, tmp_path, gcs_emulator):
    env = dict(gcs_emulator)
    place = Place(kind, tmp_path, env)
    out = place.path("out")
    first = run_cli(*GENERATE, "--rows", "20000", "--num_shards", "2", "--output", out, "--profile", env=env)
    assert first.returncode == 0, first.stderr
    before = digest(place.files(out))
    assert "films/_profile/profile.html" in before and "clients/clients.schema.json" in before

    proc = start([*GENERATE, "--rows", "30000000", "--output", out, "--overwrite"], env)
    wait_until_writing(place, out, proc)
    os.killpg(proc.pid, sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode in (130, -signal.SIGKILL), stderr
    assert digest(final(place.files(out))) == before  # every earlier file, byte for byte, and nothing else
    if sig == signal.SIGINT:
        assert "interrupted" in stderr and "Traceback" not in stderr, stderr
        assert final(place.files(out)) == place.files(out)  # and it removed what it had begun

    # The next --overwrite replaces the earlier output whole: three shards each, none of the two earlier ones,
    # and the profile that described them gone.
    again = run_cli(*GENERATE, "--rows", "30000", "--num_shards", "3", "--output", out, "--overwrite", env=env)
    assert again.returncode == 0, again.stderr
    assert sorted(place.files(out)) == sorted(
        [f"{d}/{d}-0000{k}-of-00003.csv" for d in ("films", "clients") for k in range(3)]
        + ["films/films.schema.json", "clients/clients.schema.json"])
    reference = Place(kind, tmp_path / "reference", env)
    clean = run_cli(*GENERATE, "--rows", "30000", "--num_shards", "3", "--output", reference.path("out"), env=env)
    assert clean.returncode == 0, clean.stderr
    assert digest(place.files(out)) == digest(reference.files(reference.path("out")))


# Stops the run at a chosen moment of its replacement, as a kill would: right after the journal is written
# (nothing moved yet), or after some of the moves (the earlier shards deleted, some new ones renamed in).
KILLED_AT_RENAME = textwrap.dedent("""
    import os, sys
    from apache_beam.io.filesystems import FileSystems
    from transforms import replace
    stop_at, calls = int(os.environ["STOP_AT_RENAME"]), []
    rename = FileSystems.rename
    def counted(src, dst):
        if any(replace.JOURNAL not in s for s in src):  # the journal's own rename is not counted
            calls.append(src)
            if len(calls) == stop_at:
                os._exit(137)
        return rename(src, dst)
    FileSystems.rename = counted
    from pipelines.generate import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.parametrize("kind", ["local", "gs"])
@pytest.mark.parametrize("stop_at", [1, 3], ids=["after-the-journal", "halfway-through"])
def test_a_replacement_stopped_once_the_new_output_was_whole_is_finished_by_the_next_run(
        kind, stop_at, tmp_path, gcs_emulator):
    env = dict(gcs_emulator)
    place = Place(kind, tmp_path, env)
    out = place.path("out")
    one_process = ["--direct_running_mode", "in_memory", "--direct_num_workers", "1"]  # the rename is counted here
    args = ["--datasets", "films", "--no_progress", "--output", out, *one_process]
    first = run_cli("pipelines.generate", *args, "--rows", "20000", "--num_shards", "2", env=env)
    assert first.returncode == 0, first.stderr

    killed = subprocess.run([sys.executable, "-c", KILLED_AT_RENAME, *args, "--rows", "30000", "--num_shards", "4",
                             "--overwrite"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, **env, "PYTHONPATH": str(ROOT), "STOP_AT_RENAME": str(stop_at)})
    assert killed.returncode == 137, killed.stderr
    assert any("beam-temp-films-" in n and n.endswith("/REPLACING.json") for n in place.files(out))

    again = run_cli("pipelines.generate", *args, "--rows", "30000", "--num_shards", "4", env=env)
    assert again.returncode == 2  # the finished replacement's shards are there: refused, as ever, without --overwrite
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("note: finished replacing the shards of") \
        and "already holds 4 shard(s)" in lines[1], again.stderr
    reference = Place(kind, tmp_path / "reference", env)
    clean = run_cli("pipelines.generate", "--datasets", "films", "--output", reference.path("out"), "--rows", "30000",
                    "--num_shards", "4", env=env)
    assert clean.returncode == 0, clean.stderr
    assert digest(place.files(out)) == digest(reference.files(reference.path("out")))


def test_an_interrupted_profile_overwrite_leaves_the_earlier_profile(tmp_path):
    data = tmp_path / "data"
    made = run_cli("pipelines.generate", "--datasets", "films", "--rows", "2000", "--output", str(data))
    assert made.returncode == 0, made.stderr
    profile = ["pipelines.profile", "--input", str(data / "films"), "--output", str(tmp_path / "profile")]
    first = run_cli(*profile)
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in (tmp_path / "profile").iterdir()}
    assert sorted(before) == ["profile.html", "profile.json"]

    bigger = run_cli("pipelines.generate", "--datasets", "films", "--rows", "3000000", "--output", str(data),
                     "--overwrite")
    assert bigger.returncode == 0, bigger.stderr
    proc = start([*profile, "--overwrite"], {})
    time.sleep(3)  # reading 3M rows takes longer
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "profile").iterdir()} == before


def test_overwriting_shards_the_ingest_chain_loaded_warns_that_the_new_ones_load_too(tmp_path, gcs_emulator):
    env = dict(gcs_emulator)
    place = Place("gs", tmp_path, env)
    out = place.path("out")
    args = ["pipelines.generate", "--datasets", "films", "--rows", "1000", "--output", out]
    first = run_cli(*args, env=env)
    assert first.returncode == 0, first.stderr
    again = run_cli(*args, "--overwrite", env=env)
    assert again.returncode == 0 and "warning" not in again.stderr, again.stderr  # nothing loaded: no warning

    bucket, below = out[len("gs://"):].split("/", 1)
    blob = place.client().bucket(bucket).blob(f"{below}/films/films-00000-of-00001.csv")
    blob.metadata = {"status": "loaded"}  # as the load workflow tags an object it loaded
    blob.patch()
    third = run_cli(*args, "--overwrite", env=env)
    assert third.returncode == 0, third.stderr
    warnings = [line for line in third.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "1 of the shards being replaced" in warnings[0] \
        and "loaded into BigQuery by the ingest chain" in warnings[0], third.stderr
