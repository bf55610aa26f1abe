"""Reading a PostgreSQL query in parallel, exactly once per row, as Arrow record batches.

The launcher (:func:`plan_read`) describes the query's columns, finds the bounds of the partition key and
exports a snapshot. :class:`ReadKeyRangesFn` is a splittable DoFn whose restriction is a range of the key,
mapped onto integers (:class:`KeyKind`): it claims a chunk of keys at a time by claiming the chunk's *last*
position, so a split (initial or dynamic) can only fall after a chunk it has started. Each chunk is read in one
``COPY (SELECT ...) TO STDOUT`` inside a REPEATABLE READ transaction that imports the launcher's snapshot. When
every column has a fixed-width binary form (integers, floats, booleans, dates, timestamps, NUMERIC of up to 18
digits), the chunk is copied in PostgreSQL's binary format and decoded by numpy in one pass over fixed-size rows
(about half the server's work of the text format); a chunk holding a NULL (whose field is shorter) is read again
as CSV, as are queries with other types, and parsed by Arrow's CSV reader with the query's types. A chunk that
fails (a lost connection) is read again whole before any of its rows are emitted, so nothing is lost or
duplicated. Rows whose key is NULL are one more restriction of their own.
"""

from __future__ import annotations

import concurrent.futures
import io
import logging
import os
import struct
import time
from dataclasses import dataclass

import apache_beam as beam
import numpy as np
import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider
from psycopg2 import errors, extensions, sql

from transforms import pg
from transforms.progress import NAMESPACE
from transforms.text import concatenated_bytes

_LOG = logging.getLogger(__name__)
CHUNK_ROWS = 100_000

# PostgreSQL type OID -> (Arrow type, BigQuery type). NUMERIC is decided by its precision and scale.
_TYPES = {
    16: (pa.bool_(), "BOOL"),
    20: (pa.int64(), "INT64"), 23: (pa.int32(), "INT64"), 21: (pa.int16(), "INT64"), 26: (pa.int64(), "INT64"),
    700: (pa.float32(), "FLOAT64"), 701: (pa.float64(), "FLOAT64"),
    25: (pa.string(), "STRING"), 1043: (pa.string(), "STRING"), 1042: (pa.string(), "STRING"),
    19: (pa.string(), "STRING"), 2950: (pa.string(), "STRING"),
    114: (pa.string(), "STRING"), 3802: (pa.string(), "STRING"),  # json, jsonb
    1082: (pa.date32(), "DATE"),
    1114: (pa.timestamp("us"), "DATETIME"), 1184: (pa.timestamp("us", tz="UTC"), "TIMESTAMP"),
}
# Array type OID -> element OID. Arrays travel as JSON text (to_json) and become Arrow lists, BigQuery REPEATED.
_ARRAYS = {1005: 21, 1007: 23, 1016: 20, 1021: 700, 1022: 701, 1009: 25, 1015: 1043, 1000: 16,
           1182: 1082, 1115: 1114, 1185: 1184, 1231: 1700}
# Type OID -> its binary COPY field as a numpy dtype (fixed width only). NUMERIC(p <= 18) is sent scaled to bigint.
_WIRE = {16: "?", 21: ">i2", 23: ">i4", 20: ">i8", 700: ">f4", 701: ">f8", 1082: ">i4", 1114: ">i8", 1184: ">i8"}
_PG_EPOCH_DAYS = 10_957  # 2000-01-01, PostgreSQL's binary epoch, in days since 1970-01-01
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400 * 1_000_000
_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


class UnsupportedQuery(ValueError):
    """The query or its key cannot be read as asked; the message says why."""


class SnapshotGone(RuntimeError):
    """The launcher's exported snapshot can no longer be imported: its transaction has ended."""


