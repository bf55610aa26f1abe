"""Reading the parts of a plan in parallel, exactly once per row, as Arrow record batches.

:class:`ReadKeyRangesFn` is a splittable DoFn whose restriction is a range of the key, mapped onto integers
(:class:`~transforms.postgres.columns.KeyKind`): it claims a chunk of keys at a time by claiming the chunk's
*last* position (:class:`ChunkTracker`), so a split (initial or dynamic) can only fall after a chunk it has
started. Each chunk is read in one ``COPY (SELECT ...) TO STDOUT`` inside a REPEATABLE READ transaction that
imports the launcher's snapshot (or, without one, in a transaction of its own), and decoded as
:mod:`transforms.postgres.decode` says. A chunk that fails (a lost connection) is read again whole before any of
its rows are emitted, so nothing is lost or duplicated. Rows whose key is NULL are one more restriction of their
own. :class:`ReadFromPostgres` is the PTransform around it.
"""

from __future__ import annotations

import concurrent.futures
import io
import logging
import os

import apache_beam as beam
import psycopg2
import pyarrow as pa
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider
from psycopg2 import errors, extensions

import transforms.arrow_coder  # noqa: F401 (registers the RecordBatch coder: else batches are pickled to be sized)
from datagen.memory import reuse_freed_memory
from transforms.postgres import connection
from transforms.postgres.columns import Column
from transforms.postgres.decode import _lists_from_json, _parse, _parse_stream, decode_binary
from transforms.postgres.plan import ReadPart, ReadPlan, _ranges_sql
from transforms.progress import NAMESPACE

_LOG = logging.getLogger(__name__)


def one_line(error: Exception) -> str:
    """An error's text on one line of at most 200 characters: libpq's messages run over several ("server closed
    the connection unexpectedly\n\tThis probably means ...")."""
    return " ".join(str(error).split())[:200] or type(error).__name__


class SnapshotGone(RuntimeError):
    """The launcher's exported snapshot can no longer be imported: its transaction has ended."""


class QueryChanged(RuntimeError):
    """A table of the query lost a column (or was dropped) after the read was planned."""


class ChunkTracker(OffsetRestrictionTracker):
    """Claims whole chunks of keys by their last key. A runner may split the restriction between the reader
    looking at its stop and claiming a chunk that ends there; a claim at or past the (moved) stop then claims the
    keys up to it, so no key between the last claim and the new stop is left unread (the reader clips the chunk
    to the stop after a successful claim)."""

    def try_claim(self, position):
        stop, last = self._range.stop, self._last_claim_attempt
        floor = self._range.start - 1 if last is None else last
        if position >= stop > floor + 1:
            position = stop - 1
        return super().try_claim(position)


