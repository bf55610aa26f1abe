"""Create or update everything the project needs in one Google Cloud project and region, least privilege.

    python -m deploy.gcp --project my-project --region europe-west1 --bucket my-bucket --dataset ml_datasets --dry-run

prints (with --dry-run) or runs, in order: the APIs; the bucket and the BigQuery dataset; three service accounts
with the roles of ``ROLES`` (the README's IAM table is checked against it); the load workflow; the ingest
function on the bucket's finalize event; the merge procedures. Every create is guarded by a describe, bindings and
deploys are create-or-update, so a second run changes nothing.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass

ACCOUNTS = {  # key -> (account id, what it runs as)
    "function": ("mldp-ingest-function", "the ingest Cloud Function and its Eventarc trigger"),
    "workflow": ("mldp-load-workflow", "the load-to-bigquery workflow"),
    "dataflow": ("mldp-dataflow-worker", "Dataflow workers of the jobs"),
}


@dataclass(frozen=True)
class Grant:
    account: str  # a key of ACCOUNTS, or "storage-agent" (Cloud Storage's service agent)
    role: str
    scope: str  # project, bucket or dataset
    why: str


ROLES = [
    Grant("function", "roles/workflows.invoker", "project", "start executions of the load workflow"),
    Grant("function", "roles/eventarc.eventReceiver", "project", "receive the bucket's finalize events"),
    Grant("function", "roles/storage.objectViewer", "bucket",
          "read an object's live generation and the schema file beside it"),
    Grant("workflow", "roles/bigquery.jobUser", "project", "run load jobs"),
    Grant("workflow", "roles/bigquery.dataEditor", "dataset", "create and append to tables of the dataset"),
    Grant("workflow", "roles/storage.objectUser", "bucket", "read objects for loads and tag their metadata"),
    Grant("workflow", "roles/logging.logWriter", "project", "write the workflow's logs"),
    Grant("dataflow", "roles/dataflow.worker", "project", "run Dataflow work items"),
    Grant("dataflow", "roles/storage.objectAdmin", "bucket", "write shards and temp files, remove temp files"),
    Grant("dataflow", "roles/artifactregistry.reader", "project", "pull the Flex Template image"),
    Grant("storage-agent", "roles/pubsub.publisher", "project", "publish the bucket's events for Eventarc"),
]

WORKFLOW = "load-to-bigquery"
FUNCTION = "ingest-on-new-file"
APIS = ["dataflow", "workflows", "workflowexecutions", "cloudfunctions", "run", "eventarc", "pubsub", "bigquery",
        "storage", "artifactregistry", "cloudbuild", "logging"]


@dataclass(frozen=True)
class Step:
    what: str
    command: str


def q(value: str) -> str:
    return shlex.quote(value)


def email(key: str, project: str) -> str:
    return f"{ACCOUNTS[key][0]}@{project}.iam.gserviceaccount.com"


def member(account: str, project: str) -> str:
    if account == "storage-agent":
        return "serviceAccount:$(gcloud storage service-agent --project " + q(project) + ")"
    return f"serviceAccount:{email(account, project)}"


def plan(project: str, region: str, bucket: str, dataset: str, bq_location: str) -> list[Step]:
    p, r, b, d = q(project), q(region), q(bucket), q(dataset)
    steps = [Step("enable the APIs",
                  f"gcloud services enable {' '.join(a + '.googleapis.com' for a in APIS)} --project {p}")]
    steps.append(Step(f"bucket gs://{bucket}",
                      f"gcloud storage buckets describe gs://{b} --project {p} >/dev/null 2>&1 || "
                      f"gcloud storage buckets create gs://{b} --project {p} --location {r} "
                      "--uniform-bucket-level-access"))
    steps.append(Step(f"dataset {project}:{dataset}",
                      f"bq --project_id {p} show --dataset {p}:{d} >/dev/null 2>&1 || "
                      f"bq --project_id {p} --location {q(bq_location)} mk --dataset {p}:{d}"))
    for key, (account, what) in ACCOUNTS.items():
        steps.append(Step(f"service account for {what}",
                          f"gcloud iam service-accounts describe {email(key, project)} --project {p} >/dev/null "
                          f"2>&1 || gcloud iam service-accounts create {account} --project {p} "
                          f"--display-name {q('ml-dataset-pipeline: ' + what)}"))
    for g in ROLES:
        who = member(g.account, project)
        if g.scope == "project":
            cmd = (f"gcloud projects add-iam-policy-binding {p} --member \"{who}\" --role {g.role} "
                   "--condition None --quiet >/dev/null")
        elif g.scope == "bucket":
            cmd = (f"gcloud storage buckets add-iam-policy-binding gs://{b} --member \"{who}\" --role {g.role} "
                   ">/dev/null")
        else:
            cmd = f"bq add-iam-policy-binding --member \"{who}\" --role {g.role} {p}:{d} >/dev/null"
        steps.append(Step(f"{g.role} on the {g.scope} for {g.account}: {g.why}", cmd))
    steps.append(Step("the load workflow (create or update)",
                      f"gcloud workflows deploy {WORKFLOW} --project {p} --location {r} "
                      f"--source workflows/load_to_bigquery.yaml --service-account {email('workflow', project)}"))
    env = ",".join([f"PROJECT_ID={project}", f"WORKFLOW_LOCATION={region}", f"WORKFLOW_NAME={WORKFLOW}",
                    f"BQ_DATASET={dataset}", f"BQ_LOCATION={bq_location}"])
    steps.append(Step("the ingest function on the bucket's finalize event (create or update)",
                      f"gcloud functions deploy {FUNCTION} --gen2 --project {p} --region {r} --runtime python311 "
                      f"--source functions --entry-point on_new_file --retry "
                      f"--service-account {email('function', project)} "
                      f"--trigger-service-account {email('function', project)} "
                      f"--trigger-event-filters type=google.cloud.storage.object.v1.finalized "
                      f"--trigger-event-filters bucket={b} --set-env-vars {q(env)}"))
    steps.append(Step("the merge procedures (create or replace)",
                      f"python -m sql.install --project {p} --dataset {d}"))
    return steps


_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_DATASET = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m deploy.gcp", description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", required=True)
    ap.add_argument("--region", required=True, help="e.g. europe-west1: bucket, workflow, function, Dataflow")
    ap.add_argument("--bucket", required=True, help="the bucket name, without gs://")
    ap.add_argument("--dataset", required=True, help="the BigQuery dataset")
    ap.add_argument("--bq_location", default="EU", help="the dataset's location (default EU)")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, in order, and run nothing")
    args = ap.parse_args(argv)
    for name, value, pattern, what in (("--project", args.project, _PROJECT, "a project id"),
                                       ("--region", args.region, _REGION, "a region such as europe-west1"),
                                       ("--bucket", args.bucket, _BUCKET, "a bucket name without gs://"),
                                       ("--dataset", args.dataset, _DATASET, "letters, digits, underscores")):
        if not pattern.match(value):
            print(f"python -m deploy.gcp: error: {name}: expected {what}, got {value!r}", file=sys.stderr)
            return 2
    steps = plan(args.project, args.region, args.bucket, args.dataset, args.bq_location)
    for i, step in enumerate(steps, 1):
        print(f"# {i}. {step.what}\n{step.command}", flush=True)
        if not args.dry_run:
            done = subprocess.run(["bash", "-c", "set -o pipefail; " + step.command])
            if done.returncode:
                print(f"python -m deploy.gcp: step {i} failed ({step.what}); fix it and run again: every step "
                      "is safe to repeat", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
