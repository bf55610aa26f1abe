"""The ingest chain under a backend outage, on the local stack with its router (the chain as a user runs it):
BigQuery goes away for 45 s in the middle of a burst of objects and comes back with its data; executions ride it
out with their retries or fail visibly, ``local_cloud.status`` lists the failures, and ``pipelines.redrive``
loads what is left, any number of times, never twice."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from local_cloud.stack import WORKFLOW_LOCATION, LocalStack
from tests.helpers import run_cli

BUCKET = "away-bucket"
OBJECTS, ROWS = 24, 5
# Longer than an execution's retries of one call last (1+2+4+8+16 s), so that the executions under way when it
# starts fail for certain and the repair is shown every time; benchmarks/ingest_load.py --bigquery_away 30 runs the
# 30-second outage of a 500-object burst, where most executions ride it out.
OUTAGE = 45.0


def rows_of(i: int) -> str:
    return "id,part\n" + "".join(f"{i * 100 + j},{i}\n" for j in range(ROWS))


@pytest.mark.slow
@pytest.mark.servers
def test_bigquery_away_mid_burst_then_redrive_loads_every_object_exactly_once(tmp_path, monkeypatch):
    with LocalStack(tmp_path / "stack", bucket=BUCKET, concurrent_executions=4) as stack:
        for key, value in stack.client_env().items():
            monkeypatch.setenv(key, value)
        bucket = storage.Client(project=stack.project, credentials=AnonymousCredentials()).bucket(BUCKET)

        def upload(i: int):
            bucket.blob(f"away/away-{i:05d}-of-{OBJECTS:05d}.csv").upload_from_string(rows_of(i))

        for i in range(8):  # the burst starts; its first loads are under way when BigQuery goes
            upload(i)
        deadline = time.monotonic() + 60
        while not stack.workflows.executions() and time.monotonic() < deadline:
            time.sleep(0.2)
        back = stack.bigquery_away(OUTAGE)
        for i in range(8, OBJECTS):  # the rest of the burst arrives while it is away
            upload(i)
            time.sleep(0.4)
        back.join(OUTAGE + 150)
        assert not back.is_alive(), "the BigQuery emulator did not come back"
        executions = stack.wait_settled(timeout=400)
        assert len(executions) == OBJECTS
        assert all(e.state in (e.State.SUCCEEDED, e.State.FAILED) for e in executions)
        failed = [e for e in executions if e.state == e.State.FAILED]
        assert failed  # those under way when it went away outlast their retries; later ones may ride it out
        loaded = Counter(r["id"] for r in stack.bigquery().query(f"SELECT id FROM {stack.dataset}.away").result())
        assert set(loaded.values()) <= {1}  # whatever was loaded, once

        status = run_cli("local_cloud.status", "--state", "FAILED", "--limit", "100", env=stack.client_env())
        assert status.returncode == 0, status.stderr
        assert status.stdout.count(f"gs://{BUCKET}/away/") == len(failed), status.stdout
        lines = status.stdout.splitlines()
        for e in failed:  # visibly: the object, and under it what went wrong
            at = next(i for i, line in enumerate(lines) if json.loads(e.argument)["object"] in line)
            assert "error: 502" in lines[at + 1] and "Bad Gateway" in lines[at + 1], lines[at:at + 2]

        flags = ["--bucket", BUCKET, "--project", stack.project, "--bq_dataset", stack.dataset,
                 "--location", WORKFLOW_LOCATION, "--prefix", "away/"]
        untagged = [b.name for b in bucket.list_blobs(prefix="away/") if (b.metadata or {}).get("status") != "loaded"]
        assert len(untagged) >= len(failed)
        redrive = run_cli("pipelines.redrive", *flags, env=stack.client_env())
        assert redrive.returncode == 0 and f"started {len(untagged)} load(s)" in redrive.stderr, redrive.stderr
        redriven = stack.wait_settled(timeout=400)[len(executions):]
        assert len(redriven) == len(untagged)
        assert all(e.state == e.State.SUCCEEDED for e in redriven), [e.error.payload for e in redriven]

        loaded = Counter(r["id"] for r in stack.bigquery().query(f"SELECT id FROM {stack.dataset}.away").result())
        assert loaded == Counter({i * 100 + j: 1 for i in range(OBJECTS) for j in range(ROWS)})
        for blob in bucket.list_blobs(prefix="away/"):
            assert blob.metadata["status"] == "loaded" and blob.metadata["loadedGeneration"] == str(blob.generation)
        again = run_cli("pipelines.redrive", *flags, env=stack.client_env())
        assert again.returncode == 0 and "started 0 load(s)" in again.stderr, again.stderr
        print(f"\noutage {OUTAGE:.0f} s mid-burst: {OBJECTS - len(failed)} of {OBJECTS} executions rode it out, "
              f"{len(failed)} failed visibly; redrive started {len(redriven)}; every row loaded once")
