"""Run a query on the local stack's BigQuery emulator and print the rows.

    source .local_cloud/env
    python -m local_cloud.query "SELECT count(*) AS n FROM ingest.films"
"""

from __future__ import annotations

import os
import sys

from local_cloud.stack import bigquery_client


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    url = os.environ.get("BIGQUERY_EMULATOR_URL")
    if len(argv) != 1 or not url:
        print("usage: python -m local_cloud.query 'SQL' (after `source .local_cloud/env` of a running local stack)",
              file=sys.stderr)
        return 2
    client = bigquery_client(os.environ.get("GOOGLE_CLOUD_PROJECT", "local-project"), url)
    rows = list(client.query(argv[0]).result())
    if rows:
        names = list(rows[0].keys())
        print("\t".join(names))
        for row in rows:
            print("\t".join(str(row[n]) for n in names))
    print(f"({len(rows)} rows)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
