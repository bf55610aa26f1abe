"""What tests share besides fixtures: the project's root, running a job as a user would, and the environment that
keeps Google clients on local emulators."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(module: str, *args: str, env: dict | None = None, cwd=None, timeout=600):
    """Runs ``python -m module args`` as a user would; returns the CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or ROOT, timeout=timeout)


def local_cloud_env(tmp: Path) -> dict:
    """Environment for Google clients that must talk to local emulators only."""
    from local_cloud.processes import throwaway_credentials

    return {**throwaway_credentials(tmp), "GOOGLE_CLOUD_PROJECT": "local-project"}


class Place:
    """Where a test's outputs live: a local folder (``kind`` "local") or a fresh prefix in the Storage emulator's
    bucket (``kind`` "gs"; ``env`` is the emulator's, from the ``gcs_emulator`` fixture)."""

    def __init__(self, kind: str, tmp_path, env: dict):
        self.kind, self.env = kind, env
        self.root = str(tmp_path) if kind == "local" else f"gs://test-bucket/crash-{uuid.uuid4().hex[:8]}"

    def path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def files(self, prefix: str) -> dict[str, bytes]:
        """name below ``prefix`` -> its bytes."""
        if self.kind == "local":
            base = prefix.rstrip("/")
            if not os.path.isdir(base):
                return {}
            return {os.path.relpath(os.path.join(d, n), base): open(os.path.join(d, n), "rb").read()
                    for d, _, names in os.walk(base) for n in names}
        bucket_name, below = prefix[len("gs://"):].split("/", 1)
        return {b.name[len(below.rstrip("/")) + 1:]: b.download_as_bytes()
                for b in self.client().list_blobs(bucket_name, prefix=below.rstrip("/") + "/")}

    def client(self):
        """A Storage client of the emulator."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        os.environ["STORAGE_EMULATOR_HOST"] = self.env["STORAGE_EMULATOR_HOST"]
        return storage.Client(project="local-project", credentials=AnonymousCredentials())
