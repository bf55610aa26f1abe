"""transforms.postgres.decode: binary COPY decoded by numpy, COPY's CSV parsed by Arrow, JSON arrays as lists.
The bytes are built here as PostgreSQL sends them (tests/test_postgres_read.py reads them from the server)."""

import datetime
import decimal
import io
import struct

import pyarrow as pa
import pytest

from transforms.postgres.columns import Column
from transforms.postgres.decode import UnreadableValue, _lists_from_json, _parse, _parse_stream, decode_binary

COLUMNS = [Column("id", pa.int64(), "INT64", ">i8"), Column("day", pa.date32(), "DATE", ">i4"),
           Column("ts", pa.timestamp("us"), "DATETIME", ">i8"), Column("m", pa.decimal128(12, 3), "NUMERIC", ">i8"),
           Column("ok", pa.bool_(), "BOOL", "?")]
WIRES = (">q", ">i", ">q", ">q", ">?")


def field(wire, value):
    """One field of a binary COPY row: its length (-1: NULL) and its bytes."""
    if value is None:
        return struct.pack(">i", -1)
    data = value if isinstance(value, bytes) else struct.pack(wire, value)
    return struct.pack(">i", len(data)) + data


def binary_copy(rows, wires=WIRES):
    """A binary COPY's messages as psycopg2 hands them over: the file header (with a 4-byte extension) arrives
    with the first row, each row in a message of its own, the trailer alone."""
    header = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">iI", 0, 4) + b"xtra"
    messages = [struct.pack(">h", len(row)) + b"".join(field(w, v) for w, v in zip(wires, row)) for row in rows]
    if messages:
        messages[0] = header + messages[0]
    else:
        messages = [header]
    return messages + [b"\xff\xff"]


def int_array(values):
    """PostgreSQL's binary form of a one-dimensional int4[] (NULL elements have length -1)."""
    if not values:
        return struct.pack(">iiI", 0, 0, 23)
    has_null = any(v is None for v in values)
    return struct.pack(">iiIii", 1, int(has_null), 23, len(values), 1) + b"".join(field(">i", v) for v in values)


def test_binary_copy_becomes_typed_columns():
    rows = [(1, 0, 1, -1_125, True), (-(2**63), -10_957, -(10**6), 999_999_999_999, False)]
    table = decode_binary(binary_copy(rows), len(rows), COLUMNS)
    assert table.schema == pa.schema([(c.name, c.arrow_type) for c in COLUMNS])
    assert table.to_pylist() == [
        {"id": 1, "day": datetime.date(2000, 1, 1), "ts": datetime.datetime(2000, 1, 1, 0, 0, 0, 1),
         "m": decimal.Decimal("-1.125"), "ok": True},
        {"id": -(2**63), "day": datetime.date(1970, 1, 1), "ts": datetime.datetime(1999, 12, 31, 23, 59, 59),
         "m": decimal.Decimal("999999999.999"), "ok": False}]
    assert decode_binary(binary_copy([]), 0, COLUMNS).num_rows == 0


