"""The launcher's side of a read: what to read, cut into parts.

:func:`plan_read` describes the query's columns, finds the bounds of the partition key and exports a snapshot;
it cuts the key's range into :class:`ReadPart` s, plus one part for the rows whose key is NULL (or one part
holding the whole query when it has no key). :func:`_ranges_sql` is the ``COPY (SELECT ...) TO STDOUT`` of a
part's key range, with bounds written as constants on the raw column.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg2 import extensions, sql

from transforms.postgres import connection
from transforms.postgres.columns import Column, KeyKind, UnsupportedQuery, describe, key_kind

CHUNK_ROWS = 100_000


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
    binary_select_list: str | None = None  # composed SQL for a binary COPY (None: the part is read as CSV)
    chunk_rows: int = CHUNK_ROWS  # rows a chunk aims at


def _ranges_sql(part: ReadPart, lo: int | None, hi: int | None, binary: bool = False) -> sql.Composable:
    """The COPY of [lo, hi) (or the NULL keys): as CSV, or with ``binary`` in binary."""
    if part.key is None:
        where = sql.SQL("true")
    elif part.nulls:
        where = sql.SQL("{} IS NULL").format(sql.SQL(part.key))
    else:
        key = sql.SQL(part.key)
        where = sql.SQL("{k} >= {lo} AND {k} < {hi}").format(
            k=key, lo=part.kind.bound_sql(lo), hi=part.kind.bound_sql(hi))
    return sql.SQL("COPY (SELECT {s} FROM ({q}) AS q WHERE {w}) TO STDOUT WITH (FORMAT {f})").format(
        s=sql.SQL(part.binary_select_list if binary else part.select_list), q=sql.SQL(part.query), w=where,
        f=sql.SQL("binary" if binary else "csv"))


@dataclass
class ReadPlan:
    columns: list[Column]
    parts: list[ReadPart]
    estimated_rows: int
    snapshot_conn: object  # keep open until the pipeline has finished: it holds the exported snapshot
    arrays_as_lists: bool = True  # array columns as Arrow lists; else as JSON text (for CSV files)


def plan_read(dsn: str, query: sql.Composable, key: str | None, partitions: int, lower: str | None = None,
              upper: str | None = None, chunk_rows: int = CHUNK_ROWS, binary_copy: bool = True,
              share_snapshot: bool = True, arrays_as_lists: bool = True) -> ReadPlan:
    """Describe the query, export a snapshot and cut the key's range (in that snapshot) into read parts; with no
    ``key``, the query is one part, read whole.

    With ``share_snapshot`` the readers import that snapshot (the plan's connection must stay open until they
    have finished); without, each chunk reads in its own REPEATABLE READ transaction."""
    conn = connection.connect(dsn)
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
        binary = None
        if binary_copy:
            binary = sql.SQL(", ").join(c.binary_select_sql(json_arrays=not arrays_as_lists)
                                        for c in columns).as_string(conn)
        if lo is not None:
            span = hi + 1 - lo
            chunk = max(1, span * chunk_rows // max(estimated, 1))
            parts.append(ReadPart(query_text, key_text, kind, lo, hi + 1, False, chunk, snapshot, select_list,
                                  binary, chunk_rows))
        if has_nulls:  # NULL keys: one more part, read whole as text
            parts.append(ReadPart(query_text, key_text, kind, 0, 1, True, 1, snapshot, select_list))
    if not share_snapshot:
        conn.close()  # no snapshot to hold
    return ReadPlan(columns, parts, estimated, conn, arrays_as_lists)


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
