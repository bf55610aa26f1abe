"""The ingest chain under a burst of objects, on the local stack: exactly once, failures visible, nothing lost.

    python benchmarks/ingest_load.py [--objects 500] [--corrupt 5] [--duplicates 0.1] [--bigquery_away 30]

Starts the local stack (its router delivers each new object generation's finalize event, as Eventarc does),
uploads ``--objects`` small shards of films and clients (CSV and Parquet, 100 rows each, their schema files
first) as fast as it can, plus ``--corrupt`` CSV files that BigQuery cannot load, and posts the event of a
``--duplicates`` share of the objects a second time, concurrently with the router's delivery (at-least-once
delivery does this). Then it waits until the chain settles and checks: every good object loaded exactly once
(the rows in BigQuery equal 100 per good object of each dataset, every good object tagged ``status=loaded``),
each corrupt one a FAILED execution with BigQuery's message and untagged. Prints objects per minute uploaded,
the time until the chain settled, and the executions by state.

With ``--bigquery_away S``, the BigQuery emulator is stopped ``--away_after`` seconds into the burst and started
again S seconds later (its tables and jobs kept, as BigQuery keeps them); the executions ride it out with their
retries or fail visibly, and once the chain has settled ``python -m pipelines.redrive`` starts the load of every
object not tagged as loaded, after which the same checks must hold.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROWS = 100


def shard_bytes(dataset: str, fmt: str, seed: int) -> bytes:
    """One 100-row shard of a built-in dataset, as the generate job encodes it."""
    from datagen import spec as specs
    from datagen.contract import from_spec
    from datagen.engine import compile_dataset
    from transforms.formats import parquet_ready, parquet_writer
    from transforms.text import record_batch_to_csv

    spec = specs.builtin(dataset)
    batch = compile_dataset(spec).batch(seed, 0, ROWS)
    if fmt == "csv":
        return from_spec(spec).csv_header() + bytes(record_batch_to_csv(batch))
    sink = io.BytesIO()
    part = parquet_ready(batch, from_spec(spec).arrow_schema)
    writer = parquet_writer(sink, part.schema, "snappy", first=part)
    writer.write_batch(part)
    writer.close()
    return sink.getvalue()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--objects", type=int, default=500)
    p.add_argument("--corrupt", type=int, default=5)
    p.add_argument("--duplicates", type=float, default=0.1)
    p.add_argument("--concurrent_executions", type=int, default=4,
                   help="workflow executions the local Workflows API runs at once (each is a process)")
    p.add_argument("--bigquery_away", type=float, default=0, help="seconds of BigQuery outage mid-burst")
    p.add_argument("--away_after", type=float, default=10, help="seconds into the burst the outage starts")
    args = p.parse_args(argv)

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from datagen import spec as specs
    from datagen.contract import from_spec
    from local_cloud.events import deliver, list_objects
    from local_cloud.stack import LocalStack

    random.seed(7)
    with tempfile.TemporaryDirectory() as folder, LocalStack(
            Path(folder) / "stack", concurrent_executions=args.concurrent_executions) as stack:
        os.environ.update(stack.client_env())
        bucket = storage.Client(project=stack.project, credentials=AnonymousCredentials()).bucket(stack.bucket)
        for dataset in ("films", "clients"):  # schema files first, as the jobs write them
            bucket.blob(f"burst/{dataset}.schema.json").upload_from_string(
                json.dumps(from_spec(specs.builtin(dataset)).bigquery_schema()))
        plan = [(f"burst/{d}-{i:05d}-of-{args.objects:05d}.{f}", d, f)
                for i, (d, f) in enumerate((random.choice(["films", "clients"]), random.choice(["csv", "parquet"]))
                                           for _ in range(args.objects))]
        payloads = {(d, f): shard_bytes(d, f, 42) for d in ("films", "clients") for f in ("csv", "parquet")}
        corrupt = [f"burst/films-{args.objects + i:05d}-of-{args.objects:05d}.csv" for i in range(args.corrupt)]
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda item: bucket.blob(item[0]).upload_from_string(payloads[item[1], item[2]]), plan))
            list(pool.map(lambda name: bucket.blob(name).upload_from_string(
                b"film_id,title\nnot-a-number,x\n"), corrupt))
        uploaded = time.monotonic() - started
        # At-least-once delivery: a share of the events a second time, while the router delivers the first.
        twice = random.sample([name for name, _, _ in plan], int(args.objects * args.duplicates))
        objects = {o["name"]: o for o in list_objects(stack.storage_url, stack.bucket) if o["name"] in twice}
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda name: deliver(stack.function_url, objects[name]), twice))
        outage = ""
        if args.bigquery_away:
            time.sleep(max(0.0, started + args.away_after - time.monotonic()))
            stack.bigquery_away(args.bigquery_away).join(args.bigquery_away + 300)
        executions = stack.wait_settled(timeout=3600)
        settled = time.monotonic() - started
        if args.bigquery_away:
            failed_by_outage = [e for e in executions if e.state.name == "FAILED"
                                and json.loads(e.argument)["object"] not in corrupt]
            import subprocess

            redrive = subprocess.run(
                [sys.executable, "-m", "pipelines.redrive", "--bucket", stack.bucket, "--project", stack.project,
                 "--bq_dataset", stack.dataset, "--location", "us-central1", "--prefix", "burst/"],
                env={**os.environ, **stack.client_env()}, capture_output=True, text=True,
                cwd=Path(__file__).resolve().parents[1])
            before = len(executions)
            executions = stack.wait_settled(timeout=3600)
            outage = (f"BigQuery away {args.bigquery_away:.0f} s from {args.away_after:.0f} s into the burst: "
                      f"{len(failed_by_outage)} executions failed visibly ("
                      f"{failed_by_outage[0].error.payload.splitlines()[0][:80] if failed_by_outage else '-'}); "
                      f"redrive: {redrive.stderr.strip().splitlines()[-1] if redrive.stderr.strip() else '?'}, "
                      f"{len(executions) - before} executions, settled {time.monotonic() - started:.1f} s "
                      f"after the burst began")

        states = Counter(e.state.name for e in executions)
        results = Counter(json.loads(e.result)["state"] for e in executions if e.state.name == "SUCCEEDED")
        good = Counter(d for _, d, _ in plan)
        rows = {d: list(stack.bigquery().query(f"SELECT count(*) AS n FROM {stack.dataset}.{d}").result())[0]["n"]
                for d in good}
        untagged = [b.name for b in bucket.client.list_blobs(bucket, prefix="burst/")
                    if b.name.endswith((".csv", ".parquet")) and (b.metadata or {}).get("status") != "loaded"]
        failed = [e for e in executions if e.state.name == "FAILED" and json.loads(e.argument)["object"] in corrupt]
        print(f"{'objects':>8} {'corrupt':>8} {'sent twice':>10} {'upload s':>9} {'objects/min':>12} "
              f"{'settled s':>10}")
        print(f"{args.objects:>8} {args.corrupt:>8} {len(twice):>10} {uploaded:>9.1f} "
              f"{args.objects / uploaded * 60:>12,.0f} {settled:>10.1f}")
        print(f"executions: {dict(states)}; succeeded as: {dict(results)}; extra deliveries answered "
              f"{Counter(a.status_code for a in answers)}")
        ok = all(rows[d] == good[d] * ROWS for d in good) and sorted(untagged) == sorted(corrupt) and {
            json.loads(e.argument)["object"] for e in failed} == set(corrupt) and all(
            "BigQuery" in e.error.payload for e in failed)
        print(f"rows in BigQuery {rows} for {dict(good)} good objects of {ROWS} rows; untagged: {len(untagged)} "
              f"(the corrupt ones: {sorted(untagged) == sorted(corrupt)}); exactly once and nothing lost: {ok}")
        if failed:
            print(f"a failure, as an operator sees it: {failed[0].error.payload.splitlines()[0][:200]}")
        if outage:
            print(outage)
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
