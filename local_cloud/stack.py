"""The whole ingest chain on 127.0.0.1, without a Google account.

    python -m local_cloud.stack            # or: make local-stack; Ctrl-C stops everything it started

starts gcp-storage-emulator (bucket ``local-bucket``) and bqemulator (project ``local-project``, dataset
``ingest``), each behind a thin front of ours that answers as Google Cloud does where exactly-once relies on it
(a duplicate job id, generations and their preconditions: ``local_cloud/fronts.py``), a local Workflows
Executions API that runs ``workflows/load_to_bigquery.yaml`` on workflows-emulator, and the Cloud Function
(``functions/``) under functions-framework; a router turns every new object generation in the bucket into the
finalize CloudEvent the function receives on Google Cloud. It writes the environment other shells need to
``.local_cloud/env`` in the project folder (``source`` it, then run the jobs with a ``gs://`` output,
``python -m local_cloud.query "SELECT ..."`` to look at the tables and ``python -m local_cloud.status`` to see
the loads, failed ones with BigQuery's message).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import requests

from local_cloud.events import FinalizeRouter
from local_cloud.fronts import BigQueryFront, StorageFront
from local_cloud.processes import Server, free_port, throwaway_credentials
from local_cloud.tools import ToolMissing, bq_home, executable
from local_cloud.workflows_api import WorkflowsService

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_YAML = ROOT / "workflows" / "load_to_bigquery.yaml"
WORKFLOW_NAME = "load-to-bigquery"
WORKFLOW_LOCATION = "us-central1"


def _venv_tool(name: str) -> str:
    """A tool installed beside this Python (our own virtual environment), or on PATH."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise ToolMissing(f"{name} is not installed: pip install -e '.[test]' (or make test) installs it")
    return found


