"""Create a credit-card-fraud-like table in PostgreSQL, for trying and testing the extraction.

    python -m pipelines.seed_postgres --dsn postgresql://postgres@127.0.0.1/postgres --table transactions \
        --rows 1000000

Columns: id BIGINT primary key, time INTEGER, v1..v28 DOUBLE PRECISION, amount NUMERIC(10,2), class SMALLINT
(see transforms/transactions.py). Rows depend only on --seed; they are loaded with COPY in one transaction, so a
failed run leaves no table behind.
"""

from __future__ import annotations

import io
import re
import sys
import time

from psycopg2 import sql

from pipelines import cli
from transforms import pg, transactions
from transforms.text import record_batch_to_csv

PROG = "python -m pipelines.seed_postgres"
BLOCK = 1 << 17
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
        dsn = pg.read_dsn(args.dsn, args.dsn_file)
        pg.check_dsn(dsn)
    except ValueError as e:
        raise cli.UsageError(str(e)) from None
    return dsn


def run(argv=None) -> int:
    p = cli.parser(PROG, __doc__.split("\n\n")[0])
    add_connection_args(p)
    p.add_argument("--table", default="transactions", help="[schema.]table to create.")
    p.add_argument("--rows", default="100000", help="Rows to insert (a positive whole number).")
    p.add_argument("--seed", default="42", help="Seed of the generated rows (0 to 2**64-1).")
    p.add_argument("--replace", action="store_true", default=False, help="Drop and re-create an existing table.")
    args = p.parse_args(argv)
    try:
        rows = int(args.rows)
        assert 0 < rows <= 10**12
    except (ValueError, AssertionError):
        raise cli.UsageError(f"--rows: expected a positive whole number of rows, got {args.rows!r}") from None
    try:
        seed = int(args.seed)
        assert 0 <= seed < 1 << 64
    except (ValueError, AssertionError):
        raise cli.UsageError(f"--seed: expected a whole number from 0 to 2**64-1, got {args.seed!r}") from None
    table = table_identifier(args.table)
    dsn = dsn_from(args)
    try:
        conn = pg.connect(dsn)
    except pg.ConnectionFailed as e:
        raise cli.UsageError(str(e)) from None
    started = time.monotonic()
    with conn:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (args.table,))
            if cur.fetchone()[0]:
                if not args.replace:
                    raise cli.UsageError(f"--table: {args.table!r} already exists; add --replace to re-create it")
                cur.execute(sql.SQL("DROP TABLE {}").format(table))
            cur.execute(sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t))
                for c, t in zip(transactions.COLUMNS, transactions.DDL_TYPES))))
            copy = sql.SQL("COPY {} FROM STDIN WITH (FORMAT csv)").format(table).as_string(conn)
            for start in range(0, rows, BLOCK):
                text = record_batch_to_csv(transactions.batch(seed, start, min(start + BLOCK, rows)))
                cur.copy_expert(copy, io.BytesIO(text))
            cur.execute(sql.SQL("ANALYZE {}").format(table))
    conn.close()
    print(f"{args.table}: {rows:,} rows in {time.monotonic() - started:.1f} s")
    return 0


def main(argv=None) -> int:
    return cli.main_wrapper(PROG, run, argv)


if __name__ == "__main__":
    sys.exit(main())
