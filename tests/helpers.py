"""What tests share besides fixtures: the project's root, running a job as a user would, and the environment that
keeps Google clients on local emulators."""

from __future__ import annotations

import os
import subprocess
import sys
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