@dataclass(frozen=True)
class Column:
    name: str
    arrow_type: pa.DataType
    bigquery_type: str
    wire: str | None = None  # numpy dtype of its fixed-width binary COPY field, if it has one

    @property
    def is_array(self) -> bool:
        return pa.types.is_list(self.arrow_type)

    @property
    def csv_type(self) -> pa.DataType:
        """The type COPY's CSV text is parsed as (arrays come as JSON text)."""
        return pa.string() if self.is_array else self.arrow_type

    @property
    def json_type(self) -> pa.DataType:
        """The list type Arrow's JSON reader gives an array column; elements it cannot type arrive as text."""
        value = self.arrow_type.value_type
        if pa.types.is_decimal(value) or pa.types.is_date(value) or pa.types.is_timestamp(value):
            return pa.list_(pa.string())
        return self.arrow_type

    def bigquery_field(self, arrays_as_lists: bool = True) -> dict:
        if self.is_array and not arrays_as_lists:  # JSON text in a CSV file
            return {"name": self.name, "type": "STRING", "mode": "NULLABLE"}
        return {"name": self.name, "type": self.bigquery_type, "mode": "REPEATED" if self.is_array else "NULLABLE"}

    def select_sql(self) -> sql.Composable:
        if self.is_array and pa.types.is_decimal(self.arrow_type.value_type):
            # NUMERIC elements as JSON strings: JSON numbers would pass through a float.
            return sql.SQL("to_json({c}::text[])::text AS {c}").format(c=sql.Identifier(self.name))
        if self.is_array:
            return sql.SQL("to_json({c})::text AS {c}").format(c=sql.Identifier(self.name))
        return sql.Identifier(self.name)

    def binary_select_sql(self, null_flag: bool = False) -> sql.Composable:
        """The column as its fixed-width binary field; with ``null_flag``, NULL sent as a stand-in value of the
        column's type and followed by a boolean field that says where it was NULL (so every row keeps the same
        layout)."""
        c = sql.Identifier(self.name)
        value = c
        if pa.types.is_decimal(self.arrow_type):  # exact: a NUMERIC(p, s) value has at most s decimals
            value = sql.SQL("({c} * {f})::bigint").format(c=c, f=sql.Literal(10 ** self.arrow_type.scale))
        if not null_flag:
            return value if value is c else sql.SQL("{v} AS {c}").format(v=value, c=c)
        t = self.arrow_type
        stand_in = "false" if pa.types.is_boolean(t) else "epoch" if (pa.types.is_date(t) or
                                                                         pa.types.is_timestamp(t)) else "0"
        return sql.SQL("coalesce({v}, {s}) AS {c}, ({c} IS NULL) AS {flag}").format(
            v=value, s=sql.Literal(stand_in), c=c, flag=sql.Identifier(self.name + " is null"))


