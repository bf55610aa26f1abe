"""The ingest chain end to end on real local stand-ins: generate -> GCS emulator -> finalize CloudEvent over HTTP ->
the function under functions-framework -> CreateExecution on a local Workflows gRPC API -> our YAML on
workflows-emulator -> load jobs on bqemulator -> tagged objects. Nothing is mocked."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pyarrow.parquet as pq
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from functions.ingest_naming import table_id
from local_cloud.events import deliver, list_objects
from local_cloud.stack import LocalStack
from tests.helpers import run_cli

BUCKET = "local-bucket"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The local stack without its router: the tests deliver each finalize event themselves. Four executions
    run at once (two by default), so that duplicate events race as they do on Google Cloud."""
    with LocalStack(tmp_path_factory.mktemp("stack"), bucket=BUCKET, route_events=False,
                    concurrent_executions=4) as s:
        yield s


@pytest.fixture(scope="module")
def gcs(stack):
    import os

    old = {k: os.environ.get(k) for k in stack.client_env()}
    os.environ.update(stack.client_env())
    try:
        yield storage.Client(project=stack.project, credentials=AnonymousCredentials()).bucket(BUCKET)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def deliver_all(stack, prefix: str) -> list:
    """One finalize event per object under prefix; waits for the executions they start; returns those."""
    before = len(stack.workflows.executions())
    for obj in list_objects(stack.storage_url, BUCKET):
        if obj["name"].startswith(prefix):
            answer = deliver(stack.function_url, obj)
            assert answer.ok, (obj["name"], answer.status_code, answer.text[:500])
    return stack.workflows.wait_idle()[before:]


def raw_storage_url(stack) -> str:
    """The Storage emulator itself, without the stack's front."""
    server = next(s for s in stack.servers if s.name == "gcp-storage-emulator")
    return f"http://127.0.0.1:{server.port}"


def query(stack, sql: str) -> list[dict]:
    return [dict(r) for r in stack.bigquery().query(sql).result()]


