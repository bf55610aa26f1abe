"""The names this project gives its files, and the Google Cloud names it accepts: defined once.

Every job writes ``<output>/<name>-SSSSS-of-NNNNN<suffix>`` shards and a ``<name>.schema.json`` beside them
and, while it runs, Beam's temporary folders; the ingest function reads the same names back. This module lives
in ``functions/`` because the function deploys from that folder alone (there it is ``file_layout``); the jobs,
the SQL installer and the deploy script import it as ``functions.file_layout``. Standard library only.
"""

from __future__ import annotations

import re

# Beam's shard name template, and the stem of a file written with it: <name>-00003-of-00010.
SHARD_TEMPLATE = "-SSSSS-of-NNNNN"
SHARD_STEM = re.compile(r"^(?P<name>.+?)-\d+-of-\d+$")
# A path inside a running job's temporary folder: Beam's file sinks (beam-temp-<name>-<uuid>/), fileio's
# (.temp-beam...), Hadoop-style writers (_temporary/).
TEMPORARY = re.compile(r"(^|/)(beam-temp-[^/]*|\.temp-beam[^/]*|_temporary|\.beam-temp[^/]*)/")
SCHEMA_SUFFIX = ".schema.json"  # the BigQuery schema a job writes beside its shards
# Object suffix (lower case) -> the BigQuery source format it loads with: what the ingest chain loads
# (ingest_naming) and the suffixes the jobs' formats write (transforms.formats reads it; a standard-library module,
# so that reading the formats costs nothing more).
SOURCE_FORMATS = {".csv": "CSV", ".csv.gz": "CSV", ".parquet": "PARQUET",
                  ".json": "NEWLINE_DELIMITED_JSON", ".json.gz": "NEWLINE_DELIMITED_JSON"}

# Google Cloud names (the patterns match a whole name).
PROJECT_ID = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
DATASET_ID = r"[A-Za-z0-9_]{1,1024}"
TABLE_ID = r"[A-Za-z_][A-Za-z0-9_]{0,1023}"  # plain table ids, as our tables are named
BUCKET = r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]"
GCS_URL = re.compile(rf"^gs://({BUCKET})(/.*)?$")  # gs://bucket or gs://bucket/prefix


def shard_pattern(prefix: str, suffix: str) -> str:
    """The glob of every shard of ``prefix`` (any shard count)."""
    return f"{prefix}-*-of-*{suffix}"


def shard_names(prefix: str, suffix: str) -> str:
    """How the shards of ``prefix`` are named, for messages: ``out/films/films-SSSSS-of-NNNNN.csv``."""
    return f"{prefix}{SHARD_TEMPLATE}{suffix}"


def schema_path(prefix: str) -> str:
    """The schema file written beside the shards of ``prefix``."""
    return prefix + SCHEMA_SUFFIX


def schema_object(name: str, table: str) -> str:
    """The schema file beside the object ``name``, for its dataset's ``table``."""
    folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
    return f"{folder}{table}{SCHEMA_SUFFIX}"


def temp_folders(prefix: str) -> str:
    """The glob of the temporary folders Beam's file sinks make beside the shards of ``prefix``."""
    folder, name = prefix.rsplit("/", 1)
    return f"{folder}/beam-temp-{name}-*"


def output_name(output: str, default: str) -> str:
    """The name a job gives its shards in ``output``: the folder's last part, letters, digits and ``_`` only."""
    return re.sub(r"[^A-Za-z0-9_]", "_", output.rstrip("/").rsplit("/", 1)[-1]) or default


# The profile a job writes into a folder (pipelines.profile), and where generate --profile puts it: a folder beside
# a dataset's shards (never loaded: the function ignores what is in a folder of this name, profile.json included).
PROFILE_FILES = ("profile.json", "profile.html")
PROFILE_FOLDER = "_profile"


def profile_path(prefix: str, name: str) -> str:
    """``name`` (one of PROFILE_FILES) of the profile beside the shards of ``prefix``."""
    return f"{prefix.rsplit('/', 1)[0]}/{PROFILE_FOLDER}/{name}"
