"""Shared fixtures: a scratch TMPDIR per test, the real CLI, and a real GCS emulator process."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _scratch_tmpdir(tmp_path, monkeypatch):
    """DirectRunner leaves beam-temp folders under TMPDIR: keep them in the test's own folder."""
    scratch = tmp_path / "_tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))


def run_cli(module: str, *args: str, env: dict | None = None, cwd=None, timeout=600):
    """Runs ``python -m module args`` as a user would; returns the CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or ROOT, timeout=timeout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"emulator exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


def local_cloud_env(tmp: Path) -> dict:
    """Environment for Google clients that must talk to local emulators only (see shared/LOCAL_CLOUD.md)."""
    from local_cloud.processes import throwaway_credentials

    return {**throwaway_credentials(tmp), "GOOGLE_CLOUD_PROJECT": "local-project"}


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory):
    """A real gcp-storage-emulator on 127.0.0.1 with bucket ``test-bucket``; yields the env to reach it."""
    exe = shutil.which("gcp-storage-emulator") or str(Path(sys.executable).with_name("gcp-storage-emulator"))
    if not Path(exe).exists():
        pytest.fail("gcp-storage-emulator is not installed: pip install -e '.[test]' (or make test) installs it")
    tmp = tmp_path_factory.mktemp("gcs")
    port = _free_port()
    env = local_cloud_env(tmp)
    data = tmp / "data"
    data.mkdir()
    log = open(tmp / "emulator.log", "w")
    proc = subprocess.Popen(
        [exe, "start", "--host", "127.0.0.1", "--port", str(port), "--default-bucket", "test-bucket",
         "--quiet"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env}, cwd=data)  # stores in ./.cloudstorage
    try:
        _wait_port(port, proc)
        env["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
        yield env
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


DEFAULT_TEST_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def pg_dsn():
    """The test database: TEST_POSTGRES_DSN if set, else the local server (127.0.0.1:5432, user postgres)."""
    import psycopg2

    dsn = os.environ.get("TEST_POSTGRES_DSN", DEFAULT_TEST_DSN)
    try:
        psycopg2.connect(dsn, connect_timeout=5).close()
    except psycopg2.OperationalError as e:
        pytest.fail(f"PostgreSQL is needed at {dsn} (or set TEST_POSTGRES_DSN): {str(e).strip()}")
    return dsn


@pytest.fixture
def pg_schema(pg_dsn):
    """A schema of the test's own, dropped afterwards; yields (dsn, schema name, connection)."""
    import uuid

    import psycopg2

    name = "t_" + uuid.uuid4().hex[:12]
    conn = psycopg2.connect(pg_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {name}")
    try:
        yield pg_dsn, name, conn
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA {name} CASCADE")
        conn.close()
