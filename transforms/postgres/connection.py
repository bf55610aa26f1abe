"""PostgreSQL connections for the jobs: where the DSN comes from, how it is shown, and retries.

A DSN may come from ``--dsn`` (a URI or ``key=value`` string), from ``--dsn_file`` (a file holding one), or from
libpq's own environment variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGPASSFILE, ...). A password
is never printed: :func:`redact` removes it from anything shown, and :func:`split_password` takes it out of the
DSN that Beam records, handing it to libpq through ``PGPASSWORD`` in the environment instead.
"""

from __future__ import annotations

import os
import time

import psycopg2
import tenacity
from psycopg2.extensions import make_dsn, parse_dsn

CONNECT_TIMEOUT = 10
RETRIES = 5


class ConnectionFailed(Exception):
    """The server could not be reached (after retries) or refused the login; the message holds no password."""


def read_dsn(dsn: str | None, dsn_file: str | None) -> str:
    if dsn and dsn_file:
        raise ValueError("give --dsn or --dsn_file, not both")
    if dsn_file:
        from apache_beam.io.filesystems import FileSystems

        if not dsn_file.startswith("gs://") and os.path.exists(dsn_file):
            mode = os.stat(dsn_file).st_mode & 0o777
            if mode & 0o077:  # as libpq refuses a password file others may read
                raise ValueError(f"--dsn_file: {dsn_file!r} may be read by other users (mode {mode:04o}); it holds "
                                 f"a connection's secrets: chmod 600 it")
        try:
            with FileSystems.open(dsn_file) as f:
                return f.read().decode().strip()
        except Exception:
            raise ValueError(f"--dsn_file: cannot read {dsn_file!r}") from None
    return dsn or ""


def check_dsn(dsn: str) -> dict:
    """The DSN's parts; a DSN libpq cannot parse is a ValueError naming it (redacted)."""
    try:
        return parse_dsn(dsn) if dsn else {}
    except psycopg2.ProgrammingError:
        raise ValueError(f"--dsn: expected postgresql://user@host:port/db or 'host=... dbname=...', "
                         f"got {redact(dsn)!r}") from None


def redact(dsn: str) -> str:
    """The DSN with any password replaced by ***; something unparseable is shown only by its scheme."""
    try:
        parts = parse_dsn(dsn) if dsn else {}
    except psycopg2.ProgrammingError:
        return dsn.split("://", 1)[0] + "://***" if "://" in dsn else "***"
    if "password" in parts:
        parts["password"] = "***"
    return make_dsn(**parts) if parts else ""


def split_password(dsn: str) -> tuple[str, str | None]:
    """(the DSN without its password, the password or None)."""
    parts = check_dsn(dsn)
    password = parts.pop("password", None)
    return (make_dsn(**parts) if parts else ""), password


def _describe(error: Exception, dsn: str) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    parts = check_dsn(dsn) if dsn else {}
    password = parts.get("password") or os.environ.get("PGPASSWORD")
    if password:
        text = text.replace(password, "***")
    return text


def _retriable(error: psycopg2.OperationalError) -> bool:
    text = str(error).lower()
    return not any(word in text for word in ("password", "authentication", "does not exist", "permission",
                                              "no pg_hba.conf", "role"))


def retrying(retries: int, first_delay: float, retry_if, before_sleep=None) -> tenacity.Retrying:
    """tenacity's retry loop as this package uses it: up to ``retries`` more attempts while ``retry_if(error)``,
    waiting ``first_delay`` seconds, then twice as long each time up to 8 s (with a little jitter); the last
    error is raised as it is."""
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(retries + 1),
        wait=tenacity.wait_exponential_jitter(initial=first_delay, max=8, jitter=first_delay / 4),
        retry=tenacity.retry_if_exception(retry_if), before_sleep=before_sleep, reraise=True,
        sleep=lambda seconds: time.sleep(seconds))  # looked up at each wait, so a test can count the waits


def connect(dsn: str, retries: int = RETRIES, **kwargs):
    """A connection, retrying a server that cannot be reached with exponential back-off."""
    def unreachable(e: BaseException) -> bool:
        return isinstance(e, psycopg2.OperationalError) and _retriable(e)

    try:
        for attempt in retrying(retries, 0.25, unreachable):
            with attempt:
                return psycopg2.connect(dsn, connect_timeout=CONNECT_TIMEOUT,
                                        application_name="ml-dataset-pipeline", **kwargs)
    except psycopg2.OperationalError as e:
        where = redact(dsn) or "the PG* environment"
        raise ConnectionFailed(f"cannot connect to PostgreSQL ({where}): {_describe(e, dsn)}") from None
    raise AssertionError("unreachable")
