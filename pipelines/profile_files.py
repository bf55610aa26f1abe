"""Profiling a set of files, shared by ``pipelines.profile`` and ``pipelines.generate --profile``: what the input
holds (its files, format, columns and types, from the dataset's schema file or a sample), the plan of the
profile, its output files (claimed before the run, removed if it fails), the pipeline, and the run. The job's
command line is in ``pipelines/profile.py``.
"""
from __future__ import annotations

import json
import os
import re
import sys
from typing import TYPE_CHECKING

from functions.file_layout import PROFILE_FOLDER, SCHEMA_SUFFIX, SHARD_STEM, TEMPORARY, schema_path
from functions.ingest_naming import suffix_format
from pipelines import cli
from pipelines.inputs import list_inputs
from pipelines.outputs import OutputOptions, check_output, leftovers, run_job  # noqa: F401 (OutputOptions: --output)
from transforms import formats

if TYPE_CHECKING:  # Beam and Arrow are imported once the command line is checked (--help answers at once)
    import apache_beam as beam
    import pyarrow as pa
    from apache_beam.options.pipeline_options import PipelineOptions

    from datagen.report.profile import ProfilePlan
    from datagen.stats.columns import Column

PROG = "python -m pipelines.profile"  # the job these messages belong to
FIRST_SAMPLE_BYTES = 1 << 20  # of the first files: the rows types are inferred from
SAMPLE_BYTES = 64 << 10  # of every other file: checked against the types before the run
SAMPLED_FIRST = 4

class ProfileOptions(cli.JobOptions):
    """This job's own options; --input is InputOptions', --output OutputOptions'."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--bins", default="20",
                            help="Histogram bins of number and date columns (fixed width from min to max; one per "
                                 "value for integers and dates of at most this many values).")
        parser.add_argument("--top_values", default="20",
                            help="Most frequent values reported per string column (and per list column's items).")
        parser.add_argument("--max_categories", default="50",
                            help="A column of integers, strings or booleans with at most this many distinct values "
                                 "is a category: its value counts and the mean of every numeric column per value "
                                 "are reported.")




# --- what the input holds -----------------------------------------------------------------------------------

def _data_files(pattern: str) -> list[str]:
    files, base = list_inputs(pattern)
    out = []
    for f in files:
        rel = f[len(base):] if f.startswith(base) else f
        name = f.rsplit("/", 1)[-1]
        if name.startswith(("_", ".")) or TEMPORARY.search(rel):
            continue  # markers, hidden and temporary files of a running job
        if suffix_format(f) and formats.of_path(f):  # data, as the ingest function tells it (no schema file)
            out.append(f)
    return out


def _sizes(files: list[str]) -> list[int]:
    if not any(f.startswith("gs://") for f in files):
        return [os.path.getsize(f) for f in files]
    from apache_beam.io.filesystems import FileSystems

    return [r.metadata_list[0].size_in_bytes for r in FileSystems.match(files)]


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else "."


def _dataset_name(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    fmt = formats.of_path(name)
    if fmt is not None:
        name = re.sub("(" + "|".join(re.escape(s) for s in fmt.suffixes.values()) + ")$", "", name, flags=re.I)
    shard = SHARD_STEM.match(name)
    return (shard.group("name") if shard else name) or "dataset"


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:300] or type(e).__name__


def schema_file(files: list[str], names: list[str], guess: str) -> tuple[str | None, list[dict] | None]:
    """The ``<dataset>.schema.json`` beside the files whose fields are the files' columns, in order, if any."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    folder = _folder(files[0])
    try:
        candidates = sorted(m.path for r in FileSystems.match([f"{folder}/*{SCHEMA_SUFFIX}"]) for m in r.metadata_list)
    except Exception:
        candidates = []
    preferred = schema_path(f"{folder}/{guess}")
    if preferred in candidates:
        candidates = [preferred]
    elif len(candidates) != 1:
        return None, None
    path = candidates[0]
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            fields = json.loads(f.read().decode("utf-8"))
    except Exception as e:
        raise cli.UsageError(f"--input: schema file {path!r} cannot be read as JSON ({_one_line(e)}): expected a "
                             "BigQuery schema, a JSON list of fields with a name and a type") from None
    if not isinstance(fields, list) or not all(isinstance(x, dict) and "name" in x and "type" in x for x in fields):
        raise cli.UsageError(f"--input: schema file {path!r} is not a BigQuery schema: expected a JSON list of "
                             "fields with a name and a type")
    if [x["name"] for x in fields] != names:
        print(f"{PROG}: note: {path} names other columns than the files ({','.join(names)[:200]}); the types are "
              "inferred from the data", file=sys.stderr)
        return None, None
    return path, fields


