"""Upload existing files to Cloud Storage in parallel, verified by CRC32C, skipping what is already there.

    python -m pipelines.upload --input ./out --output gs://BUCKET/prefix
    python -m pipelines.upload --input 'exports/**/*.csv' --output gs://BUCKET/incoming

Each file keeps its path below the input folder (or below the part of the pattern before its first wildcard):
``out/films/films-00000-of-00002.csv`` -> ``gs://BUCKET/prefix/films/films-00000-of-00002.csv``. An object
that already exists with the same CRC32C is skipped; any other is written, then its CRC32C is checked against
the file's. ``*.schema.json`` files go first, so that the ingest function finds a dataset's schema before its
shards arrive. Files made elsewhere thereby enter the same ingest chain as the jobs' own outputs.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

from functions.file_layout import GCS_URL, SCHEMA_SUFFIX
from pipelines import cli
from pipelines.inputs import InputOptions, list_inputs
from pipelines.outputs import OutputOptions, run_job

if TYPE_CHECKING:  # Beam is imported once the command line is checked (--help answers at once)
    from apache_beam.options.pipeline_options import PipelineOptions

PROG = "python -m pipelines.upload"


class UploadOptions(cli.JobOptions):
    """This job's own option. Never declared to Beam: Beam's GoogleCloudOptions declares --project too, and both
    read the same flag (on Dataflow, the job's project is the one the uploads go through)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--project", default=None,
                            help="Project billed for the uploads (default: the environment's); on Dataflow, also "
                                 "the job's project.")


# This job's command line and its template's parameters: of OutputOptions, --output only (it writes no shards).
OPTIONS = (InputOptions, cli.some_of(OutputOptions, "--output"), UploadOptions)
BEAM_OPTIONS = (InputOptions, OutputOptions)  # what this job declares to Beam


def destination(path: str, base: str, output: str) -> str:
    rel = path[len(base):].lstrip("/") if path.startswith(base) else os.path.relpath(path, base)
    return f"{output}/{rel}"


def schema_files_first(pairs: list[tuple[str, str]]) -> tuple[list, list]:
    first = [p for p in pairs if p[0].endswith(SCHEMA_SUFFIX)]
    return first, [p for p in pairs if not p[0].endswith(SCHEMA_SUFFIX)]


def _warn_of_tables_fed_twice(files: list[str]) -> None:
    """One line when shards of one table (as the ingest function names them) come from two folders, such as a
    dataset's shards and a merge of them: the function loads both into that table."""
    from functions.ingest_naming import suffix_format, table_id

    folders: dict[str, set] = {}
    for f in files:
        if suffix_format(f) and not f.endswith(SCHEMA_SUFFIX):
            folders.setdefault(table_id(f), set()).add(os.path.dirname(f))
    for table, where in sorted(folders.items()):
        if len(where) > 1:
            print(f"warning: the files of {len(where)} folders ({', '.join(sorted(where))}) all load into the "
                  f"table {table!r}: its rows will be loaded once from each (upload one of them to leave the "
                  "other out)", file=sys.stderr)


def build_pipeline(pairs: list[tuple[str, str]], options: PipelineOptions, project: str | None = None):
    import apache_beam as beam

    from transforms.gcs_upload import UploadFn

    p = cli.new_pipeline(options)
    _ = (p
         | "Files" >> beam.Create(pairs)
         | "Spread" >> beam.Reshuffle()
         | "Upload" >> beam.ParDo(UploadFn(project)))
    return p


def run(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    p = cli.job_parser(PROG, __doc__, OPTIONS)
    args, _ = p.parse_known_args(argv)
    cli.required(args.input, "--input", "a folder, a file or a glob pattern of the files to upload")
    if not args.output or not GCS_URL.match(args.output.rstrip("/")):
        raise cli.UsageError(f"--output: expected gs://BUCKET/prefix with a valid bucket name, got {args.output!r}")
    output = args.output.rstrip("/")
    options = cli.beam_options(cli.with_local_defaults(argv), BEAM_OPTIONS)
    from transforms.gcs_upload import upload_one

    cli.check_dataflow(options, {"--input": args.input})
    files, base = list_inputs(args.input)
    if not files:
        raise cli.UsageError(f"--input: no file matches {args.input!r}")
    pairs = [(f, destination(f, base, output)) for f in files]
    _warn_of_tables_fed_twice(files)
    from google.cloud import storage

    started = time.monotonic()
    first, rest = schema_files_first(pairs)
    client = storage.Client(project=args.project)
    results = [upload_one(client, *pair) for pair in first]
    counts = {}
    if rest:  # an upload is whole or absent (Cloud Storage's own guarantee): nothing partial to remove
        done = run_job(PROG, build_pipeline(rest, options, args.project), options, outputs=[])
        if done is None:
            return 0
        counts = done.counters
    uploaded = results.count("uploaded") + counts.get("files_uploaded", 0)
    skipped = results.count("skipped") + counts.get("files_skipped", 0)
    size = counts.get("bytes_uploaded", 0)
    seconds = time.monotonic() - started
    print(f"{len(files)} files: {uploaded} uploaded, {skipped} already there with the same CRC32C; "
          f"{size:,} bytes in {seconds:.1f} s -> {output}/")
    return 0


def main(argv=None) -> int:
    return cli.main_wrapper(PROG, run, argv)


if __name__ == "__main__":
    sys.exit(main())
