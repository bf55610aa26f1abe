"""What the ingest function does with one finalized object: start one BigQuery load workflow per data file.

Used by the function (``main.py``, its cold start and entry point) and by ``python -m pipelines.redrive``. It
decides from the event: objects that are not data files (Beam's temporary files, markers, empty objects, other
suffixes) are ignored with one log line and a normal return, so the platform does not retry them; a failure to
start the execution raises, so the platform retries the event (deploy with retries on). It reads the bucket in
one case only: the first bytes of a CSV outside our jobs' layout whose table is named like a built-in dataset,
to tell whether that dataset's shipped schema applies (``ingest_schema``). The workflow reads the object's live
generation and the schema file beside it.
"""

from __future__ import annotations

import json
import logging
import urllib.parse

try:  # deployed: this folder is the function's root
    from file_layout import schema_object
    from ingest_config import Config
    from ingest_naming import decide, load_job_id
    from ingest_schema import READ_ONLY, HeadRefused, read_head, schema_for
except ImportError:  # imported as the package functions (tests, local stack, redrive)
    from functions.file_layout import schema_object
    from functions.ingest_config import Config
    from functions.ingest_naming import decide, load_job_id
    from functions.ingest_schema import READ_ONLY, HeadRefused, read_head, schema_for

_LOG = logging.getLogger("ingest")
ARGUMENT_LIMIT = 24_000  # bytes of JSON; Workflows takes at most 32 KiB


def log_line(severity: str, message: str, **fields):
    """One structured log line (Cloud Logging reads ``severity`` and ``message`` from JSON on stdout)."""
    print(json.dumps({"severity": severity, "message": message, **fields}), flush=True)


class Ingest:
    """The function's state across invocations of one instance: config and clients, made once."""

    def __init__(self, config: Config):
        self.config = config
        self._executions = None
        self._session = None

    @property
    def executions(self):
        if self._executions is None:
            from google.cloud.workflows.executions_v1 import ExecutionsClient

            if self.config.workflows_endpoint:  # a local Workflows API (tests, local stack): plain gRPC
                import grpc
                from google.cloud.workflows.executions_v1.services.executions.transports import (
                    ExecutionsGrpcTransport,
                )

                channel = grpc.insecure_channel(self.config.workflows_endpoint)
                self._executions = ExecutionsClient(transport=ExecutionsGrpcTransport(channel=channel))
            else:
                self._executions = ExecutionsClient()
        return self._executions

    @property
    def session(self):
        """An HTTP session with the function's credentials (read-only Cloud Storage scope), made on first use."""
        if self._session is None:
            import google.auth
            from google.auth.transport.requests import AuthorizedSession

            credentials, _ = google.auth.default(scopes=[READ_ONLY])
            self._session = AuthorizedSession(credentials)
        return self._session

    def handle(self, data: dict) -> dict | None:
        """Start the load of one finalized object; None when it is ignored. Returns the workflow argument."""
        bucket_name, name, generation = data.get("bucket", ""), data.get("name", ""), str(data.get("generation", ""))
        decision = decide(data)
        where = f"gs://{bucket_name}/{name}#{generation}"
        if bucket_name != self.config.bucket:  # a trigger on another bucket, or a forged event
            log_line("INFO", f"ignored {where}: not in gs://{self.config.bucket}, the bucket this function loads")
            return None
        if not decision.load:
            log_line("INFO", f"ignored {where}: {decision.reason}")
            return None
        if not generation.isdigit():
            log_line("INFO", f"ignored {where}: the event names no generation")
            return None
        argument = {
            "bucket": bucket_name,
            "object": name,
            "object_path": urllib.parse.quote(name, safe=""),
            "generation": generation,
            "format": decision.source_format,
            "project": self.config.project,
            "dataset": self.config.dataset,
            "table": decision.table,
            "location": self.config.bq_location,
            "job_id": load_job_id(bucket_name, name, generation, decision.table),
            # <folder>/<table>.schema.json beside the object, written by our jobs: the workflow loads with it
            "schema_object": schema_object(name, decision.table),
            "schema_object_path": urllib.parse.quote(schema_object(name, decision.table), safe=""),
            "bigquery_url": self.config.bigquery_url,
            "storage_url": self.config.storage_url,
        }

        def head():
            try:
                return read_head(self.session, self.config.storage_url, bucket_name, name, generation)
            except HeadRefused as e:  # loaded as a user file; the operator sees why
                log_line("WARNING", f"cannot read the header of {where}: {e}")
                raise

        schema, why = schema_for(name, decision.table, decision.source_format, int(data.get("size") or 0), head)
        if schema is not None:  # the schema shipped for a dataset of ours, if no schema file is beside the object
            argument["schema"] = schema
            if len(json.dumps(argument)) > ARGUMENT_LIMIT:  # an execution's argument is at most 32 KiB
                argument["schema"] = [{k: v for k, v in f.items() if k != "description"} for f in schema]
        from google.cloud.workflows.executions_v1 import Execution

        execution = self.executions.create_execution(
            parent=self.config.workflow, execution=Execution(argument=json.dumps(argument)))
        log_line("INFO", f"started the load of {where} into {self.config.dataset}.{decision.table}",
                 execution=execution.name, job_id=argument["job_id"], schema=why)
        return argument
