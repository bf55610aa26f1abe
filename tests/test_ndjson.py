"""Newline-delimited JSON (transforms/formats/ndjson.py): every line is the JSON a BigQuery load reads, equal to
the record batch it was made from, column-wise for every column type the built-in datasets and the PostgreSQL
extraction make; strings escaped as JSON requires; read back by the format's own reader."""

from __future__ import annotations

import datetime
import decimal
import json

import numpy as np
import pyarrow as pa
import pytest

from datagen import spec as specs
from datagen.engine import builtin_generator
from transforms.formats import ndjson
from transforms.formats.ndjson import EXACT_INTEGERS, record_batch_to_ndjson

# Every byte JSON must escape, and what else a string may hold: quote, backslash, the control characters U+0000 to
# U+001F, DEL, non-ASCII letters, an emoji, the JavaScript line separators (valid JSON as they are).
AWKWARD = ['say "hi"', "back\\slash", "\\", '\\"', "new\nline", "tab\there", "cr\rlf\n", "".join(map(chr, range(32))),
           "\x7f", "héllo wörld", "日本語", "🎬 film", "\u2028\u2029", "", " ", '{"json": [1, 2]}', "a,b", "\\u0041"]


def lines(batch: pa.RecordBatch) -> list[dict]:
    text = bytes(record_batch_to_ndjson(batch)).decode("utf-8")
    assert text.endswith("\n") and "\r" not in text
    out = [json.loads(line, parse_float=decimal.Decimal) for line in text.split("\n")[:-1]]
    assert len(out) == batch.num_rows
    assert all(list(row) == batch.schema.names for row in out)  # every key, in the columns' order
    return out


def as_json(value, t: pa.DataType):
    """What the encoder writes for one value of Arrow type ``t``, as Python's json reads it back."""
    if value is None:
        return None
    if pa.types.is_dictionary(t):
        return as_json(value, t.value_type)
    if pa.types.is_list(t):
        return [as_json(v, t.value_type) for v in value]
    if pa.types.is_integer(t):
        return value if abs(value) <= EXACT_INTEGERS else str(value)
    if pa.types.is_floating(t):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return decimal.Decimal(repr(float(value))) if pa.types.is_float64(t) else value
    if pa.types.is_decimal(t):
        return value  # a Decimal, compared with the string's
    if pa.types.is_timestamp(t):
        text = value.astimezone(datetime.timezone.utc).replace(tzinfo=None).isoformat(" ") if t.tz else \
            value.isoformat(" ")
        return text
    if pa.types.is_date(t):
        return value.isoformat()
    return value


def same(written, value, t: pa.DataType) -> bool:
    expected = as_json(value, t)
    if pa.types.is_list(t) and expected is not None:
        return len(written) == len(expected) and all(same(w, v, t.value_type) for w, v in zip(written, value))
    if pa.types.is_decimal(t) and expected is not None:
        return decimal.Decimal(written) == expected
    if pa.types.is_floating(t) and isinstance(expected, decimal.Decimal):
        return float(written) == float(expected)  # the shortest text of the same double
    if pa.types.is_float32(t) and expected is not None and not isinstance(expected, str):
        return np.float32(float(written)) == np.float32(expected)
    if pa.types.is_timestamp(t) and expected is not None:
        parsed = datetime.datetime.fromisoformat(written.removesuffix("Z"))
        return parsed == datetime.datetime.fromisoformat(expected) and written.endswith("Z") == bool(t.tz)
    return written == expected and type(written) is type(expected)


def assert_lines_equal_batch(batch: pa.RecordBatch):
    rows = lines(batch)
    for field, column in zip(batch.schema, batch.columns):
        for i, value in enumerate(column.to_pylist()):
            assert same(rows[i][field.name], value, field.type), (field, i, rows[i][field.name], value)


# --- round trips ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dataset", specs.builtin_names())
def test_every_built_in_dataset_round_trips_line_by_line(dataset):
    """Every column type the built-in datasets make (dictionary-encoded choices, keys counting up, dates of a small
    range, scores with two decimals, numerics, ...), over two blocks' worth of rows."""
    gen = builtin_generator(dataset)
    batch = gen.batch(42, 0, 20_000)
    assert_lines_equal_batch(batch)
    later = gen.batch(42, 10**9, 10**9 + 500)  # keys past a billion: no longer a small range
    assert_lines_equal_batch(later)


