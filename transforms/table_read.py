"""Reading CSV (plain or gzip) and Parquet files, local or gs://, as Arrow record batches of fixed column types.

The work is cut into parts a runner can spread over workers: a Parquet file by groups of row groups, an
uncompressed CSV file by byte ranges of about :data:`SPLIT_BYTES` (a line belongs to the range it starts in, so
a quoted value holding a newline is not supported, as in every CSV job here), a gzip file whole. Every part
yields batches of the same Arrow schema, so statistics over them need no further conversion.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import apache_beam as beam
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

import transforms.arrow_coder  # noqa: F401 (registers the RecordBatch coder)

SPLIT_BYTES = 64 << 20  # an uncompressed CSV file larger than this is read in byte ranges of about this size
CSV_BLOCK_BYTES = 4 << 20  # bytes of CSV text per record batch
PARQUET_BATCH_ROWS = 65_536


def csv_file(path: str) -> bool:
    return path.lower().endswith((".csv", ".csv.gz"))


def parquet_file(path: str) -> bool:
    return path.lower().endswith(".parquet")


def gzip_file(path: str) -> bool:
    return path.lower().endswith(".gz")


@dataclass(frozen=True)
class Part:
    """A piece of one file: a CSV byte range [start, end) (end None: the whole file) or Parquet row groups."""

    path: str
    start: int = 0
    end: int | None = None
    row_groups: tuple[int, ...] | None = None


def csv_parts(path: str, size: int, split_bytes: int = SPLIT_BYTES) -> list[Part]:
    if gzip_file(path) or size <= split_bytes:
        return [Part(path)]
    starts = list(range(0, size, split_bytes))
    return [Part(path, s, min(s + split_bytes, size)) for s in starts]


def parquet_parts(path: str, row_group_bytes: list[int], split_bytes: int = SPLIT_BYTES) -> list[Part]:
    """Consecutive row groups of about ``split_bytes`` together (a file of one group is one part)."""
    if len(row_group_bytes) <= 1:
        return [Part(path)]
    parts, group, size = [], [], 0
    for i, b in enumerate(row_group_bytes):
        if group and size + b > split_bytes:
            parts.append(Part(path, row_groups=tuple(group)))
            group, size = [], 0
        group.append(i)
        size += b
    parts.append(Part(path, row_groups=tuple(group)))
    return parts


def csv_convert_options(schema: pa.Schema | None) -> pacsv.ConvertOptions:
    """Only an empty unquoted field is NULL, as in a BigQuery load ('' quoted is an empty string; 'NA' is text)."""
    return pacsv.ConvertOptions(
        column_types={f.name: f.type for f in schema} if schema is not None else None,
        null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False)


def parse_csv(data: bytes, names: list[str], schema: pa.Schema | None, skip_header: bool) -> pa.Table:
    """CSV text (whole lines) -> a table of ``schema``'s types (inferred by Arrow when ``schema`` is None)."""
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1 if skip_header else 0,
                                       block_size=CSV_BLOCK_BYTES),
        convert_options=csv_convert_options(schema))


def read_part(part: Part, file_format: str, schema: pa.Schema):
    """The record batches of one part, of ``schema`` exactly."""
    if file_format == "parquet":
        yield from _read_parquet(part, schema)
    elif part.end is None:
        yield from _read_csv_file(part.path, schema)
    else:
        yield from _read_csv_range(part, schema)


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    if batch.schema.equals(schema):
        return batch
    return pa.RecordBatch.from_arrays([batch.column(f.name).cast(f.type) for f in schema], schema=schema)


def _read_csv_file(path: str, schema: pa.Schema):
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
        # Arrow decompresses gzip itself (concatenated members too), in C++
        f = pa.input_stream(raw, compression="gzip") if gzip_file(path) else raw
        reader = pacsv.open_csv(
            f, read_options=pacsv.ReadOptions(column_names=schema.names, skip_rows=1, block_size=CSV_BLOCK_BYTES),
            convert_options=csv_convert_options(schema))
        for batch in reader:
            if batch.num_rows:
                yield _conform(batch, schema)


def _read_csv_range(part: Part, schema: pa.Schema):
    """The lines that start in [start, end): after the header in the first range, after the first line end at or
    past start - 1 in the others, through the end of the line that holds byte end - 1."""
    with FileSystems.open(part.path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        if part.start == 0:
            f.readline()  # the header
        else:
            f.seek(part.start - 1)
            f.readline()
        pos = f.tell()
        if pos >= part.end:
            return
        data = f.read(part.end - pos)
        if data and not data.endswith(b"\n"):
            data += f.readline()
    if not data.strip():
        return
    for batch in parse_csv(data, schema.names, schema, skip_header=False).to_batches():
        if batch.num_rows:
            yield _conform(batch, schema)


def _read_parquet(part: Part, schema: pa.Schema):
    with FileSystems.open(part.path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        pf = pq.ParquetFile(f)
        for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=part.row_groups,
                                     columns=schema.names):
            if batch.num_rows:
                yield _conform(batch, schema)


class ReadParts(beam.DoFn):
    """Part -> record batches of ``schema``; a file that cannot be read fails the run with a line naming it and
    where its column types came from (``types_from``)."""

    def __init__(self, file_format: str, schema: pa.Schema, types_from: str = ""):
        self._format = file_format
        self._schema = schema
        self._types_from = types_from

    def process(self, part: Part):
        try:
            yield from read_part(part, self._format, self._schema)
        except Exception as e:
            detail = " ".join(str(e).split())[:300] or type(e).__name__
            expected = f" (expected the column types {self._types_from})" if self._types_from else ""
            raise ValueError(f"cannot read {part.path!r}: {detail}{expected}") from None


class ReadTables(beam.PTransform):
    """Parts -> Arrow record batches of ``schema``."""

    def __init__(self, file_format: str, schema: pa.Schema, types_from: str = ""):
        super().__init__()
        self._format = file_format
        self._schema = schema
        self._types_from = types_from

    def expand(self, parts):
        return parts | "Read" >> beam.ParDo(ReadParts(self._format, self._schema, self._types_from)
                                            ).with_output_types(pa.RecordBatch)
