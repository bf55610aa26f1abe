"""Install the merge procedures into a BigQuery dataset.

    python -m sql.install --project my-project --dataset ml_datasets
    bq query --use_legacy_sql=false "CALL ml_datasets.merge_clients('clients_', TRUE, 'all_clients', 'DEV')"

creates (or replaces) ``merge_<dataset>`` for every built-in dataset (films, clients, transactions) in the dataset
(see sql/merge.py for what they do).
``--bigquery_url`` points at an emulator instead of Google's BigQuery (anonymous credentials then).
"""

from __future__ import annotations

import argparse
import re
import sys

from datagen.contract import DATASETS
from sql.merge import check_location, procedure_name, procedure_sql

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
    check_location(project, dataset)
    names = []
    for schema in DATASETS.values():
        client.query(procedure_sql(schema, project, dataset)).result()
        names.append(f"{project}.{dataset}.{procedure_name(schema)}")
    return names


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--project", required=True, help="the project of the dataset")
    p.add_argument("--dataset", required=True, help="the dataset the procedures go into (it must exist)")
    p.add_argument("--bigquery_url", default=None, help="an emulator's base URL (default: Google's BigQuery)")
    args = p.parse_args(argv)
    if args.bigquery_url and not re.match(r"^https?://[^\s/]+/?$", args.bigquery_url):
        print(f"{PROG}: error: --bigquery_url: expected http(s)://host:port, got {args.bigquery_url!r}",
              file=sys.stderr)
        return 2
    try:
        check_location(args.project, args.dataset)
    except ValueError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    try:
        names = install(bigquery_client(args.project, args.bigquery_url), args.project, args.dataset)
    except Exception as e:  # BigQuery's answer, in one line
        print(f"{PROG}: failed: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    print("installed: " + ", ".join(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
