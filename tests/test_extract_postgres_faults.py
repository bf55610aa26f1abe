"""extract_postgres when the server goes away mid-read, on a server of the test's own (tests/own_postgres.py):
restarted, the read reconnects and every row arrives once (per chunk, or whole again from a new snapshot);
down for longer than the retries, one line, exit 1, nothing at the final path."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psycopg2
import pyarrow.parquet as pq
import pytest

from tests.helpers import ROOT
from tests.own_postgres import OwnPostgres

ROWS = 1_500_000
pytestmark = [pytest.mark.slow, pytest.mark.servers]


@pytest.fixture(scope="module")
def server():
    own = OwnPostgres().start()
    try:
        with psycopg2.connect(own.dsn) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE tx (id bigint PRIMARY KEY, amount double precision, class integer, note text)")
            cur.execute("INSERT INTO tx SELECT i, (i %% 1000) / 10.0, (i %% 577 = 0)::int, md5(i::text) "
                        "FROM generate_series(1, %s) AS i", (ROWS,))
            cur.execute("ANALYZE tx")
        conn.close()
        yield own
    finally:
        own.remove()


def extract(server, out: Path, *flags: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "pipelines.extract_postgres", "--dsn", server.dsn, "--table",
                             "tx", "--partitions", "2", "--format", "parquet", "--output", str(out), *flags],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def when_copying(server, job: subprocess.Popen, timeout: float = 120):
    """Waits until one of the job's COPY statements runs on the server."""
    deadline = time.monotonic() + timeout
    conn = psycopg2.connect(server.dsn)
    conn.autocommit = True  # each look a transaction of its own: the statistics views are fixed within one
    try:
        with conn.cursor() as cur:
            while time.monotonic() < deadline and job.poll() is None:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'COPY%'")
                if cur.fetchone()[0]:
                    return
                time.sleep(0.01)
    finally:
        conn.close()
    raise AssertionError(f"the job never copied: {job.communicate()}")


def ids_written(out: Path) -> np.ndarray:
    files = sorted(out.glob("*.parquet"))
    return np.sort(np.concatenate([pq.read_table(f, columns=["id"])["id"].to_numpy() for f in files]))


def only_final_files(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir())


@pytest.mark.parametrize("consistency,says", [
    ("chunk", "chunk read(s) started again after a lost connection"),
    ("snapshot", "the read starts again from a new snapshot (attempt 2 of 3)"),
])
def test_a_server_restart_mid_read_loses_and_duplicates_no_row(server, tmp_path, consistency, says):
    out = tmp_path / "out"
    job = extract(server, out, "--consistency", consistency)
    when_copying(server, job)
    server.restart()
    stdout, stderr = job.communicate(timeout=300)
    assert job.returncode == 0, stderr
    assert says in stdout + stderr, (stdout, stderr)
    assert np.array_equal(ids_written(out), np.arange(1, ROWS + 1))
    names = only_final_files(out)
    assert all(n.startswith("out-") and n.endswith(".parquet") or n == "out.schema.json" for n in names), names


def test_a_server_down_past_the_retries_is_one_line_exit_1_and_nothing_written(server, tmp_path):
    out = tmp_path / "out"
    job = extract(server, out)
    when_copying(server, job)
    server.stop()
    try:
        stdout, stderr = job.communicate(timeout=300)
    finally:
        server.start()
    assert job.returncode == 1, (stdout, stderr)
    lines = stderr.strip().splitlines()
    failures = [line for line in lines if line.startswith("python -m pipelines.extract_postgres: failed: ")]
    retries = [line for line in lines if line.startswith("WARNING:transforms.postgres.read:connection lost while")]
    assert len(failures) == 1 and lines[-1] == failures[0], stderr  # one line says why it stopped
    assert len(failures) + len(retries) == len(lines) and "Traceback" not in stderr, stderr  # the rest: retries
    assert not out.exists() or [p for p in out.rglob("*") if p.is_file()] == [], list(out.rglob("*"))
