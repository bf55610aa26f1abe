"""The ingest function's configuration: environment variables only, checked at cold start."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

try:  # deployed: this folder is the function's root
    from file_layout import BUCKET, DATASET_ID, PROJECT_ID
except ImportError:  # imported as the package functions
    from functions.file_layout import BUCKET, DATASET_ID, PROJECT_ID

GOOGLE_BIGQUERY = "https://bigquery.googleapis.com"
GOOGLE_STORAGE = "https://storage.googleapis.com"


class ConfigError(ValueError):
    """An environment variable of the function is missing or malformed."""


# name -> (required, pattern, what it is). docs/ingest.md's table of variables lists the same.
VARIABLES = {
    "PROJECT_ID": (True, PROJECT_ID, "the project of the workflow and of BigQuery"),
    "WORKFLOW_LOCATION": (True, r"[a-z]+-[a-z]+[0-9]+", "the workflow's region, e.g. europe-west1"),
    "WORKFLOW_NAME": (True, r"[A-Za-z][A-Za-z0-9_-]{0,63}", "the load workflow's name, e.g. load-to-bigquery"),
    "BUCKET": (True, BUCKET, "the bucket whose new objects are loaded (events of any other bucket are ignored)"),
    "BQ_DATASET": (True, DATASET_ID, "the BigQuery dataset to load into"),
    "BQ_LOCATION": (False, r"[A-Za-z0-9-]{2,40}", "the dataset's location (default US)"),
    "BIGQUERY_URL": (False, r"https?://[^\s/]+", "BigQuery's base URL (default Google's; an emulator's locally)"),
    "STORAGE_URL": (False, r"https?://[^\s/]+", "Cloud Storage's base URL (default Google's; an emulator's)"),
    "WORKFLOWS_ENDPOINT": (False, r"(127\.0\.0\.1|localhost):[0-9]{1,5}",
                           "a local Workflows API (host:port, plain gRPC) instead of Google's"),
}


@dataclass(frozen=True)
class Config:
    project: str
    workflow_location: str
    workflow_name: str
    dataset: str
    bucket: str
    bq_location: str = "US"
    bigquery_url: str = GOOGLE_BIGQUERY
    storage_url: str = GOOGLE_STORAGE
    workflows_endpoint: str | None = None

    @property
    def workflow(self) -> str:
        return f"projects/{self.project}/locations/{self.workflow_location}/workflows/{self.workflow_name}"


def load_config(env=os.environ) -> Config:
    """The function's configuration; a ConfigError naming the variable, its value and what was expected."""
    values = {}
    for name, (required, pattern, what) in VARIABLES.items():
        value = env.get(name, "").strip()
        if not value:
            if required:
                raise ConfigError(f"{name} is not set: expected {what}")
            continue
        if not re.fullmatch(pattern, value):
            raise ConfigError(f"{name}={value!r} is malformed: expected {what}")
        values[name] = value.rstrip("/")
    return Config(
        project=values["PROJECT_ID"], workflow_location=values["WORKFLOW_LOCATION"],
        workflow_name=values["WORKFLOW_NAME"], dataset=values["BQ_DATASET"], bucket=values["BUCKET"],
        bq_location=values.get("BQ_LOCATION", "US"), bigquery_url=values.get("BIGQUERY_URL", GOOGLE_BIGQUERY),
        storage_url=values.get("STORAGE_URL", GOOGLE_STORAGE), workflows_endpoint=values.get("WORKFLOWS_ENDPOINT"))
