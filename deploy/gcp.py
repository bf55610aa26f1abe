"""Create or update everything the project needs in one Google Cloud project and region, least privilege.

    python -m deploy.gcp --project my-project --region europe-west1 --bucket my-bucket --bq_dataset ml_datasets \
        --dry_run

prints (with --dry_run) or runs, in order: the APIs; the bucket, its secrets bucket, the BigQuery dataset and the
image repository; four service accounts and two custom roles, with the roles of ``ROLES`` (the README's IAM
table is checked against it); the load workflow; the ingest function on the bucket's finalize event, and who may
call it; the merge procedures. Commands run in the project's root folder (paths in them are relative to it).
Every create is guarded by a describe, custom roles are updated to the same permissions, bindings and deploys
are create-or-update, so a second run changes nothing (Workflows and Cloud Functions record a new revision).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from functions.file_layout import DATASET_ID, PROJECT_ID
from pipelines import cli

ROOT = Path(__file__).resolve().parents[1]  # the commands' paths (workflows/, functions/) are relative to it

ACCOUNTS = {  # key -> (account id, what it runs as)
    "function": ("mldp-ingest-function", "the ingest Cloud Function"),
    "trigger": ("mldp-ingest-trigger", "the function's Eventarc trigger"),
    "workflow": ("mldp-load-workflow", "the load-to-bigquery workflow"),
    "dataflow": ("mldp-dataflow-worker", "Dataflow workers and Flex Template launchers of the jobs"),
}

# Custom roles, narrower than any predefined one: id -> (title, permissions).
CUSTOM_ROLES = {
    "mldpExecutionStarter": ("ml-dataset-pipeline: start workflow executions", ["workflows.executions.create"]),
    # list: without it, Cloud Storage answers 403 instead of 404 for an object that is not there (a schema file
    # that is absent, a generation that is gone), which the workflow must tell from a real refusal
    "mldpObjectTagger": ("ml-dataset-pipeline: read and tag objects",
                         ["storage.objects.get", "storage.objects.list", "storage.objects.update"]),
    # the function reads the first bytes of a CSV named like a built-in dataset outside our layout (its header
    # decides whether the shipped schema applies); the object is the event's, so it is there: no list
    "mldpObjectReader": ("ml-dataset-pipeline: read objects", ["storage.objects.get"]),
}


@dataclass(frozen=True)
class Grant:
    account: str  # a key of ACCOUNTS, or "storage-agent" (Cloud Storage's service agent)
    role: str  # a predefined role, or "custom:<id>" of CUSTOM_ROLES
    scope: str  # project, bucket, dataset, repository (the image repository) or function
    why: str


ROLES = [
    Grant("function", "custom:mldpExecutionStarter", "project",
          "start executions of the load workflow (workflows.executions.create only)"),
    Grant("function", "custom:mldpObjectReader", "bucket",
          "read the header of a CSV named like a built-in dataset outside the shard layout (storage.objects.get only)"),
    Grant("trigger", "roles/eventarc.eventReceiver", "project", "receive the bucket's finalize events"),
    Grant("trigger", "roles/run.invoker", "function", "deliver the events to the function"),
    Grant("workflow", "roles/bigquery.jobUser", "project", "run load jobs"),
    Grant("workflow", "roles/bigquery.dataEditor", "dataset", "create and append to tables of the dataset"),
    Grant("workflow", "custom:mldpObjectTagger", "bucket",
          "read objects and their schema files (for loads too), and tag their metadata"),
    Grant("dataflow", "roles/dataflow.worker", "project", "run Dataflow work items"),
    Grant("dataflow", "roles/storage.objectAdmin", "bucket", "write shards and temp files, remove temp files"),
    Grant("dataflow", "roles/artifactregistry.reader", "repository", "pull the Flex Template image"),
    Grant("dataflow", "roles/storage.objectViewer", "secrets", "read the database DSN file (--dsn_file)"),
    Grant("storage-agent", "roles/pubsub.publisher", "project", "publish the bucket's events for Eventarc"),
]

WORKFLOW = "load-to-bigquery"
FUNCTION = "ingest-on-new-file"
REPOSITORY = "ml-dataset-pipeline"  # Artifact Registry (docker) repository of the Flex Template images
APIS = ["dataflow", "workflows", "workflowexecutions", "cloudfunctions", "run", "eventarc", "pubsub", "bigquery",
        "storage", "artifactregistry", "cloudbuild", "logging", "iam"]
# Regions in Europe that BigQuery's EU multi-region does not contain (London, Zurich).
_OUTSIDE_EU = {"europe-west2", "europe-west6"}


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


def secrets_bucket(bucket: str) -> str:
    """A bucket of its own for secrets (the DSN file): only the Dataflow workers may read it."""
    return f"{bucket}-secrets"


def role_name(role: str, project: str) -> str:
    return f"projects/{project}/roles/{role[7:]}" if role.startswith("custom:") else role


def check_location(region: str, bq_location: str) -> str | None:
    """Why a load from a bucket in ``region`` into a dataset in ``bq_location`` would fail, or None: BigQuery
    loads from the dataset's own region, from inside its multi-region, or (US only) from anywhere."""
    if bq_location.upper() == "US" or bq_location.lower() == region:
        return None
    if bq_location.upper() == "EU" and region.startswith("europe-") and region not in _OUTSIDE_EU:
        return None
    eu = ", EU" if region.startswith("europe-") and region not in _OUTSIDE_EU else ""
    return f"expected {region} (the bucket's region){eu} or US: BigQuery loads a bucket in {region} only there"