def _head(path: str, size: int, fmt: formats.Format) -> bytes:
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path) as f:  # gzip by the file's name
            return f.read(size)
    except Exception as e:
        what = f"a gzip-compressed {fmt.title} file" if path.lower().endswith(".gz") else f"a {fmt.title} file"
        raise cli.UsageError(f"--input: cannot read {path!r} ({_one_line(e)}): expected {what}") from None


def _names(path: str, head: bytes, fmt: formats.Format) -> list[str]:
    try:
        return fmt.code().names(head, SAMPLE_BYTES)
    except ValueError as e:
        raise cli.UsageError(f"--input: {path!r} {e}") from None


def _complete_lines(head: bytes, whole: bool) -> bytes:
    return head if whole else head[:head.rfind(b"\n") + 1]


def _text_schema(fmt: formats.Format, files: list[str], guess: str) -> tuple[pa.Schema, list[Column], str]:
    """The column types of files of text lines (CSV, NDJSON): from the schema file beside them, else inferred by
    Arrow from their first rows; every file's first rows are read as the run will read them."""
    import pyarrow as pa

    from datagen.stats.columns import Column, inferred_type, schema_file_type, unify
    from datagen.types import bigquery_of_arrow, kind_of

    code = fmt.code()
    heads, first = {}, None
    for i, path in enumerate(files):
        size = FIRST_SAMPLE_BYTES if i < SAMPLED_FIRST else SAMPLE_BYTES
        head = _head(path, size, fmt)
        names = _names(path, head, fmt)
        if first is None:
            first = (path, names)
        elif names != first[1]:
            raise cli.UsageError(f"--input: {code.NAMED_BY} differ: {first[0]!r} has {','.join(first[1])[:120]!r} "
                                 f"but {path!r} has {','.join(names)[:120]!r}")
        heads[path] = _complete_lines(head, len(head) < size)
    names = first[1]
    source, fields = schema_file(files, names, guess)
    columns = []
    if fields is not None:
        types = []
        for x in fields:
            bq = str(x["type"]).upper()
            arrow, kind = schema_file_type(bq)
            arrow = code.PROFILE_TYPES.get(bq, arrow)
            if str(x.get("mode", "")).upper() == "REPEATED" and fmt.lists:
                arrow, kind, bq = pa.list_(arrow), None, f"ARRAY<{bq}>"  # a list's kind, as in Parquet
            elif str(x.get("mode", "")).upper() == "REPEATED":
                arrow, kind, bq = pa.string(), None, f"ARRAY<{bq}> (JSON text)"
            types.append(arrow)
            columns.append(Column(x["name"], kind or kind_of(arrow), bq, str(x.get("description") or "")))
        schema = pa.schema([pa.field(n, t) for n, t in zip(names, types)])
    else:
        inferred = []
        for path in files[:SAMPLED_FIRST]:
            try:
                table = code.parse(heads[path], names, None, skip_header=True)
            except Exception as e:
                raise cli.UsageError(f"--input: {path!r} cannot be read as {fmt.title} ({_one_line(e)}): expected "
                                     f"rows of the columns {','.join(names)[:120]}") from None
            inferred.append([inferred_type(f.type) for f in table.schema])
        schema = pa.schema([pa.field(n, unify([t[i] for t in inferred])) for i, n in enumerate(names)])
        columns = [Column(f.name, kind_of(f.type), bigquery_of_arrow(f.type)) for f in schema]
        source = "inferred from the first rows of the files"
    for path in files:  # every file's first rows, read as the run will read them
        try:
            code.parse(heads[path], names, schema, skip_header=True)
        except Exception as e:
            raise cli.UsageError(f"--input: {path!r} does not read as the columns' types ({_one_line(e)}): expected "
                                 f"{fmt.title} rows of {', '.join(f'{c.name} {c.type}' for c in columns)[:200]}"
                                 ) from None
    return schema, columns, source