def describe(conn, query: sql.Composable) -> list[Column]:
    """The query's columns and their Arrow and BigQuery types (the query is planned, not run)."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM ({}) AS q LIMIT 0").format(query))
        columns = []
        for d in cur.description:
            if d.type_code == 1700:  # numeric
                p, s = d.precision, d.scale
                if p is None or p > 38 or p <= 0 or s is None or s < 0:
                    columns.append(Column(d.name, pa.decimal128(38, 9), "BIGNUMERIC"))
                else:
                    columns.append(Column(d.name, pa.decimal128(p, s), "NUMERIC" if s <= 9 else "BIGNUMERIC",
                                          ">i8" if p <= 18 else None))
            elif d.type_code in _TYPES:
                a, b = _TYPES[d.type_code]
                columns.append(Column(d.name, a, b, _WIRE.get(d.type_code)))
            elif d.type_code == 1231:  # numeric[]: its elements' precision is not described; BIGNUMERIC's range
                columns.append(Column(d.name, pa.list_(pa.decimal256(76, 38)), "BIGNUMERIC"))
            elif d.type_code in _ARRAYS:
                a, b = _TYPES[_ARRAYS[d.type_code]]
                columns.append(Column(d.name, pa.list_(a), b))
            else:
                cur.execute("SELECT format_type(%s, NULL)", (d.type_code,))
                raise UnsupportedQuery(f"column {d.name!r} has type {cur.fetchone()[0]}, which is not supported yet")
        return columns


@dataclass(frozen=True)
class KeyKind:
    """How key values map onto integers (for ranges) and back into SQL bounds that an index can use."""

    name: str
    to_int: str  # SQL with {} for the key: an integer (bigint) for min/max
    bound: str  # SQL with {} for an integer literal: the key value where that integer range starts

    def bound_sql(self, position: int) -> sql.Composable:
        return sql.SQL(self.bound).format(sql.Literal(position))


_KEY_KINDS = {
    "integer": KeyKind("integer", "({})::bigint", "{}"),
    "date": KeyKind("date", "({} - DATE '1970-01-01')::bigint", "(DATE '1970-01-01' + {}::integer)"),
    "timestamp": KeyKind("timestamp", "floor(extract(epoch FROM {}) * 1000000)::bigint",
                         "(TIMESTAMP 'epoch' + {} * INTERVAL '1 microsecond')"),
    "timestamptz": KeyKind("timestamptz", "floor(extract(epoch FROM {}) * 1000000)::bigint",
                           "(TIMESTAMPTZ 'epoch' + {} * INTERVAL '1 microsecond')"),
}


def key_kind(column: Column) -> KeyKind:
    t = column.arrow_type
    if pa.types.is_integer(t):
        return _KEY_KINDS["integer"]
    if pa.types.is_date32(t):
        return _KEY_KINDS["date"]
    if pa.types.is_timestamp(t):
        return _KEY_KINDS["timestamptz" if t.tz else "timestamp"]
    if pa.types.is_decimal(t):
        scale = 10 ** t.scale
        return KeyKind(f"numeric({t.scale})", f"floor(({{}}) * {scale})::bigint", f"({{}}::numeric / {scale})")
    raise UnsupportedQuery(f"partition column {column.name!r} is {t}: expected an integer, numeric, date or "
                           "timestamp column")


@dataclass(frozen=True)
class ReadPart:
    """One element of the read: the key range [start, stop) of the query's rows, or its NULL-key rows, or (with
    no key) all its rows."""

    query: str  # composed SQL text (identifiers quoted by psycopg2.sql), no secrets
    key: str | None  # quoted key identifier; None: the query is read whole, in one piece
    kind: KeyKind | None
    start: int
    stop: int
    nulls: bool
    chunk_keys: int  # key span of the first chunk; later chunks adapt to the rows per key they find
    snapshot: str | None
    select_list: str = "*"  # composed SQL: the columns, arrays as JSON text
    binary_select_list: str | None = None  # composed SQL for a binary COPY, when every column has a fixed width
    flagged_select_list: str | None = None  # the same with a NULL flag after each column, for chunks with NULLs
    chunk_rows: int = CHUNK_ROWS  # rows a chunk aims at


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


def _ranges_sql(part: ReadPart, lo: int | None, hi: int | None, binary: str | None = None) -> sql.Composable:
    """The COPY of [lo, hi) (or the NULL keys): as CSV, or with ``binary`` ("plain" or "flagged") in binary."""
    if part.key is None:
        where = sql.SQL("true")
    elif part.nulls:
        where = sql.SQL("{} IS NULL").format(sql.SQL(part.key))
    else:
        key = sql.SQL(part.key)
        where = sql.SQL("{k} >= {lo} AND {k} < {hi}").format(
            k=key, lo=part.kind.bound_sql(lo), hi=part.kind.bound_sql(hi))
    return sql.SQL("COPY (SELECT {s} FROM ({q}) AS q WHERE {w}) TO STDOUT WITH (FORMAT {f})").format(
        s=sql.SQL({"plain": part.binary_select_list, "flagged": part.flagged_select_list}.get(binary)
                  or part.select_list), q=sql.SQL(part.query), w=where,
        f=sql.SQL("binary" if binary else "csv"))


class ReadKeyRangesFn(beam.DoFn, RestrictionProvider):
    """ReadPart -> Arrow record batches of its rows (see the module's docstring). Its own restriction provider:
    the initial restrictions are ``partitions`` equal key ranges."""

    def __init__(self, dsn: str, columns: list[Column], partitions: int, retries: int = pg.RETRIES,
                 arrays_as_lists: bool = True, dsn_file: str | None = None):
        self._dsn = dsn  # without a password: libpq takes it from PGPASSWORD or .pgpass
        self._dsn_file = dsn_file  # remote workers read the DSN (and its password) from it in setup
        self._columns = columns
        self._names = [c.name for c in columns]
        self._types = {c.name: c.csv_type for c in columns}
        self._arrays = {c.name: c for c in columns if c.is_array and arrays_as_lists}
        self._binary = "plain"  # then "flagged" once a chunk holds a NULL; None (text) if binary cannot serve
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
            self._dsn, password = pg.split_password(pg.read_dsn(None, self._dsn_file))
            if password:
                os.environ["PGPASSWORD"] = password
        self._conn = None
        self._connection()  # opened once per DoFn instance; reopened only after a lost connection

    def _connection(self):
        if self._conn is None or self._conn.closed:
            self._conn = pg.connect(self._dsn)
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
        for attempt in range(self._retries + 1):
            try:
                while self._binary and part.binary_select_list:
                    flagged = self._binary == "flagged"
                    table = _decode_binary(*self._copy(part, lo, hi, binary=self._binary), self._columns, flagged)
                    if table is not None:
                        return table, attempt
                    # A NULL (a shorter field): NULL flags from now on; past that (+-infinity dates): text.
                    self._binary = None if flagged else "flagged"
                return _lists_from_json(_parse(self._copy(part, lo, hi)[0], self._names, self._types),
                                        self._arrays), attempt
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
                self._lost_connection(e, attempt, f"reading {part.key} range [{lo}, {hi})")
        raise AssertionError("unreachable")

    def _copy(self, part: ReadPart, lo: int | None, hi: int | None, binary: str | None = None,
              into=None) -> tuple[bytes | None, int]:
        """The COPY output of [lo, hi) and its row count; with ``into`` (a file), the output goes there instead."""
        conn = self._connection()
        buf = io.BytesIO() if into is None else into
        try:
            rows = self._copy_into(conn, part, lo, hi, binary, buf)
            return (buf.getvalue() if into is None else None), rows
        finally:
            if not conn.closed:
                try:
                    conn.rollback()  # read-only: nothing to commit; after an error, ready for the next read
                except psycopg2.Error:
                    pass

    def _copy_into(self, conn, part: ReadPart, lo, hi, binary: str | None, buf) -> int:
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
            for attempt in range(self._retries + 1):
                spool.seek(0)
                spool.truncate()
                try:
                    self._copy(part, None, None, into=spool)
                    break
                except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
                    self._lost_connection(e, attempt, what)
            spool.seek(0)
            first = True
            for batch in _parse_stream(spool, self._names, self._types):
                table = _lists_from_json(pa.Table.from_batches([batch]), self._arrays)
                yield from self._emit(table, attempt if first else 0)
                first = False

    def _lost_connection(self, error, attempt: int, what: str):
        """Forgets the lost connection and waits before the next attempt; past the retries, fails in one line."""
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
        self._conn = None
        if attempt == self._retries:
            raise pg.ConnectionFailed(f"{what} failed after {self._retries} retries: "
                                      f"{str(error).strip()[:200]}") from None
        _LOG.warning("connection lost while %s; reading it again (%s)", what, str(error).strip()[:200])
        time.sleep(min(0.5 * 2 ** attempt, 8))

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


def _next_chunk_keys(keys: int, read_keys: int, read_rows: int, target_rows: int) -> int:
    """The key span of the next chunk, from the rows per key just seen: in dense stretches of a skewed key chunks
    shrink towards ``target_rows`` rows. The change is at most 4x per chunk, as density is only known where it was
    read; the caller also keeps the span at most the average-density one, so a sparse stretch cannot widen it
    into a dense one that follows."""
    if read_keys < keys:  # the last chunk of a range says little
        return keys
    wanted = read_keys * target_rows // max(read_rows, 1)
    return max(1, min(keys * 4, max(keys // 4, wanted)))


def _decode_binary(data: bytes, rows: int, columns: list[Column], flagged: bool = False) -> pa.Table | None:
    """A binary COPY of fixed-width columns as a table; None when a row does not have the fixed layout (a NULL
    field is shorter, so the size cannot be rows x row size) or holds +-infinity dates or timestamps. With
    ``flagged``, each column's field is followed by a boolean one, true where the value is NULL."""
    fields = [("n", ">i2")]
    for i, c in enumerate(columns):
        fields += [(f"l{i}", ">i4"), (f"v{i}", c.wire)]
        if flagged:
            fields += [(f"fl{i}", ">i4"), (f"f{i}", "?")]
    layout = np.dtype(fields)
    if not data.startswith(_BINARY_SIGNATURE) or len(data) < 21 or data[-2:] != b"\xff\xff":
        return None
    start = 19 + struct.unpack_from(">I", data, 15)[0]
    if len(data) - 2 - start != rows * layout.itemsize:
        return None
    records = np.frombuffer(data, dtype=layout, count=rows, offset=start)
    wires = [np.dtype(c.wire) for c in columns]
    values = [np.empty(rows, dtype=w.newbyteorder("=")) for w in wires]
    nulls = [np.empty(rows, dtype=bool) for _ in wires] if flagged else None
    # A band of rows at a time, so that the band's records stay in the cache while every column is taken from
    # them (column by column over a whole chunk read each row's memory once per column).
    band = max(1, _DECODE_BAND_BYTES // layout.itemsize)
    for a in range(0, rows, band):
        part = records[a:a + band]
        if (part["n"] != len(columns) * (2 if flagged else 1)).any():
            return None
        for i, w in enumerate(wires):
            if (part[f"l{i}"] != w.itemsize).any() or (flagged and (part[f"fl{i}"] != 1).any()):
                return None
            values[i][a:a + band] = part[f"v{i}"]
            if flagged:
                nulls[i][a:a + band] = part[f"f{i}"]
    arrays = []
    for i, (c, v) in enumerate(zip(columns, values)):
        t = c.arrow_type
        mask = nulls[i] if flagged and nulls[i].any() else None
        if pa.types.is_date(t) or pa.types.is_timestamp(t):
            info = np.iinfo(v.dtype)
            epoch = _PG_EPOCH_DAYS if pa.types.is_date(t) else _PG_EPOCH_US
            # +-infinity, or beyond what the Arrow type holds: the text path gives its error (or reads it)
            if rows and (v.max() > info.max - epoch or v.min() == info.min):
                return None
            v += epoch
            arrays.append(pa.array(v, type=t, mask=mask))
        elif pa.types.is_decimal(t):  # unscaled 64-bit integers -> 128-bit two's complement, little-endian
            wide = np.empty((rows, 2), dtype="<i8")
            wide[:, 0] = v
            wide[:, 1] = v >> 63
            validity = None if mask is None else pa.array(~mask).buffers()[1]
            arrays.append(pa.Array.from_buffers(t, rows, [validity, pa.py_buffer(wide)],
                                                null_count=-1 if mask is not None else 0))
        else:
            arrays.append(pa.array(v, type=t, mask=mask))
    return pa.Table.from_arrays(arrays, names=[c.name for c in columns])


_DECODE_BAND_BYTES = 1 << 20


def _lists_from_json(table: pa.Table, arrays: dict[str, Column]) -> pa.Table:
    """Array columns arrive as JSON text ('[1,2,null]'); Arrow's JSON reader turns them into lists at once
    (NUMERIC, date and timestamp elements come as JSON strings and are then cast)."""
    for name, column in arrays.items():
        i = table.schema.get_field_index(name)
        text = pc.fill_null(table.column(name).combine_chunks(), "null")
        lines = pc.binary_join_element_wise('{"v":', text, "}\n", "")
        if len(lines):
            data = concatenated_bytes(lines.cast(pa.string()))
            values = pajson.read_json(io.BytesIO(data), parse_options=pajson.ParseOptions(
                explicit_schema=pa.schema([("v", column.json_type)]))).column("v")
            if column.json_type != column.arrow_type:
                values = values.cast(column.arrow_type)
        else:
            values = pa.chunked_array([], column.arrow_type)
        table = table.set_column(i, pa.field(name, column.arrow_type), values)
    return table


def _csv_options(names: list[str], types: dict) -> dict:
    """How PostgreSQL's CSV COPY output reads back with the query's types (NULL is an empty unquoted field)."""
    return dict(
        read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=types, null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False,
            true_values=["t"], false_values=["f"]))


def _parse(data: bytes, names: list[str], types: dict) -> pa.Table:
    if not data:
        return pa.schema([(n, types[n]) for n in names]).empty_table()
    return pacsv.read_csv(io.BytesIO(data), **_csv_options(names, types))


def _parse_stream(f, names: list[str], types: dict):
    """Record batches of the CSV in the file ``f``, read a block (16 MiB) at a time."""
    if f.read(1) == b"":
        return
    f.seek(0)
    yield from pacsv.open_csv(f, **_csv_options(names, types))


@dataclass
class ReadPlan:
    columns: list[Column]
    parts: list[ReadPart]
    estimated_rows: int
    snapshot_conn: object  # keep open until the pipeline has finished: it holds the exported snapshot


def plan_read(dsn: str, query: sql.Composable, key: str | None, partitions: int, lower: str | None = None,
              upper: str | None = None, chunk_rows: int = CHUNK_ROWS, binary_copy: bool = True,
              share_snapshot: bool = True) -> ReadPlan:
    """Describe the query, export a snapshot and cut the key's range (in that snapshot) into read parts; with no
    ``key``, the query is one part, read whole.

    With ``share_snapshot`` the readers import that snapshot (the plan's connection must stay open until they
    have finished); without, each chunk reads in its own REPEATABLE READ transaction."""
    conn = pg.connect(dsn)
    conn.set_session(isolation_level=extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_export_snapshot()")
        snapshot = cur.fetchone()[0]
        columns = describe(conn, query)
        cur.execute(sql.SQL("EXPLAIN (FORMAT JSON) SELECT * FROM ({}) AS q").format(query))
        estimated = int(cur.fetchone()[0][0]["Plan"]["Plan Rows"])
        if key is not None:
            bounds = _key_bounds(cur, query, columns, key, lower, upper)
    if not share_snapshot:
        snapshot = None
    query_text = query.as_string(conn)
    select_list = sql.SQL(", ").join(c.select_sql() for c in columns).as_string(conn)
    parts = []
    if key is None:
        parts.append(ReadPart(query_text, None, None, 0, 1, False, 1, snapshot, select_list))
    else:
        kind, lo, hi, has_nulls = bounds
        key_text = sql.Identifier(key).as_string(conn)
        binary = flagged = None
        if binary_copy and all(c.wire for c in columns):
            binary = sql.SQL(", ").join(c.binary_select_sql() for c in columns).as_string(conn)
            flagged = sql.SQL(", ").join(c.binary_select_sql(null_flag=True) for c in columns).as_string(conn)
        if lo is not None:
            span = hi + 1 - lo
            chunk = max(1, span * chunk_rows // max(estimated, 1))
            parts.append(ReadPart(query_text, key_text, kind, lo, hi + 1, False, chunk, snapshot, select_list,
                                  binary, flagged, chunk_rows))
        if has_nulls:  # NULL keys: one more part, read whole as text
            parts.append(ReadPart(query_text, key_text, kind, 0, 1, True, 1, snapshot, select_list))
    if not share_snapshot:
        conn.close()  # no snapshot to hold
    return ReadPlan(columns, parts, estimated, conn)


def _key_bounds(cur, query: sql.Composable, columns: list[Column], key: str, lower: str | None,
                upper: str | None) -> tuple[KeyKind, int | None, int | None, bool]:
    """The key's kind, its lowest and highest value as integers (widened to --lower_bound/--upper_bound), and
    whether some rows have a NULL key."""
    by_name = {c.name: c for c in columns}
    if key not in by_name:
        raise UnsupportedQuery(f"--partition_column: {key!r} is not a column of the query "
                               f"(columns: {', '.join(by_name)})")
    kind = key_kind(by_name[key])
    k = sql.Identifier(key)
    # min() and max() of the bare column, so that an index on it answers them; EXISTS stops at the first NULL.
    bounds = "SELECT {lo}, {hi} FROM (SELECT min({k}) AS lo, max({k}) AS hi FROM ({q}) AS q) AS b"
    cur.execute(sql.SQL(bounds).format(
        lo=sql.SQL(kind.to_int).format(sql.SQL("b.lo")), hi=sql.SQL(kind.to_int).format(sql.SQL("b.hi")),
        k=k, q=query))
    lo, hi = cur.fetchone()
    cur.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM ({q}) AS q WHERE {k} IS NULL)").format(q=query, k=k))
    has_nulls = cur.fetchone()[0]
    if lower is not None or upper is not None:
        cur.execute(sql.SQL("SELECT " + kind.to_int + ", " + kind.to_int).format(
            sql.Literal(lower) if lower is not None else sql.SQL("NULL"),
            sql.Literal(upper) if upper is not None else sql.SQL("NULL")))
        lo_b, hi_b = cur.fetchone()
        lo = lo_b if lo_b is not None and lo is not None and lo_b < lo else lo
        hi = hi_b if hi_b is not None and hi is not None and hi_b > hi else hi
    return kind, lo, hi, has_nulls


class ReadFromPostgres(beam.PTransform):
    """The parts of a :class:`ReadPlan` -> Arrow record batches of every row, each exactly once.

    Array columns become Arrow lists, or stay JSON text with ``arrays_as_lists=False`` (for CSV files).
    """

    def __init__(self, dsn: str, plan: ReadPlan, partitions: int, arrays_as_lists: bool = True,
                 dsn_file: str | None = None):
        super().__init__()
        self._dsn_file = dsn_file
        self._arrays_as_lists = arrays_as_lists
        self._dsn = dsn
        self._plan = plan
        self._partitions = partitions

    def expand(self, pbegin):
        fn = ReadKeyRangesFn(self._dsn, self._plan.columns, self._partitions, dsn_file=self._dsn_file,
                             arrays_as_lists=self._arrays_as_lists)
        return (pbegin
                | "Parts" >> beam.Create(self._plan.parts)
                | "ReadKeyRanges" >> beam.ParDo(fn).with_output_types(pa.RecordBatch))
