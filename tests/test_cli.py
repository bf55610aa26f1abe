import pytest

from pipelines import cli


def test_failure_line_skips_a_wrapped_traceback():
    error = RuntimeError('Traceback (most recent call last):\n  File "x.py", line 1, in f\n    g()\n'
                         "IsADirectoryError: [Errno 21] Is a directory: 'out/films' [while running 'Write']")
    assert cli.failure_line(error).startswith("IsADirectoryError: [Errno 21]")
    assert cli.failure_line(ValueError()) == "ValueError"


def test_usage_error_is_one_line_and_exit_2(capsys):
    def run(argv):
        raise cli.UsageError("--rows: expected a positive whole number of rows, got '-5'")

    assert cli.main_wrapper("prog", run, []) == 2
    assert capsys.readouterr().err == "prog: error: --rows: expected a positive whole number of rows, got '-5'\n"


def test_every_job_options_class_can_live_in_one_process():
    """Beam parses the options of every job registered in a process with one parser: no flag may clash."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines import extract_postgres, generate, merge_files, profile, upload
    from pipelines.inputs import InputOptions
    from pipelines.outputs import OutputOptions

    for job in (generate, extract_postgres, merge_files):
        cli.beam_options([], job.OPTIONS)
    cli.beam_options([], (InputOptions, OutputOptions, profile.ProfileOptions))  # what upload and profile register
    assert upload.OPTIONS and profile.OPTIONS
    options = PipelineOptions(["--output", "x", "--rows", "5", "--table", "t", "--bins", "7"]).get_all_options()
    assert options["output"] == "x" and options["rows"] == "5" and options["table"] == "t" and options["bins"] == "7"


@pytest.mark.parametrize("job,call,flag", [("generate", "parse_config", "--target_size"),
                                           ("extract_postgres", "run", "--partition_column"),
                                           ("merge_files", "run", "--dataset"),
                                           ("upload", "run", "--project"),
                                           ("profile", "run", "--max_categories")])
def test_help_answers_without_importing_beam(job, call, flag):
    """--help and a usage error come before Beam's second of start-up and Arrow's (they are imported once a
    pipeline is made)."""
    import subprocess
    import sys

    code = (f"import sys\nfrom pipelines import {job}\ntry:\n    {job}.{call}(['--help'])\n"
            "except SystemExit:\n    pass\nprint([m for m in ('apache_beam', 'pyarrow') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert flag in out.stdout and out.stdout.strip().endswith("[]"), out.stdout[-200:]


def test_local_defaults_use_every_core_unless_the_work_cannot_be_split_or_the_user_chose():
    assert cli.with_local_defaults(["--x"]) == ["--x", "--direct_num_workers", "0", "--direct_running_mode",
                                                "multi_threading"]
    assert cli.with_local_defaults([], parallel=False) == ["--direct_num_workers", "1", "--direct_running_mode",
                                                          "in_memory"]
    chosen = ["--direct_num_workers", "2"]
    assert cli.with_local_defaults(chosen, parallel=False) == chosen
    assert cli.with_local_defaults(["--runner", "DataflowRunner"]) == ["--runner", "DataflowRunner"]
    assert cli.with_local_defaults([], grouping_rows=True) == ["--direct_num_workers", "0", "--direct_running_mode",
                                                              "multi_processing"]


def test_no_job_imports_another_job():
    """Jobs share option and helper modules (cli, inputs, outputs, ...), never each other."""
    import ast

    from tests.helpers import ROOT

    modules = {p.stem: p for p in (ROOT / "pipelines").glob("*.py")}
    jobs = {name for name, p in modules.items() if 'if __name__ == "__main__":' in p.read_text()}
    assert {"generate", "extract_postgres", "seed_postgres", "merge_files", "upload", "profile"} <= jobs
    for name in jobs:
        tree = ast.parse(modules[name].read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "pipelines":
                imported |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipelines."):
                imported.add(node.module.split(".", 1)[1])
        assert not (imported & jobs), (name, imported & jobs)


@pytest.mark.parametrize("from_command_line", [True, False])
def test_beam_is_frozen_out_of_collections_only_in_a_process_that_runs_one_job(from_command_line):
    """Run from its command line, a job imports Beam with the garbage collector paused and then freezes what is
    alive (later full collections skip Beam's modules); called as a library (a test, a notebook), it leaves the
    collector as it found it."""
    import subprocess
    import sys

    argv = "None" if from_command_line else "[]"
    code = ("import gc, sys\nfrom pipelines import cli\nsys.argv = ['prog']\nseen = []\n"
            "def run(argv):\n    cli.beam_options(argv)\n    seen.append((gc.isenabled(), gc.get_freeze_count()))\n"
            f"cli.main_wrapper('prog', run, {argv})\nprint(seen[0][0], seen[0][1] > 100000)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", str(from_command_line)], out.stdout + out.stderr[-500:]