def _typed_schema(fmt: formats.Format, files: list[str], guess: str
                  ) -> tuple[pa.Schema, list[Column], str, list[list[int]]]:
    """The column types of files that carry their own (Parquet), and the bytes of each file's row groups."""
    import pyarrow as pa
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    from datagen.stats.columns import Column, normal_parquet_type
    from datagen.types import bigquery_of_arrow, kind_of

    schemas, groups = [], []
    for path in files:
        try:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                own, sizes = fmt.code().file_schema(f)
                schemas.append(own)
                groups.append(sizes)
        except Exception as e:
            raise cli.UsageError(f"--input: {path!r} is not a readable {fmt.title} file ({_one_line(e)})") from None
        if schemas[-1].names != schemas[0].names:
            raise cli.UsageError(f"--input: columns differ: {files[0]!r} has {','.join(schemas[0].names)[:120]!r} but "
                                 f"{path!r} has {','.join(schemas[-1].names)[:120]!r}")
    try:
        unified = pa.unify_schemas([s.remove_metadata() for s in schemas], promote_options="permissive")
    except Exception as e:
        raise cli.UsageError(f"--input: the {fmt.title} files' column types differ ({_one_line(e)})") from None
    schema = pa.schema([pa.field(f.name, normal_parquet_type(f.type)) for f in unified])
    source, fields = schema_file(files, schema.names, guess)
    described = {x["name"]: x for x in fields or []}
    columns = [Column(f.name, kind_of(f.type), str(described.get(f.name, {}).get("type") or bigquery_of_arrow(f.type)),
                      str(described.get(f.name, {}).get("description") or "")) for f in schema]
    return schema, columns, f"the {fmt.title} files' own", groups


def plan_profile(pattern: str, output: str, *, name: str | None = None, bins: int = 20, top_values: int = 20,
                 max_categories: int = 50) -> ProfilePlan:
    """Checks the input (before anything is written) and plans its profile; a UsageError names what is wrong."""
    from datagen.report.profile import ProfilePlan

    files = _data_files(pattern)
    if not files:
        raise cli.UsageError(f"--input: no {formats.suffix_list()} file matches {pattern!r}")
    by_format = {}
    for f in files:
        by_format.setdefault(formats.of_path(f), f)
    if len(by_format) > 1:
        (a, fa), (b, fb) = sorted(by_format.items(), key=lambda x: formats.names().index(x[0].name))[:2]
        raise cli.UsageError(f"--input: {pattern!r} holds both {a.title} ({fa!r}) and {b.title} ({fb!r}) files: "
                             "expected files of one format")
    (fmt,) = by_format
    sizes = _sizes(files)
    guess = name or _dataset_name(files[0])
    if fmt.typed:
        schema, columns, source, groups = _typed_schema(fmt, files, guess)
    else:
        schema, columns, source = _text_schema(fmt, files, guess)
        groups = [None] * len(files)
    parts = [p for f, s, g in zip(files, sizes, groups) for p in fmt.code().parts(f, s, g)]
    file_format = fmt.name
    total = sum(sizes)
    buckets = 8
    while buckets < 1024 and total / buckets > (32 << 20):  # a bucket's share of the text stays small
        buckets *= 2
    return ProfilePlan(
        name=name or (source.rsplit("/", 1)[-1].removesuffix(SCHEMA_SUFFIX) if source.endswith(SCHEMA_SUFFIX)
                      else guess),
        input=pattern, output=output, file_format=file_format, schema=schema, columns=tuple(columns),
        files=tuple(files), parts=tuple(parts), total_bytes=total, schema_source=source, bins=bins,
        top_values=top_values, max_categories=max_categories, buckets=buckets,
        typed_files=fmt.title if fmt.typed else "")


# --- the output ---------------------------------------------------------------------------------------------

