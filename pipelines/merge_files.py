"""Merge CSV shards into one dataset before upload: one header, every distinct row once.

    python -m pipelines.merge_files --input 'out/clients/*.csv' --output merged/clients
    python -m pipelines.merge_files --input gs://BUCKET/runs --output gs://BUCKET/merged/films --format parquet

reads every ``.csv`` / ``.csv.gz`` file the input names (a folder: every one below it; a data file of another
format is refused), checks they all have the same header, drops each file's header and every duplicate row (rows
equal as text, across all files), and writes ``<output>/<name>-SSSSS-of-NNNNN.csv`` with one header per shard
(or, for a known dataset, another --format, such as ``.parquet``), plus ``<name>.schema.json`` when the header
is a known dataset's. Rows come out in no particular order (duplicates are found by grouping); sort when reading,
e.g. ``ORDER BY credit_score DESC``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from datagen import spec as specs
from functions.file_layout import output_name
from functions.ingest_naming import suffix_format
from pipelines import cli
from pipelines.inputs import InputOptions, list_inputs
from pipelines.outputs import (
    OutputOptions,
    Shards,
    check_output,
    claim,
    file_format_and_compression,
    run_job,
)
from pipelines.outputs import num_shards as output_num_shards
from transforms import formats

if TYPE_CHECKING:  # Beam and Arrow are imported once the command line is checked (--help answers at once)
    from datagen.contract import DatasetSchema

PROG = "python -m pipelines.merge_files"
INPUT = formats.FORMATS["csv"]  # merged as lines of text: rows equal as text are one
BATCH_ROWS = 65_536


class MergeOptions(cli.JobOptions):
    """--input comes from InputOptions, --output and the format from OutputOptions; this job adds --dataset."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--dataset", default=None,
                            help="a built-in dataset: " + ", ".join(specs.builtin_names()) + " (default: the dataset "
                                 "whose columns the header names, if any); needed for a --format other than csv.")


OPTIONS = (OutputOptions, InputOptions, MergeOptions)  # this job's command line (and its template's parameters)


def check_inputs(pattern: str) -> tuple[list[str], str, str | None]:
    """The CSV files, their common header and their first data line; a UsageError when none match or two
    headers differ."""
    from transforms.csv_lines import first_lines

    files, _ = list_inputs(pattern)
    other = next((f for f in files if suffix_format(f) and not INPUT.holds(f)), None)  # data files of another format
    if other is not None:
        fmt = formats.of_path(other)
        raise cli.UsageError(f"--input: {other!r} is {fmt.title if fmt else 'not CSV'}: merge_files merges CSV files "
                             "only (.csv, .csv.gz)")
    files = [f for f in files if INPUT.holds(f)]
    if not files:
        raise cli.UsageError(f"--input: no .csv or .csv.gz file matches {pattern!r}")
    header, sample, first = None, None, None
    for path in files:
        lines = first_lines(path)
        if not lines:
            raise cli.UsageError(f"--input: {path!r} is empty: expected a CSV file starting with its header")
        if header is None:
            header, first = lines[0], path
        elif lines[0] != header:
            raise cli.UsageError(f"--input: headers differ: {first!r} has {header[:120]!r} but {path!r} has "
                                 f"{lines[0][:120]!r}")
        if sample is None and len(lines) > 1:
            sample = lines[1]
    return files, header, sample


def dataset_of(header: str, asked: str | None) -> DatasetSchema | None:
    from datagen import contract

    columns = header.split(",")
    if asked is not None:
        if asked not in contract.DATASETS:
            raise cli.UsageError(f"--dataset: unknown dataset {asked!r}: "
                                 f"expected one of {', '.join(contract.DATASETS)}")
        ds = contract.DATASETS[asked]
        if columns != ds.column_names:
            raise cli.UsageError(f"--dataset: the files' header {header[:120]!r} is not the {asked} columns "
                                 f"{','.join(ds.column_names)!r}")
        return ds
    return next((ds for ds in contract.DATASETS.values() if columns == ds.column_names), None)


def build_pipeline(files: list[str], header: str, ds, file_format: str, compression: str, num_shards: int,
                   prefix: str, options):
    import apache_beam as beam
    import pyarrow as pa
    from apache_beam.io.textio import ReadAllFromText

    from transforms.csv_lines import DistinctRows, LinesToRecordBatches
    from transforms.sinks import WriteCsvLines

    p = cli.new_pipeline(options)
    rows = (p
            | "Files" >> beam.Create(files)
            | "Read" >> ReadAllFromText(skip_header_lines=1)
            | "Distinct" >> DistinctRows())
    if file_format == INPUT.name:  # the lines as they are
        _ = rows | "Write" >> WriteCsvLines(prefix, header, compression, num_shards)  # gzip as every job's
    else:
        _ = (rows
             | "Batch" >> beam.BatchElements(min_batch_size=1024, max_batch_size=BATCH_ROWS)
             | "Parse" >> beam.ParDo(LinesToRecordBatches(ds)).with_output_types(pa.RecordBatch)
             | "Write" >> formats.get(file_format).write(formats.SinkTarget(
                 prefix, ds.arrow_schema, compression, num_shards, metrics_name=prefix.rsplit("/", 1)[-1])))
    return p


def run(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    p = cli.job_parser(PROG, __doc__, OPTIONS)
    args, _ = p.parse_known_args(argv)
    cli.required(args.input, "--input", "the CSV files to merge (a folder, a file or a glob pattern)")
    cli.required(args.output, "--output", "a local folder or gs://bucket/prefix for the merged files")
    file_format, compression = file_format_and_compression(args)
    num_shards = output_num_shards(args)
    output = check_output(args.output, [])
    options = cli.beam_options(cli.with_local_defaults(argv, grouping_rows=True), OPTIONS)

    from datagen import contract
    from transforms.csv_lines import non_iso_dates

    cli.check_dataflow(options, {"--input": args.input, "--output": output})
    files, header, sample = check_inputs(args.input)
    ds = dataset_of(header, args.dataset)
    if file_format != INPUT.name and ds is None:  # the rows are parsed into their types
        raise cli.UsageError(f"--format {file_format}: the header {header[:120]!r} is not a known dataset's "
                             f"({', '.join(contract.DATASETS)}), so its column types are unknown; use --format csv")
    if file_format != INPUT.name and sample is not None and non_iso_dates(ds, sample):
        raise cli.UsageError(f"--format {file_format}: the dates in {sample[:120]!r} are not yyyy-mm-dd; use "
                             "--format csv")
    name = output_name(output, "merged")
    prefix = f"{output}/{name}"
    shards = Shards(prefix, formats.file_suffix(file_format, compression))
    claim([shards], output, args.overwrite)
    pipeline = build_pipeline(files, header, ds, file_format, compression, num_shards, prefix, options)
    schemas = []
    if ds is not None:
        dates_text = formats.get(file_format).dates_as_text and sample is not None and non_iso_dates(ds, sample)
        schemas.append((shards, ds.bigquery_schema(dates_as_text=dates_text)))
    done = run_job(PROG, pipeline, options, [shards], schemas)
    if done is None:
        return 0
    rows = done.counters.get("merged_rows", 0)
    written = shards.existing()
    print(f"{len(files)} file{'s' * (len(files) != 1)} -> {rows:,} distinct rows in {len(written)} "
          f"file{'s' * (len(written) != 1)} in {done.seconds:.1f} s -> "
          f"{shards.names}")
    return 0


def main(argv=None) -> int:
    return cli.main_wrapper(PROG, run, argv)


if __name__ == "__main__":
    sys.exit(main())
