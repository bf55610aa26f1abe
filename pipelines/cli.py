"""What every job's command line shares: one-line usage errors with exit status 2, and secret-free messages;
the list of jobs, and ``mldp``, the one command that runs any of them (``mldp generate ...``).

Nothing here imports Beam until a pipeline's options are made (:func:`beam_options`) or an option the job does
not declare is looked up among Beam's: a job's ``--help`` and its usage errors answer without Beam's start-up.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import gc
import importlib
import io
import logging
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: Beam is imported when options are made
    from apache_beam.options.pipeline_options import PipelineOptions

USAGE_EXIT = 2
FAILURE_EXIT = 1
BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE, what a shell reports for a command whose reader went away


class UsageError(Exception):
    """A mistake in what the user asked for: reported as one line, exit status 2, nothing written."""


def whole(name: str, text, minimum: int, what: str, maximum: int | None = None) -> int:
    """``text`` as a whole number in [minimum, maximum], or a UsageError naming the option and the value."""
    try:
        value = int(str(text).strip().replace("_", ""))
    except ValueError:
        raise UsageError(f"{name}: expected {what}, got {text!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise UsageError(f"{name}: expected {what}, got {text!r}")
    return value


def with_local_defaults(argv: list[str], parallel: bool = True, grouping_rows: bool = False) -> list[str]:
    """Locally, use every core unless told otherwise: numpy, Arrow and the database release the GIL. Work that
    cannot be split (``parallel=False``: e.g. one block of rows per dataset) runs in one worker, in this thread:
    the runner's second worker would only add its start-up and hand-overs (a large part of a small run: see
    benchmarks/README.md, "a 1,000-row run").

    ``grouping_rows``: the pipeline sends rows one by one through a GroupByKey (merge_files' Distinct). There the
    local runner's threads lose rows now and then (apache-beam 2.77, ``multi_threading``: 200,000 distinct rows
    came out as 188,776-198,092 in about half the runs; never with ``multi_processing``, which is as fast
    there), so such a job runs its workers as processes."""
    if any(a.startswith(("--runner", "--direct_num_workers", "--direct_running_mode")) for a in argv):
        return list(argv)
    if not parallel:
        return [*argv, "--direct_num_workers", "1", "--direct_running_mode", "in_memory"]
    mode = "multi_processing" if grouping_rows else "multi_threading"
    return [*argv, "--direct_num_workers", "0", "--direct_running_mode", mode]


def is_single_worker(options) -> bool:
    """Whether the run has one worker: the DirectRunner asked for one (as :func:`with_local_defaults` does for
    work that cannot be split)."""
    from apache_beam.options.pipeline_options import DirectOptions

    return is_local(options) and options.view_as(DirectOptions).direct_num_workers == 1


class JobOptions:
    """A job's own options, declared with ``_add_argparse_args`` as Beam's ``PipelineOptions`` classes are, but
    without importing Beam. :func:`beam_view` gives the ``PipelineOptions`` class that declares the same options
    to Beam, so that they are parsed with Beam's and recorded with the pipeline (on Dataflow, in the job's
    options)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        raise NotImplementedError


_BEAM_VIEWS: dict = {}


