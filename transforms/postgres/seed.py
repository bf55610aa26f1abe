"""A table from a dataset spec: its columns as PostgreSQL DDL, created and loaded with COPY.

Column types map to PostgreSQL's as ``datagen/types.py`` says; the spec's primary key is declared
``PRIMARY KEY`` and a column that cannot be null ``NOT NULL``. :func:`create_and_load` works in the connection's
transaction, so that a caller that commits only at the end (``with conn:``) leaves no table behind a failed load.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from psycopg2 import sql

from datagen import spec as specs
from transforms.text import record_batch_to_csv


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


def table_exists(conn, name: str) -> bool:
    """Whether ``name`` (``[schema.]table``, as the search path resolves it) names a table already."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
        return cur.fetchone()[0]


def create_and_load(conn, table: sql.Composable, spec: specs.DatasetSpec, batches: Iterable,
                    replace: bool = False) -> None:
    """Creates ``table`` with the spec's columns (dropping it first with ``replace``), COPYs the record batches
    into it and analyzes it, in the connection's transaction (the caller commits)."""
    with conn.cursor() as cur:
        if replace:
            cur.execute(sql.SQL("DROP TABLE {}").format(table))
        cur.execute(sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in ddl_columns(spec))))
        copy = sql.SQL("COPY {} FROM STDIN WITH (FORMAT csv)").format(table).as_string(conn)
        for batch in batches:
            cur.copy_expert(copy, io.BytesIO(record_batch_to_csv(batch)))
        cur.execute(sql.SQL("ANALYZE {}").format(table))