class ProfileFiles:
    """profile.json and profile.html in one folder: claimed before the run; a profile already there is replaced
    only by a whole new one (both files at once), and left as it was if the run fails or is stopped."""

    def __init__(self, output: str):
        from transforms.profiling import FILES

        self.output = output
        self.paths = [f"{output}/{name}" for name in FILES]
        self._folder_existed = output.startswith("gs://") or os.path.isdir(output)

    def existing(self) -> list[str]:
        from transforms.replace import matching

        return [p for path in self.paths for p in matching(path)]

    def claim(self, overwrite: bool):
        from apache_beam.io.filesystems import FileSystems

        self.finish_interrupted()
        existing = self.existing()
        if existing and not overwrite:
            raise cli.UsageError(f"--output: {self.output!r} already holds {existing[0]!r}; add --overwrite to "
                                 "replace it or choose another --output")
        stale = self.temporary()
        leftovers(self.output, stale, "file", overwrite, lambda: FileSystems.delete(stale))

    def finish_interrupted(self):
        """Moves in a whole profile that a stopped run had begun to move in (:mod:`transforms.replace`)."""
        from transforms import replace
        from transforms.profiling import journal_path

        for journal in replace.matching(journal_path(self.output)):
            if not journal.endswith(".tmp") and replace.finish(journal):
                print(f"note: finished moving in the profile in {self.output!r} that an interrupted run had "
                      "written", file=sys.stderr)

    def temporary(self) -> list[str]:
        """The files an interrupted run was writing (moved to profile.* once both are whole)."""
        from transforms.profiling import TEMP_MARK
        from transforms.replace import matching

        return matching(f"{self.output}/.profile.*{TEMP_MARK}*")

    def remove_partial(self):
        """After a failed or stopped run: its temporary files; a profile already there stays (or, if the new one
        was whole and being moved in, is replaced by it)."""
        from apache_beam.io.filesystems import FileSystems

        try:
            self.finish_interrupted()
            stale = self.temporary()
            if stale:
                FileSystems.delete(stale)
        except Exception:
            pass
        if not self._folder_existed and os.path.isdir(self.output):
            try:
                os.rmdir(self.output)  # only when empty
            except OSError:
                pass


# --- the pipeline -------------------------------------------------------------------------------------------

def build_pipeline(plans: list[ProfilePlan], options: PipelineOptions | None = None) -> beam.Pipeline:
    """The unrun pipeline: each plan's files read as record batches, their statistics combined, the profile
    written at the end."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from transforms.profiling import ProfileDataset

    p = cli.new_pipeline(options or PipelineOptions())
    for plan in plans:
        _ = p | f"Profile_{plan.name}" >> ProfileDataset(plan)
    return p


def settings_of(args) -> dict:
    """The checked --bins, --top_values and --max_categories."""
    return {
        "bins": cli.whole("--bins", args.bins, 1, "a whole number of bins from 1 to 1000", 1000),
        "top_values": cli.whole("--top_values", args.top_values, 1, "a whole number from 1 to 1000", 1000),
        "max_categories": cli.whole("--max_categories", args.max_categories, 1, "a whole number from 1 to 1000",
                                    1000),
    }


def _read_profile(output: str) -> dict:
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(f"{output}/profile.json", compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return json.loads(f.read().decode("utf-8"))


def run_profiles(prog: str, plans: list[ProfilePlan], options: PipelineOptions, overwrite: bool) -> int:
    """Claims each plan's output, runs the profiles in one pipeline and prints a line per dataset."""
    outputs = [ProfileFiles(plan.output) for plan in plans]
    for o in outputs:
        o.claim(overwrite)
    pipeline = build_pipeline(plans, options)
    done = run_job(prog, pipeline, options, outputs)  # removes what it wrote if it fails
    if done is None:
        return 0
    seconds = done.seconds
    for plan in plans:
        summary = _read_profile(plan.output)["summary"]
        print(f"{plan.name}: {summary['rows']:,} row{'s' * (summary['rows'] != 1)}, {summary['columns']} columns, "
              f"{summary['files']} "
              f"file{'s' * (summary['files'] != 1)} profiled in {seconds:.1f} s -> {plan.output}/profile.html "
              "and profile.json")
    return 0


def after_generate(config, options: PipelineOptions) -> int:
    """``generate --profile``: profiles each dataset just written into ``<output>/<dataset>/_profile/`` (replacing
    an earlier profile there: it described other shards). Object names under ``_profile/`` are never loaded by the
    ingest function (it ignores what is in a ``_profile/`` folder)."""
    view = options.view_as(cli.beam_view(ProfileOptions))
    settings = settings_of(view)
    plans = [plan_profile(config.shard_pattern(d), f"{config.output}/{d.name}/{PROFILE_FOLDER}", name=d.name,
                         **settings)
             for d in config.datasets]
    return run_profiles("python -m pipelines.generate", plans, options, overwrite=True)
