"""Sharded CSV and Parquet writers for PCollections of Arrow record batches.

Both go through Beam's file-based sinks: each bundle writes a temporary file, and only a successful run
renames them to ``<prefix>-SSSSS-of-NNNNN<suffix>``, so an interrupted run leaves no partial file at the final
path. Every CSV shard starts with the header row.
"""

from __future__ import annotations

import zlib

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io import filebasedsink
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.iobase import Write
from apache_beam.metrics import Metrics

from transforms.progress import NAMESPACE
from transforms.text import record_batch_to_csv

CSV_COMPRESSIONS = ("none", "gzip")
# gzip at level 1: about three times the speed of the usual level 6 for files about 1.3 times larger (films:
# 132 MB for 5M rows at level 6, 170 MB at level 1); a standard gzip file all the same, which BigQuery loads.
GZIP_LEVEL = 1
PARQUET_CODECS = ("snappy", "gzip", "zstd", "none")
SHARD_TEMPLATE = "-SSSSS-of-NNNNN"


def file_suffix(file_format: str, compression: str) -> str:
    if file_format == "csv":
        return ".csv.gz" if compression == "gzip" else ".csv"
    return ".parquet"


class _CsvSink(filebasedsink.FileBasedSink):
    """Writes record batches as CSV text, after a header at the top of each shard. Each batch is encoded as it
    is written, straight from Arrow's buffer into the file (no copy of the text, no step between); with gzip,
    each shard is one gzip stream at :data:`GZIP_LEVEL`, compressed by the thread that writes it (zlib releases
    the GIL, so shards compress on every core)."""

    def __init__(self, file_path_prefix, header: bytes, file_name_suffix, num_shards, compression: str,
                 date_format: str | None, metrics_name: str):
        super().__init__(
            file_path_prefix, coder=None, file_name_suffix=file_name_suffix,
            num_shards=num_shards, shard_name_template=SHARD_TEMPLATE, mime_type="text/csv",
            compression_type=CompressionTypes.UNCOMPRESSED)  # compressed here, at our level
        self._header = header
        self._gzip = compression == "gzip"
        self._date_format = date_format
        self._bytes = Metrics.counter(NAMESPACE, f"{metrics_name}_csv_bytes")

    def open(self, temp_path):
        opened = (super().open(temp_path), gzip_compressor() if self._gzip else None)
        self._write(opened, self._header)
        return opened

    def write_record(self, opened, batch: pa.RecordBatch):
        text = record_batch_to_csv(batch, self._date_format)
        self._write(opened, text)
        self._bytes.inc(len(text))

    @staticmethod
    def _write(opened, data):
        handle, compressor = opened
        handle.write(data if compressor is None else compressor.compress(data))

    def close(self, opened):
        handle, compressor = opened
        if compressor is not None:
            handle.write(compressor.flush())
        handle.close()


def gzip_compressor():
    """How every gzip CSV of the project is compressed (the size estimate of --target_size included)."""
    return zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)


class WriteCsv(beam.PTransform):
    """Writes record batches as CSV shards ``<prefix>-SSSSS-of-NNNNN.csv[.gz]``, each with ``header``; the bytes
    written are counted in the metric ``<metrics_name>_csv_bytes``."""

    def __init__(self, file_path_prefix: str, header: bytes, compression: str = "none", num_shards: int = 0,
                 date_format: str | None = None, metrics_name: str = "csv"):
        super().__init__()
        if compression not in CSV_COMPRESSIONS:
            raise ValueError(f"compression: expected one of {', '.join(CSV_COMPRESSIONS)}, got {compression!r}")
        self._sink = _CsvSink(file_path_prefix, header, file_suffix("csv", compression), num_shards,
                              compression, date_format, metrics_name)

    def expand(self, batches):
        return batches | "WriteShards" >> Write(self._sink)