def json_objects(blob) -> list[dict]:
    """The objects of a newline-delimited JSON shard (plain or gzip), read line by line by Python's json."""
    import gzip

    data = blob.download_as_bytes()
    text = (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode("utf-8")
    return [json.loads(line) for line in text.splitlines()]


def is_json_shard(name: str) -> bool:
    return name.endswith((".json", ".json.gz")) and not name.endswith(".schema.json")


def rows_in_files(bucket, prefix: str) -> dict[str, list[tuple]]:
    """Every data row of the CSV, Parquet and NDJSON shards under prefix, per dataset, in one comparable form."""
    out: dict[str, list[tuple]] = {}
    for blob in bucket.client.list_blobs(bucket, prefix=prefix):
        name = blob.name.rsplit("/", 1)[-1]
        dataset = table_id(blob.name)
        if name.endswith(".csv"):
            records = list(csv.reader(io.StringIO(blob.download_as_text())))[1:]
        elif name.endswith(".parquet"):
            records = [list(row.values()) for row in pq.read_table(io.BytesIO(blob.download_as_bytes())).to_pylist()]
        elif is_json_shard(name):
            records = [list(o.values()) for o in json_objects(blob)]
        else:
            continue
        out.setdefault(dataset, []).extend(comparable(dataset, r) for r in records)
    return out


def comparable(dataset: str, values) -> tuple:
    """Values as text, floats with the two decimals the generator writes, so CSV, Parquet and BigQuery agree."""
    from datagen.contract import DATASETS

    out = []
    for field, v in zip(DATASETS[dataset].fields, values):
        if field.type == "FLOAT64":
            out.append(f"{float(v):.2f}")
        else:
            out.append(v.isoformat() if hasattr(v, "isoformat") else str(v))
    return tuple(out)


def same_type(t: str) -> str:
    """BigQuery answers with legacy type names (INTEGER for INT64); the emulator with what it was given."""
    return {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN"}.get(t, t)


def fields(table) -> list[tuple[str, str]]:
    return [(f.name, same_type(f.field_type)) for f in table.schema]


def table_rows(stack, table: str, columns: list[str]) -> list[tuple]:
    rows = query(stack, f"SELECT {', '.join(columns)} FROM `{stack.project}.{stack.dataset}.{table}`")
    return [comparable(table, [r[c] for c in columns]) for r in rows]


def test_generated_files_load_once_each_into_one_table_per_dataset_even_when_events_repeat(stack, gcs):
    """CSV, Parquet and gzip NDJSON (BigQuery's NEWLINE_DELIMITED_JSON, bqemulator's DuckDB JSON reader)."""
    for fmt, seed, extra in (("csv", "1", []), ("parquet", "2", []), ("ndjson", "3", ["--compression", "gzip"])):
        result = run_cli("pipelines.generate", "--datasets", "films,clients", "--rows", "1500", "--seed", seed,
                         "--output", f"gs://{BUCKET}/e2e-{fmt}", "--format", fmt, "--num_shards", "2",
                         "--block_rows", "500", *extra, env=stack.client_env())
        assert result.returncode == 0, result.stderr
    executions = deliver_all(stack, "e2e-")
    data_files = [b for b in gcs.client.list_blobs(gcs, prefix="e2e-") if not b.name.endswith(".schema.json")]
    assert len(data_files) == 12 and sum(b.name.endswith(".json.gz") for b in data_files) == 4
    assert len(executions) == 12 and all(e.state == e.State.SUCCEEDED for e in executions), [
        e.error.payload for e in executions]

    generated = rows_in_files(gcs, "e2e-")
    from datagen.contract import DATASETS

    assert set(generated) == {"films", "clients"}
    for dataset, schema in ((d, DATASETS[d]) for d in generated):  # the built-ins generated here
        assert len(generated[dataset]) == 4500
        assert sorted(table_rows(stack, dataset, schema.column_names)) == sorted(generated[dataset])
        table = stack.bigquery().get_table(f"{stack.project}.{stack.dataset}.{dataset}")
        assert fields(table) == [(f["name"], same_type(f["type"])) for f in schema.bigquery_schema()]

    for blob in data_files:  # tagged with the full map, for the generation that was loaded
        blob.reload()
        tags = blob.metadata or {}
        assert tags.get("status") == "loaded" and tags["loadedGeneration"] == str(blob.generation), blob.name
        assert tags["loadJobId"].startswith(f"ingest_{table_id(blob.name)}_") and tags["loadedAt"]
        assert tags["table"] == f"{stack.project}:{stack.dataset}.{table_id(blob.name)}"

    # At-least-once delivery: every event twice more; nothing is loaded again.
    for _ in range(2):
        again = deliver_all(stack, "e2e-")
        assert len(again) == 12 and all(e.state == e.State.SUCCEEDED for e in again)
        assert {json.loads(e.result)["state"] for e in again} == {"SKIPPED"}
    for dataset in generated:
        assert query(stack, f"SELECT count(*) AS n FROM {stack.dataset}.{dataset}")[0]["n"] == 4500


def test_a_redelivered_event_finds_its_load_job_instead_of_loading_twice(stack, gcs):
    """An execution that died after its load job but before tagging (here: the tag removed) is followed by a
    re-delivered event: the workflow finds the job by its fixed id, does not load again, and tags the object.
    (Executions racing before either created the job: the next test.)"""
    blob = gcs.blob("race/race-00000-of-00001.csv")
    blob.upload_from_string("a,b\n1,x\n2,y\n")
    (first,) = deliver_all(stack, "race/")
    assert first.state == first.State.SUCCEEDED and json.loads(first.result)["state"] == "DONE"
    blob.reload()
    job_id = blob.metadata["loadJobId"]
    blob.metadata = {"status": "", "loadJobId": "", "loadedGeneration": ""}
    blob.patch()
    (second,) = deliver_all(stack, "race/")
    assert second.state == second.State.SUCCEEDED, second.error.payload
    assert json.loads(second.result)["jobId"] == job_id and json.loads(second.result)["state"] == "DONE"
    blob.reload()
    assert blob.metadata["status"] == "loaded" and blob.metadata["loadJobId"] == job_id
    assert query(stack, f"SELECT count(*) AS n FROM {stack.dataset}.race")[0]["n"] == 2


def test_the_same_event_delivered_nine_times_at_once_loads_each_object_once(stack, gcs, tmp_path):
    """At-least-once delivery can hand the same finalize event to several instances at the same moment: here
    three fresh 1,000-row CSV objects, each event posted nine times concurrently. The executions race; the
    second insert of a job id is answered 409 (by BigQuery, and by the stack's front before bqemulator), the
    losers wait for the winner's job, and every table holds its rows once."""
    result = run_cli("pipelines.generate", "--datasets", "films", "--rows", "1000", "--num_shards", "1",
                     "--output", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    data = (tmp_path / "out" / "films" / "films-00000-of-00001.csv").read_bytes()
    schema = (tmp_path / "out" / "films" / "films.schema.json").read_bytes()
    objects = []
    for table in ("burst_a", "burst_b", "burst_c"):
        gcs.blob(f"burst/{table}.schema.json").upload_from_string(schema)
        blob = gcs.blob(f"burst/{table}-00000-of-00001.csv")
        blob.upload_from_string(data)
        objects.append(next(o for o in list_objects(stack.storage_url, BUCKET) if o["name"] == blob.name))
    before = len(stack.workflows.executions())
    with ThreadPoolExecutor(27) as pool:
        answers = list(pool.map(lambda obj: deliver(stack.function_url, obj), [o for o in objects for _ in range(9)]))
    assert all(a.ok for a in answers), [a.text[:300] for a in answers if not a.ok]
    executions = stack.workflows.wait_idle()[before:]
    assert len(executions) == 27
    assert all(e.state == e.State.SUCCEEDED for e in executions), [e.error.payload for e in executions]
    results = [json.loads(e.result) for e in executions]
    for table in ("burst_a", "burst_b", "burst_c"):
        assert query(stack, f"SELECT count(*) AS n FROM {stack.dataset}.{table}")[0]["n"] == 1000
        mine = [r for r in results if r["table"].endswith(f".{table}")]
        assert len(mine) == 9 and {r["state"] for r in mine} <= {"DONE", "SKIPPED"}
        assert len({r["jobId"] for r in mine}) == 1  # one load job, whatever each execution saw
        blob = gcs.blob(f"burst/{table}-00000-of-00001.csv")
        blob.reload()
        assert blob.metadata["status"] == "loaded" and blob.metadata["loadJobId"] == mine[0]["jobId"]


def test_a_corrupt_csv_fails_loudly_stays_untagged_and_leaves_other_tables_alone(stack, gcs):
    gcs.blob("bad/scores-00000-of-00001.csv").upload_from_string("id,score\n1,10\n")
    assert all(e.state == e.State.SUCCEEDED for e in deliver_all(stack, "bad/scores-00000"))
    gcs.blob("bad/scores-00001-of-00002.csv").upload_from_string("id,score\n2,twenty\n")
    (failed,) = deliver_all(stack, "bad/scores-00001")
    assert failed.state == failed.State.FAILED
    assert "failed" in failed.error.payload and "twenty" in failed.error.payload, failed.error.payload
    blob = gcs.get_blob("bad/scores-00001-of-00002.csv")
    assert (blob.metadata or {}).get("status") != "loaded"
    assert query(stack, f"SELECT count(*) AS n FROM {stack.dataset}.scores")[0]["n"] == 1
    # An operator sees it: local_cloud.status lists the failed load with its object, table, job id and message.
    shown = run_cli("local_cloud.status", "--state", "FAILED", env=stack.client_env())
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    (row,) = [i for i, line in enumerate(lines) if f"gs://{BUCKET}/bad/scores-00001-of-00002.csv#" in line]
    assert "FAILED" in lines[row] and f"{stack.dataset}.scores" in lines[row]
    assert json.loads(failed.argument)["job_id"] in lines[row]
    assert lines[row + 1].strip().startswith("error: BigQuery load job") and "CSV Error" in lines[row + 1]
    assert "twenty" in run_cli("local_cloud.status", "--state", "FAILED", "--full", env=stack.client_env()).stdout
    everything = run_cli("local_cloud.status", "--limit", "100", env=stack.client_env())
    assert "bad/scores-00000-of-00001.csv" in everything.stdout and " DONE " in everything.stdout


def test_status_without_a_stack_fails_in_one_line():
    from tests.helpers import run_cli as run

    result = run("local_cloud.status", "--endpoint", "127.0.0.1:9", env={"WORKFLOWS_ENDPOINT": ""})
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "127.0.0.1:9" in result.stderr


def test_objects_that_are_not_data_are_ignored_without_an_execution(stack, gcs):
    for name, data in [("skip/_SUCCESS", b""), ("skip/empty.csv", b""), ("skip/notes.txt", b"hello"),
                       ("skip/films.schema.json", b"[]"), ("skip/beam-temp-films-1a2b/0123.csv", b"a\n1\n"),
                       ("skip/.temp-beam-77/part.parquet", b"PAR1")]:
        gcs.blob(name).upload_from_string(data)
    before = len(stack.workflows.executions())
    for obj in list_objects(stack.storage_url, BUCKET):
        if obj["name"].startswith("skip/"):
            answer = deliver(stack.function_url, obj)
            assert answer.ok, answer.text  # a normal return: no retry storm
    assert len(stack.workflows.wait_idle()) == before
    log = (stack.folder / "function.log").read_text()
    assert "ignored gs://local-bucket/skip/beam-temp-films-1a2b/0123.csv" in log


def test_an_event_for_another_bucket_is_ignored_with_a_log_line(stack, gcs):
    gcs.blob("other/films-00000-of-00001.csv").upload_from_string("film_id\n1\n")
    (obj,) = [o for o in list_objects(stack.storage_url, BUCKET) if o["name"].startswith("other/")]
    before = len(stack.workflows.executions())
    answer = deliver(stack.function_url, {**obj, "bucket": "someone-elses-bucket"})
    assert answer.ok, answer.text  # a normal return: the platform does not retry it
    assert len(stack.workflows.wait_idle()) == before
    log = (stack.folder / "function.log").read_text()
    assert "ignored gs://someone-elses-bucket/other/films-00000-of-00001.csv" in log
    assert f"not in gs://{BUCKET}, the bucket this function loads" in log


def test_an_event_for_a_replaced_generation_loads_nothing(stack, gcs):
    """The function decides from the event alone (it reads nothing of the bucket); the workflow finds the
    generation gone and loads nothing; the new generation's own event loads it."""
    blob = gcs.blob("gen/gen-00000-of-00001.csv")
    blob.upload_from_string("k\n1\n")
    (old,) = [o for o in list_objects(stack.storage_url, BUCKET) if o["name"].startswith("gen/")]
    blob.upload_from_string("k\n1\n2\n")
    before = len(stack.workflows.executions())
    assert deliver(stack.function_url, old).ok
    (stale,) = stack.workflows.wait_idle()[before:]
    assert stale.state == stale.State.SUCCEEDED, stale.error.payload
    assert json.loads(stale.result) == {"state": "SUPERSEDED", "table": f"{stack.project}:{stack.dataset}.gen",
                                         "reason": "this generation of the object no longer exists"}
    assert not gcs.get_blob("gen/gen-00000-of-00001.csv").metadata
    (loaded,) = deliver_all(stack, "gen/")
    assert json.loads(loaded.result)["state"] == "DONE"
    assert query(stack, f"SELECT count(*) AS n FROM {stack.dataset}.gen")[0]["n"] == 2


def test_schema_beside_the_data_wins_and_unknown_names_are_autodetected_into_valid_tables(stack, gcs):
    gcs.blob("tx/tx.schema.json").upload_from_string(json.dumps([
        {"name": "id", "type": "INT64", "mode": "NULLABLE"}, {"name": "amount", "type": "STRING", "mode": "NULLABLE"}]))
    gcs.blob("tx/tx-00000-of-00001.csv").upload_from_string("id,amount\n1,10.50\n2,3\n")
    gcs.blob("odd/2024 Sales Report.CSV").upload_from_string("region,total\nnorth,10\nsouth,20\n")
    executions = deliver_all(stack, "tx/") + deliver_all(stack, "odd/")
    assert all(e.state == e.State.SUCCEEDED for e in executions), [e.error.payload for e in executions]
    tx = stack.bigquery().get_table(f"{stack.project}.{stack.dataset}.tx")
    assert fields(tx) == [("id", "INTEGER"), ("amount", "STRING")]
    odd = table_id("odd/2024 Sales Report.CSV")
    assert odd.startswith("t_2024_Sales_Report_")
    assert sorted(r["region"] for r in query(stack, f"SELECT region FROM {stack.dataset}.{odd}")) == ["north", "south"]


def test_a_users_file_named_like_a_built_in_dataset_loads_with_its_own_columns(stack, gcs):
    """Issue 26: a user's exports/transactions.csv (id,amount), uploaded as incoming/transactions.csv, lands in
    table transactions, but it is not our transactions dataset: the function sends no shipped schema (its header
    says so), and BigQuery detects the user's columns. The same in gzip."""
    import gzip

    gcs.blob("incoming/transactions.csv").upload_from_string("id,amount\n1,10.50\n2,3.25\n")
    gcs.blob("incoming/more/transactions.csv.gz").upload_from_string(gzip.compress(b"id,amount\n3,7.00\n"))
    executions = deliver_all(stack, "incoming/")
    assert len(executions) == 2 and all(e.state == e.State.SUCCEEDED for e in executions), [
        e.error.payload for e in executions]
    assert all("schema" not in json.loads(e.argument) for e in executions)
    table = stack.bigquery().get_table(f"{stack.project}.{stack.dataset}.transactions")
    assert fields(table) == [("id", "INTEGER"), ("amount", "FLOAT")]
    rows = query(stack, f"SELECT id, amount FROM {stack.dataset}.transactions ORDER BY id")
    assert [(r["id"], r["amount"]) for r in rows] == [(1, 10.5), (2, 3.25), (3, 7.0)]
    log = (stack.folder / "function.log").read_text()
    assert "not the shipped transactions schema: its header is id,amount" in log


@pytest.fixture(scope="module")
def our_shards(tmp_path_factory):
    """One films shard as gzip CSV and one clients shard as plain CSV, generated locally (40 rows each)."""
    out = tmp_path_factory.mktemp("ours")
    for dataset, compression in (("films", "gzip"), ("clients", "none")):
        result = run_cli("pipelines.generate", "--datasets", dataset, "--rows", "40", "--num_shards", "1",
                         "--seed", "26", "--compression", compression, "--output", str(out), "--no_progress")
        assert result.returncode == 0, result.stderr
    return {"films": (out / "films" / "films-00000-of-00001.csv.gz").read_bytes(),
            "clients": (out / "clients" / "clients-00000-of-00001.csv").read_bytes()}


def test_a_renamed_copy_of_our_data_still_loads_with_the_shipped_schema(stack, gcs, our_shards):
    """Outside our layout (renamed, no schema file beside it), a CSV whose header is a built-in dataset's
    columns loads with that dataset's shipped schema: read from its first bytes, plain or gzip."""
    from datagen.contract import DATASETS

    gcs.blob("renamed/films.csv.gz").upload_from_string(our_shards["films"])
    gcs.blob("renamed/clients.csv").upload_from_string(our_shards["clients"])
    before = {t: query(stack, f"SELECT count(*) AS n FROM {stack.dataset}.{t}")[0]["n"]
              if t in [x.table_id for x in stack.bigquery().list_tables(stack.dataset)] else 0
              for t in ("films", "clients")}
    executions = deliver_all(stack, "renamed/")
    assert len(executions) == 2 and all(e.state == e.State.SUCCEEDED for e in executions), [
        e.error.payload for e in executions]
    for e in executions:
        argument = json.loads(e.argument)
        shipped = DATASETS[argument["table"]].bigquery_schema()
        assert [f["name"] for f in argument["schema"]] == [f["name"] for f in shipped]
        table = stack.bigquery().get_table(f"{stack.project}.{stack.dataset}.{argument['table']}")
        assert fields(table) == [(f["name"], same_type(f["type"])) for f in shipped]
    for t in ("films", "clients"):
        assert query(stack, f"SELECT count(*) AS n FROM {stack.dataset}.{t}")[0]["n"] == before[t] + 40
    log = (stack.folder / "function.log").read_text()
    assert "the shipped films schema: its header is that schema's columns" in log


def test_the_function_reads_the_header_only_of_a_csv_outside_our_layout_named_like_a_built_in(stack, gcs,
                                                                                                our_shards):
    """What the function reads of the bucket, seen by a recording proxy before the Storage front: nothing for our
    own shards or for names without a shipped schema; one ranged read of the first 16 KiB for a CSV outside our
    layout whose table has one; for a generation already replaced, that read finds it gone (404), and the load
    is the workflow's to skip."""
    from functions.ingest import Ingest
    from functions.ingest_config import load_config
    from functions.ingest_schema import HEAD_BYTES
    from local_cloud.fronts import Front

    class Recording(Front):
        name = "recording"

        def __init__(self, upstream):
            super().__init__(upstream)
            self.seen = []

        def handle(self, request):
            answer = self.forward(request).read()
            if "ml-dataset-pipeline-function" in request.header("User-Agent"):
                self.seen.append((request.method, request.path, request.query.get("generation"),
                                  request.header("Range"), answer.status))
            return answer

    gcs.blob("reads/films/films-00000-of-00001.csv.gz").upload_from_string(our_shards["films"])
    gcs.blob("reads/readings.csv").upload_from_string("sensor,value\na,1\n")
    gcs.blob("reads/transactions.csv").upload_from_string("id,amount\n8,1.5\n")
    (old,) = [o for o in list_objects(stack.storage_url, BUCKET) if o["name"] == "reads/transactions.csv"]
    gcs.blob("reads/transactions.csv").upload_from_string("id,amount\n9,2.5\n")
    recording = Recording(stack.storage_url).start()
    try:
        ingest = Ingest(load_config({**stack.function_env(), "STORAGE_URL": recording.url}))
        before = len(stack.workflows.executions())
        events = [o for o in list_objects(stack.storage_url, BUCKET) if o["name"].startswith("reads/")] + [old]
        arguments = [ingest.handle(o) for o in events]
        executions = stack.workflows.wait_idle()[before:]
    finally:
        recording.stop()
    assert all(a is not None for a in arguments) and len(executions) == 4
    assert all(e.state == e.State.SUCCEEDED for e in executions), [e.error.payload for e in executions]
    path = "/download/storage/v1/b/local-bucket/o/reads%2Ftransactions.csv"
    (live,) = [o for o in events[:-1] if o["name"] == "reads/transactions.csv"]
    assert recording.seen == [("GET", path, str(o["generation"]), f"bytes=0-{HEAD_BYTES - 1}", status)
                              for o, status in ((live, 206), (old, 404))], recording.seen
    assert sorted(json.loads(e.result)["state"] for e in executions) == ["DONE", "DONE", "DONE", "SUPERSEDED"]
    assert [r["id"] for r in query(stack, f"SELECT id FROM {stack.dataset}.transactions WHERE id >= 8")] == [9]


@pytest.mark.servers
def test_the_router_turns_new_objects_into_loads(tmp_path):
    """The local stack as a user runs it: write to the bucket, the rows arrive in BigQuery by themselves."""
    with LocalStack(tmp_path / "stack", bucket=BUCKET) as s:
        result = run_cli("pipelines.generate", "--datasets", "films", "--rows", "700", "--output",
                         f"gs://{BUCKET}/routed", "--format", "parquet", env=s.client_env())
        assert result.returncode == 0, result.stderr
        executions = s.wait_settled()
        assert executions and all(e.state == e.State.SUCCEEDED for e in executions)
        assert [dict(r) for r in s.bigquery().query(f"SELECT count(*) AS n FROM {s.dataset}.films").result()] == [
            {"n": 700}]
        started = [server.proc for server in s.servers]
        assert len(started) == 3  # storage, BigQuery, the function (the Workflows API runs in this process)
    assert all(proc.poll() is not None for proc in started)  # stopping the stack stopped all it started


def test_append_on_ingest_two_files_of_one_dataset_share_a_table_and_a_new_name_makes_a_new_one(stack, gcs):
    """The original design's second merge path: a known table is appended to, an unknown one created."""
    gcs.blob("jan/sales-00000-of-00001.csv").upload_from_string("region,total\nnorth,1\nsouth,2\n")
    gcs.blob("feb/sales-00000-of-00002.csv").upload_from_string("region,total\neast,3\n")
    gcs.blob("feb/returns.csv").upload_from_string("region,total\nwest,4\n")
    executions = deliver_all(stack, "jan/") + deliver_all(stack, "feb/")
    assert [e.state for e in executions] == [executions[0].State.SUCCEEDED] * 3, [e.error.payload for e in executions]
    assert sorted(r["region"] for r in query(stack, f"SELECT region FROM {stack.dataset}.sales")) == [
        "east", "north", "south"]
    assert [r["region"] for r in query(stack, f"SELECT region FROM {stack.dataset}.returns")] == ["west"]


def test_a_failed_load_is_tried_again_under_the_next_job_id_when_its_event_comes_again(stack, gcs):
    """A load that failed (here: the table had an incompatible schema, dropped since) is not stuck with its failed
    job id: the event coming again (the platform's retry, or a re-sent notification) loads under the next id."""
    stack.bigquery().query(f"CREATE TABLE {stack.dataset}.fixed (id INT64, score INT64)").result()
    gcs.blob("fix/fixed-00000-of-00001.csv").upload_from_string("id,score\n1,ten\n2,eleven\n")
    (failed,) = deliver_all(stack, "fix/fixed-")
    assert failed.state == failed.State.FAILED and "ten" in failed.error.payload
    stack.bigquery().query(f"DROP TABLE {stack.dataset}.fixed").result()
    (again,) = deliver_all(stack, "fix/fixed-")
    assert again.state == again.State.SUCCEEDED, again.error.payload
    result = json.loads(again.result)
    assert result["jobId"].endswith("_retry1") and result["state"] == "DONE"
    assert gcs.get_blob("fix/fixed-00000-of-00001.csv").metadata["loadJobId"] == result["jobId"]
    assert sorted(r["score"] for r in query(stack, f"SELECT score FROM {stack.dataset}.fixed")) == ["eleven", "ten"]


def test_a_generation_replaced_before_its_load_starts_is_not_loaded(stack, gcs):
    """An execution for generation 1 that starts after generation 2 replaced the object (the function passed it
    while 1 was live): a load job cannot pin a generation, so the workflow checks the live one and loads nothing;
    generation 2's own event loads it. Cloud Storage (and the stack's front) would already answer 404 for
    generation 1 at the workflow's first read; this execution talks to the emulator without its front, which
    serves the live object whatever generation is asked, so that the later check (for a replacement between the
    first read and the load) is the one exercised."""
    import urllib.parse

    import grpc
    from google.cloud.workflows.executions_v1 import Execution, ExecutionsClient
    from google.cloud.workflows.executions_v1.services.executions.transports import ExecutionsGrpcTransport

    from functions.ingest_naming import load_job_id
    from local_cloud.stack import WORKFLOW_LOCATION, WORKFLOW_NAME

    name = "replaced/replaced-00000-of-00001.csv"
    blob = gcs.blob(name)
    blob.upload_from_string("k\n1\n")
    first = gcs.get_blob(name).generation
    blob.upload_from_string("k\n1\n2\n")
    argument = {"bucket": BUCKET, "object": name, "object_path": urllib.parse.quote(name, safe=""),
                "generation": str(first), "format": "CSV", "project": stack.project, "dataset": stack.dataset,
                "table": "replaced", "location": stack.location, "job_id": load_job_id(BUCKET, name, first, "replaced"),
                "bigquery_url": stack.bigquery_url, "storage_url": raw_storage_url(stack)}
    channel = grpc.insecure_channel(stack.workflows.endpoint)
    client = ExecutionsClient(transport=ExecutionsGrpcTransport(channel=channel))
    parent = f"projects/{stack.project}/locations/{WORKFLOW_LOCATION}/workflows/{WORKFLOW_NAME}"
    started = client.create_execution(parent=parent, execution=Execution(argument=json.dumps(argument)))
    stack.workflows.wait_idle()
    done = client.get_execution(name=started.name)
    assert done.state == Execution.State.SUCCEEDED, done.error.payload
    assert json.loads(done.result)["state"] == "SUPERSEDED"
    (loaded,) = deliver_all(stack, "replaced/")  # generation 2's event
    assert json.loads(loaded.result)["state"] == "DONE"
    assert query(stack, f"SELECT count(*) AS n FROM {stack.dataset}.replaced")[0]["n"] == 2


@pytest.mark.parametrize("content,why", [
    ("{not json", "not JSON"),
    ('{"name": "a", "type": "INT64"}', "expected a list of fields"),
    ("[]", "expected a list of fields"),
    ('[{"type": "INT64"}]', "a field without a name"),
    ('["a"]', "a field without a name"),
])
def test_a_schema_file_that_is_not_a_schema_fails_the_load_loudly(stack, gcs, content, why):
    folder = f"broken{abs(hash(content)) % 10_000}"
    gcs.blob(f"{folder}/things.schema.json").upload_from_string(content)
    gcs.blob(f"{folder}/things-00000-of-00001.csv").upload_from_string("a\n1\n")
    (failed,) = [e for e in deliver_all(stack, f"{folder}/")]  # the schema file itself is not data
    assert failed.state == failed.State.FAILED
    assert f"gs://{BUCKET}/{folder}/things.schema.json is not a BigQuery schema - {why}" in failed.error.payload, (
        failed.error.payload)
    assert not gcs.get_blob(f"{folder}/things-00000-of-00001.csv").metadata  # not tagged: not loaded


def data_rows(bucket, prefix: str) -> dict[str, int]:
    """Data rows of the CSV, Parquet and NDJSON shards under prefix, per dataset (CSV: records after the header)."""
    counts: dict[str, int] = {}
    for blob in bucket.client.list_blobs(bucket, prefix=prefix):
        if blob.name.endswith(".csv"):
            n = len(list(csv.reader(io.StringIO(blob.download_as_text())))) - 1
        elif blob.name.endswith(".parquet"):
            n = pq.ParquetFile(io.BytesIO(blob.download_as_bytes())).metadata.num_rows
        elif is_json_shard(blob.name):
            n = len(json_objects(blob))
        else:
            continue
        counts[table_id(blob.name)] = counts.get(table_id(blob.name), 0) + n
    return counts


def values_in_files(bucket, prefix: str, dataset: str, schema: list[dict]) -> list[tuple]:
    """The rows of a dataset's CSV, Parquet and NDJSON shards under prefix as Python values, text read as BigQuery
    reads it by the schema (TIMESTAMP as an instant, NUMERIC exact, BOOL, nothing as a null in a NULLABLE CSV
    column, JSON's null): comparable with what a query of the table answers."""
    import datetime
    from decimal import Decimal

    parse = {"INT64": int, "FLOAT64": float, "NUMERIC": Decimal, "BIGNUMERIC": Decimal, "STRING": str,
             "BOOL": {"true": True, "false": False}.__getitem__, "DATE": datetime.date.fromisoformat,
             "TIMESTAMP": lambda t: datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))}
    names = [f["name"] for f in schema]
    rows = []
    for blob in bucket.client.list_blobs(bucket, prefix=prefix):
        if table_id(blob.name) != dataset:
            continue
        if blob.name.endswith(".csv"):
            for r in csv.DictReader(io.StringIO(blob.download_as_text())):
                assert list(r) == names, (blob.name, list(r))
                rows.append(tuple(None if r[f["name"]] == "" and f["mode"] == "NULLABLE" else
                                  parse[f["type"]](r[f["name"]]) for f in schema))
        elif blob.name.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(blob.download_as_bytes()))
            assert table.column_names == names, (blob.name, table.column_names)
            rows.extend(tuple(r[n] for n in names) for r in table.to_pylist())
        elif is_json_shard(blob.name):
            for o in json_objects(blob):
                assert list(o) == names, (blob.name, list(o))
                rows.append(tuple(o[f["name"]] if o[f["name"]] is None or f["type"] in ("INT64", "BOOL") else
                                  parse[f["type"]](o[f["name"]]) for f in schema))
    return rows


