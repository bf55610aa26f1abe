"""Extract a PostgreSQL table or query, in parallel key ranges from one snapshot, to sharded CSV, Parquet or
newline-delimited JSON.

    python -m pipelines.extract_postgres --dsn postgresql://postgres@127.0.0.1/postgres --table transactions \
        --output ./out/transactions --format parquet

writes ``out/transactions/transactions-SSSSS-of-NNNNN.parquet`` and ``out/transactions/transactions.schema.json``
(the BigQuery schema of the columns). ``--query "SELECT ... FROM transactions WHERE amount > 0"`` reads a
cleaning or selecting query instead of a whole table.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from typing import TYPE_CHECKING

import psycopg2
from psycopg2 import sql

from functions.file_layout import output_name
from pipelines import cli
from pipelines.outputs import OutputOptions, Shards, check_output, claim, file_format_and_compression, run_job
from pipelines.outputs import num_shards as output_num_shards
from pipelines.postgres_options import add_connection_args, dsn_from, table_identifier
from transforms import formats
from transforms.postgres import connection

if TYPE_CHECKING:  # Beam is imported once the command line is checked (--help answers at once)
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

PROG = "python -m pipelines.extract_postgres"
_SELECT = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
CONSISTENCY = ("snapshot", "chunk")


class ExtractOptions(cli.JobOptions):
    """The options of ``pipelines.extract_postgres`` (values are checked by :func:`run`)."""

    @classmethod
    def _add_argparse_args(cls, parser):
        add_connection_args(parser)
        parser.add_argument("--table", default=None, help="[schema.]table to read whole.")
        parser.add_argument("--query", default=None,
                            help="A SELECT (or WITH ... SELECT) to read instead of --table: the cleaning query.")
        parser.add_argument("--partition_column", default=None,
                            help="Integer, numeric, date or timestamp column whose ranges are read in parallel; "
                                 "default: the table's one-column primary key (a --query without it is read "
                                 "whole, as one partition).")
        parser.add_argument("--partitions", default="4", help="Key ranges to start with (runners may split more).")
        parser.add_argument("--lower_bound", default=None, help="Lowest key to plan for (default: the minimum).")
        parser.add_argument("--upper_bound", default=None, help="Highest key to plan for (default: the maximum).")
        parser.add_argument("--consistency", default=None, choices=CONSISTENCY,
                            help="snapshot: every reader imports the launcher's exported snapshot, which the "
                                 "launcher holds until the job ends; chunk: each chunk reads its own REPEATABLE "
                                 "READ snapshot, for launchers that exit before the job ends (default: snapshot; "
                                 "chunk when launched as a Flex Template).")


OPTIONS = (OutputOptions, ExtractOptions)  # this job's command line (and its template's parameters)


def _query(args) -> tuple[sql.Composable, str | None]:
    """The SQL to read and, for a table, its name for the primary-key look-up."""
    if bool(args.table) == bool(args.query):
        raise cli.UsageError("give --table or --query (one of them)")
    if args.table:
        return sql.SQL("SELECT * FROM {}").format(table_identifier(args.table)), args.table
    q = args.query.strip().rstrip(";").strip()
    if not _SELECT.match(q) or ";" in q:
        raise cli.UsageError(f"--query: expected one SELECT statement (read-only), got {args.query!r}")
    return sql.SQL(q), None


def _check_table(conn, table: str):
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (table,))
        if cur.fetchone()[0] is None:
            raise cli.UsageError(f"--table: no table {table!r} in the database")


def _primary_key(conn, table: str) -> str:
    _check_table(conn, table)
    with conn.cursor() as cur:
        cur.execute("""SELECT a.attname FROM pg_index i
                       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                       WHERE i.indrelid = to_regclass(%s) AND i.indisprimary""", (table,))
        keys = [r[0] for r in cur.fetchall()]
    if len(keys) != 1:
        raise cli.UsageError(f"--partition_column: table {table!r} has no one-column primary key; name a column")
    return keys[0]


def _without_connection_args(argv: list[str]) -> list[str]:
    """argv less --dsn and --dsn_file, so that Beam never records a DSN (or a password in it)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--dsn", "--dsn_file"):
            skip = True
            continue
        if a.startswith(("--dsn=", "--dsn_file=")):
            continue
        out.append(a)
    return out


