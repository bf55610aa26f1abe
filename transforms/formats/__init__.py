"""The output file formats, each registered here once: its name, its file suffix per compression, the compressions
it takes (its default first), a few facts the jobs ask of it, the module of its code and its sink. The BigQuery
source format each suffix loads with is read from ``functions/file_layout.py``, where the ingest function
(deployed from ``functions/`` alone) keeps it.

Reading this module imports neither Beam nor Arrow: the jobs check ``--format`` and ``--compression`` against it
before anything heavy is imported (so that ``--help`` and a usage error answer at once). A format's sink is a Beam
PTransform factory of ``transforms/sinks.py`` (``SinkTarget`` -> PTransform: Beam code wraps the format's library
code), named by its registration and imported when a job writes (:meth:`Format.write`). Its code is in its own
module, ``transforms/formats/<name>.py``, imported when first used (:meth:`Format.code`), with no Beam; it defines:

- ``sample_bytes(gen, batch, compression, seed, date_format, block_rows)``: the bytes a sample of generated rows
  takes in its files (the ``--target_size`` estimate), and ``overhead_bytes(schema, compression)``: the bytes
  every file costs whatever its rows;
- its reader, for ``pipelines.profile``: ``parts(path, size, row_group_bytes)`` (the pieces of one file a worker
  reads) and ``read(raw, part, schema)`` (their record batches, ``raw`` the file opened without decompression);
  a format of text lines also ``names(head, sampled)`` (the columns, from a file's first bytes), ``parse(data,
  names, schema, skip_header)`` (whole lines into a table), ``NAMED_BY`` (what names its columns, for messages)
  and ``PROFILE_TYPES`` (BigQuery type -> Arrow type it is read as, where CSV's does not do); a format whose
  files carry their types (``typed``) ``file_schema(raw)`` (its types and the bytes of its row groups).

How to add one: docs/design.md ("Adding an output format").
"""

from __future__ import annotations

import importlib
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from functions.file_layout import SOURCE_FORMATS as LOAD_FORMATS

if TYPE_CHECKING:
    from types import ModuleType

    import pyarrow as pa

# gzip by Intel's ISA-L (the isal package) at its level 1: several times the speed of zlib's level 1 on our text
# for files no larger (zlib's level 6 makes them a little smaller, at a fraction of the speed;
# benchmarks/README.md). A standard gzip stream all the same, which gzip, Python's zlib and BigQuery read.
GZIP_LEVEL = 1


def gzip_compressor():
    """How every gzip file of the project is compressed (the size estimate of --target_size included)."""
    from isal import isal_zlib

    return isal_zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)


def written_bytes(data, compression: str) -> int:
    """The bytes ``data`` (text) takes in a file of ``compression`` (none or gzip), as the text sinks write it."""
    if compression == "gzip":
        c = gzip_compressor()
        return len(c.compress(data)) + len(c.flush())
    return len(data)


@dataclass(frozen=True, eq=False)  # one object per format (the registry's): equal when the same
class Format:
    """One output format. ``suffixes``: compression -> file suffix, the default compression first."""

    name: str  # as --format takes it
    title: str  # as messages name it
    suffixes: dict
    module: str  # its code (encoder, size estimate, reader), imported when first used
    sink: str  # "module:function" of its sink factory, Beam code (SinkTarget -> PTransform), imported when used
    lists: bool = False  # writes array columns as lists (BigQuery REPEATED); else as JSON text (STRING)
    typed: bool = False  # its files carry their column types: a reader takes them there, not from a schema file
    dates_as_text: bool = False  # writes dates with --date_format (the BigQuery schema then says STRING if not ISO)
    whole_groups: bool = False  # compresses by row group: its size is measured on a sample of whole blocks

    @property
    def compressions(self) -> tuple[str, ...]:
        return tuple(self.suffixes)

    @property
    def default_compression(self) -> str:
        return self.compressions[0]

    def suffix(self, compression: str) -> str:
        return self.suffixes[compression]

    @property
    def bigquery_format(self) -> str:
        """The source format of a BigQuery load of its files (one for all its suffixes: :func:`register`)."""
        return LOAD_FORMATS[next(iter(self.suffixes.values()))]

    def holds(self, path: str) -> bool:
        """Whether a file's name is one of this format's (any case)."""
        return path.lower().endswith(tuple(set(self.suffixes.values())))

    def code(self) -> ModuleType:
        return importlib.import_module(self.module)

    def write(self, target: SinkTarget):
        """The Beam PTransform that writes record batches as this format's shards (``target``: where and how)."""
        module, _, factory = self.sink.partition(":")
        return getattr(importlib.import_module(module), factory)(target)


FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    """Adds ``fmt``; its suffixes must be ones the ingest chain loads, all with one BigQuery source format."""
    loads = {LOAD_FORMATS.get(s) for s in fmt.suffixes.values()}
    if None in loads or len(loads) != 1:
        raise ValueError(f"format {fmt.name!r}: every suffix must be one of functions/file_layout.SOURCE_FORMATS, all "
                         f"loaded alike; got {sorted(set(fmt.suffixes.values()))}")
    FORMATS[fmt.name] = fmt
    return fmt


