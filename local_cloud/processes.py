"""Starting local servers on 127.0.0.1 and stopping exactly what was started."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def throwaway_credentials(folder: Path) -> dict:
    """Environment for Google clients that must only ever reach local emulators: a throw-away token that never
    expires (so no real credentials are looked up or sent), no metadata-server probe, an empty gcloud config."""
    folder.mkdir(parents=True, exist_ok=True)
    creds = folder / "throwaway-credentials.json"
    creds.write_text(json.dumps({
        "type": "authorized_user", "client_id": "local", "client_secret": "local",
        "refresh_token": "local", "token": "local", "expiry": "2099-01-01T00:00:00Z"}))
    gcloud = folder / "gcloud-config"
    gcloud.mkdir(exist_ok=True)
    return {"GOOGLE_APPLICATION_CREDENTIALS": str(creds), "NO_GCE_CHECK": "true", "CLOUDSDK_CONFIG": str(gcloud)}


class Server:
    """A server process in its own process group, with its output in a log file; ``stop`` ends the group."""

    def __init__(self, name: str, cmd: list[str], port: int, log: Path, env: dict | None = None, cwd=None):
        self.name, self.port, self.log_path = name, port, log
        self._log = open(log, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd,
                                     env={**os.environ, **(env or {})}, start_new_session=True)

    def wait_ready(self, seconds: float = 60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with status {self.proc.returncode}: {self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name}: nothing listens on 127.0.0.1:{self.port} after {seconds:.0f} s: "
                           f"{self.tail()}")

    def tail(self, chars: int = 1500) -> str:
        self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        self._log.close()
