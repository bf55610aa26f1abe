"""Extraction speed from PostgreSQL: the client-side limit, the original approach and extract_postgres, in one run.

    python benchmarks/extract.py [--rows 2000000] [--dsn postgresql://postgres@127.0.0.1/postgres]

Seeds a transactions table (kept between runs when it already has --rows rows), then prints rows/s and MB/s for
(a) psycopg2 ``COPY (SELECT ...) TO STDOUT`` into a file (and, for reference, the same in binary), (b) the
original design (fetchall into pandas, then Parquet), (c) ``python -m pipelines.extract_postgres`` on the
DirectRunner with 2 partitions to Parquet, (d) connectorx with 2 partitions into Arrow, then Parquet.

(b) and (d) need pandas and connectorx. They run in the Python given by ``--baseline_python`` (default: the
``.venv-bench`` that ``make bench`` makes, else this one), each timed inside its own process: installed beside
the project, pandas would make every ``import apache_beam`` (so (c)'s start-up) about 0.35 s slower.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parents[1]
TABLE = "bench_transactions"


def size_of(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def copy_to_file(dsn: str, out: Path, fmt: str = "csv"):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur, open(out, "wb") as f:
        cur.copy_expert(f"COPY (SELECT * FROM {TABLE}) TO STDOUT WITH (FORMAT {fmt})", f)


def binary_copy_to_file(dsn: str, out: Path):
    copy_to_file(dsn, out, "binary")


def original(dsn: str, out: Path):
    import pandas as pd

    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {TABLE}")
        rows = cur.fetchall()
        frame = pd.DataFrame(rows, columns=[d.name for d in cur.description])
    frame.to_parquet(out)


def connectorx(dsn: str, out: Path):
    """connectorx (Rust, binary protocol) into Arrow with 2 partitions on the key, then Parquet: the fastest
    reader we know of, installed for this benchmark only (``pip install connectorx``)."""
    import connectorx as cx
    import pyarrow.parquet as pq

    table = cx.read_sql(dsn, f"SELECT * FROM {TABLE}", return_type="arrow", partition_on="id", partition_num=2)
    pq.write_table(table, out)


BASELINES = {"original": original, "connectorx": connectorx}


def pipeline(dsn: str, out: Path) -> float:
    return run_measured([sys.executable, "-m", "pipelines.extract_postgres", "--dsn", dsn, "--table", TABLE,
                         "--partitions", "2", "--format", "parquet", "--output", str(out), "--overwrite"])


JOB_SECONDS = []  # the seconds the job reports for its pipeline (start-up and planning not included)


def run_measured(cmd) -> float:
    """Runs cmd from the project folder; its own peak RSS in MiB. The seconds its summary reports go to
    JOB_SECONDS."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out)
        _, status, usage = os.wait4(proc.pid, 0)
        out.seek(0)
        found = re.search(rb" in ([0-9.]+) s \(", out.read())
    JOB_SECONDS.append(float(found.group(1)) if found else None)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return usage.ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--dsn", default=os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1/postgres"))
    bench_python = ROOT / ".venv-bench" / "bin" / "python"
    ap.add_argument("--baseline_python", default=str(bench_python) if bench_python.exists() else sys.executable,
                    help="the Python (with pandas and connectorx) that runs (b) and (d)")
    ap.add_argument("--baseline", nargs=2, metavar=("NAME", "OUT"), help=argparse.SUPPRESS)  # (b) or (d), here
    args = ap.parse_args()
    if args.baseline:  # in the baselines' own environment: run one, print its seconds
        name, out = args.baseline
        t = time.perf_counter()
        BASELINES[name](args.dsn, Path(out))
        print(time.perf_counter() - t)
        return 0
    with psycopg2.connect(args.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT CASE WHEN to_regclass(%s) IS NULL THEN -1 ELSE "
                    "(SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)) END", (TABLE, TABLE))
        existing = cur.fetchone()[0]
    if existing != args.rows:
        subprocess.run([sys.executable, "-m", "pipelines.seed_postgres", "--dsn", args.dsn, "--table", TABLE,
                        "--rows", str(args.rows), "--replace"], check=True, cwd=ROOT)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, fn, out in (("(a) psycopg2 COPY TO STDOUT into a file", copy_to_file, tmp / "a.csv"),
                              ("(a') the same, binary COPY (for reference)", binary_copy_to_file, tmp / "a.bin"),
                              ("(c) extract_postgres, 2 partitions, Parquet", pipeline, tmp / "c"),
                              ("(d) connectorx, 2 partitions, then Parquet", "connectorx", tmp / "d.parquet"),
                              ("(b) fetchall into pandas, then Parquet", "original", tmp / "b.parquet")):
            peak = None
            if isinstance(fn, str):  # a baseline, in its own environment and process, timed there
                done = subprocess.run([args.baseline_python, __file__, "--dsn", args.dsn, "--baseline", fn, str(out)],
                                      cwd=ROOT, capture_output=True, text=True, check=True)
                s = float(done.stdout.strip().splitlines()[-1])
            else:
                t = time.perf_counter()
                peak = fn(args.dsn, out)
                s = time.perf_counter() - t
            results.append((name, s, size_of(out), peak))
    print(f"{'approach':<46} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'MB/s':>7} {'peak MiB':>9}")
    for name, s, size, peak in results:
        print(f"{name:<46} {args.rows:>10,} {s:>8.2f} {args.rows / s:>10,.0f} {size / s / 1e6:>7.1f} "
              f"{'' if peak is None else f'{peak:,.0f}':>9}")
    a, _, c, d, b = (r[1] for r in results)
    print(f"\nrows/s: (c)/(a) = {a / c:.2f}, (c)/(b) = {b / c:.2f}, (c)/(d) = {d / c:.2f} (whole command, Python "
          "start-up and planning included)")
    if JOB_SECONDS and JOB_SECONDS[0]:
        job = JOB_SECONDS[0]
        print(f"(c) by its own summary: {job:.2f} s, {args.rows / job:,.0f} rows/s; (c)/(d) = {d / job:.2f} "
              "((d) is timed inside its own process: no interpreter start, its imports done)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
