"""Cloud Function (2nd gen, CloudEvent) on a bucket's *finalize* event: start one BigQuery load workflow per file.

Entry point ``on_new_file``. Configured only by environment variables, checked at cold start (see ``Config``).
Objects that are not data files of ours (Beam's temporary files, markers, empty objects, other suffixes, stale
generations) are ignored with one log line and a normal return, so the platform does not retry them; a failure
to start the execution raises, so the platform retries the event (deploy with retries on).
"""

from __future__ import annotations

import json
import logging
import sys
import urllib.parse
from pathlib import Path

try:  # deployed: this folder is the function's root
    from ingest_config import Config, ConfigError, load_config
    from ingest_naming import decide, load_job_id
except ImportError:  # imported as the package functions (tests, local stack)
    from functions.ingest_config import Config, ConfigError, load_config
    from functions.ingest_naming import decide, load_job_id

_LOG = logging.getLogger("ingest")
SCHEMAS = Path(__file__).resolve().parent / "schemas"
ARGUMENT_LIMIT = 24_000  # bytes of JSON; Workflows takes at most 32 KiB


class BadSchema(ValueError):
    """A schema file beside the data that is not a BigQuery schema."""


def _log(severity: str, message: str, **fields):
    """One structured log line (Cloud Logging reads ``severity`` and ``message`` from JSON on stdout)."""
    print(json.dumps({"severity": severity, "message": message, **fields}), flush=True)


def known_schema(table: str) -> list | None:
    """The BigQuery schema shipped with the function for a dataset of ``pipelines.generate``."""
    path = SCHEMAS / f"{table}.json"
    return json.loads(path.read_text()) if path.is_file() else None


class Ingest:
    """The function's state across invocations of one instance: config and clients, made once."""

    def __init__(self, config: Config):
        self.config = config
        self._storage = None
        self._executions = None

    @property
    def storage(self):
        if self._storage is None:
            from google.cloud import storage

            self._storage = storage.Client(project=self.config.project)
        return self._storage

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

    def schema_for(self, bucket, name: str, table: str) -> tuple[list | None, str]:
        """The load schema: ``<table>.schema.json`` beside the object (written by our jobs), else the one shipped
        for a known dataset, else None (BigQuery detects it). Also says where it came from."""
        folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
        blob = bucket.get_blob(f"{folder}{table}.schema.json")
        if blob is not None:
            where = f"gs://{bucket.name}/{blob.name}"
            try:
                fields = json.loads(blob.download_as_bytes())
                if not isinstance(fields, list) or not all(isinstance(f, dict) and "name" in f for f in fields):
                    raise ValueError("expected a list of fields with names")
            except ValueError as e:
                raise BadSchema(f"{where} is not a BigQuery schema: {str(e)[:200]}") from None
            return fields, where
        shipped = known_schema(table)
        return shipped, ("shipped with the function" if shipped else "autodetect")

    def handle(self, data: dict) -> dict | None:
        """Start the load of one finalized object; None when it is ignored. Returns the workflow argument."""
        bucket_name, name, generation = data.get("bucket", ""), data.get("name", ""), str(data.get("generation", ""))
        decision = decide(data)
        where = f"gs://{bucket_name}/{name}#{generation}"
        if not decision.load:
            _log("INFO", f"ignored {where}: {decision.reason}")
            return None
        bucket = self.storage.bucket(bucket_name)
        live = bucket.get_blob(name)
        if live is None:
            _log("INFO", f"ignored {where}: the object no longer exists")
            return None
        if generation and live.generation is not None and int(live.generation) > int(generation):
            _log("INFO", f"ignored {where}: generation {live.generation} replaced it")
            return None
        try:
            schema, schema_source = self.schema_for(bucket, name, decision.table)
        except BadSchema as e:  # retrying cannot help: say so once, loudly, and load nothing
            _log("ERROR", f"not loading {where}: {e}")
            return None
        argument = {
            "bucket": bucket_name,
            "object": name,
            "object_path": urllib.parse.quote(name, safe=""),
            "generation": generation or str(live.generation),
            "format": decision.source_format,
            "project": self.config.project,
            "dataset": self.config.dataset,
            "table": decision.table,
            "location": self.config.bq_location,
            "job_id": load_job_id(bucket_name, name, generation or live.generation, decision.table),
            "bigquery_url": self.config.bigquery_url,
            "storage_url": self.config.storage_url,
        }
        if schema is not None:  # absent: BigQuery detects the schema
            argument["schema"] = schema
            if len(json.dumps(argument)) > ARGUMENT_LIMIT:  # an execution's argument is at most 32 KiB
                argument["schema"] = [{k: v for k, v in f.items() if k != "description"} for f in schema]
        from google.cloud.workflows.executions_v1 import Execution

        execution = self.executions.create_execution(
            parent=self.config.workflow, execution=Execution(argument=json.dumps(argument)))
        _log("INFO", f"loading {where} into {self.config.dataset}.{decision.table}",
             execution=execution.name, job_id=argument["job_id"], schema=schema_source)
        return argument


def _cold_start() -> Ingest:
    try:
        return Ingest(load_config())
    except ConfigError as e:
        _log("ERROR", f"ingest function misconfigured: {e}")
        print(f"ingest function misconfigured: {e}", file=sys.stderr, flush=True)
        raise


INGEST = _cold_start()


def on_new_file(cloud_event):
    """CloudEvent entry point (``google.cloud.storage.object.v1.finalized``)."""
    INGEST.handle(dict(cloud_event.data))