def test_a_user_spec_that_references_clients_loads_and_joins_back(stack, gcs, tmp_path):
    """A user's own spec (docs/examples/orders.yaml: orders whose client_id references clients.client_id)
    generated with clients, as CSV, as Parquet and as NDJSON (plain and gzip): each shard loads with the schema
    written beside it (TIMESTAMP, NUMERIC, BOOL, NULLABLE columns), every row arrives with its values, and every
    order finds its client.

    Runs after the other tests of this module: it adds rows to their clients table (tables are named after the
    datasets), so the checks here do not assume that table holds only these rows."""
    from tests.test_dataflow import write_orders_spec

    def table(name: str) -> str:
        return f"`{stack.project}.{stack.dataset}.{name}`"

    def count(name: str) -> int:
        return query(stack, f"SELECT count(*) AS n FROM {table(name)}")[0]["n"]

    spec = write_orders_spec(tmp_path)
    existing = [t.table_id for t in stack.bigquery().list_tables(stack.dataset)]
    clients_before = count("clients") if "clients" in existing else 0
    loaded = {"orders": 0, "clients": 0}
    for fmt, seed, compression in (("csv", "11", "none"), ("parquet", "12", "snappy"), ("ndjson", "13", "none"),
                                   ("ndjson", "14", "gzip")):
        prefix = f"spec-{fmt}-{compression}/"
        result = run_cli("pipelines.generate", "--spec", spec, "--datasets", "clients", "--rows", "3000", "--seed",
                         seed, "--output", f"gs://{BUCKET}/{prefix}", "--format", fmt, "--compression", compression,
                         "--num_shards", "2", "--block_rows", "1000", "--no_progress", env=stack.client_env())
        assert result.returncode == 0, result.stderr
        schema = json.loads(gcs.blob(f"{prefix}orders/orders.schema.json").download_as_text())
        executions = deliver_all(stack, prefix)
        assert len(executions) == 4 and all(e.state == e.State.SUCCEEDED for e in executions), (fmt, [
            e.error.payload for e in executions if e.state != e.State.SUCCEEDED])
        in_files = data_rows(gcs, prefix)
        assert in_files == {"orders": 3000, "clients": 3000}, in_files
        loaded = {name: n + in_files[name] for name, n in loaded.items()}
        assert count("orders") == loaded["orders"], fmt
        assert count("clients") == clients_before + loaded["clients"], fmt
        orders = stack.bigquery().get_table(f"{stack.project}.{stack.dataset}.orders")
        assert fields(orders) == [(f["name"], same_type(f["type"])) for f in schema], fmt
    assert {f["type"] for f in schema} >= {"INT64", "TIMESTAMP", "NUMERIC", "BOOL", "STRING"}, schema

    # Every value arrives as written: the timestamps' instants, the exact numerics, the booleans, the nulls.
    names = [f["name"] for f in schema]
    in_table = Counter(tuple(r[n] for n in names) for r in query(stack, f"SELECT * FROM {table('orders')}"))
    assert in_table == Counter(values_in_files(gcs, "spec-", "orders", schema))  # equal Decimals hash alike

    # References join back: every order finds its client (client_id 1..3000 of the clients generated with it).
    orphans = query(stack, f"SELECT count(*) AS n FROM {table('orders')} o WHERE NOT EXISTS "
                           f"(SELECT 1 FROM {table('clients')} c WHERE c.client_id = o.client_id)")
    assert orphans == [{"n": 0}]
    joined = query(stack, f"SELECT count(*) AS n, min(o.client_id) AS lo, max(o.client_id) AS hi "
                          f"FROM {table('orders')} o JOIN (SELECT DISTINCT client_id FROM {table('clients')}) c "
                          f"ON c.client_id = o.client_id")[0]
    assert joined["n"] == loaded["orders"] and 1 <= joined["lo"] <= joined["hi"] <= 3000, joined

    # A NULLABLE string column (the template with nulls) holds nulls where the CSV had nothing and the Parquet a
    # null, and no empty strings.
    column = next(f["name"] for f in schema if f["type"] == "STRING" and f["mode"] == "NULLABLE")
    nulls = query(stack, f"SELECT countif({column} IS NULL) AS nulls, countif({column} = '') AS empty "
                         f"FROM {table('orders')}")[0]
    in_files = Counter(row[names.index(column)] is None for row in values_in_files(gcs, "spec-", "orders", schema))
    assert in_files[True] > 0 and nulls == {"nulls": in_files[True], "empty": 0}, (column, nulls)