class _ParquetSink(filebasedsink.FileBasedSink):
    """Writes record batches as row groups of one Parquet file per shard, with the contract ``schema``'s types.

    Each batch is written as it is (:func:`parquet_ready`): choices that arrive dictionary-encoded are written
    as Parquet dictionaries without being decoded to strings and hashed again. The file's writer is made at the
    first batch, whose column types it takes; a shard that gets no batch is an empty file of ``schema``.
    """

    def __init__(self, file_path_prefix, schema: pa.Schema, codec: str, num_shards: int):
        super().__init__(
            file_path_prefix, coder=None, file_name_suffix=".parquet", num_shards=num_shards,
            shard_name_template=SHARD_TEMPLATE, mime_type="application/x-parquet",
            compression_type=CompressionTypes.UNCOMPRESSED)  # Parquet compresses its pages itself
        self._schema = schema
        self._codec = codec

    def open(self, temp_path):
        return [super().open(temp_path), None]

    def write_record(self, opened, batch: pa.RecordBatch):
        batch = parquet_ready(batch, self._schema)
        if opened[1] is None:
            opened[1] = parquet_writer(opened[0], batch.schema, self._codec)
        elif not batch.schema.equals(opened[1].schema):  # e.g. a choice encoded otherwise than in the first batch
            batch = batch.cast(opened[1].schema)
        opened[1].write_batch(batch)

    def close(self, opened):
        handle, writer = opened
        (writer or parquet_writer(handle, self._schema, self._codec)).close()
        handle.close()


def parquet_ready(batch, schema: pa.Schema):
    """``batch`` (a record batch or table) with ``schema``'s names and types, except that a dictionary-encoded
    column of the right value type with a small dictionary stays dictionary-encoded (Parquet stores the same
    strings)."""
    columns, fields, changed = [], [], isinstance(batch, pa.Table) or batch.schema.names != schema.names
    for field, column in zip(schema, batch.columns):
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if pa.types.is_dictionary(column.type) and column.type.value_type == field.type:
            if len(column.dictionary) > _SMALL_DICTIONARY:  # written whole in every row group: decode it, and
                column, changed = column.cast(field.type), True  # Parquet keeps the values the rows use
        elif column.type != field.type:
            column, changed = column.cast(field.type), True
        columns.append(column)
        fields.append(pa.field(field.name, column.type, field.nullable))
    if not changed and all(a.nullable == f.nullable for a, f in zip(batch.schema, fields)):
        return batch
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields))


_SMALL_DICTIONARY = 4096


def parquet_writer(sink, schema: pa.Schema, codec: str) -> pq.ParquetWriter:
    """How every Parquet file of the project is written (the size estimate of --target_size included).

    Dictionary encoding only for strings, booleans, dates and dictionary columns: on floats and wide integers
    it costs time and, there, makes files larger (measured: half the write time on the credit-card table). No
    min/max statistics for strings: the min and max of names or titles tell a reader nothing, and computing them
    was a fifth of the write time. The Arrow schema is not stored in the file, so that every reader sees the
    Parquet types (a dictionary-encoded column reads back as plain strings).
    """
    dictionary = [f.name for f in schema if _dictionary_worthy(f.type)]
    statistics = [f.name for f in schema if not _is_text(f.type)]
    return pq.ParquetWriter(sink, schema, compression=codec, use_dictionary=dictionary,
                            write_statistics=statistics, store_schema=False)


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _dictionary_worthy(t: pa.DataType) -> bool:
    return _is_text(t) or pa.types.is_boolean(t) or pa.types.is_dictionary(t) or pa.types.is_date32(t)


class WriteParquet(beam.PTransform):
    """Writes record batches as Parquet shards ``<prefix>-SSSSS-of-NNNNN.parquet`` with ``schema``'s types."""

    def __init__(self, file_path_prefix: str, schema: pa.Schema, codec: str = "snappy", num_shards: int = 0):
        super().__init__()
        self._sink = _ParquetSink(file_path_prefix, schema, codec, num_shards)

    def expand(self, batches):
        return batches | "WriteShards" >> Write(self._sink)
