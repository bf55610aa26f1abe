"""Profile a dataset: per-column statistics and plots, as profile.json and one self-contained profile.html.

    python -m pipelines.profile --input 'out/films/*.csv' --output out/films_profile
    python -m pipelines.profile --input gs://BUCKET/datasets/clients --output gs://BUCKET/profiles/clients

reads the CSV (plain or gzip) or Parquet files the input names (a folder: every one below it; one format per
input), typed by the dataset's ``<dataset>.schema.json`` beside them when there is one (else Arrow infers the
types from the first rows of the files), and writes ``<output>/profile.json`` and ``<output>/profile.html``: rows,
columns, files; per column the count, nulls, distinct values (exact for strings and columns of few values, else
a HyperLogLog estimate), min, max, mean, standard deviation, percentiles, a histogram or the top values (and the
items of comma-joined lists); and the mean of every numeric column per value of each column of few values.
"""

from __future__ import annotations

import sys

from pipelines import cli
from pipelines.inputs import InputOptions
from pipelines.outputs import OutputOptions, check_output
from pipelines.profile_files import PROG, ProfileOptions, plan_profile, run_profiles, settings_of

# This job's command line: it writes a profile, not shards, so of OutputOptions it takes --output and --overwrite
# only. Beam is told OutputOptions itself (each option is declared to it once).
OPTIONS = (InputOptions, cli.some_of(OutputOptions, "--output", "--overwrite"), ProfileOptions)


def run(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    p = cli.job_parser(PROG, __doc__, OPTIONS)
    args, _ = p.parse_known_args(argv)
    cli.required(args.input, "--input", "the files to profile (a folder, a file or a glob pattern)")
    cli.required(args.output, "--output", "a local folder or gs://bucket/prefix for profile.json and profile.html")
    settings = settings_of(args)
    output = check_output(args.output, [])
    options = cli.beam_options(cli.with_local_defaults(argv), (InputOptions, OutputOptions, ProfileOptions))
    cli.check_dataflow(options, {"--input": args.input, "--output": output})
    plan = plan_profile(args.input, output, **settings)
    return run_profiles(PROG, [plan], options, args.overwrite)


def main(argv=None) -> int:
    return cli.main_wrapper(PROG, run, argv)


if __name__ == "__main__":
    sys.exit(main())