def grant_command(g: Grant, project: str, region: str, bucket: str, dataset: str, bq_location: str) -> str:
    p, r, who, role = q(project), q(region), member(g.account, project), role_name(g.role, project)
    if g.scope == "project":
        return (f"gcloud projects add-iam-policy-binding {p} --member \"{who}\" --role {role} --condition None "
                "--quiet >/dev/null")
    if g.scope in ("bucket", "secrets"):
        bucket = secrets_bucket(bucket) if g.scope == "secrets" else bucket
        return (f"gcloud storage buckets add-iam-policy-binding gs://{q(bucket)} --member \"{who}\" --role {role} "
                ">/dev/null")
    if g.scope == "repository":
        return (f"gcloud artifacts repositories add-iam-policy-binding {REPOSITORY} --project {p} --location {r} "
                f"--member \"{who}\" --role {role} >/dev/null")
    if g.scope == "function":
        assert role == "roles/run.invoker", role  # what add-invoker-policy-binding grants (on the Run service)
        return (f"gcloud functions add-invoker-policy-binding {FUNCTION} --project {p} --region {r} "
                f"--member \"{who}\" >/dev/null")
    # A dataset's IAM through BigQuery's DCL (a GRANT that exists already changes nothing).
    grant = f'GRANT \\`{role}\\` ON SCHEMA \\`{project}.{dataset}\\` TO \\"{who}\\"'
    return f'bq --project_id {p} --location {q(bq_location)} query --nouse_legacy_sql "{grant}" >/dev/null'


def plan(project: str, region: str, bucket: str, dataset: str, bq_location: str) -> list[Step]:
    p, r, b, d = q(project), q(region), q(bucket), q(dataset)
    steps = [Step("enable the APIs",
                  f"gcloud services enable {' '.join(a + '.googleapis.com' for a in APIS)} --project {p}")]
    for name, what, extra in ((bucket, "", ""),
                              (secrets_bucket(bucket), " for secrets (the DSN file), readable by the workers only",
                               " --public-access-prevention")):
        steps.append(Step(f"bucket gs://{name} in {region}{what}",
                          f"gcloud storage buckets describe gs://{q(name)} --project {p} >/dev/null 2>&1 || "
                          f"gcloud storage buckets create gs://{q(name)} --project {p} --location {r} "
                          f"--uniform-bucket-level-access{extra}"))
    steps.append(Step(f"dataset {project}:{dataset} in {bq_location}",
                      f"bq --project_id {p} show --dataset {p}:{d} >/dev/null 2>&1 || "
                      f"bq --project_id {p} --location {q(bq_location)} mk --dataset {p}:{d}"))
    steps.append(Step(f"image repository {REPOSITORY} (Flex Template images)",
                      f"gcloud artifacts repositories describe {REPOSITORY} --project {p} --location {r} >/dev/null "
                      f"2>&1 || gcloud artifacts repositories create {REPOSITORY} --project {p} --location {r} "
                      "--repository-format docker"))
    for key, (account, what) in ACCOUNTS.items():
        steps.append(Step(f"service account for {what}",
                          f"gcloud iam service-accounts describe {email(key, project)} --project {p} >/dev/null "
                          f"2>&1 || gcloud iam service-accounts create {account} --project {p} "
                          f"--display-name {q('ml-dataset-pipeline: ' + what)}"))
    for role, (title, permissions) in CUSTOM_ROLES.items():
        perms = ",".join(permissions)
        steps.append(Step(f"custom role {role}: {perms}",
                          f"if gcloud iam roles describe {role} --project {p} >/dev/null 2>&1; then "
                          f"gcloud iam roles update {role} --project {p} --permissions {perms} --quiet >/dev/null; "
                          f"else gcloud iam roles create {role} --project {p} --title {q(title)} "
                          f"--permissions {perms} --stage GA; fi"))
    grants = [g for g in ROLES if g.scope != "function"]  # the function's own binding needs the function
    for g in grants:
        steps.append(Step(f"{g.role} on the {g.scope} for {g.account}: {g.why}",
                          grant_command(g, project, region, bucket, dataset, bq_location)))
    steps.append(Step("the load workflow (create or update)",
                      f"gcloud workflows deploy {WORKFLOW} --project {p} --location {r} "
                      f"--source workflows/load_to_bigquery.yaml --service-account {email('workflow', project)}"))
    env = ",".join([f"PROJECT_ID={project}", f"WORKFLOW_LOCATION={region}", f"WORKFLOW_NAME={WORKFLOW}",
                    f"BUCKET={bucket}", f"BQ_DATASET={dataset}", f"BQ_LOCATION={bq_location}"])
    steps.append(Step("the ingest function on the bucket's finalize event (create or update)",
                      f"gcloud functions deploy {FUNCTION} --gen2 --project {p} --region {r} --runtime python311 "
                      f"--source functions --entry-point on_new_file --retry --no-allow-unauthenticated "
                      f"--service-account {email('function', project)} "
                      f"--trigger-service-account {email('trigger', project)} "
                      f"--trigger-event-filters type=google.cloud.storage.object.v1.finalized "
                      f"--trigger-event-filters bucket={b} --set-env-vars {q(env)}"))
    for g in ROLES:
        if g.scope == "function":
            steps.append(Step(f"{g.role} on the function for {g.account}: {g.why}",
                              grant_command(g, project, region, bucket, dataset, bq_location)))
    steps.append(Step("the merge procedures (create or replace)",
                      f"{q(sys.executable)} -m sql.install --project {p} --bq_dataset {d}"))
    return steps


