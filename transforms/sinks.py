"""Sharded CSV, newline-delimited JSON and Parquet writers for PCollections of Arrow record batches (and of CSV
lines); each format's ``sink`` (:mod:`transforms.formats`) makes one of them.

All go through Beam's file-based sinks: each bundle writes a temporary file, and only a successful run
renames them to ``<prefix>-SSSSS-of-NNNNN<suffix>``, so an interrupted run leaves no partial file at the final
path. Every CSV shard starts with the header row.
"""

from __future__ import annotations

import copy
import functools
import threading

import apache_beam as beam
import pyarrow as pa
from apache_beam.io import filebasedsink
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.iobase import Write
from apache_beam.metrics import Metrics
from apache_beam.transforms.display import DisplayDataItem

from functions.file_layout import PROFILE_FILES, SHARD_TEMPLATE, profile_path, schema_path, shard_pattern
from transforms import replace
from transforms.formats import FORMATS, SinkTarget, gzip_compressor
from transforms.formats.csv import header
from transforms.formats.ndjson import record_batch_to_ndjson
from transforms.formats.parquet import generated_dictionary, parquet_ready, parquet_writer
from transforms.progress import NAMESPACE
from transforms.text import record_batch_to_csv

# Set when a local run is being stopped (Ctrl-C): from then on no sink opens or writes a file, so that what the
# run left can be removed for good while the runner's threads wind down.
STOP_WRITING = threading.Event()


class WritingStopped(RuntimeError):
    """The run is being stopped: this sink writes nothing more."""


def _check_not_stopped():
    if STOP_WRITING.is_set():
        raise WritingStopped("the run is being stopped")


class _StoppableSink(filebasedsink.FileBasedSink):
    """Makes no temp folder and opens no file once :data:`STOP_WRITING` is set; replaces earlier shards only
    once every new one is written (:mod:`transforms.replace`)."""

    def initialize_write(self):
        _check_not_stopped()
        return super().initialize_write()

    def open(self, temp_path):
        _check_not_stopped()
        return super().open(temp_path)

    def pre_finalize(self, init_result, writer_results):
        """Nothing: Beam's deletes the earlier shards of the same count here, before the new ones are in place
        (and leaves those of another count); :meth:`finalize_write` replaces them all, in one journal."""

    def finalize_write(self, init_result, writer_results, unused_pre_finalize_result):
        journal = FileSystems.join(init_result, replace.JOURNAL)
        writer_results = sorted(writer_results)
        finals = [self._get_final_name(i, len(writer_results)) for i in range(len(writer_results))]
        if not replace.exists(journal):  # a retried step finds it written: the same moves
            _check_not_stopped()
            prefix = self.file_path_prefix.get()
            suffix = self.file_name_suffix.get()
            earlier = replace.matching(shard_pattern(prefix, suffix))
            schema = schema_path(prefix)
            companions = [(schema + replace.PENDING, schema)] if replace.exists(schema + replace.PENDING) else []
            # A profile beside the shards described the earlier ones.
            stale = [p for name in PROFILE_FILES for p in replace.matching(profile_path(prefix, name))] \
                if earlier else []
            replace.write_journal(journal, companions + list(zip(writer_results, finals)), earlier + stale)
        replace.finish(journal)
        replace.remove_folder(init_result)
        yield from finals


class _TextSink(_StoppableSink):
    """Text shards, each starting with ``header``: plain, or with gzip one gzip stream per shard at
    :data:`GZIP_LEVEL`, by :func:`gzip_compressor` (every gzip file of the project is written here), compressed by
    the thread that writes it (ISA-L releases the GIL, so shards compress on every core)."""

    def __init__(self, file_path_prefix, header: bytes, file_name_suffix, num_shards, compression: str,
                 mime_type: str = "text/csv"):
        super().__init__(
            file_path_prefix, coder=None, file_name_suffix=file_name_suffix,
            num_shards=num_shards, shard_name_template=SHARD_TEMPLATE, mime_type=mime_type,
            compression_type=CompressionTypes.UNCOMPRESSED)  # compressed here, at our level
        self._header = header
        self._gzip = compression == "gzip"

    def _start(self, temp_path):
        return super().open(temp_path), gzip_compressor() if self._gzip else None

    def display_data(self):  # Beam's says "uncompressed": it is told so, as this sink compresses itself
        return {**super().display_data(),
                "compression": DisplayDataItem("gzip" if self._gzip else "none", label="Compression")}

    def open(self, temp_path):
        opened = self._start(temp_path)
        self._write(opened, self._header)
        return opened

    @staticmethod
    def _write(opened, data):
        handle, compressor = opened
        handle.write(data if compressor is None else compressor.compress(data))

    def close(self, opened):
        handle, compressor = opened
        if compressor is not None:
            handle.write(compressor.flush())
        handle.close()


