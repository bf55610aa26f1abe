"""What the ingest chain did: the recent load executions, newest first, with their object, table, state, job
id and error.

    source .local_cloud/env && python -m local_cloud.status            # the local stack
    python -m local_cloud.status --state FAILED --limit 5
    python -m local_cloud.status --project my-project --location europe-west1   # Google Cloud (ADC)

Each line is one workflow execution: when it started, its state (``SUCCEEDED`` with the workflow's own answer:
``DONE`` loaded, ``SKIPPED`` already loaded, ``SUPERSEDED`` a newer generation; or ``FAILED`` / ``ACTIVE``),
the object (``gs://bucket/name#generation``), the table, the load job id and, for a failure, the first line of
BigQuery's message (``--full`` prints all of it).
"""

from __future__ import annotations

import json
import os
import sys

from local_cloud.stack import WORKFLOW_LOCATION, WORKFLOW_NAME
from pipelines import cli

PROG = "python -m local_cloud.status"


def executions_client(endpoint: str | None):
    """The Workflows Executions client: of a local API at ``endpoint`` (plain gRPC), or of Google Cloud."""
    from google.cloud.workflows.executions_v1 import ExecutionsClient

    if not endpoint:
        return ExecutionsClient()
    import grpc
    from google.cloud.workflows.executions_v1.services.executions.transports import ExecutionsGrpcTransport

    return ExecutionsClient(transport=ExecutionsGrpcTransport(channel=grpc.insecure_channel(endpoint)))


def describe(execution) -> dict:
    """One execution as the fields an operator reads."""
    argument = json.loads(execution.argument or "{}")
    result = json.loads(execution.result or "null") if execution.result else None
    state = execution.state.name
    if state == "SUCCEEDED" and isinstance(result, dict):
        state = str(result.get("state", state))
    error = execution.error.payload if execution.error and execution.error.payload else ""
    started = execution.start_time
    return {
        "started": started.strftime("%Y-%m-%d %H:%M:%S") if started else "",
        "state": state,
        "object": f"gs://{argument.get('bucket', '?')}/{argument.get('object', '?')}#{argument.get('generation', '?')}",
        "table": f"{argument.get('dataset', '?')}.{argument.get('table', '?')}",
        "job_id": (result.get("jobId") if isinstance(result, dict) else None) or argument.get("job_id", ""),
        "error": error,
        "execution": execution.name,
    }


def recent(client, parent: str, limit: int, state: str | None = None) -> list[dict]:
    """The ``limit`` newest executions of the workflow ``parent`` (of ``state`` only, if given)."""
    from google.cloud.workflows.executions_v1 import ExecutionView, ListExecutionsRequest

    request = ListExecutionsRequest(parent=parent, view=ExecutionView.FULL)
    found = sorted((describe(e) for e in client.list_executions(request=request)),
                   key=lambda d: d["started"], reverse=True)
    if state:
        found = [d for d in found if d["state"] == state.upper()]
    return found[:limit]


def run(argv=None) -> int:
    p = cli.parser(PROG, __doc__.split("\n\n")[0])
    p.add_argument("--project", default=os.environ.get("GOOGLE_CLOUD_PROJECT", "local-project"),
                   help="the workflow's project (default: $GOOGLE_CLOUD_PROJECT, as the local stack's env sets it)")
    p.add_argument("--location", default=WORKFLOW_LOCATION, help="the workflow's region (default: %(default)s)")
    p.add_argument("--workflow", default=WORKFLOW_NAME, help="the workflow's name (default: %(default)s)")
    p.add_argument("--endpoint", default=os.environ.get("WORKFLOWS_ENDPOINT"),
                   help="a local Workflows API host:port (default: $WORKFLOWS_ENDPOINT, set by the local stack's "
                        "env file; without it, Google Cloud)")
    p.add_argument("--limit", type=int, default=20, help="how many executions, newest first (default: 20)")
    p.add_argument("--state", default=None, help="only executions in this state (FAILED, DONE, SKIPPED, ...)")
    p.add_argument("--full", action="store_true", help="print each failure's whole message")
    args = p.parse_args(argv)
    if args.limit < 1:
        raise cli.UsageError(f"--limit {args.limit}: expected a number of executions, 1 or more")
    parent = f"projects/{args.project}/locations/{args.location}/workflows/{args.workflow}"
    try:
        rows = recent(executions_client(args.endpoint), parent, args.limit, args.state)
    except Exception as e:  # no stack running, no credentials, no such workflow: one line
        where = args.endpoint or "Google Cloud"
        how = "; start the local stack with `make local-stack`, then `source .local_cloud/env`" if (
            args.endpoint and getattr(e, "code", None) == 503) else ""  # gRPC UNAVAILABLE: nothing listens there
        print(f"{PROG}: error: cannot list the executions of {parent} at {where}: {str(e).splitlines()[0][:300]}"
              f"{how}", file=sys.stderr)
        return 1
    if not rows:
        print(f"no executions of {parent}" + (f" in state {args.state.upper()}" if args.state else ""))
        return 0
    print(f"{'started (UTC)':<19}  {'state':<10}  {'table':<24}  {'job id':<40}  object / error")
    for d in rows:
        print(f"{d['started']:<19}  {d['state']:<10}  {d['table']:<24}  {d['job_id'] or '-':<40}  {d['object']}")
        if d["error"]:
            message = d["error"] if args.full else d["error"].strip().splitlines()[0]
            print(f"{'':<19}  error: {message}")
    return 0


def main(argv=None) -> int:
    return cli.main_wrapper(PROG, run, argv)


if __name__ == "__main__":
    sys.exit(main())