def beam_view(cls: type[JobOptions]):
    """The ``PipelineOptions`` subclass declaring ``cls``'s options to Beam, made once per process (Beam parses
    the options of every subclass loaded with one parser, so each option may be declared only once)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    view = _BEAM_VIEWS.get(cls)
    if view is None:
        view = _BEAM_VIEWS[cls] = type(cls.__name__, (PipelineOptions,), {
            "__doc__": cls.__doc__, "__module__": cls.__module__,
            "_add_argparse_args": classmethod(lambda _, parser: cls._add_argparse_args(parser))})
    return view


# Set by main_wrapper when this process runs one job from its command line (not a test, not a library call).
_ONE_JOB_PROCESS = False


def _import_beam():
    """Imports Beam: most of a job's start-up, and a million objects that live as long as the process. In a
    process that runs one job, the cyclic garbage collector is paused meanwhile (its passes over the growing heap
    took a noticeable part of the import, for a few dozen objects found) and what is alive is then frozen
    (:func:`gc.freeze`): later full collections, each of which stopped every thread, no longer go through Beam's
    modules (benchmarks/HISTORY.md, 2026-11-29, "A 1,000-row run")."""
    if not _ONE_JOB_PROCESS or "apache_beam" in sys.modules:
        import apache_beam  # noqa: F401
        return
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        import apache_beam  # noqa: F401
    finally:
        if was_enabled:
            gc.enable()
    gc.freeze()


def beam_options(argv, jobs: tuple = ()):
    """Beam's own options with those of the ``jobs`` classes (:class:`JobOptions`), checked before anything is
    touched: a bad one is a usage error, not a crash."""
    _import_beam()
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    for cls in jobs:
        beam_view(cls)
    options = PipelineOptions(argv)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            options.get_all_options()
    except SystemExit:
        lines = [line for line in err.getvalue().splitlines() if line.strip()]
        raise UsageError(lines[-1].split("error: ", 1)[-1] if lines else "bad Beam pipeline option") from None
    runner = options.view_as(StandardOptions).runner
    if runner:
        from apache_beam.runners.runner import create_runner
        try:
            create_runner(runner)
        except ValueError:
            raise UsageError(f"--runner: unknown runner {runner!r}: expected DirectRunner or DataflowRunner") from None
    return options


def is_local(options: PipelineOptions) -> bool:
    from apache_beam.options.pipeline_options import StandardOptions

    return options.view_as(StandardOptions).runner in (None, "DirectRunner", "direct", LOCAL_RUNNER)


LOCAL_RUNNER = "pipelines.local_runner.LocalRunner"  # pipelines.local_runner.NAME, without importing Beam


def new_pipeline(options: PipelineOptions):
    """A job's pipeline, unrun: a local one (the DirectRunner) runs on :class:`pipelines.local_runner.LocalRunner`,
    Beam's FnApiRunner, never on Prism, which the DirectRunner would try first."""
    import apache_beam as beam

    if is_local(options):
        from pipelines.local_runner import LocalRunner

        return beam.Pipeline(runner=LocalRunner(), options=options)
    return beam.Pipeline(options=options)


def is_dataflow(options: PipelineOptions) -> bool:
    from apache_beam.options.pipeline_options import StandardOptions

    return options.view_as(StandardOptions).runner in ("DataflowRunner", "dataflow")


def template_location(options: PipelineOptions) -> str | None:
    """Where the job graph goes when this run only writes a template: a Flex Template launcher runs the job's
    program with ``--template_location``, then submits that graph and exits; the job runs after this process."""
    from apache_beam.options.pipeline_options import GoogleCloudOptions

    return options.view_as(GoogleCloudOptions).template_location


def launched_only(prog: str, result, options: PipelineOptions) -> bool:
    """True, after saying so on stdout, when ``result`` is a job graph written for a launcher rather than a
    finished run, so there are no figures to report (they are on the job's page once Dataflow has run it)."""
    if getattr(result, "has_job", True):
        return False
    print(f"{prog}: job graph written to {template_location(options)}; Dataflow runs it after this launcher exits")
    return True


PROJECT_SETUP = Path(__file__).resolve().parents[1] / "setup.py"


def check_dataflow(options: PipelineOptions, paths: dict[str, str]):
    """Before submitting to Dataflow: what it needs is there, or a UsageError naming what is missing.

    ``paths``: flag -> value of every path the workers read or write (they reach gs:// only). Workers get this
    project's packages from its setup.py (``--setup_file`` defaults to it) unless a container image is given;
    setup.py installs requirements.txt's pins, so both run the same versions."""
    if not is_dataflow(options):
        return
    from apache_beam.options.pipeline_options import GoogleCloudOptions, SetupOptions, WorkerOptions

    gcp = options.view_as(GoogleCloudOptions)
    missing = [flag for flag, value in (("--project", gcp.project), ("--region", gcp.region),
                                        ("--temp_location", gcp.temp_location)) if not value]
    if missing:
        raise UsageError(f"DataflowRunner needs {', '.join(missing)}")
    for flag, value in {**paths, "--temp_location": gcp.temp_location}.items():
        if value and not str(value).startswith("gs://"):
            raise UsageError(f"{flag}: DataflowRunner workers reach gs:// paths only, got {value!r}")
    setup = options.view_as(SetupOptions)
    if not setup.setup_file and not options.view_as(WorkerOptions).sdk_container_image and PROJECT_SETUP.exists():
        setup.setup_file = str(PROJECT_SETUP)