def build_pipeline(dsn: str, plan, partitions: int, file_format: str, compression: str, num_shards: int,
                   prefix: str, options: PipelineOptions, dsn_file: str | None = None) -> beam.Pipeline:
    """The unrun pipeline: the plan's key ranges read in parallel, written as shards under ``prefix``."""
    import pyarrow as pa

    from transforms.postgres.read import ReadFromPostgres

    pipeline = cli.new_pipeline(options)
    batches = pipeline | "Read" >> ReadFromPostgres(dsn, plan, partitions, dsn_file=dsn_file)
    # arrays as lists where the format writes lists (the plan reads them so), else as JSON text
    schema = pa.schema([(c.name, c.arrow_type if plan.arrays_as_lists else c.csv_type) for c in plan.columns])
    write = formats.get(file_format).write(formats.SinkTarget(
        prefix, schema, compression, num_shards, metrics_name=prefix.rsplit("/", 1)[-1]))
    _ = batches | "Write" >> write
    return pipeline


def _this_machine(host: str) -> bool:
    """localhost, a loopback address or a Unix socket folder (a libpq host list counts if any of it is)."""
    for h in host.split(","):
        h = h.strip().strip("[]")
        if h.startswith("/") or h.lower() in ("", "localhost") or h.lower().endswith(".localhost"):
            return True
        try:
            if ipaddress.ip_address(h).is_loopback:
                return True
        except ValueError:
            pass  # a name: the workers resolve it
    return False


def _check_remote_connection(args, dsn: str, password: str | None) -> str | None:
    """Remote workers connect by themselves: the server must not be this machine, and a password reaches them
    only through a --dsn_file on gs:// that they read (never through the options Beam records)."""
    host = connection.check_dsn(dsn).get("host") or os.environ.get("PGHOST") or "localhost"
    if _this_machine(host):
        raise cli.UsageError(f"--dsn: host {host!r} is this machine, which remote workers cannot reach; "
                             "give the database's address")
    if password or os.environ.get("PGPASSWORD"):
        if not (args.dsn_file or "").startswith("gs://"):
            raise cli.UsageError("--dsn_file: with a password, remote workers need the DSN in a gs:// file they "
                                 "read themselves (a password is never put in the job's options)")
        return args.dsn_file
    return None


def _consistency(asked: str | None, options) -> str:
    """A Flex Template launcher exits once the job is submitted, taking the shared snapshot with it."""
    template = cli.template_location(options)
    if template and asked == "snapshot":
        raise cli.UsageError("--consistency snapshot: the launcher must hold the snapshot until the job ends, and a "
                             "template launcher exits at once; use --consistency chunk")
    return asked or ("chunk" if template else "snapshot")


SNAPSHOT_ATTEMPTS = 3  # whole reads, when a server restart takes the shared snapshot away


def _plan(args, dsn: str, query: str, table: str | None, partitions: int, consistency: str, file_format: str):
    """The read's plan (its columns, key ranges and, with ``snapshot``, the exported snapshot it holds)."""
    from transforms.postgres.columns import UnsupportedQuery
    from transforms.postgres.plan import plan_read

    try:
        conn = connection.connect(dsn)
        key = args.partition_column
        if key is None and table is None:
            print(f"{PROG}: --query without --partition_column: reading it whole, as one partition; name an "
                  "integer, numeric, date or timestamp column of it with --partition_column to read it in "
                  "parallel", file=sys.stderr)
        elif key is None:
            key = _primary_key(conn, table)
        elif table is not None:
            _check_table(conn, table)
        conn.close()
        return plan_read(dsn, query, key, partitions, args.lower_bound, args.upper_bound,
                         share_snapshot=consistency == "snapshot", arrays_as_lists=formats.get(file_format).lists)
    except connection.ConnectionFailed as e:
        raise cli.UsageError(str(e)) from None
    except UnsupportedQuery as e:
        raise cli.UsageError(str(e)) from None
    except psycopg2.Error as e:  # SQL errors in the query: the server's first line says what is wrong
        raise cli.UsageError(f"the query failed: {str(e).strip().splitlines()[0]}") from None