_PROJECT = re.compile(rf"^{PROJECT_ID}$")
# Narrower than a bucket name (functions.file_layout.BUCKET): no dots, and room for the -secrets bucket's name.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9_-]{1,53}[a-z0-9]$")
_DATASET = re.compile(rf"^{DATASET_ID}$")
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")


PROG = "python -m deploy.gcp"


def run(argv=None) -> int:
    ap = cli.parser(PROG, __doc__.split("\n\n")[0],
                    renamed={"--dataset": "--bq_dataset", "--dry-run": "--dry_run"})
    ap.add_argument("--project", default=None, help="the project id")
    ap.add_argument("--region", default=None, help="e.g. europe-west1: bucket, workflow, function, Dataflow")
    ap.add_argument("--bucket", default=None, help="the bucket name, without gs://")
    ap.add_argument("--bq_dataset", default=None, help="the BigQuery dataset")
    ap.add_argument("--bq_location", default=None,
                    help="the dataset's location: the region (default), EU for a region inside it, or US")
    ap.add_argument("--dry_run", action="store_true", help="print the commands, in order, and run nothing")
    args = ap.parse_args(argv)
    for name, value, pattern, what in (("--project", args.project, _PROJECT, "a project id"),
                                       ("--region", args.region, _REGION, "a region such as europe-west1"),
                                       ("--bucket", args.bucket, _BUCKET, "a bucket name without gs:// or dots, "
                                        "at most 55 characters (its secrets bucket adds -secrets)"),
                                       ("--bq_dataset", args.bq_dataset, _DATASET, "letters, digits, underscores")):
        cli.required(value, name, what)
        if not pattern.match(value):
            raise cli.UsageError(f"{name}: expected {what}, got {value!r}")
    args.bq_location = args.bq_location or args.region
    problem = check_location(args.region, args.bq_location)
    if problem:
        raise cli.UsageError(f"--bq_location {args.bq_location}: {problem}")
    steps = plan(args.project, args.region, args.bucket, args.bq_dataset, args.bq_location)
    print(f"# in {ROOT}", flush=True)
    for i, step in enumerate(steps, 1):
        print(f"# {i}. {step.what}\n{step.command}", flush=True)
        if not args.dry_run:
            done = subprocess.run(["bash", "-c", "set -o pipefail; " + step.command], cwd=ROOT)
            if done.returncode:
                print(f"{cli.invoked_as(PROG)}: step {i} failed ({step.what}); fix it and run again: every step "
                      "is safe to repeat", file=sys.stderr)
                return 1
    return 0


def main(argv=None) -> int:
    return cli.main_wrapper(PROG, run, argv)


if __name__ == "__main__":
    sys.exit(main())
