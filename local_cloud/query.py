"""Run a query on the local stack's BigQuery emulator and print the rows.

    source .local_cloud/env
    python -m local_cloud.query "SELECT count(*) AS n FROM ingest.films"

A query BigQuery refuses (a missing table, a syntax error) is one line with BigQuery's message and exit status 2;
an emulator that cannot be reached is one line saying how to start it and exit status 1.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.parse

from local_cloud.stack import bigquery_client
from pipelines import cli

PROG = "python -m local_cloud.query"
START = "start the local stack with `make local-stack`, then `source .local_cloud/env` in this shell"
WAIT_SECONDS = 30  # for an answer from an emulator that is up (the client would retry for 10 minutes)


class Unreachable(RuntimeError):
    """The emulator does not answer."""


def reachable(url: str):
    """Unreachable unless something listens at ``url``: a refused connection is told at once, not retried."""
    parts = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=3):
            pass
    except (OSError, ValueError) as e:
        raise Unreachable(f"cannot reach the BigQuery emulator at {url} ({e}): {START}") from None


def first_line(e) -> str:
    """BigQuery's own message: the first reason's, else the exception's, first line only."""
    errors = getattr(e, "errors", None) or []
    message = errors[0].get("message") if errors and isinstance(errors[0], dict) else None
    text = message or getattr(e, "message", None) or str(e)
    return (text.strip().splitlines() or ["(no message)"])[0].split("; reason: ")[0][:500]


def run(argv=None) -> int:
    p = cli.parser(PROG, __doc__.split("\n\n")[0], epilog="After `source .local_cloud/env` of a running local stack.")
    p.add_argument("sql", help="the query, in BigQuery's SQL (tables as ingest.films)")
    args = p.parse_args(argv)
    url = os.environ.get("BIGQUERY_EMULATOR_URL")
    if not url:
        raise cli.UsageError(f"BIGQUERY_EMULATOR_URL is not set: {START}")
    import requests
    from google.api_core import exceptions
    from google.cloud.bigquery import DEFAULT_RETRY

    reachable(url)
    client = bigquery_client(os.environ.get("GOOGLE_CLOUD_PROJECT", "local-project"), url)
    retry = DEFAULT_RETRY.with_deadline(WAIT_SECONDS)
    try:
        rows = list(client.query(args.sql, retry=retry).result(retry=retry))
    except exceptions.ClientError as e:  # 4xx: the query's fault
        raise cli.UsageError(first_line(e)) from None
    except (exceptions.GoogleAPICallError, exceptions.RetryError, requests.RequestException) as e:
        raise Unreachable(f"the BigQuery emulator at {url} failed: {first_line(e)}: {START}") from None
    if rows:
        names = list(rows[0].keys())
        print("\t".join(names))
        for row in rows:
            print("\t".join(str(row[n]) for n in names))
    print(f"({len(rows)} rows)", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    return cli.main_wrapper(PROG, run, argv)


if __name__ == "__main__":
    sys.exit(main())