class _EncodedSink(_TextSink):
    """Writes record batches as text (``encode(batch)``: its lines), after ``header`` at the top of each shard.
    Each batch is encoded as it is written, straight from Arrow's buffer into the file (no copy of the text, no
    step between); its bytes are counted in the metric ``counter``."""

    def __init__(self, file_path_prefix, header: bytes, file_name_suffix, num_shards, compression: str, encode,
                 counter: str, mime_type: str):
        super().__init__(file_path_prefix, header, file_name_suffix, num_shards, compression, mime_type)
        self._encode = encode
        self._bytes = Metrics.counter(NAMESPACE, counter)

    def write_record(self, opened, batch: pa.RecordBatch):
        _check_not_stopped()
        text = self._encode(batch)
        self._write(opened, text)
        self._bytes.inc(len(text))


class _CsvSink(_EncodedSink):
    """CSV text, dates with ``date_format`` (None: ISO)."""

    def __init__(self, file_path_prefix, header: bytes, file_name_suffix, num_shards, compression: str,
                 date_format: str | None, metrics_name: str):
        super().__init__(file_path_prefix, header, file_name_suffix, num_shards, compression,
                         functools.partial(record_batch_to_csv, date_format=date_format), f"{metrics_name}_csv_bytes",
                         "text/csv")


class _WriteShards(beam.PTransform):
    """Writes its input through ``self.sink`` (Beam's ``Write``), and shows the sink's files, shard count and
    compression as display data, as Beam's own file sinks do."""

    sink: filebasedsink.FileBasedSink

    def expand(self, pcoll):
        return pcoll | "WriteShards" >> Write(self.sink)

    def display_data(self):
        return {"sink": self.sink.__class__, "sink_dd": self.sink}


class WriteCsv(_WriteShards):
    """Writes record batches as CSV shards ``<prefix>-SSSSS-of-NNNNN.csv[.gz]``, each with ``header``; the bytes
    written are counted in the metric ``<metrics_name>_csv_bytes``."""

    def __init__(self, file_path_prefix: str, header: bytes, compression: str = "none", num_shards: int = 0,
                 date_format: str | None = None, metrics_name: str = "csv"):
        super().__init__()
        self.sink = _CsvSink(file_path_prefix, header, _suffix("csv", compression), num_shards,
                             compression, date_format, metrics_name)



class WriteNdjson(_WriteShards):
    """Writes record batches as newline-delimited JSON shards ``<prefix>-SSSSS-of-NNNNN.json[.gz]``
    (:func:`transforms.formats.ndjson.record_batch_to_ndjson`); the bytes written are counted in the metric
    ``<metrics_name>_json_bytes``."""

    def __init__(self, file_path_prefix: str, compression: str = "none", num_shards: int = 0,
                 metrics_name: str = "json"):
        super().__init__()
        self.sink = _EncodedSink(file_path_prefix, b"", _suffix("ndjson", compression), num_shards, compression,
                                 record_batch_to_ndjson, f"{metrics_name}_json_bytes", "application/x-ndjson")



def _suffix(file_format: str, compression: str) -> str:
    fmt = FORMATS[file_format]
    if compression not in fmt.compressions:
        raise ValueError(f"compression: expected one of {', '.join(fmt.compressions)}, got {compression!r}")
    return fmt.suffix(compression)


_LINES_PIECE = 1 << 20  # characters of lines gathered before they are written (and compressed) in one call


class _CsvLinesSink(_TextSink):
    """Writes CSV lines (strings without their line end), each followed by a newline, after the header line at
    the top of each shard. Lines are gathered into pieces of about :data:`_LINES_PIECE` characters, the header
    in the first, so that a shard is written and compressed in a few large calls rather than one per line."""

    def __init__(self, file_path_prefix, header: str, file_name_suffix, num_shards, compression: str):
        super().__init__(file_path_prefix, (header + "\n").encode(), file_name_suffix, num_shards, compression)
        self._header_line = header

    def open(self, temp_path):
        return [self._start(temp_path), [self._header_line], len(self._header_line)]

    def write_record(self, opened, line: str):
        opened[1].append(line)
        opened[2] += len(line) + 1
        if opened[2] >= _LINES_PIECE:
            self._write_lines(opened)

    def _write_lines(self, opened):
        _check_not_stopped()
        self._write(opened[0], ("\n".join(opened[1]) + "\n").encode())
        opened[1], opened[2] = [], 0

    def close(self, opened):
        if opened[1]:
            self._write_lines(opened)
        super().close(opened[0])


