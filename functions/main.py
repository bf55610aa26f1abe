"""Cloud Function (2nd gen, CloudEvent) on a bucket's *finalize* event: start one BigQuery load workflow per file.

Entry point ``on_new_file``. Configured only by environment variables, checked at cold start (see
``ingest_config``); what it does with each event is in ``ingest.py``.
"""

from __future__ import annotations

import sys

try:  # deployed: this folder is the function's root
    from ingest import Ingest, log_line
    from ingest_config import ConfigError, load_config
except ImportError:  # imported as the package functions (tests, local stack)
    from functions.ingest import Ingest, log_line
    from functions.ingest_config import ConfigError, load_config


def _cold_start() -> Ingest:
    try:
        return Ingest(load_config())
    except ConfigError as e:
        log_line("ERROR", f"ingest function misconfigured: {e}")
        print(f"ingest function misconfigured: {e}", file=sys.stderr, flush=True)
        raise


INGEST = _cold_start()


def on_new_file(cloud_event):
    """CloudEvent entry point (``google.cloud.storage.object.v1.finalized``)."""
    INGEST.handle(dict(cloud_event.data))