def _snapshot_lost(error: BaseException, plan) -> bool:
    """Whether the run failed because its readers could not import the shared snapshot *and* the launcher's own
    connection, which holds it, is gone too: the server dropped every connection (a restart, a failover). Then
    reading everything again from a new snapshot gives a consistent copy; any other failure is the user's to see."""
    from transforms.postgres.read import SnapshotGone

    if plan.snapshot_conn is None or not (isinstance(error, SnapshotGone) or SnapshotGone.__name__ in str(error)):
        return False
    try:
        with plan.snapshot_conn.cursor() as cur:
            cur.execute("SELECT 1")
        return False
    except psycopg2.Error:
        return True


def run(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    p = cli.job_parser(PROG, __doc__, OPTIONS)
    args, _ = p.parse_known_args(argv)
    query, table = _query(args)
    if args.partition_column is not None and not _COLUMN.match(args.partition_column):
        raise cli.UsageError(f"--partition_column: expected a column name, got {args.partition_column!r}")
    partitions = cli.whole("--partitions", args.partitions, 1, "a whole number from 1 to 10000", 10_000)
    num_shards = output_num_shards(args)
    file_format, compression = file_format_and_compression(args)
    cli.required(args.output, "--output", "a local folder or gs://bucket/prefix for the files")
    output = check_output(args.output, [])
    name = output_name(output, "extract")
    prefix = f"{output}/{name}"
    suffix = formats.file_suffix(file_format, compression)

    options = cli.beam_options(cli.with_local_defaults(_without_connection_args(argv)), OPTIONS)
    from apache_beam.io.filesystems import FileSystems

    cli.check_dataflow(options, {"--output": output, "--dsn_file": args.dsn_file})
    consistency = _consistency(args.consistency, options)
    dsn, password = connection.split_password(dsn_from(args))
    worker_dsn_file = None
    if not cli.is_local(options):
        worker_dsn_file = _check_remote_connection(args, dsn, password)
    if password:  # hand it to libpq (here and in worker processes) through the environment, never to Beam
        os.environ["PGPASSWORD"] = password
    shards = Shards(prefix, suffix)
    for attempt in range(1, SNAPSHOT_ATTEMPTS + 1):
        plan = _plan(args, dsn, query, table, partitions, consistency, file_format)
        try:
            claim([shards], output, args.overwrite)
            pipeline = build_pipeline(dsn, plan, partitions, file_format, compression, num_shards, prefix, options,
                                      worker_dsn_file)
            schema = [c.bigquery_field(arrays_as_lists=plan.arrays_as_lists) for c in plan.columns]
            done = run_job(PROG, pipeline, options, [shards], [(shards, schema)])  # removes it too if it fails
            break
        except Exception as e:
            if not (consistency == "snapshot" and _snapshot_lost(e, plan) and attempt < SNAPSHOT_ATTEMPTS):
                raise
            print(f"{PROG}: the server dropped every connection, the snapshot's with them (a restart?); the "
                  f"files written are removed and the read starts again from a new snapshot (attempt "
                  f"{attempt + 1} of {SNAPSHOT_ATTEMPTS})", file=sys.stderr)
        finally:
            plan.snapshot_conn.close()  # the snapshot is needed until the last reader has finished
    if done is None:
        return 0
    rows, retried = done.counters.get("postgres_rows", 0), done.counters.get("postgres_chunk_retries", 0)
    files = [m for r in FileSystems.match([shards.pattern]) for m in r.metadata_list]
    seconds = done.seconds
    size = sum(m.size_in_bytes for m in files)
    print(f"{name}: {rows:,} rows, {len(files)} files, {size:,} bytes in {seconds:.1f} s "
          f"({rows / seconds:,.0f} rows/s, {size / seconds / 1e6:.1f} MB/s) -> {shards.names}"
          + (f"; {retried} chunk read(s) started again after a lost connection" if retried else ""))
    return 0


def main(argv=None) -> int:
    return cli.main_wrapper(PROG, run, argv)


if __name__ == "__main__":
    sys.exit(main())
