"""Checks of an --output value shared by the jobs that write files."""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass

from functions.file_layout import GCS_URL, schema_path, shard_names, shard_pattern, temp_folders
from pipelines import cli
from transforms import formats

DEFAULT_OUTPUT = "./out"


class OutputOptions(cli.JobOptions):
    """Where and how every job writes its files.

    Declared once for all jobs: Beam parses the options of every jobs' class loaded in a process with one parser
    (:func:`pipelines.cli.beam_view`), so two jobs may not each declare ``--output``.
    """

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--output", default=None,
            help=f"Local folder or gs://bucket/prefix (generate: each dataset goes to <output>/<dataset>/; "
                 f"default {DEFAULT_OUTPUT} for generate, required by the others).")
        parser.add_argument("--format", default="csv", help=f"{formats.choices()}.")
        parser.add_argument(
            "--compression", default=None,
            help=" ".join(f"{f.name}: {', '.join(f.compressions)} (default {f.default_compression})."
                          for f in formats.FORMATS.values()))
        parser.add_argument(
            "--num_shards", default="0",
            help="Files per dataset; 0 lets the runner decide (one per bundle of work).")
        parser.add_argument(
            "--overwrite", action="store_true", default=False,
            help="Replace the shards a previous run left at the output (refused otherwise, so runs never mix).")


