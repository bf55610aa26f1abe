"""Every job killed with SIGKILL at a random moment (fixed seeds), then run again as a user would, locally and on
gs:// (the Storage emulator): the final output is complete and exact (equal to an uninterrupted run's), never a
mix of two runs; what the killed run left is named by the next run with the command that removes it, or refused
in one line (final shards already there: --overwrite), and gone after a run with --overwrite.

The seeds fix the moment (a fraction of an uninterrupted run's time): seed 2 kills near the end, while the
shards are being moved into place, seed 3 early on, while they are being written; other seeds are one edit
away. Each case prints what the kill left and how the next run answered (``pytest -s`` shows the table)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid

import pytest

from tests.helpers import ROOT, Place, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.servers]

# A kill near the end (seed 2) or early on (seed 3), locally or on gs://: one case per job, the moments and places
# alternating (add pairs here for the whole matrix; each case is a few runs of its job).
CASES = [("generate", "local", 2), ("generate", "gs", 3), ("extract_postgres", "gs", 3),
         ("merge_files", "local", 2), ("profile", "gs", 3), ("upload", "gs", 3)]


def temporary(names) -> list[str]:
    return sorted(n for n in names if "beam-temp" in n or ".profile." in n or "temp-" in n.split("/")[-1])


# -- the jobs, each with how to compare its output ------------------------------------------------------------

def digest_rows(files: dict[str, bytes]) -> dict:
    """Data files as a multiset of rows (CSV lines without the header, Parquet rows), schema files whole."""
    import io

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rows, other = [], {}
    for name, data in files.items():
        if name.endswith(".csv"):
            rows += data.decode().splitlines()[1:]
        elif name.endswith(".parquet"):  # each row as one text, made column-wise
            table = pq.read_table(io.BytesIO(data))
            texts = [pc.fill_null(pc.cast(c, pa.string()) if not pa.types.is_list(c.type) else
                                  pc.cast(pc.list_value_length(c), pa.string()), "\\N") for c in table.columns]
            rows += pc.binary_join_element_wise(*texts, "|").to_pylist() if texts else []
        else:
            other[name] = hashlib.sha256(data).hexdigest()
    return {"rows": sorted(rows), "other": other}


def digest_profile(files: dict[str, bytes]) -> dict:
    """The profile's exact figures (counts, nulls, min, max); approximate ones may vary with bundling."""
    assert sorted(files) == ["profile.html", "profile.json"], sorted(files)
    profile = json.loads(files["profile.json"])
    summary = {k: v for k, v in profile["summary"].items() if k != "profiled_at"}
    return {"summary": summary, "columns": [
        {k: c.get(k) for k in ("name", "count", "nulls", "min", "max")} for c in profile["columns"]]}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Local inputs of merge_files, profile and upload: 60,000 films and clients rows as CSV."""
    folder = tmp_path_factory.mktemp("crash-source")
    done = run_cli("pipelines.generate", "--datasets", "films,clients", "--rows", "60000", "--num_shards", "2",
                   "--output", str(folder / "gen"))
    assert done.returncode == 0, done.stderr
    return folder / "gen"


@pytest.fixture(scope="module")
def pg_table(pg_dsn):
    table = "crash_" + uuid.uuid4().hex[:8]
    done = run_cli("pipelines.seed_postgres", "--dsn", pg_dsn, "--table", table, "--rows", "60000")
    assert done.returncode == 0, done.stderr
    yield table
    import psycopg2

    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE {table}")
    conn.close()


def job(name: str, source, pg_dsn, pg_table, out: str) -> tuple[list[str], str, object]:
    """The command line (module, args), the prefix its output is below, and how that output is compared."""
    if name == "generate":
        return (["pipelines.generate", "--datasets", "films,clients", "--rows", "400000", "--num_shards", "3",
                 "--output", out], out, digest_rows)
    if name == "extract_postgres":
        return (["pipelines.extract_postgres", "--dsn", pg_dsn, "--table", pg_table, "--partitions", "2",
                 "--format", "parquet", "--output", out], out, digest_rows)
    if name == "merge_files":
        return (["pipelines.merge_files", "--input", str(source / "clients"), "--output", out], out, digest_rows)
    if name == "profile":
        return (["pipelines.profile", "--input", str(source / "films"), "--output", out], out, digest_profile)
    if name == "upload":
        return (["pipelines.upload", "--input", str(source), "--output", out], out, digest_rows)
    raise ValueError(name)




@pytest.fixture(scope="module")
def references(tmp_path_factory, gcs_emulator, source, pg_dsn, pg_table):
    """An uninterrupted run of each job, once per place: (what its output must be, how long it took)."""
    made = {}

    def reference(name: str, kind: str):
        if (name, kind) not in made:
            place = Place(kind, tmp_path_factory.mktemp(f"reference-{name}-{kind}"), dict(gcs_emulator))
            args, prefix, digest = job(name, source, pg_dsn, pg_table, place.path("out"))
            started = time.monotonic()
            clean = run_cli(*args, env=dict(gcs_emulator))
            assert clean.returncode == 0, clean.stderr
            took = time.monotonic() - started
            made[name, kind] = (digest(place.files(prefix)), took)
        return made[name, kind]

    return reference


@pytest.mark.parametrize("name,kind,seed", CASES, ids=[f"{n}-{k}-{s}" for n, k, s in CASES])
def test_a_job_killed_at_a_random_moment_then_run_again_ends_exact(name, kind, seed, tmp_path, gcs_emulator,
                                                                   source, pg_dsn, pg_table, references):
    env = dict(gcs_emulator)
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    expected, took = references(name, kind)

    place = Place(kind, tmp_path / "killed", env)
    args, prefix, digest = job(name, source, pg_dsn, pg_table, place.path("out"))
    delay = random.Random(seed).uniform(0.3, took)
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(delay)
        finished_first = True
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        finished_first = False
    left = place.files(prefix)
    left_temp = temporary(left)

    again = run_cli(*args, env=env)
    notes = [line for line in again.stderr.splitlines() if "temporary" in line and "interrupted run" in line]
    if again.returncode == 0:
        assert digest({n: b for n, b in place.files(prefix).items() if n not in temporary(place.files(prefix))}) \
            == expected
        if left_temp and name != "upload":  # named, with the command that removes them
            assert len(notes) == 1 and "remove them with: " in notes[0] and " rm -r " in notes[0], again.stderr
        outcome = "ran again" + (", named what was left" if notes else "")
    else:  # the killed run had put final files in place: refused in one line, never mixed
        assert again.returncode == 2, again.stderr
        # (after a note when the killed run had all its new shards and was moving them in: it finished that)
        lines = [line for line in again.stderr.strip().splitlines() if not line.startswith("note: finished")]
        assert len(lines) == 1 and "already holds" in lines[0] and "--overwrite" in lines[0], again.stderr
        outcome = "refused (final files there)"

    if again.returncode != 0 or notes:  # what the killed run left is removed by a run with --overwrite
        replaced = run_cli(*args, "--overwrite", env=env)
        assert replaced.returncode == 0, replaced.stderr
    final = place.files(prefix)
    assert temporary(final) == [], temporary(final)
    assert digest(final) == expected
    print(f"\n{name:<17} {kind:<5} seed {seed}: killed at {delay:4.1f} s of {took:4.1f} s"
          f"{' (had finished)' if finished_first else ''}, left {len(left)} file(s), {len(left_temp)} temporary;"
          f" next run: {outcome}; in the end: exact, nothing temporary")
