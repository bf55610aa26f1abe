"""Shared fixtures: a scratch TMPDIR per test, a real GCS emulator process, the PostgreSQL test database; and the
fast lane's marker (``make test-fast`` leaves out the tests that need a server or run many pipelines). Helpers
that are not fixtures live in tests/helpers.py."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

import pytest

from tests.helpers import local_cloud_env

# Tests that use one of these fixtures need a local server (an emulator or PostgreSQL): not in the fast lane.
SERVER_FIXTURES = {"gcs_emulator", "offline", "pg_dsn", "pg_schema", "pg_remote_dsn", "stack", "gcs", "bq"}


def pytest_configure(config):
    """TestPipeline runs on the jobs' local runner (pipelines/local_runner.py: Beam's FnApiRunner, never Prism,
    which Beam's DirectRunner would try first, downloading it when the machine is online)."""
    from apache_beam.testing.test_pipeline import TestPipeline

    from pipelines.cli import LOCAL_RUNNER

    TestPipeline.pytest_test_pipeline_options = f"--runner={LOCAL_RUNNER}"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)


@pytest.fixture(autouse=True)
def _scratch_tmpdir(tmp_path, monkeypatch):
    """DirectRunner leaves beam-temp folders under TMPDIR: keep them in the test's own folder."""
    scratch = tmp_path / "_tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory):
    """A real gcp-storage-emulator on 127.0.0.1 with bucket ``test-bucket``; yields the env to reach it."""
    from local_cloud.processes import Server, free_port

    exe = shutil.which("gcp-storage-emulator") or str(Path(sys.executable).with_name("gcp-storage-emulator"))
    if not Path(exe).exists():
        pytest.fail("gcp-storage-emulator is not installed: pip install -e '.[test]' (or make test) installs it")
    tmp = tmp_path_factory.mktemp("gcs")
    port = free_port()
    env = local_cloud_env(tmp)
    data = tmp / "data"
    data.mkdir()
    server = Server("gcp-storage-emulator", [exe, "start", "--host", "127.0.0.1", "--port", str(port),
                                             "--default-bucket", "test-bucket", "--quiet"],
                    port, tmp / "emulator.log", env=env, cwd=data)  # it stores in ./.cloudstorage
    try:
        server.wait_ready(30)
        env["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
        yield env
    finally:
        server.stop()


@pytest.fixture
def offline(gcs_emulator, monkeypatch):
    """Throw-away credentials and the Storage emulator, here and for child processes: building a Dataflow
    pipeline validates its options, which asks Cloud Storage about the temp bucket (the emulator answers
    instead of Google), and nothing may reach Google from a test."""
    env = dict(gcs_emulator)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


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


def _outbound_address() -> str:
    """This machine's address on its network (not loopback): a UDP 'connect' picks it and sends nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            address = s.getsockname()[0]
        except OSError:
            address = "127.0.0.1"
    if address.startswith("127."):
        pytest.fail("this test needs a network address other than loopback (none found: `ip -4 addr` tells)")
    return address


@pytest.fixture
def pg_remote_dsn(pg_dsn):
    """The test database reached through this machine's network address, as remote workers would reach a
    server: a relay on <address>:<free port> to the server (which listens on loopback only)."""
    import threading
    from urllib.parse import urlsplit, urlunsplit

    target = urlsplit(pg_dsn)
    address = _outbound_address()
    listener = socket.socket()
    listener.bind((address, 0))
    listener.listen(16)
    stop = threading.Event()

    def pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve():
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection((target.hostname, target.port or 5432))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    netloc = target.netloc.rsplit("@", 1)
    user = netloc[0] + "@" if len(netloc) == 2 else ""
    try:
        yield urlunsplit(target._replace(netloc=f"{user}{address}:{listener.getsockname()[1]}"))
    finally:
        stop.set()
        listener.close()
