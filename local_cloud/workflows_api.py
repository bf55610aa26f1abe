"""A local Workflows Executions API: the real ``google-cloud-workflows`` client talks gRPC to it, and each execution
runs our workflow YAML on ``workflows-emulator`` (its own virtual environment, see ``local_cloud.tools``).

Only what the ingest chain uses: CreateExecution, GetExecution, ListExecutions. Executions run in the background,
a few at a time, like real Workflows; ``wait_idle`` waits for all of them (tests).
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent import futures
from pathlib import Path

import grpc
from google.cloud.workflows.executions_v1.types import executions as types
from google.protobuf import timestamp_pb2

from local_cloud.tools import executable

SERVICE = "google.cloud.workflows.executions.v1.Executions"
_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception): ")


def _now() -> timestamp_pb2.Timestamp:
    t = timestamp_pb2.Timestamp()
    t.GetCurrentTime()
    return t


class WorkflowsService:
    """Serves the Executions API on 127.0.0.1; ``workflows`` maps a workflow id to its YAML file."""

    def __init__(self, workflows: dict[str, Path], env: dict, concurrency: int = 2):
        self._workflows = {name: Path(path) for name, path in workflows.items()}
        self._env = env
        self._tool = str(executable("workflows-emulator"))
        self._executions: dict[str, types.Execution] = {}
        self._lock = threading.Condition()
        self._running = 0
        self._pool = futures.ThreadPoolExecutor(concurrency, thread_name_prefix="workflow")
        self._workdir = tempfile.TemporaryDirectory(prefix="workflows-")
        self._server = grpc.server(futures.ThreadPoolExecutor(4))
        handlers = {
            "CreateExecution": grpc.unary_unary_rpc_method_handler(
                self._create, request_deserializer=types.CreateExecutionRequest.deserialize,
                response_serializer=types.Execution.serialize),
            "GetExecution": grpc.unary_unary_rpc_method_handler(
                self._get, request_deserializer=types.GetExecutionRequest.deserialize,
                response_serializer=types.Execution.serialize),
            "ListExecutions": grpc.unary_unary_rpc_method_handler(
                self._list, request_deserializer=types.ListExecutionsRequest.deserialize,
                response_serializer=types.ListExecutionsResponse.serialize),
        }
        self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self):
        self._server.start()
        return self

    def stop(self):
        self._server.stop(grace=None)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._workdir.cleanup()

    # --- the API -------------------------------------------------------------------------------------------
    def _create(self, request: types.CreateExecutionRequest, context):
        workflow = request.parent.rsplit("/", 1)[-1]
        if not re.fullmatch(r"projects/[^/]+/locations/[^/]+/workflows/[^/]+", request.parent):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad parent {request.parent!r}")
        if workflow not in self._workflows:
            context.abort(grpc.StatusCode.NOT_FOUND, f"workflow {request.parent!r} not found")
        try:
            json.loads(request.execution.argument or "null")
        except ValueError:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "execution.argument is not JSON")
        name = f"{request.parent}/executions/{uuid.uuid4()}"
        execution = types.Execution(name=name, argument=request.execution.argument, start_time=_now(),
                                    state=types.Execution.State.ACTIVE, workflow_revision_id="local")
        with self._lock:
            self._executions[name] = execution
            self._running += 1
        self._pool.submit(self._run, name, self._workflows[workflow], request.execution.argument or "{}")
        return types.Execution(execution)

    def _get(self, request: types.GetExecutionRequest, context):
        with self._lock:
            execution = self._executions.get(request.name)
            if execution is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"execution {request.name!r} not found")
            return types.Execution(execution)

    def _list(self, request: types.ListExecutionsRequest, context):
        with self._lock:
            found = [types.Execution(e) for n, e in self._executions.items() if n.startswith(request.parent + "/")]
        return types.ListExecutionsResponse(executions=found)

    # --- running -------------------------------------------------------------------------------------------
    def _run(self, name: str, source: Path, argument: str):
        try:
            done = subprocess.run([self._tool, "--source", str(source), "run", "--data", argument],
                                  capture_output=True, text=True, env=self._env, cwd=self._workdir.name, timeout=900)
            ok, out, err = done.returncode == 0, done.stdout, done.stderr
        except (OSError, subprocess.SubprocessError) as e:
            ok, out, err = False, "", f"RuntimeError: {e}"
        with self._lock:
            execution = self._executions[name]
            execution.end_time = _now()
            if ok:
                execution.state = types.Execution.State.SUCCEEDED
                execution.result = json.dumps(json.loads(out)) if out.strip() else "null"
            else:
                execution.state = types.Execution.State.FAILED
                execution.error = types.Execution.Error(payload=error_message(err), context=err[-20000:])
            self._running -= 1
            self._lock.notify_all()

    def executions(self) -> list[types.Execution]:
        with self._lock:
            return [types.Execution(e) for e in self._executions.values()]

    def wait_idle(self, timeout: float = 300) -> list[types.Execution]:
        """Wait until no execution is running; returns all executions so far."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self._running} workflow executions still running after {timeout:.0f} s")
                self._lock.wait(left)
        return self.executions()


def error_message(stderr: str) -> str:
    """The raised error of a failed workflows-emulator run: what follows the exception's name after the last
    traceback (the message may span lines)."""
    tail = stderr.rsplit("Traceback (most recent call last):", 1)[-1]
    lines = tail.splitlines()
    for i, line in enumerate(lines):
        found = _ERROR_LINE.match(line)
        if found and i > 0:
            return "\n".join([line[found.end():], *lines[i + 1:]]).strip()
    return stderr.strip()[-2000:] or "the workflow failed without a message"