class WriteCsvLines(_WriteShards):
    """Writes CSV lines (strings without their line end) as shards ``<prefix>-SSSSS-of-NNNNN.csv[.gz]``, each
    starting with the line ``header``: the text Beam's ``WriteToText`` would write, with gzip as every gzip CSV
    of the project is written (:class:`_TextSink`)."""

    def __init__(self, file_path_prefix: str, header: str, compression: str = "none", num_shards: int = 0):
        super().__init__()
        self.sink = _CsvLinesSink(file_path_prefix, header, _suffix("csv", compression), num_shards, compression)



class _ParquetSink(_StoppableSink):
    """Writes record batches as row groups of one Parquet file per shard, with the contract ``schema``'s types.

    Each batch is written as it is (:func:`parquet_ready`): choices that arrive dictionary-encoded are written
    as Parquet dictionaries without being decoded to strings and hashed again. The file's writer is made at the
    first batch, whose column types it takes; a shard that gets no batch is an empty file of ``schema``.
    ``dictionary``: the columns every file dictionary-encodes (:func:`transforms.formats.dictionary_columns`),
    carried to every worker with the sink; None: each process chooses from the first batch it writes.
    """

    def __init__(self, file_path_prefix, schema: pa.Schema, codec: str, num_shards: int,
                 dictionary: tuple[str, ...] | None = None):
        super().__init__(
            file_path_prefix, coder=None, file_name_suffix=_suffix("parquet", codec), num_shards=num_shards,
            shard_name_template=SHARD_TEMPLATE, mime_type="application/x-parquet",
            compression_type=CompressionTypes.UNCOMPRESSED)  # Parquet compresses its pages itself
        self._schema = schema
        self._codec = codec
        self.dictionary = None if dictionary is None else tuple(dictionary)

    def with_dictionary(self, dictionary: tuple[str, ...]) -> _ParquetSink:
        """This sink, writing its files with ``dictionary``'s columns dictionary-encoded."""
        sink = copy.copy(self)
        sink.dictionary = tuple(dictionary)
        return sink

    def open(self, temp_path):
        return [super().open(temp_path), None]

    def display_data(self):
        return {**super().display_data(),
                "compression": DisplayDataItem(self._codec, label="Parquet codec"),
                "dictionary": DisplayDataItem(", ".join(self.dictionary) if self.dictionary is not None
                                              else "chosen by each worker", label="Dictionary-encoded columns")}

    def write_record(self, opened, batch: pa.RecordBatch):
        _check_not_stopped()
        batch = parquet_ready(batch, self._schema)
        if opened[1] is None:
            opened[1] = parquet_writer(opened[0], batch.schema, self._codec, first=batch, dictionary=self.dictionary)
        elif not batch.schema.equals(opened[1].schema):  # e.g. a choice encoded otherwise than in the first batch
            batch = batch.cast(opened[1].schema)
        opened[1].write_batch(batch)

    def close(self, opened):
        handle, writer = opened
        (writer or parquet_writer(handle, self._schema, self._codec, dictionary=self.dictionary)).close()
        handle.close()


class WriteParquet(_WriteShards):
    """Writes record batches as Parquet shards ``<prefix>-SSSSS-of-NNNNN.parquet`` with ``schema``'s types.

    ``dictionary``: the columns every shard dictionary-encodes, e.g. a generated dataset's
    (:func:`transforms.formats.generated_dictionary`): the files are then the same bytes whatever the runner or
    the process that writes them. Without it (extraction), each worker process chooses from the first batch it
    writes: the same data, but the encoding of a file may depend on which batch reached its process first.
    """

    def __init__(self, file_path_prefix: str, schema: pa.Schema, codec: str = "snappy", num_shards: int = 0,
                 dictionary: tuple[str, ...] | None = None):
        super().__init__()
        self.sink = _ParquetSink(file_path_prefix, schema, codec, num_shards, dictionary)



# --- each format's sink, as its registration names it (transforms.formats) -------------------------------------

def csv_sink(target: SinkTarget) -> WriteCsv:
    return WriteCsv(target.prefix, header(target.schema), target.compression, target.num_shards,
                    target.date_format, metrics_name=target.metrics_name)


def parquet_sink(target: SinkTarget) -> WriteParquet:
    """A generated dataset's shards carry its dictionary columns, so that every file of it is encoded alike
    whatever process writes it."""
    dictionary = None
    if target.generated is not None:
        from datagen.engine import compile_dataset

        spec, run, seed, rows = target.generated
        dictionary = generated_dictionary(compile_dataset(spec, run), seed, rows)
    return WriteParquet(target.prefix, target.schema, target.compression, target.num_shards, dictionary=dictionary)


def ndjson_sink(target: SinkTarget) -> WriteNdjson:
    return WriteNdjson(target.prefix, target.compression, target.num_shards, metrics_name=target.metrics_name)
