"""The local stand-ins for Google Cloud whose pins clash with ours, each in a virtual environment of its own.

Made on first use under ``$MLDP_TOOLS_DIR`` (default ``~/.cache/ml-dataset-pipeline/tools``) with pinned versions
(the versions checked to run here; see the comments in TOOLS), then reused. ``python -m local_cloud.tools``
makes them ahead of time.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import venv
from pathlib import Path

# tool -> (pip requirements, the executable it provides)
TOOLS = {
    "workflows-emulator": (["workflows-emulator==1.10.0"], "workflows-emulator"),
    # bqemulator's DuckDB would download its spatial extension at start; it is installed from a wheel instead.
    "bqemulator": (["bqemulator==1.4.0", "duckdb==1.5.5", "duckdb-extension-spatial==1.5.5", "numpy>=2,<3"],
                   "bqemulator"),
}


class ToolMissing(RuntimeError):
    """A local stand-in could not be installed; the message says how to get it."""


def tools_dir() -> Path:
    return Path(os.environ.get("MLDP_TOOLS_DIR") or Path.home() / ".cache" / "ml-dataset-pipeline" / "tools")


def bq_home() -> Path:
    """The HOME bqemulator runs with: DuckDB keeps its installed extensions there."""
    return tools_dir() / "bqemulator-home"


def executable(tool: str) -> Path:
    """The tool's executable, installing it into its own virtual environment first if needed (one process at a
    time: the test suite runs in two)."""
    import fcntl

    tools_dir().mkdir(parents=True, exist_ok=True)
    with open(tools_dir() / f".{tool}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _installed(tool)


def _installed(tool: str) -> Path:
    requirements, exe = TOOLS[tool]
    env_dir = tools_dir() / tool
    path = env_dir / "bin" / exe
    stamp = env_dir / "installed.txt"
    if path.exists() and stamp.exists() and stamp.read_text() == "\n".join(requirements):
        return path
    how = (f"{tool} could not be installed into {env_dir} (needs PyPI): run `python -m local_cloud.tools` "
           f"where PyPI is reachable, or install {' '.join(requirements)} into that virtual environment")
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
        subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        *requirements], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=900)
        if tool == "bqemulator":
            _install_duckdb_spatial(env_dir)
    except (OSError, subprocess.SubprocessError) as e:
        detail = getattr(e, "stderr", b"") or b""
        raise ToolMissing(f"{how}: {detail.decode(errors='replace').strip()[-300:] or e}") from None
    stamp.write_text("\n".join(requirements))
    return path


def _install_duckdb_spatial(env_dir: Path):
    """Install DuckDB's spatial extension from the wheel's file, into the HOME the emulator runs with."""
    found = glob.glob(str(env_dir / "lib" / "python*" / "site-packages" / "duckdb_extension_spatial" / "extensions"
                          / "*" / "spatial.duckdb_extension"))
    if not found:
        raise ToolMissing("duckdb-extension-spatial has no spatial.duckdb_extension file")
    bq_home().mkdir(parents=True, exist_ok=True)
    code = f"import duckdb; duckdb.connect().execute(\"INSTALL '{found[0]}'\")"
    subprocess.run([str(env_dir / "bin" / "python"), "-c", code], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=300, env={**os.environ, "HOME": str(bq_home())})


def main() -> int:
    for tool in TOOLS:
        try:
            print(f"{tool}: {executable(tool)}")
        except ToolMissing as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