class ReadKeyRangesFn(beam.DoFn, RestrictionProvider):
    """ReadPart -> Arrow record batches of its rows (see the module's docstring). Its own restriction provider:
    the initial restrictions are ``partitions`` equal key ranges."""

    def __init__(self, dsn: str, columns: list[Column], partitions: int, retries: int = connection.RETRIES,
                 arrays_as_lists: bool = True, dsn_file: str | None = None):
        self._dsn = dsn  # without a password: libpq takes it from PGPASSWORD or .pgpass
        self._dsn_file = dsn_file  # remote workers read the DSN (and its password) from it in setup
        self._columns = columns
        self._names = [c.name for c in columns]
        self._types = {c.name: c.csv_type for c in columns}
        self._arrays = {c.name: c for c in columns if c.is_array and arrays_as_lists}
        self._arrays_as_lists = arrays_as_lists
        self._binary = True  # False (CSV from then on) once a chunk cannot be read in binary
        # Rows of fixed-width columns are read as one buffer (cheaper than a message per row) while they keep
        # their fixed size; a NULL field is shorter, and from then on each row's message is kept apart.
        self._one_buffer = all(c.wire and not c.is_array for c in columns)
        self._retries = retries
        self._partitions = partitions
        self._conn = None
        self._pool = None
        self._rows = Metrics.counter(NAMESPACE, "postgres_rows")
        self._retried = Metrics.counter(NAMESPACE, "postgres_chunk_retries")

    def initial_restriction(self, part: ReadPart):
        return OffsetRange(part.start, part.stop)

    def create_tracker(self, restriction):
        return ChunkTracker(restriction)

    def split(self, part: ReadPart, restriction):
        if part.nulls or part.key is None:
            yield restriction
            return
        span = restriction.stop - restriction.start
        n = max(1, min(self._partitions, span))
        for i in range(n):
            a = restriction.start + span * i // n
            b = restriction.start + span * (i + 1) // n
            if b > a:
                yield OffsetRange(a, b)

    def restriction_size(self, part, restriction):
        return restriction.size()

    def setup(self):
        if self._dsn_file:  # a remote worker: the password stays out of the pickled DoFn and the job's options
            self._dsn, password = connection.split_password(connection.read_dsn(None, self._dsn_file))
            if password:
                os.environ["PGPASSWORD"] = password
        self._conn = None
        self._connection()  # opened once per DoFn instance; reopened only after a lost connection
        reuse_freed_memory()  # each chunk's buffers (tens of MB) reuse the last one's memory instead of new pages

    def _connection(self):
        if self._conn is None or self._conn.closed:
            self._conn = connection.connect(self._dsn)
            self._conn.set_session(isolation_level=extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
            with self._conn.cursor() as cur:
                cur.execute("SET TIME ZONE 'UTC'")
            self._conn.commit()
        return self._conn

    def teardown(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._conn is not None and not self._conn.closed:
            self._conn.close()

    def _read(self, part: ReadPart, lo: int | None, hi: int | None) -> tuple[pa.Table, int]:
        """The rows of [lo, hi) (or the NULL keys) as a table, retrying a lost connection from the start; and the
        retries it took (counted by the caller: Beam's metrics count only in the thread that runs the DoFn)."""
        for attempt in self._retrying(f"reading {part.key} range [{lo}, {hi})"):
            with attempt:
                retries = attempt.retry_state.attempt_number - 1
                while self._binary and part.binary_select_list:
                    if self._one_buffer:
                        data, rows = self._copy(part, lo, hi, binary=True)
                        messages = [data]
                    else:
                        into = _Messages()
                        rows = self._copy(part, lo, hi, binary=True, into=into)[1]
                        messages = into.parts
                    table = decode_binary(messages, rows, self._columns, json_arrays=not self._arrays_as_lists)
                    if table is not None:
                        return table, retries
                    if self._one_buffer:  # a NULL made a row shorter: keep the rows apart from now on
                        self._one_buffer = False
                        continue
                    # +-infinity dates, nested arrays, text that is not UTF-8: CSV from now on, which reads them
                    # or says why not.
                    _LOG.info("reading %s as CSV: a chunk's binary COPY holds values numpy does not decode", part.key)
                    self._binary = False
                return _lists_from_json(_parse(self._copy(part, lo, hi)[0], self._names, self._types),
                                        self._arrays), retries
        raise AssertionError("unreachable")

    def _copy(self, part: ReadPart, lo: int | None, hi: int | None, binary: bool = False,
              into=None) -> tuple[bytes | None, int]:
        """The COPY output of [lo, hi) and its row count; with ``into`` (a file, or :class:`_Messages`), the output
        goes there instead."""
        conn = self._connection()
        buf = io.BytesIO() if into is None else into
        try:
            rows = self._copy_into(conn, part, lo, hi, binary, buf)
            return (buf.getvalue() if into is None else None), rows
        except (errors.UndefinedColumn, errors.UndefinedTable) as e:  # the catalog is read as it is now
            raise QueryChanged(f"the query's tables changed during the extraction: {str(e).splitlines()[0]} "
                               "(its columns were fixed when the read was planned); run it again") from None
        finally:
            if not conn.closed:
                try:
                    conn.rollback()  # read-only: nothing to commit; after an error, ready for the next read
                except psycopg2.Error:
                    pass

    def _copy_into(self, conn, part: ReadPart, lo, hi, binary: bool, buf) -> int:
        with conn.cursor() as cur:
            if part.snapshot:
                try:
                    cur.execute("SET TRANSACTION SNAPSHOT %s", (part.snapshot,))
                except errors.InvalidParameterValue:
                    raise SnapshotGone(
                        f"the launcher's snapshot {part.snapshot} no longer exists: the launcher must run until "
                        "the job ends, or use --consistency chunk") from None
            cur.copy_expert(_ranges_sql(part, lo, hi, binary).as_string(conn), buf)
            return cur.rowcount

    def process(self, part: ReadPart, tracker=beam.DoFn.RestrictionParam()):
        if part.nulls or part.key is None:  # one piece, spooled to a file and parsed a block at a time
            if tracker.try_claim(tracker.current_restriction().start):
                yield from self._read_spooled(part)
            return
        # The next chunk is claimed and read (by one helper thread, on this instance's connection) while this
        # one is emitted and written: the server works on it meanwhile instead of waiting for us. A claimed chunk
        # is ours whatever splits come later (see ChunkTracker), so reading it ahead loses and repeats nothing.
        position = tracker.current_restriction().start
        keys = part.chunk_keys
        ahead = None  # (future of a claimed chunk's table, its first key, its end)
        while True:
            following = None
            claimed = self._claim(tracker, position, keys)
            if claimed is not None:
                lo, position = claimed
                following = (self._reader().submit(self._read, part, lo, position), lo, position)
            if ahead is not None:
                table, retries = ahead[0].result()
                keys = min(part.chunk_keys, _next_chunk_keys(keys, ahead[2] - ahead[1], table.num_rows,
                                                             part.chunk_rows))
                yield from self._emit(table, retries)
            if following is None:
                return
            ahead = following

    def _read_spooled(self, part: ReadPart):
        """The rows of a part read in one COPY (the NULL keys, or a query without a key), as CSV into a temporary
        file, then parsed a block at a time: memory holds one block, however many rows the part has. A lost
        connection starts the COPY again, before any row is emitted."""
        import tempfile

        what = "reading the query whole" if part.key is None else f"reading the rows where {part.key} IS NULL"
        with tempfile.TemporaryFile(prefix="postgres-read-") as spool:
            for attempt in self._retrying(what):
                with attempt:
                    retries = attempt.retry_state.attempt_number - 1
                    spool.seek(0)
                    spool.truncate()
                    self._copy(part, None, None, into=spool)
            spool.seek(0)
            for batch in _parse_stream(spool, self._names, self._types):
                table = _lists_from_json(pa.Table.from_batches([batch]), self._arrays)
                yield from self._emit(table, retries)
                retries = 0  # counted once

    def _retrying(self, what: str):
        """Attempts at ``what`` (a read that starts from nothing each time): a lost connection is forgotten,
        logged and tried again with back-off; past the retries, the read fails in one line."""
        def lost(error: BaseException) -> bool:
            # A server shutting down mid-COPY can surface as a SystemError raised from the OperationalError
            # (psycopg2 was inside our buffer's write when the connection ended), or as a DatabaseError with no
            # SQLSTATE ("error with status PGRES_COPY_OUT and no message from the libpq": the server sent no
            # error, the connection ended): those are lost connections too.
            connection_error = (psycopg2.OperationalError, psycopg2.InterfaceError)
            return isinstance(error, connection_error) or (
                isinstance(error, SystemError) and isinstance(error.__cause__, connection_error)) or (
                type(error) is psycopg2.DatabaseError and error.pgcode is None)

        def forget(state):
            error = state.outcome.exception()
            if self._conn is not None:
                try:
                    self._conn.close()
                except Exception:
                    pass
            self._conn = None
            _LOG.warning("connection lost while %s; reading it again (%s)", what, one_line(error))

        attempts = connection.retrying(self._retries, 0.5, lost, before_sleep=forget)
        try:
            yield from attempts
        except Exception as e:
            if not lost(e):
                raise
            raise connection.ConnectionFailed(f"{what} failed after {self._retries} retries: "
                                              f"{one_line(e)}") from None

    @staticmethod
    def _claim(tracker, position: int, keys: int):
        """Claims the chunk of ``keys`` keys from ``position``: (first key, end), or None when the range is done."""
        stop = tracker.current_restriction().stop
        if position >= stop:
            return None
        end = min(position + keys, stop)
        # Claiming the chunk's last key keeps the whole chunk ours: splits fall after a claimed position.
        if not tracker.try_claim(end - 1):
            return None
        return position, min(end, tracker.current_restriction().stop)  # a split may have moved the stop

    def _reader(self):
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="postgres-read-ahead")
        return self._pool

    def _emit(self, table: pa.Table, retries: int = 0):
        self._rows.inc(table.num_rows)
        self._retried.inc(retries)
        yield from table.to_batches()


class _Messages:
    """Where a COPY's output goes as the driver hands it over: one message (a row) per call of ``write``, which is
    ``list.append`` itself, so keeping the rows apart costs no Python per row."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.write = self.parts.append


def _next_chunk_keys(keys: int, read_keys: int, read_rows: int, target_rows: int) -> int:
    """The key span of the next chunk, from the rows per key just seen: in dense stretches of a skewed key chunks
    shrink towards ``target_rows`` rows. The change is at most 4x per chunk, as density is only known where it was
    read; the caller also keeps the span at most the average-density one, so a sparse stretch cannot widen it
    into a dense one that follows."""
    if read_keys < keys:  # the last chunk of a range says little
        return keys
    wanted = read_keys * target_rows // max(read_rows, 1)
    return max(1, min(keys * 4, max(keys // 4, wanted)))


class ReadFromPostgres(beam.PTransform):
    """The parts of a :class:`ReadPlan` -> Arrow record batches of every row, each exactly once.

    Array columns become Arrow lists, or stay JSON text when the plan says so (``arrays_as_lists=False``, for
    CSV files).
    """

    def __init__(self, dsn: str, plan: ReadPlan, partitions: int, dsn_file: str | None = None):
        super().__init__()
        self._dsn_file = dsn_file
        self._dsn = dsn
        self._plan = plan
        self._partitions = partitions

    def expand(self, pbegin):
        fn = ReadKeyRangesFn(self._dsn, self._plan.columns, self._partitions, dsn_file=self._dsn_file,
                             arrays_as_lists=self._plan.arrays_as_lists)
        return (pbegin
                | "Parts" >> beam.Create(self._plan.parts)
                | "ReadKeyRanges" >> beam.ParDo(fn).with_output_types(pa.RecordBatch))