def test_the_example_specs_types_round_trip():
    """docs/examples/orders.yaml: references, timestamps and the rest, with the clients it references."""
    from datagen.engine import compile_dataset, run_context
    from tests.helpers import ROOT

    orders, clients = specs.load(str(ROOT / "docs" / "examples" / "orders.yaml")), specs.builtin("clients")
    gen = compile_dataset(orders, run_context([clients], {"clients": 1000}))
    assert_lines_equal_batch(gen.batch(7, 0, 5000))


def test_awkward_strings_are_escaped_as_json_requires_plain_dictionary_with_nulls_and_in_lists():
    values = AWKWARD * 3
    plain = pa.array(values)
    encoded = pa.DictionaryArray.from_arrays(pa.array(np.arange(len(values)) % len(AWKWARD), pa.int32()),
                                             pa.array(AWKWARD))
    with_nulls = pa.array([None if i % 4 == 0 else v for i, v in enumerate(values)])
    in_lists = pa.array([[v, None, v] for v in values], pa.list_(pa.string()))
    batch = pa.RecordBatch.from_arrays([plain, encoded, with_nulls, in_lists], names=["plain", "cat", "some", "lst"])
    rows = lines(batch)
    assert [r["plain"] for r in rows] == values and [r["cat"] for r in rows] == values
    assert [r["some"] for r in rows] == with_nulls.to_pylist() and [r["lst"] for r in rows] == in_lists.to_pylist()
    text = bytes(record_batch_to_ndjson(pa.RecordBatch.from_arrays([plain], names=["s"]))).decode()
    # the same text as Python's json writes: \b \t \n \f \r, \u00XX for the other control characters, raw UTF-8
    assert text == "".join(json.dumps({"s": v}, ensure_ascii=False, separators=(",", ":")) + "\n" for v in values)
    assert not any(ord(c) < 32 for c in text.replace("\n", ""))


def test_column_names_that_need_escaping_are_keys_all_the_same():
    batch = pa.RecordBatch.from_arrays([pa.array([1]), pa.array(["x"])], names=['a "quoted" name', "é\\n"])
    assert lines(batch) == [{'a "quoted" name': 1, "é\\n": "x"}]


def test_nulls_of_every_type_are_null():
    types = [pa.int16(), pa.int32(), pa.int64(), pa.float32(), pa.float64(), pa.bool_(), pa.string(), pa.date32(),
             pa.timestamp("us"), pa.timestamp("us", tz="UTC"), pa.decimal128(10, 2), pa.decimal128(38, 9),
             pa.list_(pa.int32()), pa.list_(pa.decimal256(76, 38)), pa.dictionary(pa.int8(), pa.string())]
    columns = [pa.nulls(3, t) for t in types]
    batch = pa.RecordBatch.from_arrays(columns, names=[f"c{i}" for i in range(len(types))])
    assert all(v is None for row in lines(batch) for v in row.values())


