"""CSV data lines (no header) as Beam elements: each distinct row once, and batches of lines parsed into Arrow
record batches of a dataset's schema (what ``pipelines.merge_files`` runs)."""

from __future__ import annotations

import io
import re

import apache_beam as beam
import pyarrow as pa
import pyarrow.csv as pacsv
from apache_beam.io.filesystems import FileSystems

from datagen import contract
from transforms.progress import NAMESPACE

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def first_lines(path: str, n: int = 2) -> list[str]:
    with FileSystems.open(path) as f:  # compression from the file's name
        text = f.read(1 << 20).decode("utf-8", errors="replace")
    return text.splitlines()[:n]


def non_iso_dates(ds: contract.DatasetSchema, line: str) -> bool:
    """Whether a data line of ``ds`` holds a DATE column's value that is not yyyy-mm-dd."""
    values = next(iter(pacsv.read_csv(io.BytesIO(line.encode() + b"\n"), read_options=pacsv.ReadOptions(
        column_names=ds.column_names), convert_options=pacsv.ConvertOptions(
        column_types={n: pa.string() for n in ds.column_names})).to_batches())).to_pylist()[0]
    return any(f.type == "DATE" and not _ISO_DATE.match(values[f.name] or "") for f in ds.fields)


class LinesToRecordBatches(beam.DoFn):
    """Batches of CSV data lines (no header) -> Arrow record batches of a dataset's schema."""

    def __init__(self, ds: contract.DatasetSchema):
        self._schema = ds.arrow_schema

    def process(self, lines):
        data = ("\n".join(lines) + "\n").encode()
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=self._schema.names),
            convert_options=pacsv.ConvertOptions(column_types={f.name: f.type for f in self._schema}))
        yield from table.cast(self._schema).to_batches()


class DistinctRows(beam.PTransform):
    """Data lines -> each distinct non-blank line once (counted): blank lines, such as a file's trailing empty
    line or a spreadsheet's empty rows, are not rows."""

    def expand(self, lines):
        return (lines
                | "NotBlank" >> beam.Filter(lambda line: line.strip() != "")
                | "Once" >> beam.Distinct()
                | "Count" >> beam.Map(_count))


_ROWS = beam.metrics.Metrics.counter(NAMESPACE, "merged_rows")


def _count(line):
    _ROWS.inc()
    return line
