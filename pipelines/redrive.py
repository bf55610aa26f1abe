"""Start again the load of every data object of a bucket that is not tagged as loaded for its generation.

    python -m pipelines.redrive --bucket my-bucket --project my-project --bq_dataset ml_datasets \
        --location europe-west1 [--prefix runs/2026/] [--dry_run]

For an event lost while the function or BigQuery was away, or a load that failed and whose cause is fixed: it
lists the objects (below ``--prefix``), keeps the data files the function would load (the same rules: no
temporary files, markers, empty objects or other suffixes) whose metadata does not say ``status=loaded`` for
their current generation, and starts the load workflow for each exactly as the function does, with the same
deterministic job ids. So it can be run any number of times and never loads an object twice: a load already
running or done is found by its job id. It uses the same clients as the function (Application Default
Credentials on Google Cloud; on the local stack, the endpoints its env file sets).
"""

from __future__ import annotations

import os
import sys

from functions.ingest_config import ConfigError, load_config
from pipelines import cli

PROG = "python -m pipelines.redrive"


def parser():
    p = cli.parser(PROG, __doc__.split("\n\n")[0], renamed={"--dataset": "--bq_dataset"})
    p.add_argument("--bucket", default=None, help="The bucket whose objects are loaded (as the function's BUCKET).")
    p.add_argument("--prefix", default="", help="Only objects whose names start with this.")
    p.add_argument("--project", default=os.environ.get("GOOGLE_CLOUD_PROJECT"),
                   help="The project of the workflow and of BigQuery (default: $GOOGLE_CLOUD_PROJECT).")
    p.add_argument("--bq_dataset", default=None,
                   help="The BigQuery dataset loaded (as the function's BQ_DATASET).")
    p.add_argument("--location", default=None, help="The workflow's region (as the function's WORKFLOW_LOCATION).")
    p.add_argument("--workflow", default="load-to-bigquery", help="The load workflow's name.")
    p.add_argument("--bq_location", default="US", help="The dataset's location (as the function's BQ_LOCATION).")
    p.add_argument("--dry_run", action="store_true", help="List what would be started, start nothing.")
    return p


def function_env(args) -> dict:
    """The function's configuration from the command line, plus the local stack's endpoints when its env is set."""
    env = {"PROJECT_ID": args.project or "", "WORKFLOW_LOCATION": args.location or "",
           "WORKFLOW_NAME": args.workflow, "BUCKET": args.bucket or "", "BQ_DATASET": args.bq_dataset or "",
           "BQ_LOCATION": args.bq_location}
    local = {"BIGQUERY_URL": os.environ.get("BIGQUERY_EMULATOR_URL"),
             "STORAGE_URL": os.environ.get("STORAGE_EMULATOR_HOST"),
             "WORKFLOWS_ENDPOINT": os.environ.get("WORKFLOWS_ENDPOINT")}
    return {**env, **{k: v for k, v in local.items() if v}}


def to_redrive(blobs) -> list[dict]:
    """The finalize-event data of each object the function would load and that is not loaded yet."""
    from functions.ingest_naming import decide

    found = []
    for blob in blobs:
        data = {"bucket": blob.bucket.name, "name": blob.name, "generation": str(blob.generation),
                "size": str(blob.size or 0), "metadata": blob.metadata or {}}
        tags = blob.metadata or {}
        if tags.get("status") == "loaded" and tags.get("loadedGeneration") == str(blob.generation):
            continue
        if decide(data).load:
            found.append(data)
    return found


def run(argv=None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    flags = {"PROJECT_ID": "--project", "WORKFLOW_LOCATION": "--location", "BUCKET": "--bucket",
             "BQ_DATASET": "--bq_dataset", "WORKFLOW_NAME": "--workflow", "BQ_LOCATION": "--bq_location"}
    try:
        config = load_config(function_env(args))
    except ConfigError as e:  # the function's own check, told with this command's flags
        text = str(e)
        for variable, flag in flags.items():
            text = text.replace(f"{variable} is not set", f"{flag} is not given").replace(f"{variable}=", f"{flag}=")
        raise cli.UsageError(text) from None
    from google.cloud import storage

    from functions.ingest import Ingest

    client = storage.Client(project=config.project)
    try:
        pending = to_redrive(client.list_blobs(config.bucket, prefix=args.prefix))
    except Exception as e:  # no such bucket, no access: one line
        raise cli.UsageError(f"--bucket: cannot list gs://{config.bucket}/{args.prefix}: "
                             f"{str(e).splitlines()[0][:300]}") from None
    ingest = Ingest(config)
    for data in pending:
        where = f"gs://{data['bucket']}/{data['name']}#{data['generation']}"
        if args.dry_run:
            print(f"would start the load of {where}")
        else:
            ingest.handle(data)  # logs one JSON line per start, as the function does
    verb = "would start" if args.dry_run else "started"
    print(f"{verb} {len(pending)} load(s) of gs://{config.bucket}/{args.prefix}: the objects not tagged "
          "status=loaded for their generation", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    return cli.main_wrapper(PROG, run, argv)


if __name__ == "__main__":
    sys.exit(main())
