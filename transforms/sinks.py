"""Sharded CSV and Parquet writers for PCollections of Arrow record batches.

Both go through Beam's file-based sinks: each bundle writes a temporary file, and only a successful run
renames them to ``<prefix>-SSSSS-of-NNNNN<suffix>``, so an interrupted run leaves no partial file at the final
path. Every CSV shard starts with the header row.
"""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io import filebasedsink
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.iobase import Write
from apache_beam.metrics import Metrics

from transforms.progress import NAMESPACE
from transforms.text import record_batch_to_csv

CSV_COMPRESSIONS = {"none": CompressionTypes.UNCOMPRESSED, "gzip": CompressionTypes.GZIP}
PARQUET_CODECS = ("snappy", "gzip", "zstd", "none")
SHARD_TEMPLATE = "-SSSSS-of-NNNNN"


def file_suffix(file_format: str, compression: str) -> str:
    if file_format == "csv":
        return ".csv.gz" if compression == "gzip" else ".csv"
    return ".parquet"


class _CsvSink(filebasedsink.FileBasedSink):
    """Writes record batches as CSV text, after a header at the top of each shard. Each batch is encoded as it
    is written, straight from Arrow's buffer into the file (no copy of the text, no step between)."""

    def __init__(self, file_path_prefix, header: bytes, file_name_suffix, num_shards, compression_type,
                 date_format: str | None, metrics_name: str):
        super().__init__(
            file_path_prefix, coder=None, file_name_suffix=file_name_suffix,
            num_shards=num_shards, shard_name_template=SHARD_TEMPLATE, mime_type="text/csv",
            compression_type=compression_type)
        self._header = header
        self._date_format = date_format
        self._bytes = Metrics.counter(NAMESPACE, f"{metrics_name}_csv_bytes")

    def open(self, temp_path):
        handle = super().open(temp_path)
        handle.write(self._header)
        return handle

    def write_record(self, file_handle, batch: pa.RecordBatch):
        text = record_batch_to_csv(batch, self._date_format)
        file_handle.write(text)
        self._bytes.inc(len(text))


class WriteCsv(beam.PTransform):
    """Writes record batches as CSV shards ``<prefix>-SSSSS-of-NNNNN.csv[.gz]``, each with ``header``; the bytes
    written are counted in the metric ``<metrics_name>_csv_bytes``."""

    def __init__(self, file_path_prefix: str, header: bytes, compression: str = "none", num_shards: int = 0,
                 date_format: str | None = None, metrics_name: str = "csv"):
        super().__init__()
        self._sink = _CsvSink(file_path_prefix, header, file_suffix("csv", compression), num_shards,
                              CSV_COMPRESSIONS[compression], date_format, metrics_name)

    def expand(self, batches):
        return batches | "WriteShards" >> Write(self._sink)


class _ParquetTableSink(filebasedsink.FileBasedSink):
    """Writes Arrow tables as row groups of one Parquet file per shard.

    Dictionary encoding only for string, boolean and dictionary columns: on floats and wide integers it costs
    time and, there, makes files larger (measured: half the write time on the credit-card table).
    """

    def __init__(self, file_path_prefix, schema: pa.Schema, codec: str, num_shards: int):
        super().__init__(
            file_path_prefix, coder=None, file_name_suffix=".parquet", num_shards=num_shards,
            shard_name_template=SHARD_TEMPLATE, mime_type="application/x-parquet",
            compression_type=CompressionTypes.UNCOMPRESSED)  # Parquet compresses its pages itself
        self._schema = schema
        self._codec = codec

    def open(self, temp_path):
        handle = super().open(temp_path)
        return handle, parquet_writer(handle, self._schema, self._codec)

    def write_record(self, opened, table: pa.Table):
        opened[1].write_table(table)

    def close(self, opened):
        handle, writer = opened
        writer.close()
        handle.close()


def parquet_writer(sink, schema: pa.Schema, codec: str) -> pq.ParquetWriter:
    """How every Parquet file of the project is written (the size estimate of --target_size included)."""
    dictionary = [f.name for f in schema if _dictionary_worthy(f.type)]
    return pq.ParquetWriter(sink, schema, compression=codec, use_dictionary=dictionary)


def _dictionary_worthy(t: pa.DataType) -> bool:
    return (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_boolean(t)
            or pa.types.is_dictionary(t) or pa.types.is_date32(t))


class WriteParquet(beam.PTransform):
    """Writes record batches as Parquet shards ``<prefix>-SSSSS-of-NNNNN.parquet`` with ``schema``'s types.

    Dictionary-encoded strings are stored as plain strings (Parquet dictionary-encodes them on disk anyway).
    """

    def __init__(self, file_path_prefix: str, schema: pa.Schema, codec: str = "snappy", num_shards: int = 0):
        super().__init__()
        self._sink = _ParquetTableSink(file_path_prefix, schema, codec, num_shards)
        self._schema = schema

    def expand(self, batches):
        schema = self._schema
        return (batches
                | "ToTable" >> beam.Map(lambda b: pa.Table.from_batches([b]).cast(schema))
                | "WriteShards" >> Write(self._sink))
