"""deploy/gcp.py in dry-run mode: every command in order, guarded creates, and the IAM table of
docs/running-at-scale.md."""

from __future__ import annotations

import re

from deploy import gcp
from tests.helpers import ROOT, run_cli

ARGS = ["--project", "my-project", "--region", "europe-west1", "--bucket", "my-bucket", "--bq_dataset", "ml_datasets"]


def dry_run() -> list[str]:
    result = run_cli("deploy.gcp", *ARGS, "--dry_run")
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if not line.startswith("# ")]


def test_dry_run_prints_every_command_in_order_and_runs_nothing():
    commands = dry_run()
    order = ["gcloud services enable", "gcloud storage buckets describe gs://my-bucket",
             "bq --project_id my-project show", "gcloud artifacts repositories describe ml-dataset-pipeline",
             "gcloud iam service-accounts describe mldp-ingest-function", "if gcloud iam roles describe",
             "add-iam-policy-binding",
             "gcloud workflows deploy load-to-bigquery", "gcloud functions deploy ingest-on-new-file",
             "gcloud functions add-invoker-policy-binding ingest-on-new-file",
             "-m sql.install --project my-project --bq_dataset ml_datasets"]
    positions = [next(i for i, c in enumerate(commands) if c.startswith(o) or (o in c and o.startswith(("add", "-m"))))
                 for o in order]
    assert positions == sorted(positions)
    assert len(commands) == len(gcp.plan("my-project", "europe-west1", "my-bucket", "ml_datasets", "europe-west1"))
    function = next(c for c in commands if c.startswith("gcloud functions deploy"))
    for needed in ("--gen2", "--retry", "--entry-point on_new_file", "--source functions",
                   "type=google.cloud.storage.object.v1.finalized", "bucket=my-bucket",
                   "--service-account mldp-ingest-function@my-project.iam.gserviceaccount.com",
                   "--trigger-service-account mldp-ingest-trigger@my-project.iam.gserviceaccount.com",
                   "BQ_DATASET=ml_datasets", "BQ_LOCATION=europe-west1", "--no-allow-unauthenticated"):
        assert needed in function, needed
    # the dataset where the bucket is: BigQuery loads a regional bucket only into a dataset in its region
    assert "bq --project_id my-project --location europe-west1 mk --dataset" in " ".join(commands)


def test_a_dataset_where_loads_from_the_bucket_cannot_go_is_refused():
    for region, location, ok in (("europe-west1", "EU", True), ("europe-west1", "US", True),
                                 ("europe-west2", "EU", False), ("europe-west1", "europe-west4", False),
                                 ("us-central1", "EU", False), ("us-central1", "us-central1", True)):
        args = ARGS[:]
        args[args.index("europe-west1")] = region
        result = run_cli("deploy.gcp", *args, "--bq_location", location, "--dry_run")
        assert (result.returncode == 0) is ok, (region, location, result.stderr)
        if not ok:
            assert len(result.stderr.strip().splitlines()) == 1 and location in result.stderr, result.stderr


def test_running_twice_changes_nothing_the_second_time():
    """Creates only after a failed describe; bindings and deploys are create-or-update by nature."""
    for command in dry_run():
        if command.startswith("if "):  # describe, then update to the same definition, else create
            assert re.match(r"^if \S+ \S+ \S+ describe .*; then .* update .*; else .* create .*; fi$", command), command
        elif " create " in f" {command} " or " mk " in f" {command} ":
            assert "describe" in command.split("||")[0] or " show " in command.split("||")[0], command
            assert "||" in command, command
        else:
            assert re.match(r"^(gcloud services enable|gcloud projects add-iam-policy-binding|gcloud storage buckets "
                            r"add-iam-policy-binding|gcloud artifacts repositories add-iam-policy-binding|gcloud "
                            r"functions add-invoker-policy-binding|bq .* query --nouse_legacy_sql \"GRANT |gcloud "
                            r"workflows deploy|gcloud functions deploy|\S*python\S* -m sql.install)", command), command


def readme_iam_table() -> set[tuple[str, str, str]]:
    text = (ROOT / "docs" / "running-at-scale.md").read_text()
    table = text.split("\n## IAM", 1)[1].split("\n\n", 2)[1]
    rows = set()
    for line in table.splitlines()[2:]:
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        rows.add((cells[0], cells[1], cells[2]))
    return rows


def test_roles_granted_are_the_readmes_iam_table():
    granted = set()
    for command in dry_run():
        if "add-iam-policy-binding" in command:
            role = re.search(r"--role (\S+)", command).group(1)
            who = re.search(r'--member "serviceAccount:([^"]+)"', command).group(1)
        elif "add-invoker-policy-binding" in command:  # Cloud Run's invoker role on the function's service
            role, who = "roles/run.invoker", re.search(r'--member "serviceAccount:([^"]+)"', command).group(1)
        elif "GRANT" in command:
            m = re.search(r'GRANT \\`([^`\\]+)\\` ON SCHEMA .* TO \\"serviceAccount:([^"\\]+)', command)
            role, who = m.groups()
        else:
            continue
        account = next((gcp.ACCOUNTS[k][0] for k in gcp.ACCOUNTS if who.startswith(gcp.ACCOUNTS[k][0] + "@")),
                       "Cloud Storage service agent" if "service-agent" in who else who)
        scope = ("project" if command.startswith("gcloud projects") else
                 "secrets bucket" if "buckets add-iam-policy-binding gs://my-bucket-secrets " in command else
                 "bucket" if "buckets add-iam" in command else
                 "repository" if "artifacts repositories" in command else
                 "function" if "add-invoker" in command else "dataset")
        granted.add((account, role.replace("projects/my-project/", "projects/<project>/"), scope))
    assert granted == readme_iam_table()
    # Least privilege: no owner, editor or admin-of-everything role anywhere; the function's account may start
    # workflow executions and read the bucket's objects (a header), and nothing else (its trigger has an account
    # of its own).
    assert not [r for _, r, _ in granted if r in ("roles/owner", "roles/editor") or r.endswith(".admin")]
    assert {(r, sc) for a, r, sc in granted if a == "mldp-ingest-function"} == {
        ("projects/<project>/roles/mldpExecutionStarter", "project"),
        ("projects/<project>/roles/mldpObjectReader", "bucket")}
    assert gcp.CUSTOM_ROLES["mldpExecutionStarter"][1] == ["workflows.executions.create"]
    assert gcp.CUSTOM_ROLES["mldpObjectReader"][1] == ["storage.objects.get"]


def test_bad_names_are_refused_in_one_line():
    args = ARGS[:]
    args[args.index("my-bucket")] = "gs://my-bucket"
    result = run_cli("deploy.gcp", *args, "--dry_run")
    assert result.returncode == 2 and "--bucket" in result.stderr and len(result.stderr.strip().splitlines()) == 1
