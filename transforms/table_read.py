"""Reading the files of any registered format (:mod:`transforms.formats`), local or gs://, as Arrow record batches
of fixed column types: the Beam side of each format's reader.

The work is cut into parts a runner can spread over workers (each format's ``parts``: a Parquet file by groups of
row groups, an uncompressed text file by byte ranges of about ``SPLIT_BYTES``, a gzip file whole). Every part
yields batches of the same Arrow schema, so statistics over them need no further conversion.
"""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

import transforms.arrow_coder  # noqa: F401 (registers the RecordBatch coder)
from transforms import formats
from transforms.formats import SPLIT_BYTES, Part  # noqa: F401 (what readers import from here)


def csv_parts(path: str, size: int, split_bytes: int = SPLIT_BYTES) -> list[Part]:
    """A CSV (or any text) file's parts: :func:`transforms.formats.line_parts`."""
    return formats.line_parts(path, size, split_bytes)


def read_part(part: Part, file_format: str, schema: pa.Schema):
    """The record batches of one part of a file of ``file_format``, of ``schema`` exactly."""
    code = formats.get(file_format).code()
    with FileSystems.open(part.path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
        yield from code.read(raw, part, schema)


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
