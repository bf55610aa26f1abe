"""CSV: its header, its size estimate and its reader (the encoder is :func:`transforms.text.record_batch_to_csv`,
its sink :class:`transforms.sinks.WriteCsv`). Registered in :mod:`transforms.formats`.

Read back, only an empty unquoted field is NULL, as in a BigQuery load; a quoted value holding a line break is not
supported by the readers (a line belongs to the byte range it starts in), as in every CSV job here.
"""

from __future__ import annotations

import csv
import io

import pyarrow as pa
import pyarrow.csv as pacsv

from transforms.formats import TEXT_BLOCK_BYTES, Part, conform, line_parts, lines_in, written_bytes


def header(schema: pa.Schema) -> bytes:
    """The first line of every shard."""
    return (",".join(schema.names) + "\n").encode("utf-8")


def sample_bytes(gen, batch, compression: str, seed: int, date_format: str | None, block_rows: int) -> int:
    from transforms.text import record_batch_to_csv

    return written_bytes(record_batch_to_csv(batch, date_format), compression)


def overhead_bytes(schema: pa.Schema, compression: str) -> int:
    """The header."""
    return written_bytes(header(schema), compression)


# --- reading --------------------------------------------------------------------------------------------------

NAMED_BY = "headers"
PROFILE_TYPES: dict = {}  # every BigQuery type reads as profiling.BIGQUERY_TYPES says

def convert_options(schema: pa.Schema | None) -> pacsv.ConvertOptions:
    """Only an empty unquoted field is NULL, as in a BigQuery load ('' quoted is an empty string; 'NA' is text)."""
    return pacsv.ConvertOptions(
        column_types={f.name: f.type for f in schema} if schema is not None else None,
        null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False)


def parse(data: bytes, names: list[str], schema: pa.Schema | None, skip_header: bool) -> pa.Table:
    """CSV text (whole lines) -> a table of ``schema``'s types (inferred by Arrow when ``schema`` is None)."""
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1 if skip_header else 0,
                                       block_size=TEXT_BLOCK_BYTES),
        convert_options=convert_options(schema))


def names(head: bytes, sampled: int) -> list[str]:
    """The columns a file's header names, from its first bytes (``sampled`` of them were asked for); a ValueError
    says what is wrong (after the file's name)."""
    line, newline, _ = head.partition(b"\n")
    if not head.strip():
        raise ValueError("is empty: expected a CSV file starting with its header")
    if not newline and len(head) >= sampled:
        raise ValueError(f"has no line end in its first {len(head):,} bytes: expected a CSV file starting with its "
                         "header")
    try:
        text = line.decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError:
        raise ValueError("does not start with UTF-8 text: expected a CSV file starting with its header") from None
    found = next(csv.reader([text]), [])
    if not found or any(not n.strip() for n in found) or len(set(found)) != len(found):
        raise ValueError(f"starts with {text[:120]!r}: expected a header of distinct, non-empty column names")
    return found


def parts(path: str, size: int, row_group_bytes=None) -> list[Part]:
    return line_parts(path, size)


def read(raw, part: Part, schema: pa.Schema):
    """The record batches of ``part`` (of a file opened undecompressed as ``raw``), of ``schema`` exactly."""
    if part.end is None:
        # Arrow decompresses gzip itself (concatenated members too), in C++
        f = pa.input_stream(raw, compression="gzip") if part.path.lower().endswith(".gz") else raw
        reader = pacsv.open_csv(
            f, read_options=pacsv.ReadOptions(column_names=schema.names, skip_rows=1, block_size=TEXT_BLOCK_BYTES),
            convert_options=convert_options(schema))
        batches = iter(reader)
    else:
        data = lines_in(raw, part, header=True)
        batches = iter(parse(data, schema.names, schema, skip_header=False).to_batches()) if data.strip() else ()
    for batch in batches:
        if batch.num_rows:
            yield conform(batch, schema)
