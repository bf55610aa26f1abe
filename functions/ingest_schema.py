"""Which schema shipped with the function (``schemas/<table>.json``) a finalized object loads with, if any.

A table named like a built-in dataset is no evidence by itself: a user's own ``incoming/transactions.csv`` with
columns ``id,amount`` lands in table ``transactions`` too, and loading it with the built-in transactions schema
fails. So a shipped schema applies only to

1. our own shards, from the name alone (nothing is read): ``<prefix>/<dataset>/<dataset>-SSSSS-of-NNNNN`` with
   any suffix the chain loads (``.csv``, ``.csv.gz``, ``.parquet``, ``.json``, ``.json.gz``), as every job writes
   them (``ingest_naming.is_our_shard``);
2. a CSV (plain or gzip) whose first line is exactly the schema's column names, in order: one ranged read of
   the object's first ``HEAD_BYTES`` (``read_head``), only for a CSV outside that layout whose table has a
   shipped schema.

Any other file loads as every user file does: with the ``<table>.schema.json`` beside it if there is one, else
BigQuery's autodetect. A Parquet file outside the layout is left to rule 1: its column names are in its footer,
at the end of the file, and it carries its own schema anyway; so is a newline-delimited JSON file, whose rows
name their columns (BigQuery's autodetect reads them).
"""

from __future__ import annotations

import csv
import json
import urllib.parse
import zlib
from pathlib import Path

try:  # deployed: this folder is the function's root
    from ingest_naming import is_our_shard
except ImportError:  # imported as the package functions (tests, local stack, redrive)
    from functions.ingest_naming import is_our_shard

SCHEMAS = Path(__file__).resolve().parent / "schemas"
# Enough for any header a shipped schema can match (the longest, transactions', is under 200 bytes), in plain
# text or gzip; one small request however large the object.
HEAD_BYTES = 16 * 1024
READ_ONLY = "https://www.googleapis.com/auth/devstorage.read_only"
USER_AGENT = "ml-dataset-pipeline-function"  # names the function's reads in Cloud Storage's logs


class HeadRefused(RuntimeError):
    """Cloud Storage refused to let the function read an object (401, 403): its account lacks the permission."""


def shipped_schema(table: str) -> list | None:
    """The BigQuery schema shipped with the function for a built-in dataset named ``table``."""
    path = SCHEMAS / f"{table}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def csv_header(head: bytes, whole: bool) -> list[str] | None:
    """The column names on the first line of a CSV's first bytes (gzip is decompressed); None when there is
    no complete first line in them or it is not UTF-8. ``whole``: ``head`` is the entire object."""
    if head[:2] == b"\x1f\x8b":
        stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:  # a prefix of the stream: decompressobj yields what the bytes read so far decode to
            head = stream.decompress(head, HEAD_BYTES)
        except zlib.error:
            return None
        whole = whole and stream.eof
    line, newline, _ = head.partition(b"\n")
    if not newline and not whole:
        return None  # longer than any shipped header
    try:
        text = line.decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError:
        return None
    return next(csv.reader([text]), [])


def schema_for(name: str, table: str, source_format: str, size: int, read_head) -> tuple[list | None, str]:
    """(the shipped schema to send, or None; why, for the log line). ``read_head()`` returns the object's first
    bytes, or None if this generation is gone; it is called only when rule 2 needs it. ``size``: the object's."""
    schema = shipped_schema(table)
    if schema is None:
        return None, f"no shipped schema for {table}"
    if is_our_shard(name):
        return schema, f"the shipped {table} schema: one of our shards"
    if source_format != "CSV":
        return None, f"not the shipped {table} schema: a {source_format} file outside our layout"
    try:
        head = read_head()
    except HeadRefused as e:
        return None, f"not the shipped {table} schema: its header could not be read ({e})"
    if head is None:
        return None, "not the shipped schema: this generation is gone"
    header = csv_header(head, whole=len(head) >= size)
    if header == [f["name"] for f in schema]:
        return schema, f"the shipped {table} schema: its header is that schema's columns"
    shown = ",".join(header)[:200] if header is not None else "unreadable"
    return None, f"not the shipped {table} schema: its header is {shown}"


def read_head(session, storage_url: str, bucket: str, name: str, generation: str) -> bytes | None:
    """The first ``HEAD_BYTES`` of one generation of an object; None if that generation is gone. A range
    request, and the body is read no further even if a server ignores the range. HeadRefused on 401/403; any
    other failure raises (the platform retries the event)."""
    url = (f"{storage_url}/download/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o/"
           f"{urllib.parse.quote(name, safe='')}")
    with session.get(url, params={"alt": "media", "generation": generation}, stream=True, timeout=60,
                     headers={"Range": f"bytes=0-{HEAD_BYTES - 1}", "User-Agent": USER_AGENT}) as answer:
        if answer.status_code == 404:
            return None
        if answer.status_code in (401, 403):
            raise HeadRefused(f"{answer.status_code}: the function's account needs storage.objects.get on "
                              f"gs://{bucket}")
        answer.raise_for_status()
        # raw bytes: stored gzip stays gzip (csv_header decompresses it), whatever Content-Encoding says
        return answer.raw.read(HEAD_BYTES, decode_content=False)
