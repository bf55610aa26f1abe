"""Which objects the ingest function loads, into which table, and with which load job id.

Pure functions of the object's name and metadata, shared by the function and its tests. No Google client here.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

try:  # deployed: this folder is the function's root
    from file_layout import PROFILE_FOLDER, SCHEMA_SUFFIX, SHARD_STEM, SOURCE_FORMATS, TABLE_ID, TEMPORARY
except ImportError:  # imported as the package functions (tests, local stack, the jobs)
    from functions.file_layout import PROFILE_FOLDER, SCHEMA_SUFFIX, SHARD_STEM, SOURCE_FORMATS, TABLE_ID, TEMPORARY

FORMATS = SOURCE_FORMATS  # object suffix (lower case) -> BigQuery source format: what the chain loads
LOADED = ", ".join(sorted(FORMATS)[:-1]) + " or " + sorted(FORMATS)[-1]  # for messages: .csv, ... or .parquet
# One of our own shards: <prefix>/<dataset>/<dataset>-SSSSS-of-NNNNN<suffix>, as every job writes them (its
# shards are named after their folder, functions.file_layout.output_name); Beam pads shard numbers to 5 digits.
OUR_SHARD = re.compile(r"(?:^|/)(?P<dataset>[^/]+)/(?P=dataset)-\d{5,}-of-\d{5,}(?:"
                       + "|".join(re.escape(s) for s in FORMATS) + ")$")
MAX_TABLE_ID = 1024


@dataclass(frozen=True)
class Decision:
    """What to do with one finalized object: load it (into ``table`` as ``source_format``) or ignore it."""

    load: bool
    reason: str = ""
    table: str = ""
    source_format: str = ""


def suffix_format(name: str) -> tuple[str, str] | None:
    """(suffix as written, BigQuery format) of a loadable object name, else None. Case-insensitive."""
    lower = name.lower()
    if _not_rows(name):
        return None
    for suffix in sorted(FORMATS, key=len, reverse=True):  # .csv.gz before .csv
        if lower.endswith(suffix):
            return name[len(name) - len(suffix):], FORMATS[suffix]
    return None


def table_id(name: str) -> str:
    """The BigQuery table id for an object name: all shards of one dataset share a table.

    ``films/films-00003-of-00010.csv`` -> ``films``. Other names keep their base name when it is already a valid,
    plain table id; otherwise it is folded to ASCII letters, digits and underscores (a leading digit gets a
    ``t_`` prefix) and a short hash of the original base name is appended, so that two different names never
    share a table by accident. Deterministic, at most 1024 characters.
    """
    found = suffix_format(name)
    base = name.rsplit("/", 1)[-1]
    stem = base[: len(base) - len(found[0])] if found else base
    shard = SHARD_STEM.match(stem)  # all shards of one dataset share its table
    if shard:
        stem = shard.group("name")
    if re.fullmatch(TABLE_ID, stem):
        return stem
    ascii_only = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9]+", "_", ascii_only).strip("_")
    if not cleaned or cleaned[0].isdigit():
        cleaned = "t_" + cleaned
    digest = hashlib.sha256(stem.encode("utf-8")).hexdigest()[:8]
    return f"{cleaned.rstrip('_')[: MAX_TABLE_ID - 9]}_{digest}"


def _not_rows(name: str) -> str:
    """Why a name with a loaded suffix holds no rows (the JSON files our jobs write besides NDJSON), else ''."""
    if name.lower().endswith(SCHEMA_SUFFIX):
        return "a schema file"
    if f"/{PROFILE_FOLDER}/" in f"/{name}":  # profile.json
        return "a profile"
    return ""


def decide(data: dict) -> Decision:
    """Load or ignore a ``google.cloud.storage.object.v1.finalized`` event's object (its ``data``)."""
    name = data.get("name") or ""
    if not name or name.endswith("/"):
        return Decision(False, "a folder placeholder")
    if TEMPORARY.search(name):
        return Decision(False, "a temporary file of a running job")
    base = name.rsplit("/", 1)[-1]
    if base.startswith("_"):  # _SUCCESS and other markers
        return Decision(False, "a marker file")
    if _not_rows(name):
        return Decision(False, _not_rows(name))
    found = suffix_format(name)
    if found is None:
        return Decision(False, f"not {LOADED}")
    if int(data.get("size") or 0) == 0:
        return Decision(False, "an empty object")
    return Decision(True, table=table_id(name), source_format=found[1])


def is_our_shard(name: str) -> bool:
    """Whether an object name is in the layout our jobs write (``out/films/films-00003-of-00010.csv``)."""
    return OUR_SHARD.search(name) is not None


def load_job_id(bucket: str, name: str, generation: str | int, table: str) -> str:
    """A job id fixed by (bucket, object, generation): a re-delivered event asks for the same job, which BigQuery
    refuses to create twice. Letters, digits, underscores and dashes only, as BigQuery requires."""
    digest = hashlib.sha256(f"gs://{bucket}/{name}#{generation}".encode()).hexdigest()[:40]
    return f"ingest_{table[:100]}_{digest}"
