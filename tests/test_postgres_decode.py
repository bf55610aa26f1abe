"""transforms.postgres.decode: binary COPY decoded by numpy, COPY's CSV parsed by Arrow, JSON arrays as lists.
The bytes are built here as PostgreSQL sends them (tests/test_postgres_read.py reads them from the server)."""

import datetime
import decimal
import io
import struct

import pyarrow as pa

from transforms.postgres.columns import Column
from transforms.postgres.decode import _decode_binary, _lists_from_json, _parse, _parse_stream

COLUMNS = [Column("id", pa.int64(), "INT64", ">i8"), Column("day", pa.date32(), "DATE", ">i4"),
           Column("ts", pa.timestamp("us"), "DATETIME", ">i8"), Column("m", pa.decimal128(12, 3), "NUMERIC", ">i8"),
           Column("ok", pa.bool_(), "BOOL", "?")]


def binary_copy(rows, flagged=False):
    """A binary COPY of (id, days since 2000-01-01, microseconds since 2000-01-01, NUMERIC scaled by 1000, bool)
    rows; None is a NULL field (length -1, no bytes), or with ``flagged`` a stand-in 0 and a true flag."""
    out = [b"PGCOPY\n\xff\r\n\x00", struct.pack(">iI", 0, 4), b"xtra"]  # flags, a 4-byte header extension
    for row in rows:
        out.append(struct.pack(">h", len(row) * (2 if flagged else 1)))
        for value, wire in zip(row, (">q", ">i", ">q", ">q", ">?")):
            if value is None and not flagged:
                out.append(struct.pack(">i", -1))
                continue
            out.append(struct.pack(">i", struct.calcsize(wire)) + struct.pack(wire, value or 0))
            if flagged:
                out.append(struct.pack(">i?", 1, value is None))
    out.append(b"\xff\xff")
    return b"".join(out)


def test_binary_copy_becomes_typed_columns():
    rows = [(1, 0, 1, -1_125, True), (-(2**63), -10_957, -(10**6), 999_999_999_999, False)]
    table = _decode_binary(binary_copy(rows), len(rows), COLUMNS)
    assert table.schema == pa.schema([(c.name, c.arrow_type) for c in COLUMNS])
    assert table.to_pylist() == [
        {"id": 1, "day": datetime.date(2000, 1, 1), "ts": datetime.datetime(2000, 1, 1, 0, 0, 0, 1),
         "m": decimal.Decimal("-1.125"), "ok": True},
        {"id": -(2**63), "day": datetime.date(1970, 1, 1), "ts": datetime.datetime(1999, 12, 31, 23, 59, 59),
         "m": decimal.Decimal("999999999.999"), "ok": False}]
    assert _decode_binary(binary_copy([]), 0, COLUMNS).num_rows == 0


def test_a_null_or_an_infinity_does_not_fit_the_fixed_layout_but_null_flags_do():
    rows = [(1, None, 2, None, True), (3, 4, None, 5, None)]
    assert _decode_binary(binary_copy(rows), 2, COLUMNS) is None  # a NULL field is shorter
    table = _decode_binary(binary_copy(rows, flagged=True), 2, COLUMNS, flagged=True)
    assert [list(r.values()) for r in table.to_pylist()] == [
        [1, None, datetime.datetime(2000, 1, 1, 0, 0, 0, 2), None, True],
        [3, datetime.date(2000, 1, 5), None, decimal.Decimal("0.005"), None]]
    infinity = binary_copy([(1, 2**31 - 1, 0, 0, True)])  # date 'infinity'
    assert _decode_binary(infinity, 1, COLUMNS) is None
    assert _decode_binary(b"not a copy", 0, COLUMNS) is None
    assert _decode_binary(binary_copy(rows[:1]), 2, COLUMNS) is None  # not the rows COPY counted


def test_csv_reads_back_with_the_query_types():
    names, types = ["n", "note", "ok", "day"], {"n": pa.int32(), "note": pa.string(), "ok": pa.bool_(),
                                                "day": pa.date32()}
    data = b'1,"a,""b""\nc",t,2024-02-29\n,"",f,\n'
    table = _parse(data, names, types)
    assert table.to_pylist() == [{"n": 1, "note": 'a,"b"\nc', "ok": True, "day": datetime.date(2024, 2, 29)},
                                 {"n": None, "note": "", "ok": False, "day": None}]  # "" is text, empty is NULL
    assert _parse(b"", names, types).schema == pa.schema([(n, types[n]) for n in names])
    assert list(_parse_stream(io.BytesIO(b""), names, types)) == []
    batches = list(_parse_stream(io.BytesIO(data), names, types))
    assert pa.Table.from_batches(batches).to_pylist() == table.to_pylist()


def test_json_arrays_become_lists_of_the_element_type():
    columns = {"xs": Column("xs", pa.list_(pa.int32()), "INT64"),
               "ns": Column("ns", pa.list_(pa.decimal256(76, 38)), "BIGNUMERIC")}
    table = pa.table({"id": [1, 2, 3], "xs": ["[1,2,null]", None, "[]"], "ns": ['["1.50","-0.001"]', "[]", None]})
    got = _lists_from_json(table, columns)
    assert got.schema.field("xs").type == pa.list_(pa.int32())
    assert got.column("xs").to_pylist() == [[1, 2, None], None, []]
    assert got.column("ns").to_pylist() == [[decimal.Decimal("1.5"), decimal.Decimal("-0.001")], [], None]
    assert got.column("id").to_pylist() == [1, 2, 3]
    empty = _lists_from_json(table.slice(0, 0), columns)
    assert empty.num_rows == 0 and empty.schema.field("ns").type == pa.list_(pa.decimal256(76, 38))