register(Format("csv", "CSV", {"none": ".csv", "gzip": ".csv.gz"}, "transforms.formats.csv",
                "transforms.sinks:csv_sink", dates_as_text=True))
register(Format("parquet", "Parquet", dict.fromkeys(("snappy", "gzip", "zstd", "none"), ".parquet"),
                "transforms.formats.parquet", "transforms.sinks:parquet_sink", lists=True, typed=True,
                whole_groups=True))
register(Format("ndjson", "newline-delimited JSON", {"none": ".json", "gzip": ".json.gz"},
                "transforms.formats.ndjson", "transforms.sinks:ndjson_sink", lists=True))


def names() -> tuple[str, ...]:
    return tuple(FORMATS)


def suffix_list() -> str:
    """Every format's suffixes as a message lists them: ``.csv, .csv.gz, .parquet, .json or .json.gz``."""
    listed = list(dict.fromkeys(s for f in FORMATS.values() for s in f.suffixes.values()))
    return ", ".join(listed[:-1]) + " or " + listed[-1]


def choices() -> str:
    """The formats as a message lists them: ``csv, parquet or ndjson``."""
    listed = list(FORMATS)
    return ", ".join(listed[:-1]) + " or " + listed[-1] if len(listed) > 1 else listed[0]


class UnknownFormat(ValueError):
    """A format or compression that no registered format has; the message names what was expected."""


def get(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise UnknownFormat(f"expected {choices()}, got {name!r}") from None


def of_path(path: str) -> Format | None:
    """The format a file's name says (its longest matching suffix), if any."""
    found = [(len(s), f) for f in FORMATS.values() for s in set(f.suffixes.values()) if path.lower().endswith(s)]
    return max(found, key=lambda x: x[0])[1] if found else None


def file_suffix(file_format: str, compression: str) -> str:
    return get(file_format).suffix(compression)


CSV_COMPRESSIONS = FORMATS["csv"].compressions
PARQUET_CODECS = FORMATS["parquet"].compressions


@dataclass(frozen=True)
class SinkTarget:
    """What a format's sink writes: record batches of ``schema`` as ``<prefix>-SSSSS-of-NNNNN<suffix>``
    shards (``num_shards`` 0: the runner decides)."""

    prefix: str
    schema: pa.Schema
    compression: str
    num_shards: int = 0
    date_format: str | None = None  # how a text format writes dates (None: ISO)
    metrics_name: str = "rows"  # the name of its byte counter, <metrics_name>_<format>_bytes
    generated: tuple | None = None  # (spec, run, seed, rows) of a generated dataset, for what its files share


@dataclass(frozen=True)
class Part:
    """A piece of one file: a byte range [start, end) of a text file (end None: the whole file) or row groups."""

    path: str
    start: int = 0
    end: int | None = None
    row_groups: tuple[int, ...] | None = None


SPLIT_BYTES = 64 << 20  # a plain text file larger than this is read in byte ranges of about this size
TEXT_BLOCK_BYTES = 4 << 20  # bytes of text per record batch when a text file is read


def line_parts(path: str, size: int, split_bytes: int = SPLIT_BYTES) -> list[Part]:
    """A file of text lines in byte ranges of about ``split_bytes`` (a gzip file whole: it cannot be entered
    midway); a line belongs to the range it starts in."""
    if path.lower().endswith(".gz") or size <= split_bytes:
        return [Part(path)]
    return [Part(path, s, min(s + split_bytes, size)) for s in range(0, size, split_bytes)]


def lines_in(raw, part: Part, header: bool) -> bytes:
    """The lines that start in [start, end) of an uncompressed file (``raw``, seekable): after the header line
    (if ``header``) in the first range, after the first line end at or past start - 1 in the others, through
    the end of the line that holds byte end - 1."""
    if part.start == 0:
        if header:
            raw.readline()
    else:
        raw.seek(part.start - 1)
        raw.readline()
    pos = raw.tell()
    if pos >= part.end:
        return b""
    data = raw.read(part.end - pos)
    if data and not data.endswith(b"\n"):
        data += raw.readline()
    return data


def conform(batch, schema: pa.Schema):
    """``batch`` with ``schema``'s column order and types."""
    import pyarrow as pa

    if batch.schema.equals(schema):
        return batch
    return pa.RecordBatch.from_arrays([batch.column(f.name).cast(f.type) for f in schema], schema=schema)


# Parquet's helpers, which other modules import from here: from its module, when first asked for.
_PARQUET_NAMES = {"parquet_ready", "parquet_writer", "dictionary_columns", "generated_dictionary",
                  "DICTIONARY_SAMPLE_ROWS", "_FEW_VALUES"}


def __getattr__(name: str):
    if name in _PARQUET_NAMES:
        return getattr(importlib.import_module("transforms.formats.parquet"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
