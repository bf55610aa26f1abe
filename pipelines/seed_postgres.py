"""Create a credit-card-fraud-like table in PostgreSQL, for trying and testing the extraction.

    python -m pipelines.seed_postgres --dsn postgresql://postgres@127.0.0.1/postgres --table transactions \
        --rows 1000000

The table is the built-in ``transactions`` dataset (``datagen/datasets/transactions.yaml``: id BIGINT primary key,
time, v1..v28 DOUBLE PRECISION, amount NUMERIC(10,2), class), or any dataset spec given with ``--spec``; its
column types map to PostgreSQL's as ``datagen/types.py`` says. Rows depend only on --seed, through the same engine
as ``pipelines.generate``; they are loaded with COPY in one transaction, so a failed run leaves no table behind.
"""

from __future__ import annotations

import sys
import time

from datagen import spec as specs
from datagen.blocks import DEFAULT_BLOCK_ROWS
from datagen.seed import DEFAULT_SEED, MAX_SEED, SEED_RANGE
from pipelines import cli
from pipelines.postgres_options import add_connection_args, dsn_from, table_identifier
from transforms.postgres import connection

PROG = "python -m pipelines.seed_postgres"


def run(argv=None) -> int:
    p = cli.parser(PROG, __doc__.split("\n\n")[0], renamed={"--replace": "--overwrite"})
    add_connection_args(p)
    p.add_argument("--table", default=None,
                   help="[schema.]table to create (default: the dataset's name, transactions unless --spec).")
    p.add_argument("--spec", default=None,
                   help="A dataset spec file (YAML or JSON) to load instead of the built-in transactions dataset.")
    p.add_argument("--rows", default="100000", help="Rows to insert (a positive whole number).")
    p.add_argument("--seed", default=str(DEFAULT_SEED), help=f"Seed of the generated rows ({SEED_RANGE}).")
    p.add_argument("--overwrite", action="store_true", default=False, help="Drop and re-create an existing table.")
    args = p.parse_args(argv)
    # The engine (and Arrow with it) once the command line is read: --help answers at once.
    from datagen.engine import compile_dataset
    from transforms.postgres.seed import create_and_load, table_exists

    rows = cli.whole("--rows", args.rows, 1, "a positive whole number of rows", 10**12)
    seed = cli.whole("--seed", args.seed, 0, f"a whole number from {SEED_RANGE}", MAX_SEED)
    try:
        spec = specs.load(args.spec) if args.spec else specs.builtin("transactions")
        gen = compile_dataset(spec)
    except specs.SpecError as e:
        raise cli.UsageError(str(e)) from None
    args.table = args.table or spec.name
    table = table_identifier(args.table)
    dsn = dsn_from(args)
    try:
        conn = connection.connect(dsn)
    except connection.ConnectionFailed as e:
        raise cli.UsageError(str(e)) from None
    started = time.monotonic()
    with conn:
        exists = table_exists(conn, args.table)
        if exists and not args.overwrite:
            raise cli.UsageError(f"--table: {args.table!r} already exists; add --overwrite to re-create it")
        blocks = (gen.batch(seed, start, min(start + DEFAULT_BLOCK_ROWS, rows))
                  for start in range(0, rows, DEFAULT_BLOCK_ROWS))
        create_and_load(conn, table, spec, blocks, replace=exists)
    conn.close()
    print(f"{args.table}: {rows:,} rows in {time.monotonic() - started:.1f} s")
    return 0


def main(argv=None) -> int:
    return cli.main_wrapper(PROG, run, argv)


if __name__ == "__main__":
    sys.exit(main())
