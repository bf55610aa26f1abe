"""The fronts of local_cloud/fronts.py make the emulators answer as Google Cloud does on a duplicate job id and on
generation preconditions, atomically under concurrency; and the emulators alone do not (why the fronts exist)."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from google.api_core.exceptions import Conflict, PreconditionFailed
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, storage

from local_cloud.stack import LocalStack

BUCKET = "front-bucket"
CSV = "n,word\n1,one\n2,two\n3,three\n"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LocalStack(tmp_path_factory.mktemp("fronts"), bucket=BUCKET, route_events=False) as s:
        yield s


@pytest.fixture(scope="module")
def bucket(stack):
    old = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = stack.storage_url
    try:
        yield storage.Client(project=stack.project, credentials=AnonymousCredentials()).bucket(BUCKET)
    finally:
        if old is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = old


def raw_url(stack, name: str) -> str:
    """The emulator itself, behind its front."""
    server = next(s for s in stack.servers if s.name == name)
    return f"http://127.0.0.1:{server.port}"


def object_url(base: str, name: str) -> str:
    return f"{base}/storage/v1/b/{BUCKET}/o/{requests.utils.quote(name, safe='')}"


def test_the_storage_emulator_alone_ignores_generation_preconditions(stack, bucket):
    """Why the front exists: if this fails, gcp-storage-emulator honours them and the front could go."""
    bucket.blob("facts/ignored.csv").upload_from_string(CSV)
    answer = requests.patch(object_url(raw_url(stack, "gcp-storage-emulator"), "facts/ignored.csv"),
                            params={"ifGenerationMatch": "1"}, json={"metadata": {"k": "v"}}, timeout=30)
    assert answer.status_code == 200


def test_the_storage_emulator_alone_serves_a_replaced_generation(stack, bucket):
    """Why the front exists: if this fails, gcp-storage-emulator answers for generations itself."""
    blob = bucket.blob("facts/replaced.csv")
    blob.upload_from_string(CSV)
    old = blob.generation
    blob.upload_from_string(CSV + "4,four\n")
    answer = requests.get(object_url(raw_url(stack, "gcp-storage-emulator"), "facts/replaced.csv"),
                          params={"generation": str(old)}, timeout=30)
    assert answer.status_code == 200 and answer.json()["generation"] == str(blob.generation)


def test_only_the_live_generation_is_served_as_in_a_bucket_without_versioning(stack, bucket):
    blob = bucket.blob("pre/generations.csv")
    blob.upload_from_string(CSV)
    old = blob.generation
    blob.upload_from_string(CSV + "4,four\n")
    url = object_url(stack.storage_url, "pre/generations.csv")
    media = f"{stack.storage_url}/download/storage/v1/b/{BUCKET}/o/pre%2Fgenerations.csv"
    assert requests.get(url, params={"generation": str(old)}, timeout=30).status_code == 404
    assert requests.get(media, params={"generation": str(old), "alt": "media"}, timeout=30).status_code == 404
    assert requests.patch(url, params={"generation": str(old)}, json={"metadata": {"k": "v"}},
                          timeout=30).status_code == 404
    live = requests.get(url, params={"generation": str(blob.generation)}, timeout=30)
    assert live.status_code == 200 and live.json()["generation"] == str(blob.generation)


def test_a_patch_for_a_replaced_generation_is_refused(stack, bucket):
    blob = bucket.blob("pre/patch.csv")
    blob.upload_from_string(CSV)
    stale = blob.generation
    blob.upload_from_string(CSV + "4,four\n")  # a newer generation replaces it
    blob.metadata = {"status": "loaded"}
    with pytest.raises(PreconditionFailed):
        blob.patch(if_generation_match=stale)
    blob.patch(if_generation_match=blob.generation)
    blob.reload()
    assert blob.metadata == {"status": "loaded"}


def test_of_eight_concurrent_creates_if_absent_exactly_one_wins(stack, bucket):
    def create(i: int):
        try:
            bucket.blob("pre/once.csv").upload_from_string(f"{CSV}{i},writer\n", if_generation_match=0)
            return i
        except PreconditionFailed:
            return None

    with ThreadPoolExecutor(8) as pool:
        winners = [i for i in pool.map(create, range(8)) if i is not None]
    assert len(winners) == 1
    assert bucket.blob("pre/once.csv").download_as_text().endswith(f"{winners[0]},writer\n")


def test_a_resumable_upload_honours_its_precondition_when_it_completes(stack, bucket):
    existing = bucket.blob("pre/resumable.bin")
    existing.upload_from_string(b"first")
    blob = bucket.blob("pre/resumable.bin", chunk_size=256 * 1024)  # a chunk size makes the upload resumable
    with pytest.raises(PreconditionFailed):
        blob.upload_from_string(b"x" * (600 * 1024), if_generation_match=0)
    assert bucket.blob("pre/resumable.bin").download_as_bytes() == b"first"
    blob.upload_from_string(b"y" * (600 * 1024), if_generation_match=existing.generation)
    assert bucket.blob("pre/resumable.bin").download_as_bytes() == b"y" * (600 * 1024)


def test_metageneration_preconditions_guard_metadata_updates(stack, bucket):
    blob = bucket.blob("pre/meta.csv")
    blob.upload_from_string(CSV)
    blob.reload()
    first = blob.metageneration
    blob.metadata = {"a": "1"}
    blob.patch(if_metageneration_match=first)
    assert blob.metageneration == first + 1
    blob.metadata = {"a": "2"}
    with pytest.raises(PreconditionFailed):
        blob.patch(if_metageneration_match=first)
    with pytest.raises(PreconditionFailed):
        blob.reload(if_metageneration_not_match=first + 1)
    blob.reload()
    assert blob.metadata == {"a": "1"}


def test_a_patch_merges_metadata_keys_and_a_null_removes_one_as_cloud_storage_does(stack, bucket):
    bucket.blob("pre/merge.csv").upload_from_string(CSV)
    url = object_url(stack.storage_url, "pre/merge.csv")
    for change in ({"a": "1", "b": "2"}, {"b": "3", "c": "4"}, {"a": None}):
        answer = requests.patch(url, json={"metadata": change}, timeout=30)
        assert answer.status_code == 200, answer.text
    assert requests.get(url, timeout=30).json()["metadata"] == {"b": "3", "c": "4"}


def test_copies_check_the_destinations_and_the_sources_preconditions(stack, bucket):
    source = bucket.blob("pre/copy-src.csv")
    source.upload_from_string(CSV)
    bucket.blob("pre/copy-dst.csv").upload_from_string("taken")
    with pytest.raises(PreconditionFailed):
        bucket.copy_blob(source, bucket, "pre/copy-dst.csv", if_generation_match=0)
    with pytest.raises(PreconditionFailed):
        bucket.copy_blob(source, bucket, "pre/copy-new.csv", if_source_generation_match=source.generation + 1)
    bucket.copy_blob(source, bucket, "pre/copy-new.csv", if_generation_match=0,
                     if_source_generation_match=source.generation)
    assert bucket.blob("pre/copy-new.csv").download_as_text() == CSV


def load_body(stack, job_id: str, table: str) -> dict:
    return {"jobReference": {"projectId": stack.project, "jobId": job_id, "location": stack.location},
            "configuration": {"load": {
                "sourceUris": [f"gs://{BUCKET}/jobs/data.csv"], "sourceFormat": "CSV", "skipLeadingRows": 1,
                "autodetect": True, "writeDisposition": "WRITE_APPEND", "createDisposition": "CREATE_IF_NEEDED",
                "destinationTable": {"projectId": stack.project, "datasetId": stack.dataset, "tableId": table}}}}


def insert(base: str, stack, body: dict) -> requests.Response:
    return requests.post(f"{base}/bigquery/v2/projects/{stack.project}/jobs", json=body, timeout=120)


def rows(stack, table: str) -> int:
    sql = f"SELECT count(*) AS n FROM `{stack.project}.{stack.dataset}.{table}`"
    return next(iter(stack.bigquery().query(sql).result()))["n"]


def wait_done(stack, job_id: str):
    stack.bigquery().get_job(job_id, location=stack.location).result(timeout=120)


def test_bqemulator_alone_runs_a_second_job_under_a_job_id_it_has(stack, bucket):
    """Why the front exists: if this fails, bqemulator answers duplicates itself and the front could go."""
    bucket.blob("jobs/data.csv").upload_from_string(CSV)
    raw = raw_url(stack, "bqemulator")
    for _ in range(2):
        answer = insert(raw, stack, load_body(stack, "fact_duplicate", "fact_table"))
        assert answer.status_code == 200, answer.text
        wait_done(stack, "fact_duplicate")
    assert rows(stack, "fact_table") == 6


def test_of_eight_concurrent_inserts_of_one_job_id_one_runs_and_seven_get_409_duplicate(stack, bucket):
    bucket.blob("jobs/data.csv").upload_from_string(CSV)
    body = load_body(stack, "front_once", "front_table")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: insert(stack.bigquery_url, stack, body), range(8)))
    assert sorted(a.status_code for a in answers) == [200] + [409] * 7
    refused = [a.json()["error"] for a in answers if a.status_code == 409]
    assert all(e["status"] == "ALREADY_EXISTS" and e["errors"][0]["reason"] == "duplicate" for e in refused)
    assert refused[0]["message"] == f"Already Exists: Job {stack.project}:{stack.location}.front_once"
    wait_done(stack, "front_once")
    assert insert(stack.bigquery_url, stack, body).status_code == 409  # also once the job is done
    assert rows(stack, "front_table") == 3


def test_the_bigquery_client_sees_a_duplicate_job_id_as_conflict(stack, bucket):
    bucket.blob("jobs/data.csv").upload_from_string(CSV)
    client = stack.bigquery()
    config = bigquery.LoadJobConfig(source_format="CSV", skip_leading_rows=1, autodetect=True)
    table = f"{stack.project}.{stack.dataset}.client_table"
    client.load_table_from_uri(f"gs://{BUCKET}/jobs/data.csv", table, job_id="client_once",
                               location=stack.location, job_config=config).result(timeout=120)
    with pytest.raises(Conflict):
        client.load_table_from_uri(f"gs://{BUCKET}/jobs/data.csv", table, job_id="client_once",
                                   location=stack.location, job_config=config)
    assert rows(stack, "client_table") == 3


def test_requests_without_a_rule_pass_through_unchanged(stack, bucket):
    bucket.blob("plain/a.csv").upload_from_string(CSV)
    listed = requests.get(f"{stack.storage_url}/storage/v1/b/{BUCKET}/o", params={"prefix": "plain/"}, timeout=30)
    assert [o["name"] for o in listed.json()["items"]] == ["plain/a.csv"]
    media = requests.get(f"{stack.storage_url}/download/storage/v1/b/{BUCKET}/o/plain%2Fa.csv",
                         params={"alt": "media"}, timeout=30)
    assert media.content == CSV.encode() and media.headers["Content-Length"] == str(len(CSV))
    datasets = requests.get(f"{stack.bigquery_url}/bigquery/v2/projects/{stack.project}/datasets", timeout=30)
    assert stack.dataset in json.dumps(datasets.json())
