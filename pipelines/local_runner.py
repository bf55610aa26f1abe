"""The runner of every local run: Beam's FnApiRunner, chosen outright.

Since apache-beam 2.68 the DirectRunner first tries Prism, a runner written in Go that it downloads from GitHub
on first use (into ``~/.apache_beam/cache/prism``), and falls back to the FnApiRunner only when that fails. So
the same command would run on one runner on a machine with Internet access and on another without; Prism
ignores ``--direct_num_workers`` and ``--direct_running_mode`` (the worker modes :func:`pipelines.cli.
with_local_defaults` chooses) and names metrics its own way; and offline, the failed attempt (an extra
translation of the pipeline, a lookup of github.com) lengthened every run's start-up (benchmarks/HISTORY.md,
2026-12-03 evening).

:class:`LocalRunner` is the FnApiRunner set up as the DirectRunner sets it up for a batch pipeline (the
pipeline's options handed to the workers). Jobs get it through :func:`pipelines.cli.new_pipeline`, tests
through ``tests/conftest.py``. ``--runner PrismRunner`` still asks for Prism.
"""

from __future__ import annotations

from apache_beam.portability.api import beam_provision_api_pb2
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.runners.portability.portable_runner import JobServiceHandle

# The --runner value that names this runner (Beam's create_runner takes a class's full name).
NAME = f"{__name__}.LocalRunner"


# Loggers of a worker run as a process (``--direct_running_mode multi_processing``) that only speak at its start:
# it warns of the job's own options, which it need not parse, and of the staging folder a local worker never has.
# Their errors still show, as does everything the job's own code logs there.
QUIET_WORKER_LOGGERS = {
    "__main__": "ERROR",  # the worker process runs python -m apache_beam.runners.worker.sdk_worker_main
    "apache_beam.runners.worker.sdk_worker_main": "ERROR",
    "apache_beam.options.pipeline_options": "ERROR",
}


class LocalRunner(fn_runner.FnApiRunner):
    """Beam's FnApiRunner, as the DirectRunner makes it for a batch pipeline, without the detour through Prism;
    its worker processes keep Beam's start-up warnings to themselves (:data:`QUIET_WORKER_LOGGERS`)."""

    def run_pipeline(self, pipeline, options):
        handed = options.get_all_options()
        handed["sdk_harness_log_level_overrides"] = {
            **QUIET_WORKER_LOGGERS, **(handed.get("sdk_harness_log_level_overrides") or {})}  # the user's first
        encoded = JobServiceHandle.encode_pipeline_options(handed)
        self._provision_info = fn_runner.ExtendedProvisionInfo(
            beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
        return super().run_pipeline(pipeline, options)