def check_output(output: str, datasets: list[str]) -> str:
    """A local folder or gs://bucket/prefix that can be written, with a folder (or nothing) per dataset."""
    if any(c in output for c in "*?[]{}"):
        raise cli.UsageError(f"--output: expected a folder path without wildcards (* ? [ ] {{ }}), got {output!r}")
    if output.lower().startswith("gs:") or "://" in output:
        if not GCS_URL.match(output.rstrip("/")):
            raise cli.UsageError(
                f"--output: expected a local folder or gs://BUCKET/prefix with a valid bucket name, got {output!r}")
        return output.rstrip("/")
    if not output.strip():
        raise cli.UsageError(f"--output: expected a local folder or gs://bucket/prefix, got {output!r}")
    output = output.rstrip("/") or "/"
    path = os.path.abspath(output)
    probe = path
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise cli.UsageError(f"--output: {output!r} is not a folder ({probe!r} is a file)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise cli.UsageError(f"--output: cannot write to {output!r} ({probe!r} is not writable)")
    for name in datasets:
        sub = os.path.join(path, name)
        if os.path.exists(sub) and not os.path.isdir(sub):
            raise cli.UsageError(f"--output: {sub!r} must be a folder for dataset {name!r}, but it is a file")
        if os.path.isdir(sub) and not os.access(sub, os.W_OK | os.X_OK):
            raise cli.UsageError(f"--output: cannot write to {sub!r}")
    return output


def file_format_and_compression(args) -> tuple[str, str]:
    """The checked --format and --compression (the format's default compression when none is given)."""
    try:
        fmt = formats.get((args.format or "").strip().lower())
    except formats.UnknownFormat:
        raise cli.UsageError(f"--format: expected {formats.choices()}, got {args.format!r}") from None
    compression = (args.compression or fmt.default_compression).strip().lower()
    if compression not in fmt.compressions:
        raise cli.UsageError(f"--compression: expected one of {', '.join(fmt.compressions)} for {fmt.name}, got "
                             f"{args.compression!r}")
    return fmt.name, compression


def num_shards(args) -> int:
    return cli.whole("--num_shards", args.num_shards, 0, "a whole number of files >= 0 (0: the runner decides)")


@dataclass(frozen=True)
class Shards:
    """The files of one sink: ``<prefix>-SSSSS-of-NNNNN<suffix>``, and its temp folders beside them."""

    prefix: str
    suffix: str

    @property
    def pattern(self) -> str:
        return shard_pattern(self.prefix, self.suffix)

    @property
    def names(self) -> str:
        """How the shards are named, for messages: ``out/films/films-SSSSS-of-NNNNN.csv``."""
        return shard_names(self.prefix, self.suffix)

    @property
    def schema_path(self) -> str:
        """The BigQuery schema JSON written beside the shards (the ingest function loads with it)."""
        return schema_path(self.prefix)

    def write_schema(self, fields: list[dict]):
        """The schema file, or, where one is already there (an earlier run's), the new one staged beside it: the
        sink moves it in with the shards, once they are all written (:mod:`transforms.replace`)."""
        from transforms.replace import PENDING

        data = json.dumps(fields, indent=2).encode() + b"\n"
        path = self.schema_path
        if _filesystems().exists(path):
            with _filesystems().open(path) as f:
                if f.read() == data:
                    return
            path += PENDING
        with _filesystems().create(path) as f:
            f.write(data)

    def existing(self) -> list[str]:
        return [m.path for r in _filesystems().match([self.pattern]) for m in r.metadata_list]

    def temp_folders(self) -> list[str]:
        """The temporary folders of Beam's file sinks beside the shards (of this run or an interrupted one)."""
        folder, name = self.prefix.rsplit("/", 1)
        if folder.startswith("gs://"):  # folders are name prefixes: found by the objects below them
            return sorted({f"{folder}/{m.path[len(folder) + 1:].split('/', 1)[0]}"
                           for m in _objects_below(temp_folders(self.prefix))})
        return sorted(p for p in glob.glob(temp_folders(f"{glob.escape(folder)}/{glob.escape(name)}"))
                      if os.path.isdir(p))

    def remove_temp_folders(self):
        for folder in self.temp_folders():
            if folder.startswith("gs://"):
                paths = [m.path for m in _objects_below(folder)]
                if paths:
                    _filesystems().delete(paths)
            else:
                shutil.rmtree(folder, ignore_errors=True)

    def finish_interrupted(self) -> list[str]:
        """Finishes the replacements that stopped runs had begun once their new shards were whole (their
        temporary folders hold a journal: :mod:`transforms.replace`); returns those folders."""
        from transforms.replace import finish_in

        return [folder for folder in self.temp_folders() if finish_in(folder)]

    def remove_partial(self):
        """After a failed or interrupted run: the sink's temporary folders and the staged schema file, and the
        schema file when no shards are left beside it. Shards at the final paths are never removed: they are
        an earlier run's until the new ones are all written, then the new ones (a replacement that was under way
        is finished instead)."""
        from transforms.replace import PENDING

        try:
            self.finish_interrupted()
        except Exception:
            pass
        try:
            self.remove_temp_folders()
            paths = [m.path for r in _filesystems().match([self.schema_path + PENDING]) for m in r.metadata_list]
            if not self.existing():  # no earlier shards: the schema file is this run's
                paths += [m.path for r in _filesystems().match([self.schema_path]) for m in r.metadata_list]
            if paths:
                _filesystems().delete(paths)
        except Exception:
            pass


def claim(shards: list[Shards], output: str, overwrite: bool):
    """Refuses to write over an earlier run's shards (so runs never mix) unless --overwrite is given; then they
    stay until the new shards are all written, and are replaced by them at the end of the run.

    First, a replacement that a stopped run had begun (its new shards whole) is finished. Temporary folders and
    files that an interrupted run left beside the shards (a killed process cannot remove them) are removed with
    --overwrite, and otherwise named on stderr with the command that removes them: this run leaves them alone,
    as one started beside it may still be writing there."""
    for s in shards:
        for folder in s.finish_interrupted():
            print(f"note: finished replacing the shards of {s.names!r} with the whole new ones that an interrupted "
                  f"run had written ({folder})", file=sys.stderr)
    existing = [path for s in shards for path in s.existing()]
    if existing and not overwrite:
        raise cli.UsageError(
            f"--output: {output!r} already holds {len(existing)} shard(s) such as {existing[0]!r}; "
            "add --overwrite to replace them or choose another --output")
    if existing and output.startswith("gs://"):
        _warn_if_loaded(existing)
    from transforms.replace import PENDING

    stale = [folder for s in shards for folder in s.temp_folders()]
    stale += [p for s in shards for r in _filesystems().match([s.schema_path + PENDING]) for p in
              (m.path for m in r.metadata_list)]
    leftovers(output, stale, "folder", overwrite, lambda: [s.remove_partial() for s in shards])


def _warn_if_loaded(paths: list[str]) -> None:
    """One line when the ingest chain has loaded shards that --overwrite replaces: the new ones are loaded too,
    into the same tables (docs/ingest.md), so the rows end up there twice unless the table is emptied."""
    try:
        from apache_beam.io.gcp.gcsio import GcsIO

        gcs = GcsIO()
        loaded = [p for p in paths[:1000] if (gcs._gcs_object(p).metadata or {}).get("status") == "loaded"]
    except Exception:  # the warning is a courtesy: it never stops the run
        return
    if loaded:
        print(f"warning: {len(loaded)} of the shards being replaced (such as {loaded[0]!r}) were loaded into "
              "BigQuery by the ingest chain; the new shards will be loaded as well, adding their rows to the same "
              "table (empty or drop it first if it should hold only the new ones: docs/ingest.md)", file=sys.stderr)


def leftovers(output: str, stale: list[str], kind: str, overwrite: bool, remove) -> None:
    """What an interrupted run left at ``output`` (temporary folders or files: ``kind``): removed by ``remove()``
    with --overwrite, else named on stderr in one line with the command that removes them."""
    if stale and overwrite:
        remove()
        print(f"note: removed {len(stale)} temporary {kind}(s) an interrupted run left: {', '.join(stale)}",
              file=sys.stderr)
    elif stale:
        command = ("gcloud storage rm -r " if stale[0].startswith("gs://") else "rm -r ") + " ".join(
            f"'{f}'" for f in stale)
        print(f"note: {output!r} holds {len(stale)} temporary {kind}(s) an interrupted run left "
              f"({_size(stale) / 1e6:,.0f} MB); remove them with: {command}  (or run again with --overwrite)",
              file=sys.stderr)


def _size(paths: list[str]) -> int:
    """Bytes in ``paths`` (folders or files, local or gs://)."""
    if paths and paths[0].startswith("gs://"):
        return sum(m.size_in_bytes for f in paths for m in _objects_below(f) + _objects_at(f))
    return sum(os.path.getsize(f) if os.path.isfile(f) else sum(
        os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(f) for name in names)
        for f in paths)


def _objects_at(path: str) -> list:
    """The object named ``path`` itself (a file rather than a folder), if there is one."""
    return [m for r in _filesystems().match([path]) for m in r.metadata_list if m.path == path]


def _objects_below(folder_pattern: str) -> list:
    """The objects (metadata) under the Cloud Storage "folders" that ``folder_pattern`` names."""
    return [m for r in _filesystems().match([folder_pattern + "/**"]) for m in r.metadata_list]


_WIND_DOWN_SECONDS = 0.5


def stop_cleanly_on_signals(prog: str, outputs: list) -> dict:
    """Ctrl-C or SIGTERM during a local run: remove partial output and leave at once. Returns the handlers it
    replaced (none outside the main thread).

    The DirectRunner's worker threads would otherwise carry on to the end, ignoring the interrupt.
    """
    def stop(signum, frame):
        print(f"{prog}: interrupted; removing partial output", file=sys.stderr, flush=True)
        from transforms.sinks import STOP_WRITING

        STOP_WRITING.set()  # the sinks open and write nothing more: what is removed below stays removed
        time.sleep(_WIND_DOWN_SECONDS)  # a write under way when the flag was set finishes meanwhile
        for o in outputs:
            o.remove_partial()
        os._exit(130)

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}  # the handlers before


