"""The PostgreSQL options of the jobs that connect to it (``extract_postgres``, ``seed_postgres``): where the DSN
comes from, and a ``[schema.]table`` checked before anything runs. Errors are :class:`cli.UsageError` s."""

from __future__ import annotations

import re

from psycopg2 import sql

from pipelines import cli
from transforms.postgres import connection

_TABLE = re.compile(r"^(?:([A-Za-z_][A-Za-z0-9_$]{0,62})\.)?([A-Za-z_][A-Za-z0-9_$]{0,62})$")


def table_identifier(text: str, option: str = "--table") -> sql.Composable:
    """``[schema.]table`` as a quoted identifier; anything else (quotes, semicolons, spaces) is refused."""
    m = _TABLE.match(text or "")
    if not m:
        raise cli.UsageError(f"{option}: expected a table name such as transactions or public.transactions "
                             f"(letters, digits, _ and $), got {text!r}")
    return sql.Identifier(*[p for p in m.groups() if p])


def add_connection_args(parser):
    parser.add_argument("--dsn", default=None,
                        help="postgresql://user@host:port/db or 'host=... dbname=...'; default: libpq's PG* "
                             "environment variables. Prefer PGPASSWORD or a .pgpass file to a password here.")
    parser.add_argument("--dsn_file", default=None, help="A file (local or gs://) holding the DSN instead.")


def dsn_from(args) -> str:
    try:
        dsn = connection.read_dsn(args.dsn, args.dsn_file)
        connection.check_dsn(dsn)
    except ValueError as e:
        raise cli.UsageError(str(e)) from None
    return dsn