def test_nulls_text_and_arrays_are_found_field_by_field():
    rows = [(1, None, 2, None, True), (3, 4, None, 5, None)]
    table = decode_binary(binary_copy(rows), 2, COLUMNS)
    assert [list(r.values()) for r in table.to_pylist()] == [
        [1, None, datetime.datetime(2000, 1, 1, 0, 0, 0, 2), None, True],
        [3, datetime.date(2000, 1, 5), None, decimal.Decimal("0.005"), None]]
    columns = [Column("id", pa.int32(), "INT64", ">i4"), Column("note", pa.string(), "STRING"),
               Column("xs", pa.list_(pa.int32()), "INT64", ">i4"), Column("big", pa.decimal128(30, 2), "BIGNUMERIC")]
    wires = (">i", None, None, None)
    rows = [(1, "héllo, \"wörld\"\n".encode(), int_array([1, None, 3]), b"12345678901234567890.25"),
            (2, None, None, None), (3, b"", int_array([]), b"-0.5"), (4, b"x" * 1000, int_array([7] * 40), b"0")]
    table = decode_binary(binary_copy(rows, wires), 4, columns)
    assert table.schema == pa.schema([(c.name, c.arrow_type) for c in columns])
    assert table.to_pylist() == [
        {"id": 1, "note": 'héllo, "wörld"\n', "xs": [1, None, 3], "big": decimal.Decimal("12345678901234567890.25")},
        {"id": 2, "note": None, "xs": None, "big": None},
        {"id": 3, "note": "", "xs": [], "big": decimal.Decimal("-0.5")},
        {"id": 4, "note": "x" * 1000, "xs": [7] * 40, "big": decimal.Decimal("0")}]
    no_null_elements = [(1, None, int_array([1, 2]), None), (2, None, int_array([]), None),
                        (3, None, None, None), (4, None, int_array([-5] * 9), None)]  # each at its index's place
    got = decode_binary(binary_copy(no_null_elements, wires), 4, columns)
    assert got.column("xs").to_pylist() == [[1, 2], [], None, [-5] * 9]
    as_json = [columns[0], Column("xs", pa.list_(pa.int32()), "INT64", ">i4")]  # for CSV files: JSON text
    got = decode_binary(binary_copy([(1, b"[1,null]"), (2, None)], (">i", None)), 2, as_json, json_arrays=True)
    assert got.column("xs").to_pylist() == ["[1,null]", None]


def test_what_numpy_does_not_decode_is_left_to_the_text_path():
    assert decode_binary(binary_copy([(1, 2**31 - 1, 0, 0, True)]), 1, COLUMNS) is None  # date 'infinity'
    assert decode_binary([b"not a copy"], 0, COLUMNS) is None
    assert decode_binary(binary_copy([(1, 0, 0, 0, True)]), 2, COLUMNS) is None  # not the rows COPY counted
    assert decode_binary(binary_copy([(1, 0, 0)], WIRES[:3]), 1, COLUMNS) is None  # not these columns
    text = [Column("id", pa.int32(), "INT64", ">i4"), Column("note", pa.string(), "STRING")]
    assert decode_binary(binary_copy([(1, b"\xff\xfe")], (">i", None)), 1, text) is None  # not UTF-8
    nested = struct.pack(">iiIiiii", 2, 0, 23, 1, 1, 1, 1) + field(">i", 5)
    xs = [Column("id", pa.int32(), "INT64", ">i4"), Column("xs", pa.list_(pa.int32()), "INT64", ">i4")]
    assert decode_binary(binary_copy([(1, nested)], (">i", None)), 1, xs) is None  # two dimensions


def test_a_value_its_type_cannot_hold_is_named_with_its_column():
    numbers = [Column("id", pa.int32(), "INT64", ">i4"), Column("score", pa.decimal128(38, 9), "BIGNUMERIC")]
    fine = [(1, b"1.5000000000000"), (2, None), (3, b"-12345678901234567890.123456789")]  # trailing zeros fit
    assert decode_binary(binary_copy(fine, (">i", None)), 3, numbers).column("score").to_pylist() == [
        decimal.Decimal("1.5"), None, decimal.Decimal("-12345678901234567890.123456789")]
    for bad in (b"NaN", b"0.33333333333333333333", b"1" * 30):
        with pytest.raises(UnreadableValue, match=rf"column 'score': '{bad.decode()}' does not fit NUMERIC\(38, 9\)"):
            decode_binary(binary_copy([(1, b"2.5"), (2, bad)], (">i", None)), 2, numbers)
    names, types = ["id", "day"], {"id": pa.int32(), "day": pa.date32()}
    with pytest.raises(UnreadableValue, match="column 'day': invalid value 'infinity'"):
        _parse(b"1,2024-01-01\n2,infinity\n", names, types)
    with pytest.raises(UnreadableValue, match="column 'day'"):
        list(_parse_stream(io.BytesIO(b"1,2024-01-01\n2,infinity\n"), names, types))


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