class TracebacksDropped:
    """stderr without the tracebacks a local run's worker prints (and logs) when a step fails: the failure is
    reported once, in one line, by cli.main_wrapper. Everything else written to stderr passes."""

    LOGGERS = ("apache_beam.runners.common", "apache_beam.runners.worker.sdk_worker")

    def __init__(self, stream):
        self._stream = stream
        self._dropped = False

    def write(self, text):
        if text.startswith("Traceback (most recent call last)"):
            self._dropped = True
            return len(text)
        if self._dropped and text == "\n":  # the end of print(traceback)
            self._dropped = False
            return len(text)
        self._dropped = False
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)

    @staticmethod
    def _no_errors(record):
        return record.levelno < logging.ERROR

    @classmethod
    @contextlib.contextmanager
    def installed(cls, local: bool):
        if not local:
            yield
            return
        loggers = [logging.getLogger(name) for name in cls.LOGGERS]
        for logger in loggers:
            logger.addFilter(cls._no_errors)
        stderr, sys.stderr = sys.stderr, cls(sys.stderr)
        try:
            yield
        finally:
            sys.stderr = stderr
            for logger in loggers:
                logger.removeFilter(cls._no_errors)


def run_pipeline(prog: str, pipeline, outputs: list, local: bool):
    """Runs ``pipeline`` to the end; on failure or interruption, removes what it had written (``outputs``:
    :class:`Shards` or anything else with ``remove_partial``)."""
    before = stop_cleanly_on_signals(prog, outputs) if local else {}
    try:
        with TracebacksDropped.installed(local):
            result = pipeline.run()
            result.wait_until_finish()
        return result
    except BaseException as e:
        for o in outputs:
            o.remove_partial()
        if _no_space_left(e):
            where = next((getattr(o, "prefix", None) or getattr(o, "output", None) for o in outputs), "the output")
            raise NoSpaceLeft(f"no space left on the device of {where.rsplit('/', 1)[0]}: the run stopped and "
                              "removed its temporary files and shards") from None
        raise
    finally:  # a job run inside a longer-lived process (a test, a notebook) gives its signals back
        for sig, handler in before.items():
            signal.signal(sig, handler)


