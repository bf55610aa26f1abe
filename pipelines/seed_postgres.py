"""Create a credit-card-fraud-like table in PostgreSQL, for trying and testing the extraction.

    python -m pipelines.seed_postgres --dsn postgresql://postgres@127.0.0.1/postgres --table transactions \
        --rows 1000000

The table is the built-in ``transactions`` dataset (``datagen/datasets/transactions.yaml``: id BIGINT primary key,
time, v1..v28 DOUBLE PRECISION, amount NUMERIC(10,2), class), or any dataset spec given with ``--spec``; its
column types map to PostgreSQL's as ``datagen/types.py`` says. Rows depend only on --seed, through the same engine
as ``pipelines.generate``; they are loaded with COPY in one transaction, so a failed run leaves no table behind.
"""

from __future__ import annotations

import io
import re
import sys
import time

from psycopg2 import sql

from datagen import spec as specs
from datagen.engine import compile_dataset
from pipelines import cli
from transforms import pg
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


def ddl_columns(spec: specs.DatasetSpec) -> list[tuple[str, str]]:
    """(column, PostgreSQL type and constraints) of each written column of a spec."""
    out = []
    for c in spec.output_columns:
        t = c.type.postgres
        if c.name == spec.primary_key:
            t += " PRIMARY KEY"
        elif not c.nullable:
            t += " NOT NULL"
        out.append((c.name, t))
    return out


def run(argv=None) -> int:
    p = cli.parser(PROG, __doc__.split("\n\n")[0])
    add_connection_args(p)
    p.add_argument("--table", default=None,
                   help="[schema.]table to create (default: the dataset's name, transactions unless --spec).")
    p.add_argument("--spec", default=None,
                   help="A dataset spec file (YAML or JSON) to load instead of the built-in transactions dataset.")
    p.add_argument("--rows", default="100000", help="Rows to insert (a positive whole number).")
    p.add_argument("--seed", default="42", help="Seed of the generated rows (0 to 2**64-1).")
    p.add_argument("--replace", action="store_true", default=False, help="Drop and re-create an existing table.")
    args = p.parse_args(argv)
    rows = cli.whole("--rows", args.rows, 1, "a positive whole number of rows", 10**12)
    seed = cli.whole("--seed", args.seed, 0, "a whole number from 0 to 2**64-1", (1 << 64) - 1)
    try:
        spec = specs.load(args.spec) if args.spec else specs.builtin("transactions")
        gen = compile_dataset(spec)
    except specs.SpecError as e:
        raise cli.UsageError(str(e)) from None
    args.table = args.table or spec.name
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
                sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in ddl_columns(spec))))
            copy = sql.SQL("COPY {} FROM STDIN WITH (FORMAT csv)").format(table).as_string(conn)
            for start in range(0, rows, BLOCK):
                text = record_batch_to_csv(gen.batch(seed, start, min(start + BLOCK, rows)))
                cur.copy_expert(copy, io.BytesIO(text))
            cur.execute(sql.SQL("ANALYZE {}").format(table))
    conn.close()
    print(f"{args.table}: {rows:,} rows in {time.monotonic() - started:.1f} s")
    return 0


def main(argv=None) -> int:
    return cli.main_wrapper(PROG, run, argv)


if __name__ == "__main__":
    sys.exit(main())