TRACEBACK = "--traceback"  # every command's: read by main_wrapper, so that no parser has to act on it


def closest(name: str, candidates, preferred=()) -> str | None:
    """The candidate most like ``name`` (a misspelling of it), or None; ``-`` and ``_`` count as one, and on a
    tie one of ``preferred`` (the job's own options before Beam's) wins."""
    def key(text):
        return text.lstrip("-").replace("-", "_")

    preferred = set(preferred)
    scored = [(difflib.SequenceMatcher(None, key(name), key(c)).ratio(), c in preferred, c) for c in candidates]
    best = max(scored, default=None)
    return best[2] if best and best[0] >= 0.6 else None


def unknown_arguments(rest: list[str], known, own=(), renamed: dict | None = None) -> UsageError:
    """The one line for arguments no option of the job (nor of Beam) takes: the first unknown option, with the
    name it was renamed to or the closest known one; else the stray value."""
    flags = [a for a in rest if a.startswith("-") and a not in ("-", "--")]
    if not flags:
        return UsageError(f"{rest[0]!r}: unexpected argument: every value follows its option (--name value)")
    name = flags[0].split("=", 1)[0]
    if renamed and name in renamed:
        return UsageError(f"{name}: renamed {renamed[name]}")
    guess = closest(name, known, own)
    return UsageError(f"{name}: unknown option" + (f"; did you mean {guess}?" if guess else ""))


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line (no usage dump), an unknown option with the closest
    known one, and an old spelling (``renamed``: old flag -> new flag) with its new name."""

    def __init__(self, *args, renamed: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.renamed = dict(renamed or {})

    def error(self, message):
        raise UsageError(message)

    def option_names(self) -> list[str]:
        return [s for a in self._actions for s in a.option_strings if s.startswith("--")]

    def parse_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        known = self.option_names()
        # An unknown option first, before argparse takes its value for a positional or asks for a required one.
        for arg in args[:args.index("--")] if "--" in args else args:
            if arg.startswith("--") and arg.split("=", 1)[0] not in known:
                raise unknown_arguments([arg], known, renamed=self.renamed)
        parsed, rest = self.parse_known_args(args, namespace)
        if rest:
            raise unknown_arguments(rest, self.option_names(), renamed=self.renamed)
        return parsed


class JobParser(OneLineParser):
    """A Beam job's command line: what its own options do not take must be an option of Beam's own classes
    (for the runner: --runner, --project, --temp_location, ...), which passes on to Beam; anything else is a
    usage error, where Beam would only log "Discarding unparseable args" (and DataflowRunner would pass it on)."""

    def parse_known_args(self, args=None, namespace=None):
        parsed, rest = super().parse_known_args(args, namespace)
        if rest:
            check_beam_args(rest, self.option_names(), self.renamed)
        return parsed, rest


def check_beam_args(rest: list[str], own: list[str], renamed: dict | None = None):
    """``rest`` (what a job's own options left) parsed by the options of Beam's own classes only, not by the other
    jobs' classes a process may have loaded: a UsageError for what none of them takes, or for a bad value."""
    _import_beam()
    from apache_beam.options import pipeline_options as beam_options_module

    class Parser(beam_options_module._BeamArgumentParser):  # Beam's own parser: some options are value providers
        def error(self, message):
            raise UsageError(message)

    parser = Parser(allow_abbrev=False, add_help=False)
    beams = {str(c): c for c in beam_options_module.PipelineOptions.__subclasses__()
             if c.__module__.split(".")[0] == "apache_beam"}
    for cls in beams.values():
        cls._add_argparse_args(parser)
    _, unknown = parser.parse_known_args(rest)
    if unknown:
        known = own + [s for a in parser._actions for s in a.option_strings if s.startswith("--")]
        raise unknown_arguments(unknown, known, own, renamed)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows '(default: X)' where there is a default to show (not for None or an off switch)."""

    def _get_help_string(self, action):
        if action.default in (None, False) or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def parser(prog: str, description: str, epilog: str = "", renamed: dict | None = None,
           cls: type[OneLineParser] = OneLineParser) -> OneLineParser:
    p = cls(prog=invoked_as(prog), description=description, epilog=epilog, formatter_class=_HelpFormatter,
            allow_abbrev=False, renamed=renamed)
    p.add_argument(TRACEBACK, action="store_true", default=False,
                   help="On an error, print its full traceback instead of one line (for a bug report).")
    return p


def job_parser(prog: str, doc: str, options: tuple) -> OneLineParser:
    """A Beam job's command line: its module docstring's first paragraph, then the options of its ``options``
    classes (:class:`JobOptions`); Beam's own options pass through ``parse_known_args``, checked
    (:class:`JobParser`)."""
    p = parser(prog, doc.split("\n\n")[0], epilog="Any Beam pipeline option may be added.", cls=JobParser)
    for cls in options:
        cls._add_argparse_args(p)
    return p


def some_of(cls: type[JobOptions], *flags: str) -> type[JobOptions]:
    """The options ``flags`` of ``cls`` only, for a job that takes those and not the rest (profile writes no
    shards: --output and --overwrite, not --format). They stay declared once, in ``cls``; declare ``cls`` itself
    to Beam, never this."""
    def add(_, parser):
        scratch = argparse.ArgumentParser(add_help=False)
        cls._add_argparse_args(scratch)
        for action in scratch._actions:
            if set(action.option_strings) & set(flags):
                parser._add_action(action)

    return type(f"{cls.__name__}_{'_'.join(f.strip('-') for f in flags)}", (JobOptions,),
                {"__doc__": f"{', '.join(flags)} of {cls.__name__}", "_add_argparse_args": classmethod(add)})


def required(value, flag: str, what: str):
    """The value of an option the job cannot run without, or one line naming it and what to give."""
    if not value:
        raise UsageError(f"{flag}: give {what}")
    return value


def failure_line(e: BaseException) -> str:
    """One line for a failure: Beam wraps a worker's error in a message that starts with its traceback, so take
    the last line that is not part of one ('ValueError: ...')."""
    lines = [line.strip() for line in str(e).splitlines()
             if line.strip() and not line.startswith((" ", "\t")) and not line.startswith("Traceback")]
    return lines[-1] if lines else type(e).__name__


def main_wrapper(prog: str, run, argv=None) -> int:
    """Runs ``run(argv)``; a UsageError becomes one line and exit 2, any other failure one line and exit 1. With
    ``--traceback`` (taken out of ``argv`` here, so that Beam never sees it), an error prints its full traceback
    instead of its line, for a bug report."""
    global _ONE_JOB_PROCESS
    from_command_line = argv is None
    _ONE_JOB_PROCESS = _ONE_JOB_PROCESS or from_command_line
    argv = list(sys.argv[1:] if argv is None else argv)
    show_traceback = TRACEBACK in argv
    argv = [a for a in argv if a != TRACEBACK]
    prog = invoked_as(prog)
    try:
        return run(argv) or 0
    except BrokenPipeError:  # the reader of our output went away (`| head`): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.dup2(devnull, sys.stderr.fileno())
        return BROKEN_PIPE_EXIT
    except UsageError as e:
        if show_traceback:
            traceback.print_exc()
        else:
            print(f"{prog}: error: {e}", file=sys.stderr)
        return USAGE_EXIT
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; no partial file was left at the final paths", file=sys.stderr)
        return 130
    except Exception as e:  # a failure of the run itself, not of the command line
        if show_traceback:
            traceback.print_exc()
        else:
            logging.getLogger(prog).debug("failure", exc_info=True)
            print(f"{prog}: failed: {failure_line(e)}", file=sys.stderr)
        return FAILURE_EXIT
    finally:
        if from_command_line:
            # The objects alive now (Beam's modules above all) live until the process ends: leave them out of
            # the collections the interpreter runs on its way out, a noticeable part of a small run's time.
            gc.freeze()


# --- the jobs, and mldp ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    module: str  # python -m <module>
    summary: str  # its line in `mldp --help`
    template: tuple[str, str] | None = None  # its Flex Template's name and description, if it has one


# Every command, in the order `mldp --help` lists them: the one list the console script, the Flex Templates
# (templates/launch.py, templates/parameters.py) and the tests read.
JOBS = {
    "generate": Job("pipelines.generate", "generate datasets (built-in or from spec files) as sharded CSV or Parquet",
                    ("Generate datasets",
                     "Synthetic datasets (built-in or from a spec file), sized by rows or bytes.")),
    "extract_postgres": Job("pipelines.extract_postgres",
                            "extract a PostgreSQL table or query, in parallel key ranges, to CSV or Parquet",
                            ("Extract a PostgreSQL table",
                             "A table or query read in parallel key ranges, every row once.")),
    "seed_postgres": Job("pipelines.seed_postgres", "create a PostgreSQL table of generated rows, to try extracting"),
    "merge_files": Job("pipelines.merge_files", "merge CSV shards into one dataset of distinct rows, before upload",
                       ("Merge CSV shards", "One dataset from CSV shards: one header, every distinct row once.")),
    "profile": Job("pipelines.profile", "profile a dataset's files: per-column statistics, profile.json and .html"),
    "upload": Job("pipelines.upload", "upload files to Cloud Storage, verified by CRC32C",
                  ("Upload files to Cloud Storage", "Files copied under a gs:// prefix, CRC32C-verified.")),
    "redrive": Job("pipelines.redrive", "start again the load of every object of a bucket not tagged as loaded"),
    "install_sql": Job("sql.install", "install the merge procedures into a BigQuery dataset"),
    "deploy": Job("deploy.gcp", "create or update the project's Google Cloud resources, least privilege"),
    "contract": Job("pipelines.contract", "print a dataset's BigQuery schema JSON"),
    "status": Job("local_cloud.status", "the recent load executions of the ingest chain, newest first"),
    "query": Job("local_cloud.query", "run a query on the local stack's BigQuery emulator"),
    "local_stack": Job("local_cloud.stack", "run the ingest chain on this machine: emulators, function, workflow"),
}


def template_jobs() -> tuple[str, ...]:
    """The jobs with a Flex Template (an image and a metadata.json each)."""
    return tuple(name for name, job in JOBS.items() if job.template)


MLDP = "mldp"
_INVOKED_AS: str | None = None  # "mldp generate" when mldp runs the job: its messages name what the user typed


def invoked_as(prog: str) -> str:
    return _INVOKED_AS or prog


def mldp_help() -> str:
    width = max(map(len, JOBS)) + 2
    lines = [f"usage: {MLDP} JOB [options]    ({MLDP} JOB --help lists a job's options)", "",
             "Apache Beam jobs that make ML training datasets and land them in BigQuery. The jobs:", ""]
    lines += [f"  {name:<{width}}{job.summary} (python -m {job.module})" for name, job in JOBS.items()]
    return "\n".join(lines)


def mldp(argv=None) -> int:
    """The console script: ``mldp JOB ...`` runs ``python -m <module of JOB> ...`` in this process, as the job's
    own command line (``sys.argv``), so that it behaves the same whichever way it is started."""
    global _INVOKED_AS
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("-h", "--help"):
        print(mldp_help())
        return 0
    if not argv or argv[0].startswith("-"):
        given = f"{argv[0]}: " if argv else ""
        print(f"{MLDP}: error: {given}expected a job first ({', '.join(JOBS)}); {MLDP} --help says what each does",
              file=sys.stderr)
        return USAGE_EXIT
    name, rest = argv[0], argv[1:]
    if name not in JOBS:
        guess = closest(name, JOBS)
        print(f"{MLDP}: error: {name!r}: unknown job; " + (f"did you mean {guess}?" if guess else
              f"expected one of {', '.join(JOBS)}"), file=sys.stderr)
        return USAGE_EXIT
    _INVOKED_AS = f"{MLDP} {name}"
    sys.argv = [_INVOKED_AS, *rest]
    return _job_module(name).main()


def _job_module(name: str):
    """The job's module; deploy/ is no package of the install (it deploys a checkout's workflows/ and functions/),
    so it is found in the checkout this file is in, when it is one (``pip install -e .``)."""
    module = JOBS[name].module
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        top = module.split(".")[0]
        checkout = PROJECT_SETUP.parent
        if e.name != top:
            raise
        if not (checkout / top).is_dir():
            print(f"{invoked_as(name)}: error: {module} is not installed: run it from the project's checkout "
                  f"(python -m {module})", file=sys.stderr)
            sys.exit(USAGE_EXIT)
        sys.path.append(str(checkout))
        return importlib.import_module(module)
