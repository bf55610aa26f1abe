"""Extraction speed from PostgreSQL: the client-side limit, the original approach and extract_postgres, in one run.

    python benchmarks/extract.py [--rows 2000000] [--dsn postgresql://postgres@127.0.0.1/postgres]

Seeds a transactions table (kept between runs when it already has --rows rows), then prints rows/s and MB/s for
(a) psycopg2 ``COPY (SELECT ...) TO STDOUT`` into a file (and, for reference, the same in binary), (b) the
original design (fetchall into pandas, then Parquet), (c) ``python -m pipelines.extract_postgres`` on the
DirectRunner with 2 partitions to Parquet, (d) connectorx with 2 partitions into Arrow, then Parquet.

(b) and (d) need pandas and connectorx. They run in the Python given by ``--baseline_python`` (default: the
``.venv-bench`` that ``make bench`` makes, else this one), each timed inside its own process: installed beside
the project, pandas would make every ``import apache_beam`` (so (c)'s start-up) slower, as Beam imports it when
it is there.
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
TABLES = {"transactions": "bench_transactions", "mixed": "bench_mixed"}
TABLE = TABLES["transactions"]  # --table mixed sets it to the other
# The mixed table: what a transactions table with text looks like (text of a few thousand values, a free-text
# column that is NULL in 30% of rows, NUMERIC with and without a precision, jsonb, an int[] of 0-5 tags, doubles
# with NULLs), so that every kind of field the binary COPY decodes is timed.
MIXED_SQL = """
CREATE TABLE bench_mixed AS SELECT g::bigint AS id, 'merchant ' || (g * 7919 % 5000) AS merchant,
    (ARRAY['grocery', 'fuel', 'travel', 'online', 'restaurant'])[1 + g % 5]::varchar(20) AS category,
    ((g * 104729 % 100000) / 100.0)::numeric(10, 2) AS amount, round((g % 997) / 991.0, 6) AS score,
    TIMESTAMPTZ '2024-01-01' + g * INTERVAL '1 second' AS ts, DATE '2024-01-01' + (g % 366)::int AS day,
    g % 3 = 0 AS online, CASE WHEN g % 10 < 3 THEN NULL ELSE 'note ' || md5(g::text) END AS note,
    jsonb_build_object('lat', g % 90, 'lon', g % 180) AS place,
    array_fill((g % 100)::int, ARRAY[(g % 6)::int]) AS tags,
    CASE WHEN g % 13 = 0 THEN NULL ELSE sin(g) END AS v1, cos(g) AS v2, sqrt(g) AS v3, ln(g) AS v4
  FROM generate_series(1::bigint, {rows}) g;
