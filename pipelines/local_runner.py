"""The runner of every local run: Beam's FnApiRunner, chosen outright.

Since apache-beam 2.68 the DirectRunner first tries Prism, a runner written in Go that it downloads from GitHub
on first use (into ``~/.apache_beam/cache/prism``), and falls back to the FnApiRunner only when that fails. So
the same command would run on one runner on a machine with Internet access and on another without; Prism
ignores ``--direct_num_workers`` and ``--direct_running_mode`` (the worker modes :func:`pipelines.cli.
with_local_defaults` chooses) and names metrics its own way; and offline, the failed attempt (an extra
translation of the pipeline, a lookup of github.com) cost 0.3-0.6 s of a 20M-row run's start-up.

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


class LocalRunner(fn_runner.FnApiRunner):
    """Beam's FnApiRunner, as the DirectRunner makes it for a batch pipeline, without the detour through Prism."""

    def run_pipeline(self, pipeline, options):
        encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
        self._provision_info = fn_runner.ExtendedProvisionInfo(
            beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
        return super().run_pipeline(pipeline, options)
