"""CSV text from record batches, read back with Python's csv module (an independent parser)."""

import csv
import datetime
import io

import numpy as np
import pyarrow as pa
import pytest

from transforms.text import Pieces, compose, csv_field, record_batch_to_csv


def parse(text: bytes):
    return list(csv.reader(io.StringIO(bytes(text).decode())))


def test_compose_concatenates_pieces_per_row():
    pieces = Pieces()
    a = pieces.add(["Red ", "Blue "])
    b = pieces.add(["Car", "Sky", ""])
    out = compose(pieces, np.array([[a + 0, b + 0], [a + 1, b + 1], [a + 1, b + 2]]))
    assert out.to_pylist() == ["Red Car", "Blue Sky", "Blue "]


def test_values_that_need_quotes_round_trip():
    values = ['plain', 'with,comma', 'with "quote"', 'line\nbreak', '', 'é ü 中']
    batch = pa.RecordBatch.from_arrays([pa.array(values), pa.array(range(6))], names=["s", "n"])
    assert parse(record_batch_to_csv(batch)) == [[v, str(i)] for i, v in enumerate(values)]


def test_columns_without_special_characters_are_not_quoted():
    batch = pa.RecordBatch.from_arrays([pa.array(["a b", "c"]), pa.array([1.5, 2.0])], names=["s", "x"])
    assert record_batch_to_csv(batch) == b"a b,1.5\nc,2\n"


def test_types_nulls_dictionaries_and_date_formats():
    dates = pa.array([datetime.date(1999, 1, 2), None, datetime.date(2025, 12, 31)], pa.date32())
    batch = pa.RecordBatch.from_arrays([
        pa.array(["x", None, "z"]),
        pa.array([1, None, -3], pa.int64()),
        pa.array([0.25, 1e20, None]),
        dates,
        pa.DictionaryArray.from_arrays(pa.array([1, 0, 1], pa.int16()), pa.array(["A,B", "C"])),
        pa.array([True, False, None]),
    ], names=["s", "i", "f", "d", "cat", "b"])
    assert parse(record_batch_to_csv(batch)) == [
        ["x", "1", "0.25", "1999-01-02", "C", "true"],
        ["", "", "1e+20", "", "A,B", "false"],
        ["z", "-3", "", "2025-12-31", "C", ""],
    ]
    two = pa.RecordBatch.from_arrays([dates, pa.array([1, 2, 3])], names=["d", "n"])
    assert parse(record_batch_to_csv(two, "%y/%m/%d")) == [["99/01/02", "1"], ["", "2"], ["25/12/31", "3"]]


def test_small_integer_ranges_render_like_a_cast():
    values = np.random.default_rng(0).integers(-50, 5000, size=20_000)
    batch = pa.RecordBatch.from_arrays([pa.array(values), pa.array(values // 7, pa.int32())], names=["a", "b"])
    assert parse(record_batch_to_csv(batch)) == [[str(a), str(a // 7)] for a in values]


def test_date_formats_that_render_separators_are_quoted():
    dates = pa.array([datetime.date(1999, 1, d) for d in range(1, 29)] * 10, pa.date32())
    batch = pa.RecordBatch.from_arrays([dates, pa.array(range(280))], names=["d", "n"])
    rows = parse(record_batch_to_csv(batch, "%d, %m %Y"))
    assert rows[0] == ["01, 01 1999", "0"] and all(len(r) == 2 for r in rows)


def test_empty_batch_is_empty_text():
    assert record_batch_to_csv(pa.RecordBatch.from_arrays([pa.array([], pa.string())], names=["s"])) == b""


@pytest.mark.parametrize("value,expected", [("a", "a"), ("a,b", '"a,b"'), ('a"b', '"a""b"')])
def test_csv_field(value, expected):
    assert csv_field(value) == expected
