"""The local runner: every local run on Beam's FnApiRunner with the worker options it was given, never on Prism."""

from __future__ import annotations

import threading

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines import cli
from pipelines.local_runner import NAME, QUIET_WORKER_LOGGERS, LocalRunner
from tests.helpers import run_cli


def test_a_job_run_locally_never_reaches_for_prism(tmp_path):
    # Beam's DirectRunner would first try Prism: it makes its binary cache under ~/.apache_beam before the
    # download (here offline, it then fails over to the FnApiRunner).
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "out"
    done = run_cli("pipelines.generate", "--datasets", "films", "--rows", "300000", "--output", str(out),
                   "--no_progress", env={"HOME": str(home)})
    assert done.returncode == 0, done.stderr
    assert "300,000" in done.stdout and list((out / "films").glob("films-*.csv"))
    assert not (home / ".apache_beam").exists()


def _run_where(options: PipelineOptions, on_main_thread: bool):
    """Runs a job's pipeline made with ``options``, checking whether its elements were processed on the main
    thread."""
    with cli.new_pipeline(options) as p:
        assert isinstance(p.runner, LocalRunner)
        where = p | beam.Create(range(4)) | beam.Map(lambda _: threading.current_thread() is threading.main_thread())
        assert_that(where, equal_to([on_main_thread] * 4))


def test_the_worker_options_of_a_local_run_are_the_ones_the_runner_uses():
    # One worker in memory: the elements are processed in this thread; workers as threads: in theirs.
    _run_where(PipelineOptions(cli.with_local_defaults([], parallel=False)), on_main_thread=True)
    _run_where(PipelineOptions(cli.with_local_defaults([], parallel=True)), on_main_thread=False)


def test_the_workers_are_handed_the_pipelines_options():
    options = PipelineOptions(["--direct_num_workers", "1", "--job_name", "handed-over"])
    runner = LocalRunner()
    with beam.Pipeline(runner=runner, options=options) as p:
        _ = p | beam.Create([1])
    handed = runner._provision_info.provision_info.pipeline_options
    assert handed["beam:option:job_name:v1"] == "handed-over"


def test_only_a_local_run_gets_the_local_runner():
    assert isinstance(cli.new_pipeline(PipelineOptions([])).runner, LocalRunner)
    assert isinstance(cli.new_pipeline(PipelineOptions(["--runner", "DirectRunner"])).runner, LocalRunner)
    assert not isinstance(cli.new_pipeline(PipelineOptions(["--runner", "PrismRunner"])).runner, LocalRunner)
    assert cli.LOCAL_RUNNER == NAME and cli.is_local(PipelineOptions(["--runner", NAME]))


def test_tests_pipelines_run_on_the_local_runner_too():
    with TestPipeline() as p:
        assert isinstance(p.runner, LocalRunner)
        assert_that(p | beam.Create([1, 2]) | beam.Map(lambda x: x * 10), equal_to([10, 20]))


def test_a_job_whose_workers_are_processes_prints_no_beam_log_line(tmp_path):
    # merge_files runs its workers as processes (pipelines.cli.with_local_defaults): each printed Beam's start-up
    # warnings ("Discarding unparseable args", "No semi_persistent_directory found") on stderr.
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("k,v\n1,x\n2,y\n")
    (tmp_path / "in" / "b.csv").write_text("k,v\n2,y\n3,z\n")
    assert "multi_processing" in cli.with_local_defaults([], grouping_rows=True)
    done = run_cli("pipelines.merge_files", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "m"))
    assert done.returncode == 0, done.stderr
    assert "2 files -> 3 distinct rows" in done.stdout
    beam_lines = [line for line in done.stderr.splitlines()
                  if "apache_beam" in line or line.startswith(("WARNING:", "INFO:", "ERROR:"))]
    assert beam_lines == [], done.stderr


def test_the_workers_quiet_beams_start_up_loggers_only_and_keep_the_users_levels():
    options = PipelineOptions(["--direct_num_workers", "1",
                               "--sdk_harness_log_level_overrides", '{"__main__": "INFO", "my.module": "DEBUG"}'])
    runner = LocalRunner()
    with beam.Pipeline(runner=runner, options=options) as p:
        _ = p | beam.Create([1])
    handed = runner._provision_info.provision_info.pipeline_options["beam:option:sdk_harness_log_level_overrides:v1"]
    assert dict(handed) == {**QUIET_WORKER_LOGGERS, "__main__": "INFO", "my.module": "DEBUG"}
    assert set(QUIET_WORKER_LOGGERS.values()) == {"ERROR"}  # errors still show
