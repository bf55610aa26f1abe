"""Generate datasets (the built-in films and clients, or any described in a spec file) as sharded CSV or Parquet,
locally or on Cloud Storage.

    python -m pipelines.generate --datasets films,clients --rows 1000000 --output ./out --format csv
    python -m pipelines.generate --spec my_orders.yaml --datasets clients --rows 1000000 --output ./out

writes ``out/films/films-SSSSS-of-NNNNN.csv`` and ``out/clients/clients-SSSSS-of-NNNNN.csv``. Any Beam
pipeline option can be added (``--runner DataflowRunner --project ... --region ... --temp_location gs://...
--setup_file ./setup.py`` for Dataflow; ``--direct_num_workers 2 --direct_running_mode multi_threading``
locally). ``--help`` lists the options of this job.
"""

from __future__ import annotations

import datetime
import sys
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from datagen import plan as plans
from datagen import spec as specs
from datagen.blocks import DEFAULT_BLOCK_ROWS
from datagen.plan import MAX_ROWS
from datagen.seed import DEFAULT_SEED, MAX_SEED, SEED_RANGE
from functions.file_layout import shard_names
from pipelines import cli
from pipelines.outputs import (
    DEFAULT_OUTPUT,
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
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

PROG = "python -m pipelines.generate"
ISO_DATE = "%Y-%m-%d"
MAX_BLOCK_ROWS = 1 << 22


class GenerateOptions(cli.JobOptions):
    """The options of ``pipelines.generate`` (values are checked by :func:`parse_request`)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--datasets", default=None,
            help="Comma-separated built-in datasets to generate, among: " + ", ".join(specs.builtin_names())
                 + ". Default: films,clients, or none when --spec is given.")
        parser.add_argument(
            "--spec", action="append", default=None,
            help="A dataset spec file (YAML or JSON, local or gs://) to generate; may be given more than once, "
                 "and with --datasets. The language: docs/spec.md.")
        parser.add_argument(
            "--rows", default=None,
            help="Rows per dataset: one count for all (a positive whole number) or one per dataset "
                 "(clients=1000,orders=100000). Give --rows or --target_size, not both.")
        parser.add_argument(
            "--target_size", default=None,
            help="Written size per dataset instead of --rows: one size for all (1.7GB, 500MB, 2GiB) or one per "
                 "dataset (films=1.7GB,clients=2GB). The row count is worked out from a sample so that the "
                 "files land within a few percent of it.")
        parser.add_argument(
            "--seed", default=str(DEFAULT_SEED),
            help=f"Seed of the generators ({SEED_RANGE}). Row i of a dataset depends only on (seed, dataset, "
                 "column, i).")
        parser.add_argument(
            "--date_format", default=ISO_DATE,
            help="strftime format of dates in CSV; '%%y/%%m/%%d' reproduces the original design's. "
                 "BigQuery loads DATE columns from the ISO default only.")
        parser.add_argument(
            "--block_rows", default=str(DEFAULT_BLOCK_ROWS),
            help="Rows generated per element (record batch). Changes speed and memory, never the data.")
        parser.add_argument(
            "--no_progress", action="store_true", default=False,
            help="Do not print progress lines while a local run works.")
        parser.add_argument(
            "--profile", action="store_true", default=False,
            help="After the run, profile each dataset written (python -m pipelines.profile) into "
                 "<output>/<dataset>/_profile/: profile.json and profile.html. Not in a Flex Template launch, "
                 "which exits before its job runs.")


OPTIONS = (OutputOptions, GenerateOptions)  # this job's options: its command line, Beam's view, its template


@dataclass(frozen=True)
class DatasetPlan(plans.DatasetPlan):
    """A dataset of the run (:mod:`datagen.plan`) and where its shards go."""

    output_prefix: str = ""  # <output>/<name>/<name>



# --- checking the command line ------------------------------------------------------------------------------

def _datasets(datasets: str | None, spec_files: list[str] | None) -> list[specs.DatasetSpec]:
    """The run's datasets: built-ins named by --datasets, then the --spec files, each once, in an order where a
    dataset comes after those it references (:func:`datagen.plan.order_datasets`)."""
    chosen = []
    names = [] if datasets is None and spec_files else \
        [n.strip() for n in str(datasets or "films,clients").split(",")]
    for n in names:
        if n not in specs.builtin_names():
            raise cli.UsageError(
                f"--datasets: unknown dataset {n!r}: expected a comma-separated list of "
                f"{', '.join(specs.builtin_names())} (or a spec file with --spec)")
        chosen.append(specs.builtin(n))
    for path in spec_files or []:
        try:
            chosen.append(specs.load(path))
        except specs.SpecError as e:
            raise cli.UsageError(str(e)) from None
    try:
        return plans.order_datasets(chosen)
    except plans.PlanError as e:
        raise cli.UsageError(str(e)) from None


def _per_dataset(option: str, text: str, datasets: list[str], value, what: str, example: str) -> dict:
    """``option``'s value for each dataset of the run: one ``value(text)`` for all, or ``name=value`` pairs that name
    every dataset once (--rows and --target_size alike)."""
    if "=" not in text:
        return dict.fromkeys(datasets, value(text))
    values = {}
    for part in text.split(","):
        name, sep, item = part.partition("=")
        name = name.strip()
        if not sep:
            raise cli.UsageError(f"{option}: expected dataset={what} pairs such as {example}, got {part!r}")
        if name not in datasets:
            raise cli.UsageError(
                f"{option}: {name!r} is not a dataset of this run: expected {what}s for {', '.join(datasets)}")
        if name in values:
            raise cli.UsageError(f"{option}: dataset {name!r} has two {what}s in {text!r}")
        values[name] = value(item)
    missing = [d for d in datasets if d not in values]
    if missing:
        raise cli.UsageError(f"{option}: no {what} for dataset {missing[0]!r} in {text!r}")
    return values


def _target_sizes(text: str, datasets: list[str]) -> dict[str, int]:
    from pipelines.sizes import parse_size

    def size(t):
        try:
            return parse_size(t)
        except ValueError as e:
            raise cli.UsageError(f"--target_size: {e}") from None

    return _per_dataset("--target_size", text, datasets, size, "size", "films=1.7GB,clients=2GB")


def _rows(text: str, datasets: list[str]) -> dict[str, int]:
    def rows(t):
        return cli.whole("--rows", t, 1, f"a positive whole number of rows up to {MAX_ROWS:,}", MAX_ROWS)

    return _per_dataset("--rows", text, datasets, rows, "row count", "clients=1000,orders=100000")


def _check_date_format(fmt: str) -> str:
    """Renders sample dates with Arrow's strftime (what the CSV encoder uses): the result must be a date."""
    expected = f"--date_format: expected a strftime format such as %Y-%m-%d or %y/%m/%d, got {fmt!r}"
    from transforms.text import render_dates

    samples = [datetime.date(2001, 2, 3), datetime.date(1999, 12, 31)]
    try:
        rendered = render_dates(samples, fmt)
    except Exception:
        raise cli.UsageError(expected) from None
    if (any(c in r for r in rendered for c in ',"\r\n%') or rendered[0] == rendered[1]
            or rendered[0] == fmt or not all(rendered)):
        raise cli.UsageError(expected)
    return fmt


@dataclass(frozen=True)
class GenerateRequest:
    """The checked command line: what to make, before any row count is worked out."""

    specs: tuple[specs.DatasetSpec, ...]  # in an order where a dataset comes after those it references
    rows: dict | None  # --rows: dataset -> rows
    targets: dict | None  # --target_size: dataset -> bytes
    target_text: str | None
    output: str
    file_format: str
    compression: str
    num_shards: int
    seed: int
    date_format: str
    block_rows: int
    overwrite: bool
    show_progress: bool

    @property
    def suffix(self) -> str:
        return formats.file_suffix(self.file_format, self.compression)

    def shard_pattern(self, plan: DatasetPlan) -> str:
        return Shards(plan.output_prefix, self.suffix).pattern


@dataclass(frozen=True)
class GenerateConfig(GenerateRequest):
    """The request planned: each dataset with its row count and where it goes (:func:`plan`)."""

    datasets: tuple[DatasetPlan, ...] = ()


def parse_request(argv) -> tuple[GenerateRequest, list[str]]:
    """Parses and checks this job's options (nothing is generated); returns them and the remaining (Beam)
    arguments."""
    p = cli.job_parser(PROG, __doc__, OPTIONS)
    args, beam_args = p.parse_known_args(argv)
    chosen = _datasets(args.datasets, args.spec)
    names = [s.name for s in chosen]
    file_format, compression = file_format_and_compression(args)
    if args.rows is not None and args.target_size is not None:
        raise cli.UsageError("give --rows or --target_size, not both")
    if args.rows is None and args.target_size is None:
        raise cli.UsageError("give --rows N or --target_size SIZE (e.g. --rows 1000000 or --target_size 1.7GB)")
    seed = cli.whole("--seed", args.seed, 0, f"a whole number from {SEED_RANGE}", MAX_SEED)
    num_shards = output_num_shards(args)
    block_rows = cli.whole("--block_rows", args.block_rows, 1, f"a whole number from 1 to {MAX_BLOCK_ROWS}",
                           MAX_BLOCK_ROWS)
    date_format = _check_date_format(args.date_format)
    output = check_output(args.output or DEFAULT_OUTPUT, names)
    rows = targets = None
    if args.rows is not None:
        rows = _rows(args.rows, names)
    else:
        targets = _target_sizes(args.target_size, names)
    request = GenerateRequest(
        specs=tuple(chosen), rows=rows, targets=targets, target_text=args.target_size, output=output,
        file_format=file_format, compression=compression, num_shards=num_shards, seed=seed,
        date_format=date_format, block_rows=block_rows, overwrite=args.overwrite,
        show_progress=not args.no_progress)
    return request, beam_args


def plan(request: GenerateRequest) -> GenerateConfig:
    """Each dataset's row count (--rows, or as many as fill its --target_size, measured on a sample of the real
    encoding) and estimated bytes per row (:func:`datagen.plan.plan`), parents first."""
    try:
        planned = plans.plan(request.specs, request.rows, request.targets, _sizing(request), request.block_rows,
                             request.num_shards)
    except plans.TooManyRows:
        raise cli.UsageError(f"--target_size: {request.target_text!r} means more than {MAX_ROWS:,} rows") from None
    except specs.SpecError as e:
        raise cli.UsageError(str(e)) from None
    datasets = tuple(DatasetPlan(**{f.name: getattr(p, f.name) for f in fields(p)},
                                 output_prefix=f"{request.output}/{p.name}/{p.name}") for p in planned)
    return GenerateConfig(**{f.name: getattr(request, f.name) for f in fields(request)}, datasets=datasets)


def parse_config(argv) -> tuple[GenerateConfig, list[str]]:
    """The command line checked (:func:`parse_request`), then planned (:func:`plan`); and the Beam arguments."""
    request, beam_args = parse_request(argv)
    return plan(request), beam_args


def _sizing(request: GenerateRequest) -> plans.Sizing:
    """How the run's files are sized: the bytes of a sample as its format and compression write it."""
    from pipelines.sizes import SAMPLE_ROWS, encoded_bytes_per_row, shard_overhead_bytes

    file_format, compression = request.file_format, request.compression

    def bytes_per_row(gen, sample_rows, group_rows):
        return encoded_bytes_per_row(gen, file_format, compression, request.seed, request.date_format,
                                     sample_rows=sample_rows, block_rows=group_rows)

    # A target size needs a real sample. With --rows the size only feeds the printed estimate: a small sample
    # does for text, but Parquet compresses a row group of a whole block far better than one of 8,192 rows, so
    # it is measured with groups as the sink writes them.
    whole_groups = formats.get(file_format).whole_groups
    return plans.Sizing(bytes_per_row, lambda gen: shard_overhead_bytes(gen.schema, file_format, compression),
                        sample_rows=SAMPLE_ROWS, estimate_rows=SAMPLE_ROWS if whole_groups else 8192)


def _check_dataflow(options: PipelineOptions, config: GenerateConfig):
    cli.check_dataflow(options, {"--output": config.output})


# --- the pipeline -------------------------------------------------------------------------------------------

def build_pipeline(config: GenerateConfig, options: PipelineOptions | None = None) -> beam.Pipeline:
    """The unrun pipeline: for each dataset, generate record batches and write them as shards."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from transforms.progress import CountRows, RowCounter, reset_progress
    from transforms.shards import ShardedDataset, WriteGeneratedShards
    from transforms.source import GenerateDataset

    options = options or PipelineOptions()
    local = cli.is_local(options)
    p = cli.new_pipeline(options)
    if local:
        reset_progress()
    sharded = []
    for plan in config.datasets:
        ds = plan.schema
        # With --num_shards, that many balanced shards, each made whole by one worker: the same bytes always. A
        # dataset of one block makes one file either way, and the shard path is the shorter graph to run.
        num_shards = config.num_shards or (1 if plan.rows <= config.block_rows else 0)
        write = formats.get(config.file_format).write(formats.SinkTarget(
            plan.output_prefix, ds.arrow_schema, config.compression, num_shards, config.date_format,
            metrics_name=plan.name, generated=(plan.spec, plan.run, config.seed, plan.rows)))
        counter = RowCounter(plan.name, plan.rows, show_progress=local and config.show_progress)
        if num_shards:
            sharded.append(ShardedDataset(write.sink, plan.spec, plan.rows, config.seed, config.block_rows,
                                          plan.run, counter))
        else:  # one file per bundle of work, however the runner splits the source
            _ = (p
                 | f"Generate_{plan.name}" >> GenerateDataset(
                     plan.spec, plan.rows, config.seed, config.block_rows, plan.bytes_per_row, plan.run)
                 | f"Count_{plan.name}" >> beam.ParDo(CountRows(counter))
                 | f"Write_{plan.name}" >> write)
    if sharded:
        _ = p | "Write_" + "_".join(d.spec.name for d in sharded) >> WriteGeneratedShards(
            sharded, spread=not cli.is_single_worker(options))
    return p


def summarise(config: GenerateConfig, counters: dict, seconds: float) -> str:
    """The summary table: each dataset's rows (counted by the run), files and bytes, and the run's rates."""
    from apache_beam.io.filesystems import FileSystems

    lines = [f"{'dataset':<10} {'rows':>14} {'files':>6} {'bytes':>16} {'seconds':>8} {'rows/s':>12} {'MB/s':>8}"]
    totals = [0, 0, 0]

    def line(name, rows, files, size, timed):
        # The datasets are made at once, in one pipeline: the seconds and rates are the run's, on its total line.
        rates = (f" {seconds:>8.1f} {rows / seconds:>12,.0f} {size / seconds / 1e6:>8.1f}" if timed else "")
        return f"{name:<10} {rows:>14,} {files:>6} {size:>16,}" + rates

    several = len(config.datasets) > 1
    for plan in config.datasets:
        files = [m for r in FileSystems.match([config.shard_pattern(plan)]) for m in r.metadata_list]
        size = sum(m.size_in_bytes for m in files)
        rows = counters.get(f"{plan.name}_rows", plan.rows)
        lines.append(line(plan.name, rows, len(files), size, timed=not several))
        totals = [totals[0] + rows, totals[1] + len(files), totals[2] + size]
    if several:
        lines.append(line("total", *totals, timed=True))
    lines.append(f"output: {shard_names(f'{config.output}/<dataset>/<dataset>', config.suffix)}")
    return "\n".join(lines)


def run(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    config, _ = parse_config(argv)
    argv = cli.with_local_defaults(argv, parallel=any(plan.rows > config.block_rows for plan in config.datasets))
    options = cli.beam_options(argv, OPTIONS)  # Beam's options and this job's, recorded with the pipeline
    _check_dataflow(options, config)
    shards = [Shards(plan.output_prefix, config.suffix) for plan in config.datasets]
    claim(shards, config.output, config.overwrite)  # earlier shards (and their profile) go once the new are whole
    for plan in config.datasets:
        print(f"{plan.name}: {plan.rows:,} rows (about {plan.rows * plan.bytes_per_row / 1e6:,.0f} MB of "
              f"{config.file_format}) -> {shard_names(plan.output_prefix, config.suffix)}", file=sys.stderr)
    pipeline = build_pipeline(config, options)
    dates_as_text = formats.get(config.file_format).dates_as_text and config.date_format != ISO_DATE
    schemas = [(s, plan.schema.bigquery_schema(dates_as_text)) for plan, s in zip(config.datasets, shards)]
    done = run_job(PROG, pipeline, options, shards, schemas)
    if done is None:
        return 0
    print(summarise(config, done.counters, done.seconds))
    if options.view_as(cli.beam_view(GenerateOptions)).profile:
        from pipelines.profile_files import after_generate

        return after_generate(config, options)
    return 0


def main(argv=None) -> int:
    return cli.main_wrapper(PROG, run, argv)


if __name__ == "__main__":
    sys.exit(main())
