"""The local stack as a user runs it: `python -m local_cloud.stack` in one terminal, `local_cloud.query` and
`local_cloud.status` in another. A mistake or a missing stack is one line; a client going away prints nothing on
the stack's terminal, while a real error in a front still shows its traceback."""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest
import requests

from local_cloud.processes import free_port
from tests.helpers import ROOT, run_cli

QUERY = "python -m local_cloud.query"
START_HINT = "start the local stack with `make local-stack`"


@pytest.fixture(scope="module")
def terminal(tmp_path_factory):
    """`python -m local_cloud.stack` in a process of its own, its terminal (stdout and stderr) in a file; yields
    (the environment of its env file, its ports by name, a function returning what its terminal shows)."""
    folder = tmp_path_factory.mktemp("stack")
    shown = folder / "terminal.txt"
    with open(shown, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "local_cloud.stack", "--folder", str(folder / "cloud")],
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 300
        while "local stack up" not in shown.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, shown.read_text()
            time.sleep(0.2)
        up = shown.read_text().splitlines()[0]
        ports = dict(zip(("storage", "bigquery", "function", "workflows"), map(int, re.findall(r"127\.0\.0\.1:(\d+)",
                                                                                            up))))
        env = dict(re.findall(r"^export (\w+)=(.*)$", (folder / "cloud" / "env").read_text(), re.M))
        yield env, ports, shown.read_text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def one_line(result) -> str:
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip()


@pytest.mark.servers
def test_a_query_of_a_missing_table_is_one_line_with_bigquerys_message(terminal):
    env, _, _ = terminal
    result = run_cli("local_cloud.query", "SELECT * FROM ingest.missing", env=env)
    assert result.returncode == 2 and result.stdout == ""
    assert one_line(result) == (f"{QUERY}: error: Not found: Table local-project.ingest.missing was not found in "
                                "location US")


@pytest.mark.servers
def test_a_query_bigquery_refuses_is_one_line_and_a_good_one_prints_its_rows(terminal):
    env, _, _ = terminal
    bad = run_cli("local_cloud.query", "SELEC 1", env=env)
    assert bad.returncode == 2 and one_line(bad).startswith(f"{QUERY}: error: Syntax error: "), bad.stderr
    good = run_cli("local_cloud.query", "SELECT 1 AS n", env=env)
    assert good.returncode == 0 and good.stdout == "n\n1\n" and good.stderr == "(1 rows)\n", good.stderr


def test_a_query_without_a_stack_says_how_to_start_one():
    gone = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = run_cli("local_cloud.query", "SELECT 1", env={"BIGQUERY_EMULATOR_URL": gone})
    assert result.returncode == 1 and time.monotonic() - started < 30  # told at once, not retried for minutes
    line = one_line(result)
    assert line.startswith(f"{QUERY}: failed: cannot reach the BigQuery emulator at {gone} ") and START_HINT in line
    unset = run_cli("local_cloud.query", "SELECT 1", env={"BIGQUERY_EMULATOR_URL": ""})
    assert unset.returncode == 2 and "BIGQUERY_EMULATOR_URL is not set" in one_line(unset)
    assert START_HINT in unset.stderr
    none = run_cli("local_cloud.query", env={"BIGQUERY_EMULATOR_URL": gone})
    assert none.returncode == 2 and "sql" in one_line(none)


def test_status_without_a_stack_says_how_to_start_one_and_a_bad_limit_is_one_line():
    endpoint = f"127.0.0.1:{free_port()}"
    result = run_cli("local_cloud.status", "--endpoint", endpoint, env={"WORKFLOWS_ENDPOINT": ""})
    assert result.returncode == 1 and endpoint in one_line(result) and START_HINT in result.stderr
    bad = run_cli("local_cloud.status", "--limit", "0", "--endpoint", endpoint)
    assert bad.returncode == 2 and one_line(bad) == (
        "python -m local_cloud.status: error: --limit 0: expected a number of executions, 1 or more")


def reset(port: int, send: bytes = b"", read: int = 0):
    """A client that goes away: connects, sends ``send``, reads ``read`` bytes of the answer, then resets the
    connection (SO_LINGER 0, so close sends RST)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    if send:
        s.sendall(send)
    got = b""
    while len(got) < read:
        got += s.recv(read - len(got))
    time.sleep(0.2)  # the server is now waiting on the client, or writing to it
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


@pytest.mark.servers
def test_a_client_going_away_prints_nothing_on_the_stacks_terminal(terminal):
    env, ports, shown = terminal
    big = os.urandom(8 << 20)  # more than the sockets buffer: the front is still writing when the client resets
    storage = f"http://127.0.0.1:{ports['storage']}"
    assert requests.post(f"{storage}/upload/storage/v1/b/local-bucket/o", data=big, timeout=60,
                         params={"uploadType": "media", "name": "big.bin"}).ok
    for port in ports.values():
        reset(port)  # before a request
        reset(port, b"GET /storage/v1/b/local-bucket/o HTTP/1.1\r\nHost: x\r\n")  # in the middle of one
        reset(port, b"POST /bigquery/v2/projects/p/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    reset(ports["storage"], b"GET /download/storage/v1/b/local-bucket/o/big.bin?alt=media HTTP/1.1\r\nHost: x\r\n"
                            b"\r\n", read=1)  # while the answer streams
    time.sleep(1)
    # The stack still answers, and its terminal shows what it showed at start-up, nothing more.
    assert run_cli("local_cloud.query", "SELECT 1 AS n", env=env).stdout == "n\n1\n"
    text = shown()
    assert "Traceback" not in text and "ConnectionResetError" not in text and "BrokenPipeError" not in text, text
    assert len(text.strip().splitlines()) == 3, text


def test_a_real_error_in_a_front_still_shows_its_traceback(capfd):
    """A bug in a front's rule, and an emulator breaking off an answer it was streaming, are not a client going
    away: each prints its traceback, as before."""
    from local_cloud.fronts import Front

    class Broken(Front):
        def handle(self, request):
            if request.path == "/bug":
                raise RuntimeError("a bug in a rule")
            return self.forward(request)

    upstream = socket.create_server(("127.0.0.1", 0))

    def half_answer():  # an upstream that dies in the middle of its answer
        while True:
            try:
                conn, _ = upstream.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
            conn.close()

    threading.Thread(target=half_answer, daemon=True).start()
    front = Broken(f"http://127.0.0.1:{upstream.getsockname()[1]}").start()
    try:
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{front.url}/bug", timeout=30)
        with pytest.raises(requests.RequestException):
            requests.get(f"{front.url}/half", timeout=30)  # the body is read, and found short
        time.sleep(0.5)
    finally:
        front.stop()
        upstream.close()
    err = capfd.readouterr().err
    assert err.count("Traceback") == 2 and "RuntimeError: a bug in a rule" in err, err
    assert "UpstreamBroke: front front: the emulator broke off its answer to GET /half" in err, err