class NoSpaceLeft(RuntimeError):
    """The output's file system filled up during the run."""


def _no_space_left(e: BaseException) -> bool:
    """A full disk, as raised here or as a worker's error that the runner re-raised as text."""
    return (isinstance(e, OSError) and e.errno == errno.ENOSPC) or f"[Errno {errno.ENOSPC}]" in str(e)


@dataclass(frozen=True)
class JobResult:
    counters: dict  # this project's Beam counters (namespace transforms.progress.NAMESPACE), name -> committed
    seconds: float  # the pipeline's run, from submission to its end


def run_job(prog: str, pipeline, options, outputs: list, schemas: list[tuple[Shards, list[dict]]] = ()
            ) -> JobResult | None:
    """The end every job shares, once its outputs are claimed and its pipeline built: write each BigQuery schema
    file beside its shards (before them: the ingest function loads with it), run the pipeline (removing what
    it wrote if it fails or is interrupted: ``outputs`` have ``remove_partial``), and read the project's
    counters. None when the launch only staged a Flex Template job, which runs later."""
    for shards, fields in schemas:
        shards.write_schema(fields)
    started = time.monotonic()
    result = run_pipeline(prog, pipeline, outputs, cli.is_local(options))
    if cli.launched_only(prog, result, options):
        return None
    return JobResult(counters(result), time.monotonic() - started)


def counters(result) -> dict:
    """The committed value of each of this project's counters in a finished pipeline's ``result`` (summed over
    steps); empty where the runner keeps no metrics."""
    from apache_beam.metrics.metric import MetricsFilter

    from transforms.progress import NAMESPACE

    try:
        found = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    except Exception:  # some runners keep no metrics
        return {}
    totals = {}
    for c in found:
        totals[c.key.metric.name] = totals.get(c.key.metric.name, 0) + c.committed
    return totals


def _filesystems():
    """Beam's file systems (local, gs://), imported when a path is first looked at, not with this module."""
    from apache_beam.io.filesystems import FileSystems

    return FileSystems