def test_the_stacks_help_names_the_folder_it_writes_whatever_the_current_folder(tmp_path):
    from tests.helpers import ROOT, run_cli

    result = run_cli("local_cloud.stack", "--help", cwd=tmp_path)
    assert result.returncode == 0 and str(ROOT / ".local_cloud") in result.stdout.replace("\n", "").replace(
        " " * 21, " "), result.stdout


def test_the_docs_show_how_to_install_the_merge_procedures_on_the_local_stack():
    from tests.helpers import ROOT

    text = (ROOT / "docs" / "ingest.md").read_text()
    assert 'python -m sql.install --project local-project --bq_dataset ingest --bigquery_url "$BIGQUERY_EMULATOR_URL"' \
        in text
    help_text = run_cli("sql.install", "--help").stdout
    assert "--bigquery_url" in help_text


def test_redrive_starts_the_loads_whose_events_were_lost_and_never_loads_twice(stack, gcs):
    from local_cloud.stack import WORKFLOW_LOCATION

    for i in range(2):  # their events never reach the function (lost while it was away)
        gcs.blob(f"redrive/redriven-0000{i}-of-00002.csv").upload_from_string(f"id,score\n{i},{10 * i}\n")
    gcs.blob("redrive/_SUCCESS").upload_from_string("")
    flags = ["--bucket", BUCKET, "--project", stack.project, "--bq_dataset", stack.dataset, "--location",
             WORKFLOW_LOCATION, "--prefix", "redrive/"]
    dry = run_cli("pipelines.redrive", *flags, "--dry_run", env=stack.client_env())
    assert dry.returncode == 0 and dry.stdout.count("would start the load of") == 2, dry.stderr
    before = len(stack.workflows.executions())
    first = run_cli("pipelines.redrive", *flags, env=stack.client_env())
    assert first.returncode == 0 and "started 2 load(s)" in first.stderr, first.stderr
    started = stack.workflows.wait_idle()[before:]
    assert len(started) == 2 and all(e.state == e.State.SUCCEEDED for e in started), [e.error for e in started]
    rows = query(stack, f"SELECT id, score FROM {stack.dataset}.redriven ORDER BY id")
    assert [(r["id"], r["score"]) for r in rows] == [(0, 0), (1, 10)]
    again = run_cli("pipelines.redrive", *flags, env=stack.client_env())  # every object is tagged now
    assert again.returncode == 0 and "started 0 load(s)" in again.stderr, again.stderr
    assert len(stack.workflows.executions()) == before + 2
    assert len(query(stack, f"SELECT id FROM {stack.dataset}.redriven")) == 2  # loaded once


def test_redrive_names_what_is_missing_in_one_line():
    result = run_cli("pipelines.redrive", "--bucket", "b-ok", "--project", "my-project", "--location",
                     "europe-west1", env={"WORKFLOWS_ENDPOINT": "", "GOOGLE_CLOUD_PROJECT": ""})
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "--bq_dataset is not given" in result.stderr