class LocalStack:
    """Start with ``start()`` (or ``with LocalStack(folder) as stack``); ``stop()`` stops all it started."""

    def __init__(self, folder: Path, bucket: str = "local-bucket", project: str = "local-project",
                 dataset: str = "ingest", location: str = "US", route_events: bool = True,
                 concurrent_executions: int = 2):
        self.folder = Path(folder)
        self.bucket, self.project, self.dataset, self.location = bucket, project, dataset, location
        self.route_events = route_events
        self.concurrent_executions = concurrent_executions  # Google runs them all at once; each is a process here
        self.servers: list[Server] = []  # the processes started
        self.fronts: list = []  # the fronts before the emulators (threads of this process)
        self.workflows: WorkflowsService | None = None
        self.router: FinalizeRouter | None = None
        self.gcs_port = self.bq_port = self.function_port = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def storage_url(self) -> str:
        return f"http://127.0.0.1:{self.gcs_port}"

    @property
    def bigquery_url(self) -> str:
        return f"http://127.0.0.1:{self.bq_port}"

    @property
    def function_url(self) -> str:
        return f"http://127.0.0.1:{self.function_port}"

    def client_env(self) -> dict:
        """What a job or client needs to reach this stack (and only it)."""
        return {**self._auth, "STORAGE_EMULATOR_HOST": self.storage_url, "GOOGLE_CLOUD_PROJECT": self.project,
                "BIGQUERY_EMULATOR_URL": self.bigquery_url, "WORKFLOWS_ENDPOINT": self.workflows.endpoint}

    def function_env(self) -> dict:
        """The function's environment variables, as a deployment would set them (plus the local endpoints)."""
        return {"PROJECT_ID": self.project, "WORKFLOW_LOCATION": WORKFLOW_LOCATION, "WORKFLOW_NAME": WORKFLOW_NAME,
                "BUCKET": self.bucket, "BQ_DATASET": self.dataset, "BQ_LOCATION": self.location,
                "BIGQUERY_URL": self.bigquery_url, "STORAGE_URL": self.storage_url,
                "WORKFLOWS_ENDPOINT": self.workflows.endpoint}

    def start(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        self._auth = throwaway_credentials(self.folder / "auth")
        try:
            self._start_storage()
            self._start_bigquery()
            self.workflows = WorkflowsService({WORKFLOW_NAME: WORKFLOW_YAML}, concurrency=self.concurrent_executions,
                                              env={**os.environ, **self._auth, "GOOGLE_CLOUD_PROJECT": self.project})
            self.workflows.start()
            self._start_function()
            if self.route_events:
                self.router = FinalizeRouter(self.storage_url, self.bucket, self.function_url).start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_storage(self):
        data = self.folder / "gcs"
        data.mkdir(exist_ok=True)
        port = free_port()
        self.servers.append(Server(
            "gcp-storage-emulator",
            [_venv_tool("gcp-storage-emulator"), "start", "--host", "127.0.0.1", "--port", str(port),
             "--default-bucket", self.bucket, "--quiet"],
            port, self.folder / "gcs.log", env=self._auth, cwd=data).wait_ready())
        self.fronts.append(StorageFront(f"http://127.0.0.1:{port}").start())
        self.gcs_port = self.fronts[-1].port

    def _start_bigquery(self, port: int | None = None):
        server = start_bigquery(self.folder, self.project, self.folder / "gcs" / ".cloudstorage",
                                data_dir=self.folder / "bq-data", port=port)
        self.servers.append(server)
        if port is not None:  # started again behind the front it had
            return
        self.fronts.append(BigQueryFront(f"http://127.0.0.1:{server.port}").start())
        self.bq_port = self.fronts[-1].port
        answer = requests.post(f"{self.bigquery_url}/bigquery/v2/projects/{self.project}/datasets", timeout=30,
                               json={"datasetReference": {"projectId": self.project, "datasetId": self.dataset},
                                     "location": self.location})
        if answer.status_code not in (200, 409):
            raise RuntimeError(f"creating dataset {self.dataset} failed: {answer.status_code} {answer.text[:300]}")

    def _start_function(self):
        self.function_port = free_port()
        # No STORAGE_EMULATOR_HOST for the function: its one read of the bucket (a CSV's header) goes to
        # STORAGE_URL, as on Google Cloud.
        env = {**self._auth, **self.function_env(), "GOOGLE_CLOUD_PROJECT": self.project}
        self.servers.append(Server(
            "functions-framework",
            [_venv_tool("functions-framework"), "--target", "on_new_file", "--signature-type", "cloudevent",
             "--source", str(ROOT / "functions" / "main.py"), "--host", "127.0.0.1", "--port", str(self.function_port)],
            self.function_port, self.folder / "function.log", env=env, cwd=ROOT / "functions").wait_ready())

    def stop(self):
        if self.router is not None:
            self.router.stop()
            self.router = None
        for front in self.fronts:
            front.stop()
        self.fronts = []
        for server in reversed(self.servers):
            server.stop()
        self.servers = []
        if self.workflows is not None:
            self.workflows.stop()
            self.workflows = None

    def bigquery_away(self, seconds: float) -> threading.Thread:
        """A BigQuery outage (tests, campaigns): the emulator is stopped now and started again on the same port
        after ``seconds``, with its tables and jobs; meanwhile its front answers 502. Returns the thread that
        brings it back (join it)."""
        server = next(s for s in self.servers if s.name == "bqemulator")
        server.stop()
        self.servers.remove(server)

        def back():
            time.sleep(seconds)
            self._start_bigquery(port=server.port)

        thread = threading.Thread(target=back, name="bigquery-back", daemon=True)
        thread.start()
        return thread

    def bigquery(self):
        """A google-cloud-bigquery client of the emulator."""
        return bigquery_client(self.project, self.bigquery_url)

    def wait_settled(self, timeout: float = 300, quiet: float = 2.0):
        """Wait until the router has nothing new to deliver and no workflow execution runs (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.router is not None:
                self.router.poll_once()
            self.workflows.wait_idle(max(1.0, deadline - time.monotonic()))
            time.sleep(quiet)
            if (self.router is None or self.router.poll_once() == 0) and not any(
                    e.state == e.State.ACTIVE for e in self.workflows.executions()):
                return self.workflows.executions()
        raise TimeoutError(f"the local stack did not settle in {timeout:.0f} s")


def start_bigquery(folder: Path, project: str, gcs_root: Path | None = None, data_dir: Path | None = None,
                   port: int | None = None) -> Server:
    """bqemulator on ``port`` (or a free one) of 127.0.0.1, its log and staging in ``folder``; load jobs read
    ``gs://`` URIs from ``gcs_root``, the Storage emulator's data folder. With ``data_dir``, tables and jobs are
    kept there (a restart finds them, as BigQuery keeps them through an outage); else in memory."""
    exe = executable("bqemulator")
    staging = Path(folder) / "bq-staging"
    staging.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    env = {"HOME": str(bq_home()), "BQEMU_UPLOAD_STAGING_DIR": str(staging)}
    if gcs_root is not None:
        env["BQEMU_GCS_LOCAL_ROOT"] = str(gcs_root)
    keep = ["--persistent", "--data-dir", str(data_dir)] if data_dir is not None else []
    if data_dir is not None:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
    return Server("bqemulator", [str(exe), "start", "--rest-port", str(port), "--grpc-port", str(free_port()),
                                 "--project", project, "--log-level", "warning", *keep],
                  port, Path(folder) / "bigquery.log", env=env).wait_ready(120)


def bigquery_client(project: str, url: str):
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(project=project, credentials=AnonymousCredentials(),
                           client_options=ClientOptions(api_endpoint=url))


PROG = "python -m local_cloud.stack"


def run(argv) -> int:
    from pipelines import cli

    p = cli.parser(PROG, __doc__.split("\n\n")[0], renamed={"--dataset": "--bq_dataset"})
    p.add_argument("--folder", default=str(ROOT / ".local_cloud"),
                   help="scratch folder for the emulators' data, logs and the env file, whatever the current "
                        "folder (default: .local_cloud in the project)")
    p.add_argument("--bucket", default="local-bucket", help="the bucket watched")
    p.add_argument("--bq_dataset", default="ingest", help="the BigQuery dataset loaded")
    args = p.parse_args(argv)
    stack = LocalStack(Path(args.folder), bucket=args.bucket, dataset=args.bq_dataset)
    try:
        stack.start()
    except (ToolMissing, RuntimeError) as e:
        raise RuntimeError(f"local stack: {e}") from None
    env_file = Path(args.folder) / "env"
    env_file.write_text("".join(f"export {k}={v}\n" for k, v in stack.client_env().items()))
    print(f"local stack up: storage {stack.storage_url} (bucket {stack.bucket}), BigQuery {stack.bigquery_url} "
          f"(dataset {stack.project}.{stack.dataset}), function {stack.function_url}, Workflows API "
          f"{stack.workflows.endpoint}\nIn another shell: source {env_file}\nCtrl-C stops everything.", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while not stopped.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        print("local stack stopped", flush=True)
    return 0


def main(argv=None) -> int:
    from pipelines import cli

    return cli.main_wrapper(PROG, run, argv)


if __name__ == "__main__":
    sys.exit(main())
