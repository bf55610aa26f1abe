"""Install the merge procedures into a BigQuery dataset.

    python -m sql.install --project my-project --bq_dataset ml_datasets
    bq query --use_legacy_sql=false "CALL ml_datasets.merge_clients('clients_', TRUE, 'all_clients', 'DEV')"

creates (or replaces) ``merge_<dataset>`` for every built-in dataset (films, clients, transactions) in the dataset
(see sql/merge.py for what they do).
``--bigquery_url`` points at an emulator instead of Google's BigQuery (anonymous credentials then).
"""

from __future__ import annotations

import re
import sys

from pipelines import cli

PROG = "python -m sql.install"


def bigquery_client(project: str, url: str | None):
    from google.cloud import bigquery

    if not url:
        return bigquery.Client(project=project)
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return bigquery.Client(project=project, credentials=AnonymousCredentials(),
                           client_options=ClientOptions(api_endpoint=url))


def install(client, project: str, dataset: str) -> list[str]:
    from datagen.contract import DATASETS  # with Arrow: imported once the command line is checked
    from sql.merge import check_location, procedure_name, procedure_sql

    check_location(project, dataset)
    names = []
    for schema in DATASETS.values():
        client.query(procedure_sql(schema, project, dataset)).result()
        names.append(f"{project}.{dataset}.{procedure_name(schema)}")
    return names


def run(argv=None) -> int:
    p = cli.parser(PROG, __doc__.split("\n\n")[0], renamed={"--dataset": "--bq_dataset"})
    p.add_argument("--project", default=None, help="the project of the dataset")
    p.add_argument("--bq_dataset", default=None, help="the BigQuery dataset the procedures go into (it must exist)")
    p.add_argument("--bigquery_url", default=None, help="an emulator's base URL (default: Google's BigQuery)")
    args = p.parse_args(argv)
    cli.required(args.project, "--project", "the project of the dataset")
    cli.required(args.bq_dataset, "--bq_dataset", "the BigQuery dataset the procedures go into")
    if args.bigquery_url and not re.match(r"^https?://[^\s/]+/?$", args.bigquery_url):
        raise cli.UsageError(f"--bigquery_url: expected http(s)://host:port, got {args.bigquery_url!r}")
    from sql.merge import check_location

    try:
        check_location(args.project, args.bq_dataset)
    except ValueError as e:
        raise cli.UsageError(str(e)) from None
    try:
        names = install(bigquery_client(args.project, args.bigquery_url), args.project, args.bq_dataset)
    except Exception as e:  # BigQuery's answer, in one line
        raise RuntimeError(str(e).splitlines()[0]) from e
    print("installed: " + ", ".join(names))
    return 0


def main(argv=None) -> int:
    return cli.main_wrapper(PROG, run, argv)


if __name__ == "__main__":
    sys.exit(main())