ALTER TABLE bench_mixed ADD PRIMARY KEY (id);
"""


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


def pipeline(dsn: str, out: Path, folder: Path = ROOT) -> float:
    return run_measured([sys.executable, "-m", "pipelines.extract_postgres", "--dsn", dsn, "--table", TABLE,
                         "--partitions", "2", "--format", "parquet", "--output", str(out), "--overwrite"], folder)


JOB_SECONDS = []  # the seconds the job reports for its pipeline (start-up and planning not included)


def run_measured(cmd, folder: Path = ROOT) -> float:
    """Runs cmd from the project folder (or another revision's); its own peak RSS in MiB. The seconds its summary
    reports go to JOB_SECONDS."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, cwd=folder, stdout=out)
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
    ap.add_argument("--table", choices=sorted(TABLES), default="transactions",
                    help="transactions: the credit-card-fraud-like table (fixed-width columns); mixed: text, NUMERIC, "
                    "jsonb, arrays and NULLs")
    ap.add_argument("--compare_with", metavar="REV", help="also time (c) as git revision REV of this project runs it "
                    "(a worktree made for the run)")
    ap.add_argument("--baseline", nargs=2, metavar=("NAME", "OUT"), help=argparse.SUPPRESS)  # (b) or (d), here
    args = ap.parse_args()
    global TABLE
    TABLE = TABLES[args.table]
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
        seed(args.dsn, args.table, args.rows)
    approaches = [("a", "(a) psycopg2 COPY TO STDOUT into a file", copy_to_file, "a.csv"),
                  ("a'", "(a') the same, binary COPY (for reference)", binary_copy_to_file, "a.bin"),
                  ("c", "(c) extract_postgres, 2 partitions, Parquet", pipeline, "c")]
    if args.compare_with:
        approaches.append(("c@", f"(c) at {args.compare_with}", "compare", "c@"))
    approaches += [("d", "(d) connectorx, 2 partitions, then Parquet", "connectorx", "d.parquet"),
                   ("b", "(b) fetchall into pandas, then Parquet", "original", "b.parquet")]
    results, seconds, whole = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        other = tmp / "other"
        if args.compare_with:
            subprocess.run(["git", "worktree", "add", "--detach", str(other), args.compare_with], cwd=ROOT,
                           check=True, capture_output=True)
        try:
            for key, name, fn, out in approaches:
                out, peak, s = tmp / out, None, None
                if fn == "compare":
                    t = time.perf_counter()
                    peak = pipeline(args.dsn, out, other)
                    s = time.perf_counter() - t
                elif isinstance(fn, str):  # a baseline, in its own environment and process, timed there
                    t = time.perf_counter()
                    done = subprocess.run([args.baseline_python, __file__, "--dsn", args.dsn, "--table", args.table,
                                           "--baseline", fn, str(out)], cwd=ROOT, capture_output=True, text=True)
                    whole[key] = time.perf_counter() - t  # as a script of its own: start-up and imports too
                    if done.returncode == 0:
                        s = float(done.stdout.strip().splitlines()[-1])
                    else:  # connectorx does not read every type: say so and go on
                        print(f"{name}: failed: {(done.stderr.strip().splitlines() or ['?'])[-1][:200]}")
                else:
                    t = time.perf_counter()
                    peak = fn(args.dsn, out)
                    s = time.perf_counter() - t
                seconds[key] = s
                results.append((name, s, size_of(out) if s else 0, peak))
        finally:
            if args.compare_with:
                subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT, capture_output=True)
    print(f"{'approach':<46} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'MB/s':>7} {'peak MiB':>9}")
    for name, s, size, peak in results:
        if s is None:
            print(f"{name:<46} {args.rows:>10,} {'n/a':>8}")
            continue
        print(f"{name:<46} {args.rows:>10,} {s:>8.2f} {args.rows / s:>10,.0f} {size / s / 1e6:>7.1f} "
              f"{'' if peak is None else f'{peak:,.0f}':>9}")
    c = seconds["c"]
    ratios = ", ".join(f"(c)/({k}) = {seconds[k] / c:.2f}" for k in ("a", "b", "d", "c@") if seconds.get(k))
    print(f"\nrows/s: {ratios} (whole command, Python start-up and planning included; (b) and (d) timed inside "
          "their process)")
    if seconds.get("d"):
        print(f"(c)/(d) with (d) also timed as a whole command (its script's start-up and imports included: "
              f"{whole['d']:.2f} s): {whole['d'] / c:.2f}")
    if JOB_SECONDS and JOB_SECONDS[0]:
        job = JOB_SECONDS[0]
        line = f"(c) by its own summary: {job:.2f} s, {args.rows / job:,.0f} rows/s"
        if seconds.get("d"):
            line += (f"; (c)/(d) = {seconds['d'] / job:.2f} ((d) is timed inside its own process: no interpreter "
                     "start, its imports done)")
        print(line)
    return 0


def seed(dsn: str, table: str, rows: int) -> None:
    if table == "transactions":
        subprocess.run([sys.executable, "-m", "pipelines.seed_postgres", "--dsn", dsn, "--table", TABLE,
                        "--rows", str(rows), "--overwrite"], check=True, cwd=ROOT)
        return
    t = time.perf_counter()
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cur.execute(MIXED_SQL.format(rows=int(rows)))
        cur.execute(f"VACUUM ANALYZE {TABLE}")
    conn.close()
    print(f"{TABLE}: {rows:,} rows in {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