def test_every_type_the_extraction_makes_round_trips_with_nulls_and_extremes():
    """The Arrow types of transforms/postgres/columns.py, each with NULLs, extremes and lists (empty, NULL, with a
    NULL item); integers beyond 2**53 are strings, as BigQuery asks of JSON, and so are NaN and the infinities."""
    d, utc = decimal.Decimal, datetime.timezone.utc
    columns = {
        "i16": pa.array([-32768, None, 32767, 0], pa.int16()),
        "i32": pa.array([-2**31, 2**31 - 1, None, 7], pa.int32()),
        "i64": pa.array([-2**63, 2**63 - 1, EXACT_INTEGERS, None], pa.int64()),
        "f32": pa.array([1.5, -0.0, None, 3.4e38], pa.float32()),
        "f64": pa.array([5e-324, -2.25e300, float("nan"), float("-inf")], pa.float64()),
        "f64_inf": pa.array([float("inf"), 0.1 + 0.2, None, 1e-7], pa.float64()),
        "b": pa.array([True, None, False, True]),
        "t": pa.array(['héllo, "wörld"\n', None, "", "\x00"]),
        "day": pa.array([datetime.date(1, 1, 1), datetime.date(2024, 2, 29), None, datetime.date(9999, 12, 31)]),
        "ts": pa.array([datetime.datetime(1900, 6, 1, 12), None, datetime.datetime(1999, 12, 31, 23, 59, 59, 999999),
                        datetime.datetime(2262, 4, 11)], pa.timestamp("us")),
        "tz": pa.array([datetime.datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=utc), None,
                        datetime.datetime(1677, 9, 22, 0, 12, 44, tzinfo=utc),
                        datetime.datetime(2038, 1, 19, 1, 14, 8, tzinfo=utc)], pa.timestamp("us", tz="UTC")),
        "money": pa.array([d("-123456789.125"), d("0.001"), None, d("999999999.999")], pa.decimal128(12, 3)),
        "n": pa.array([d("1.5"), d("0"), d("-0.000000001"), None], pa.decimal128(38, 9)),
        "ia": pa.array([[1, None, 3], [], None, [2**31 - 1]], pa.list_(pa.int32())),
        "ba": pa.array([[True, False], None, [], [None]], pa.list_(pa.bool_())),
        "ta": pa.array([["a", "b,c", None, ""], [], None, ['"\\']], pa.list_(pa.string())),
        "na": pa.array([[d("1.5"), None], [d("12345678901234567890.5")], [], None], pa.list_(pa.decimal256(76, 38))),
        "da": pa.array([[datetime.date(2024, 1, 1), None], None, [], [datetime.date(1970, 1, 1)]],
                       pa.list_(pa.date32())),
        "fa": pa.array([[1.5, -2.0], [float("nan")], None, []], pa.list_(pa.float64())),
        "tsa": pa.array([[datetime.datetime(1999, 12, 31, 23, 59, 59, 999999)], [], None, [None]],
                        pa.list_(pa.timestamp("us"))),
        "tza": pa.array([[datetime.datetime(2001, 2, 3, 2, 5, 6, tzinfo=utc)], None, [], []],
                        pa.list_(pa.timestamp("us", tz="UTC"))),
    }
    batch = pa.RecordBatch.from_pydict(columns)
    assert_lines_equal_batch(batch)
    assert_lines_equal_batch(batch.slice(1, 2))  # a slice: offsets inside the buffers (lists too)
    rows = lines(batch)
    assert rows[0]["i64"] == str(-2**63) and rows[2]["i64"] == EXACT_INTEGERS
    assert rows[2]["f64"] == "NaN" and rows[3]["f64"] == "-Infinity" and rows[0]["f64_inf"] == "Infinity"
    assert rows[0]["money"] == "-123456789.125" and rows[0]["tz"] == "2000-01-01 00:00:00.000001Z"
    assert rows[0]["day"] == "0001-01-01" and rows[1]["ts"] is None


def test_a_zoned_timestamp_is_written_in_utc():
    paris = pa.array([datetime.datetime(2001, 1, 1, 12)], pa.timestamp("s")).cast(pa.timestamp("s", "Europe/Paris"))
    assert lines(pa.RecordBatch.from_arrays([paris], names=["t"])) == [{"t": "2001-01-01 12:00:00Z"}]


def test_no_rows_no_text_and_a_type_it_cannot_write_is_named():
    assert bytes(record_batch_to_ndjson(pa.RecordBatch.from_pydict({"a": pa.array([], pa.int64())}))) == b""
    with pytest.raises(TypeError, match="binary"):
        record_batch_to_ndjson(pa.RecordBatch.from_pydict({"a": pa.array([b"x"], pa.binary())}))


# --- the reader -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dataset", specs.builtin_names())
def test_the_reader_reads_back_what_the_encoder_wrote_typed_by_the_schema(dataset):
    gen = builtin_generator(dataset)
    batch = gen.batch(42, 0, 5000)
    schema = gen.schema.arrow_schema
    table = ndjson.parse(bytes(record_batch_to_ndjson(batch)), schema.names, schema)
    assert table.equals(pa.Table.from_batches([batch]).cast(schema))


def test_the_reader_takes_integers_beyond_2_53_dates_and_lists():
    batch = pa.RecordBatch.from_pydict({
        "big": pa.array([2**63 - 1, None, 5], pa.int64()),
        "day": pa.array([datetime.date(2024, 2, 29), None, datetime.date(1, 1, 1)]),
        "ia": pa.array([[1, None], None, []], pa.list_(pa.int32())),
        "na": pa.array([[decimal.Decimal("1.5")], [], None], pa.list_(pa.decimal256(76, 38)))})
    table = ndjson.parse(bytes(record_batch_to_ndjson(batch)), batch.schema.names, batch.schema)
    assert table.to_pylist() == batch.to_pylist()


def test_a_files_columns_are_its_first_objects_keys_and_a_bad_head_is_one_message():
    assert ndjson.names(b'{"b": 1, "a": [2]}\n{"b": 2}\n', 1 << 16) == ["b", "a"]
    for head, said in ((b"", "is empty"), (b"id,name\n1,x\n", "starts with 'id,name'"), (b"[1, 2]\n", "starts with"),
                       (b'{"a": 1' + b" " * 100, "no line end")):
        with pytest.raises(ValueError, match=said):
            ndjson.names(head, 100)
