"""A PostgreSQL server that a test starts, owns, restarts and stops: a fresh cluster (initdb) in a temporary folder,
on a free port of 127.0.0.1, so that a test may take it down without touching the machine's own server."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from local_cloud.processes import free_port

HOW = ("the PostgreSQL server programs (initdb, pg_ctl) are needed to start a server of the test's own: install "
       "them (Debian: apt-get install postgresql) or put their folder on PATH")


def _bin(tool: str) -> str:
    found = shutil.which(tool) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), reverse=True)),
                                       None)
    if not found:
        pytest.fail(f"{tool} not found: {HOW}")
    return found


class OwnPostgres:
    """``start()``, ``restart()``, ``stop()``, ``remove()``; ``dsn`` reaches it. initdb refuses to run as root,
    so as root the server runs as the ``postgres`` user."""

    def __init__(self, password: str | None = None):
        self.password = password  # if given: TCP logins must give it (scram-sha-256), as on a real server
        self.folder = Path(tempfile.mkdtemp(prefix="mldp-own-postgres-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.log = self.folder / "server.log"
        self._user = None
        if os.geteuid() == 0:
            self._user = "postgres"
            shutil.chown(self.folder, user=self._user)
        os.chmod(self.folder, 0o755)

    @property
    def dsn(self) -> str:
        login = f"postgres:{self.password}" if self.password else "postgres"
        return f"postgresql://{login}@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        full = ["runuser", "-u", self._user, "--", *cmd] if self._user else list(cmd)
        done = subprocess.run(full, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()[-500:]} {self.tail()}")
        return done

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-800:]
        except OSError:
            return ""

    def _ctl(self, action: str, *extra: str):
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60",
                  *extra, action)

    def start(self):
        if not self.data.exists():
            auth = ["-A", "trust"]
            if self.password:
                secret = self.folder / "password"
                secret.write_text(self.password + "\n")
                if self._user:
                    shutil.chown(secret, user=self._user)
                secret.chmod(0o600)
                auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={secret}"]
            self._run(_bin("initdb"), "-D", str(self.data), *auth, "-U", "postgres", "--no-sync", "-E", "UTF8")
            if self.password:
                (self.folder / "password").unlink()
        self._ctl("start")
        return self

    def restart(self):
        """A fast restart: every connection is dropped, the data stay."""
        self._ctl("restart", "-m", "fast")

    def stop(self):
        if self.data.exists():
            self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    def remove(self):
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
